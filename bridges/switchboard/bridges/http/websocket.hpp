// switchboard: an embeddable C++ actor runtime. MIT License.

// The WebSocket side of the `websocket` kind: Node's `ws` server as a
// bridge. The kind is the `http` server (server.cpp) with this service
// added, so one port serves HTTP routes and WebSocket upgrades; the server
// hands the upgrade and every WebSocket callback of lws to it.
//
// Each connection is a loop actor, as in the stream bridges: with `to`,
// each inbound message is a request to that actor and the replies go back
// in the order the messages came; with `room`, the connection joins the
// room and each message is pushed to every other member. A `push` to a
// connection writes a message; commands to the bridge send, broadcast,
// close and list.
//
// Writes: without compression, frames are built here (a server's frames
// are not masked) and all frames a connection got in one turn of the loop
// leave in one send. With `compress`, lws frames each message and
// deflates it, one message per writeable callback.
//
// Loop thread only.

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <uv.h>
// After <uv.h>: its libuv helpers are guarded by libuv's macros.
#include <libwebsockets.h>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/expected.hpp>
#include <caf/settings.hpp>
#include <caf/timespan.hpp>

#include <switchboard/json_message.hpp>
#include <switchboard/kinds.hpp>

namespace switchboard::bridges::http {

/// How messages map to frames.
enum class ws_format : uint8_t {
  /// Each message (a text or binary frame) is JSON; sends are text frames.
  json,
  /// Each message arrives as a JSON string; sends take JSON strings.
  text,
  /// Each message arrives as a base64 JSON string; sends take base64
  /// strings and go out as binary frames.
  binary,
};

/// What the server and client kinds read alike: `format`, `protocols`,
/// `max-message`, `max-queued`, `ping-interval`, `ping-timeout`.
struct ws_common {
  ws_format format = ws_format::json;
  /// Subprotocols (Sec-WebSocket-Protocol): those a client may pick, or
  /// those a client asks for.
  std::vector<std::string> protocols;
  size_t max_message = 1 << 20;
  size_t max_queued = 1 << 20;
  caf::timespan ping_interval{std::chrono::seconds(30)};
  caf::timespan ping_timeout{std::chrono::seconds(10)};

  /// Reads and checks them from a kind's `args`; errors name `name`.
  caf::error read(const caf::settings& args, const std::string& name);

  /// lws's keep-alive policy: a ping `ping_interval` after the last pong,
  /// a hang-up `ping_timeout` later; both zero (no pings): no timer.
  lws_retry_bo_t retry_policy() const;
};

/// One `websocket` bridge's WebSocket settings (the HTTP ones are the
/// `http` kind's).
struct ws_options : ws_common {
  std::string name;
  /// The upgrade path: exact, or a prefix when it ends in `/*`.
  std::string path = "/";
  std::string to;
  std::string room;
  std::string events;
  /// Past `max_queued`: close (1008) rather than drop.
  bool disconnect = false;
  /// Requests in flight per connection before reading pauses.
  size_t max_pending = 1024;
  /// Browser origins allowed to connect; empty: any.
  std::vector<std::string> origins;
  /// How long `to` may take to answer.
  caf::timespan timeout{std::chrono::seconds(5)};
  /// permessage-deflate, when the client offers it.
  bool compress = false;
};

/// The WebSocket keys of the `websocket` kind.
std::vector<key_spec> ws_keys();

/// Reads and checks them.
caf::expected<ws_options> read_ws_options(const caf::settings& args,
                                          const std::string& name,
                                          caf::timespan timeout);

/// Base64 (RFC 4648, with padding) for `format = "binary"`.
std::string encode_base64(const std::string& bytes);

/// Decodes base64; `bad_message` for text that is not (lws alone would
/// skip what it does not know).
caf::expected<std::string> decode_base64(const std::string& text);

/// The permessage-deflate extension list for the vhost (compress on).
const lws_extension* ws_extensions();

class ws_conn;

/// Counters of one bridge's WebSocket side.
struct ws_stats {
  uint64_t accepted = 0;
  /// Upgrades turned away (path, origin, token, stopping).
  uint64_t refused = 0;
  uint64_t closed = 0;
  uint64_t in = 0;
  uint64_t out = 0;
  /// Messages dropped by `overflow = "drop"`.
  uint64_t drops = 0;
  /// Messages that were not JSON, oversized, unanswered, ...
  uint64_t errors = 0;
};

/// The WebSocket connections of one bridge.
class ws_service {
public:
  /// `token` is the bridge's bearer token (empty: none). Loop thread.
  ws_service(switchboard::node& owner, std::shared_ptr<const ws_options> opts,
             std::string token);

  ~ws_service();

  ws_service(const ws_service&) = delete;
  ws_service& operator=(const ws_service&) = delete;

  /// At an upgrade request (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE): 0 lets it
  /// upgrade; otherwise the HTTP status to refuse it with, and `why`.
  int check_upgrade(lws* wsi, const std::string& path, std::string& why);

  /// A WebSocket callback of lws; `slot` is the connection's pointer,
  /// kept by the server with the wsi. Returns what the callback returns.
  int on_callback(lws* wsi, lws_callback_reasons reason, ws_conn*& slot,
                  void* in, size_t len);

  /// The wsi is going away (its close callback, or the context's teardown
  /// without one); clears `slot`.
  void forget(ws_conn*& slot);

  /// A command to the bridge: send, broadcast, close, list.
  caf::expected<json_message> command(const json_message& m);

  /// The WebSocket part of the bridge's status, as JSON.
  std::string status_json() const;

  /// Closes every connection with 1001 (the node is stopping) after its
  /// queue; cuts those still open after 250 ms; `done` runs once all are
  /// closed, or after 500 ms (lws's teardown closes the rest).
  void stop(std::function<void()> done);

  size_t open() const noexcept {
    return conns_.size();
  }

  // -- for connections ----------------------------------------------------

  switchboard::node& node() noexcept {
    return node_;
  }

  const ws_options& opt() const noexcept {
    return *opt_;
  }

  ws_stats& stats() noexcept {
    return stats_;
  }

  /// Writes `c`'s queued frames once the loop's current callbacks are done
  /// (so a turn's frames leave in one send).
  void mark_dirty(ws_conn* c);

  /// `node.lookup` caches.
  caf::actor to_cache;
  caf::actor room_cache;
  caf::actor events_cache;

  /// Sends an event (JSON text) to `events`, or to the log without one.
  void event(const std::string& text);

private:
  void closed(ws_conn* c);

  void finish_stop();

  void flush_dirty();

  void sweep();

  switchboard::node& node_;
  std::shared_ptr<const ws_options> opt_;
  std::string token_;
  ws_stats stats_;
  struct entry {
    caf::actor handle;
    ws_conn* c;
  };
  std::unordered_map<uint64_t, entry> conns_;
  uint64_t next_id_ = 1;
  std::vector<ws_conn*> dirty_;
  // The ids `flush_dirty` works through (kept for its capacity).
  std::vector<uint64_t> flushing_;
  uv_check_t* check_ = nullptr;
  bool check_on_ = false;
  // Request time-outs.
  uv_timer_t* sweep_ = nullptr;
  // Stopping: `stopped_` runs once every connection has closed, or after
  // the stop timer's second tick.
  bool stopping_ = false;
  std::function<void()> stopped_;
  uv_timer_t* stop_timer_ = nullptr;
  int stop_ticks_ = 0;
};

} // namespace switchboard::bridges::http

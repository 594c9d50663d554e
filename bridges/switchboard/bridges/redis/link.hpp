// switchboard: an embeddable C++ actor runtime. MIT License.

// One connection to Redis on the io loop, kept up under the restart
// policy: the piece the `redis` and `redis-stream` bridges are built from
// (one link for commands, one for pub/sub, one for blocking stream reads).
//
// hiredis encodes the commands and parses the replies (its reader); the
// socket is a runtime `channel`, so a link writes every command of a loop
// turn in one system call, and it owns what hiredis 0.14's async layer
// lacks: a connect and reply deadline (`down-after`, with a PING when the
// link is idle), reconnection with backoff, commands held while Redis is
// down (up to `max-held`), a bound on commands in flight (`max-pending`)
// and on a reply's size (`max-frame`), and no assert on what a server
// sends.
//
// Usage (on the loop thread; `h` implements `link::handler`):
// ~~~
// auto l = link::start(loop, opts, h);   // connects; h.on_up() once ready
// l->command({"HSET", "k", "f", "v"}, [](const redisReply* r, auto err) {
//   ...   // r is null when the link lost the connection (err says why)
// });
// l->close("stopping");                  // fails what waits; deletes itself
// ~~~

#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

#include <switchboard/restart_policy.hpp>

struct redisReply;
struct redisReader;
struct sockaddr;
struct ssl_ctx_st;
struct ssl_st;
struct uv_loop_s;
struct uv_timer_s;

namespace switchboard {
class channel;
struct channel_callbacks;
} // namespace switchboard

namespace switchboard::bridges::redis {

/// What a link connects to and how it behaves.
struct link_options {
  /// The bridge's name, for messages and `CLIENT SETNAME`.
  std::string name;
  /// What the link is for ("commands", "pubsub", "consumer"): in events.
  std::string role;
  /// `HOST:PORT` or a Unix socket path (anything with a `/`).
  std::string address;
  /// `AUTH` on connect when not empty (with `user` when that is set).
  std::string user;
  std::string password;
  /// `SELECT` on connect when not 0.
  int64_t db = 0;
  /// A Redis silent this long (no connect, no reply) is down.
  caf::timespan down_after{std::chrono::seconds(3)};
  /// The largest reply; a larger one drops the connection.
  size_t max_frame = size_t{64} << 20;
  /// Commands on the wire at once; more wait in the link.
  size_t max_pending = 1024;
  /// Commands that wait (down, or past max-pending) before `command` says
  /// `full`.
  size_t max_held = 1000;
  /// Reconnection.
  restart_policy restart;
  /// A pub/sub link: `message` and `pmessage` arrays go to `on_push`.
  bool subscriber = false;
  /// TLS (OpenSSL, on the link's own bytes: hiredis 0.14 has none). The
  /// server is verified against `ca_file` (or the system's CAs) and
  /// `server_name` (default: the address's host); `cert_file` and
  /// `key_file` are a client certificate for `tls-auth-clients yes`.
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
};

/// A connection to Redis that reconnects by itself. Loop thread only.
class link {
public:
  /// What a link tells its owner; nothing is called after `close`.
  class handler {
  public:
    /// The link is connected and ready (AUTH and SELECT done), the first
    /// time and after each reconnect; `down_ms` is how long it was not.
    virtual void on_up(int64_t down_ms) = 0;
    /// The link was up and lost its connection.
    virtual void on_down(const std::string& reason) = 0;
    /// A restart or give-up event as JSON text (restart_decision::event).
    virtual void on_event(std::string json_text) = 0;
    /// A pub/sub message (subscriber links): the whole array.
    virtual void on_push(const redisReply&) {}
    /// Something went wrong that no command waits for (a pub/sub message
    /// over max-frame, dropped).
    virtual void on_error(const std::string&) {}

  protected:
    virtual ~handler() = default;
  };

  /// The reply (possibly a Redis error reply), or null and why not:
  /// `no_channel` (the connection was lost before Redis answered, the link
  /// gave up), `frame_too_large` (over max-frame), `not_running` (closed).
  using reply_fn = std::function<void(const redisReply*, const caf::error&)>;

  /// What `command` did with a command.
  enum class outcome { sent, held, full, gave_up };

  /// Connects (resolving a host name off the loop) and keeps connecting.
  static link* start(uv_loop_s* loop, link_options opts, handler& h);

  /// Sends `args` as one command, or holds it while the link is down or
  /// `max-pending` commands are in flight. `replies` is how many replies
  /// the command gets (SUBSCRIBE a b: 2); `fn` runs after the last (or on
  /// an error reply, which ends it). `extra` is time the reply may take beyond
  /// down-after (a blocking read's BLOCK). On `full` and `gave_up` `fn` is
  /// not called.
  outcome command(const std::vector<std::string>& args, reply_fn fn,
                  size_t replies = 1, caf::timespan extra = {});

  /// The same for a command already in RESP (`encode`).
  outcome command_encoded(std::string wire, reply_fn fn, size_t replies = 1,
                          caf::timespan extra = {});

  /// Fails every command that waits (`not_running`: `why`), stops, and
  /// deletes the link once libuv is done with its handles.
  void close(const std::string& why);

  bool up() const noexcept {
    return state_ == state::up;
  }

  /// "connecting", "up", "restarting" or "gave-up".
  const char* state_name() const noexcept;

  size_t in_flight() const noexcept {
    return pending_.size();
  }

  size_t held() const noexcept {
    return held_.size();
  }

  uint64_t restarts() const noexcept {
    return tracker_.restarts();
  }

  const link_options& options() const noexcept {
    return opt_;
  }

  link(const link&) = delete;
  link& operator=(const link&) = delete;

private:
  enum class state { connecting, handshake, up, waiting, gave_up, closed };

  struct pending {
    reply_fn fn;
    size_t replies = 1;
    uint64_t sent_at = 0; // loop ms
    uint64_t extra_ms = 0;
  };

  struct held_command {
    std::string wire;
    reply_fn fn;
    size_t replies = 1;
    uint64_t extra_ms = 0;
  };

  struct guard {
    link* self;
  };

  link(uv_loop_s* loop, link_options opts, handler& h);
  ~link();

  void connect();
  channel_callbacks callbacks();
  void open(const sockaddr* addr);
  void connected();
  void handshake();
  void on_bytes(std::string_view bytes);
  void parse();
  bool start_tls();
  bool tls_in(std::string_view bytes);
  void tls_out();
  std::string tls_error(const char* what);
  void dispatch(redisReply* reply, size_t size);
  void lost(const std::string& reason);
  void drop_connection();
  void fail_pending(const caf::error& why);
  void fail_held(const caf::error& why);
  void write(std::string wire, reply_fn fn, size_t replies, uint64_t extra);
  void flush_held();
  void tick();
  uint64_t now() const;
  void leave();
  void maybe_delete();

  uv_loop_s* loop_;
  link_options opt_;
  handler& h_;
  restart_tracker tracker_;
  state state_ = state::connecting;
  std::shared_ptr<guard> guard_;
  channel* ch_ = nullptr;
  redisReader* reader_ = nullptr;
  ssl_ctx_st* tls_ctx_ = nullptr;
  std::string tls_ctx_error_;
  ssl_st* ssl_ = nullptr; // this connection's session
  bool tls_ready_ = false;
  std::deque<pending> pending_;
  std::deque<held_command> held_;
  uv_timer_s* watchdog_ = nullptr;
  uv_timer_s* backoff_ = nullptr;
  uint64_t phase_since_ = 0; // loop ms: connecting or handshake began
  uint64_t last_read_ = 0;
  uint64_t last_write_ = 0;
  uint64_t last_tick_ = 0;
  std::chrono::steady_clock::time_point down_since_;
  std::chrono::steady_clock::time_point up_since_;
  // Entered from libuv (depth) and asked to close meanwhile: deleted once
  // the outermost call returns.
  int depth_ = 0;
  int open_handles_ = 0;
};

/// One command in RESP, as Redis reads it: `*N\r\n` and `$LEN\r\nARG\r\n`
/// per argument.
std::string encode(std::initializer_list<std::string_view> args);
std::string encode(const std::vector<std::string>& args);

/// The name of a reply type, for error messages ("array", "integer").
const char* type_name(const redisReply& r);

} // namespace switchboard::bridges::redis

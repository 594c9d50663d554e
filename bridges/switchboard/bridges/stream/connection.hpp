// switchboard: an embeddable C++ actor runtime. MIT License.

// One accepted connection of a `tcp` or `uds` server: a loop actor that
// owns its channel. It is what a room holds as a member and what a reply
// goes back to.
//
// Inbound frames become JSON messages: with `to`, each is a request and
// the replies are written back in the order the requests came (a protocol
// without ids needs that); with `room`, each is pushed to the room, which
// passes it to every other member. A `push` to the connection writes the
// message. A `close` closes it once its queue is written.

#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>

#include <switchboard/metrics.hpp>
#include <switchboard/json_message.hpp>

#include "switchboard/bridges/stream/options.hpp"

namespace switchboard {
class channel;
class node;
} // namespace switchboard

namespace switchboard::bridges::stream {

/// Closes a connection (once its queue is written).
using close_atom = caf::atom_constant<caf::atom("close")>;

/// `closed_atom, id`: a connection tells its server it is gone.
using closed_atom = caf::atom_constant<caf::atom("connclosed")>;

/// Counters a server and its connections share (loop thread only).
struct server_stats {
  uint64_t accepted = 0;
  uint64_t refused = 0;
  uint64_t closed = 0;
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  /// Messages dropped by the overflow policy.
  uint64_t drops = 0;
  /// Frames that were not JSON, framing errors, timeouts.
  uint64_t errors = 0;
};

/// A connection as its server sees it (loop thread only). The connection
/// actor is one; the server's handle to the actor keeps it alive.
class conn_state {
public:
  uint64_t conn = 0;
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  /// Loop time (ms) of the accept.
  uint64_t opened = 0;

  /// The peer's address (asked of the socket when first needed: most
  /// connections never need it).
  virtual const std::string& peer() = 0;

  /// Bytes queued for the peer.
  virtual size_t queued() const = 0;

  /// Closes the connection if one of its time-outs has passed: the
  /// server's timer calls this for every connection (one timer per server,
  /// not one per connection). `now` is the loop time in ms.
  virtual void check_timeouts(uint64_t now) = 0;

protected:
  ~conn_state() = default;
};

/// What all connections of one server share (loop thread only). Each
/// connection holds one pointer to it rather than a copy of each field:
/// an idle connection is mostly its actor, and the actor's size decides
/// its allocation class.
struct conn_shared {
  conn_shared(switchboard::node& owner,
              std::shared_ptr<const stream_options> opts)
      : node(owner), opt(std::move(opts)) {}
  switchboard::node& node;
  std::shared_ptr<const stream_options> opt;
  /// The server (weak: the server holds this).
  caf::actor_addr server;
  server_stats stats;
  /// `node.lookup` caches for opt->to, opt->room and opt->events.
  caf::actor to;
  caf::actor room;
  caf::actor events;
  /// The server's metrics block, which its connections share (or null).
  actor_metrics* metrics = nullptr;

  /// Counts a frame that was not JSON, a framing error or a time-out.
  void count_error() {
    ++stats.errors;
    if (metrics != nullptr)
      metrics->errors.fetch_add(1, std::memory_order_relaxed);
  }

  /// Counts a message dropped by the overflow policy.
  void count_drop() {
    ++stats.drops;
    if (metrics != nullptr)
      metrics->drop(drop_reason::overflow);
  }

  /// Counts a frame of `bytes` in (`in`) or out.
  void count_frame(bool in, size_t bytes) {
    ++(in ? stats.frames_in : stats.frames_out);
    if (metrics != nullptr)
      (in ? metrics->bytes_in : metrics->bytes_out)
        .fetch_add(bytes, std::memory_order_relaxed);
  }
};

/// Spawns the actor for an accepted channel (loop thread only); `state`
/// gets what the server sees of it.
caf::actor spawn_connection(std::shared_ptr<conn_shared> shared, channel* ch,
                            uint64_t id, conn_state*& state);

/// How often a server checks its connections' time-outs (ms; 0: never).
uint64_t timeout_period(const stream_options& opt);

/// An inbound frame as a message: JSON as it is (`invalid_json` if it is
/// not), or with `text` a JSON string.
caf::expected<json_message> frame_to_message(std::string frame, bool text);

/// An outbound message as a frame's payload: with `text` the content of a
/// JSON string (`bad_message` for anything else); JSON on one line for
/// line-based framings.
caf::expected<std::string> message_to_frame(json_message m, bool text,
                                            framing how);

} // namespace switchboard::bridges::stream

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
#include <caf/atom.hpp>
#include <caf/expected.hpp>

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

/// What the server knows of one connection, kept current by the
/// connection (loop thread only).
struct conn_entry {
  uint64_t id = 0;
  std::string peer;
  caf::actor handle;
  size_t queued = 0;
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  /// Loop time (ms) of the accept.
  uint64_t opened = 0;
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
  server_stats stats;
  /// `node.lookup` caches for opt->to, opt->room and opt->events.
  caf::actor to;
  caf::actor room;
  caf::actor events;
};

/// Spawns the actor for an accepted channel (loop thread only).
caf::actor spawn_connection(std::shared_ptr<conn_shared> shared, channel* ch,
                            std::shared_ptr<conn_entry> entry,
                            caf::actor server);

/// An inbound frame as a message: JSON as it is (`invalid_json` if it is
/// not), or with `text` a JSON string.
caf::expected<json_message> frame_to_message(std::string frame, bool text);

/// An outbound message as a frame's payload: with `text` the content of a
/// JSON string (`bad_message` for anything else); JSON on one line for
/// line-based framings.
caf::expected<std::string> message_to_frame(json_message m, bool text,
                                            framing how);

} // namespace switchboard::bridges::stream

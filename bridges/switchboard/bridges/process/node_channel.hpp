// switchboard: an embeddable C++ actor runtime. MIT License.

// Node's IPC channel format ("json" serialization): one
// `JSON.stringify(message) + "\n"` per message over a socketpair, named to
// the child by NODE_CHANNEL_FD. A Node process on the other end dies on a
// line that is not JSON, and swallows objects whose `cmd` starts with
// `NODE_` (its own internal messages); these helpers keep both from
// happening.

#pragma once

#include <string>
#include <utility>

#include <caf/expected.hpp>

namespace switchboard::bridges {

/// The line to write for the JSON text `text`: `text` itself when it is
/// one line of JSON, re-serialized when it spans lines; `invalid_json` when
/// it is not JSON. With `node_peer`, also `bad_message` for a NODE_ cmd,
/// which a Node peer would swallow. `who` names the channel in errors.
caf::expected<std::string> json_line(std::string text, const std::string& who,
                                     bool node_peer);

/// `json_line` for Node's IPC channel.
inline caf::expected<std::string> node_channel_line(std::string text,
                                                    const std::string& who) {
  return json_line(std::move(text), who, true);
}

/// Whether `frame` is valid JSON and one of Node's internal messages.
bool is_node_internal(const std::string& frame);

/// The IPC channel to the process that started this one.
struct parent_channel {
  /// -1 if there is none.
  int fd = -1;
  /// Switchboard's binary format (SWITCHBOARD_CHANNEL_FD, from a parent
  /// node's ipc = "binary") rather than Node's json (NODE_CHANNEL_FD).
  bool binary = false;
};

/// The parent's IPC channel, taken once from SWITCHBOARD_CHANNEL_FD or
/// NODE_CHANNEL_FD (which are then removed from the environment, with
/// NODE_CHANNEL_SERIALIZATION_MODE, so children do not inherit them). A
/// Node channel whose mode is not json is not taken. Call it early in
/// main, before other threads run, to be safe with the environment; later
/// calls return the same channel.
parent_channel take_parent_channel();

} // namespace switchboard::bridges

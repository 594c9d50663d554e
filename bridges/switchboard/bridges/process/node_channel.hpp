// switchboard: an embeddable C++ actor runtime. MIT License.

// Node's IPC channel format ("json" serialization): one
// `JSON.stringify(message) + "\n"` per message over a socketpair, named to
// the child by NODE_CHANNEL_FD. A Node process on the other end dies on a
// line that is not JSON, and swallows objects whose `cmd` starts with
// `NODE_` (its own internal messages); these helpers keep both from
// happening.

#pragma once

#include <string>

#include <caf/expected.hpp>

namespace switchboard::bridges {

/// The line to write for the JSON text `text`: `text` itself when it is
/// one line of JSON, re-serialized when it spans lines; an error
/// (`invalid_json`, or `bad_message` for a NODE_ cmd) when it would break
/// or be swallowed by a Node peer. `who` names the channel in errors.
caf::expected<std::string> node_channel_line(const std::string& text,
                                             const std::string& who);

/// Whether `frame` (valid JSON) is one of Node's internal messages.
bool is_node_internal(const std::string& frame);

/// The parent's IPC channel fd, taken once from NODE_CHANNEL_FD (which is
/// then removed from the environment, with NODE_CHANNEL_SERIALIZATION_MODE,
/// so children do not inherit it); -1 if there is none or its mode is not
/// json. Call it early in main, before other threads run, to be safe with
/// the environment; later calls return the same fd.
int take_parent_channel();

} // namespace switchboard::bridges

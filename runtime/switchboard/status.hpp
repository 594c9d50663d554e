// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <string>
#include <utility>
#include <vector>

#include <caf/scheduled_actor.hpp>

#include "switchboard/json_message.hpp"

namespace switchboard {

/// Builds an actor's reply to `status_atom`: `{"kind": ..., "mailbox": N}`
/// plus the given extra fields (name and JSON text each). Call it from the
/// actor's own behaviour: the mailbox size may only be read there.
json_message
status_reply(caf::scheduled_actor* self, const char* kind,
             std::vector<std::pair<std::string, std::string>> fields);

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <string>
#include <vector>

#include <caf/settings.hpp>

#include "switchboard/fwd.hpp"

namespace switchboard {

/// The actor names a config entry wires to: the values of its keys that
/// `spec` types as `actor_ref`, `actor_ref_list` or `actor_ref_map` (`to`,
/// `room`, `events`, a router's `routes`, ...), in the order of `spec`'s
/// keys. Names may be NODE/ACTOR addresses.
std::vector<std::string> wired_names(const kind_spec& spec,
                                     const caf::settings& entry);

} // namespace switchboard

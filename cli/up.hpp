// switchboard: an embeddable C++ actor runtime. MIT License.

// `switchboard up TOPOLOGY`: every node of a topology as a supervised child
// process of one supervising node, and `check` for topology files.

#pragma once

#include <string>
#include <vector>

#include <switchboard/config.hpp>
#include <switchboard/fwd.hpp>

namespace switchboard::cli {

/// `switchboard up --help`.
extern const char* const up_help;

/// Whether `cfg` is a topology file (it has `[nodes]` or `[topology]`)
/// rather than one node's config.
bool is_topology(const node_config& cfg);

/// Every problem of the topology file `cfg`: its own keys, and each node's
/// config as the node will run it (its overrides applied).
std::vector<config_error> check_topology(const node_config& cfg,
                                         const kind_registry& kinds);

/// Runs `switchboard up` with the arguments after the verb; `add_kinds`
/// adds the kinds a node runs with. Returns the exit status.
int up(const std::vector<std::string>& args, void (*add_kinds)(kind_registry&));

} // namespace switchboard::cli

// switchboard: an embeddable C++ actor runtime. MIT License.

// Remote nodes over CAF's own distribution protocol (BASP). A node with
// `[node] listen` or `peers` runs a peer manager (registered as `peers`): it
// publishes itself on `listen`, dials every peer (again after a loss, with
// backoff), greets each node it meets (names and message types), answers
// which actor a name stands for, and reports `node-up`/`node-down`.
//
// `NODE/ACTOR` resolves to a local stand-in, the remote reference, spawned
// on first use and registered under that address: it resolves the name
// through the peer manager, forwards every message to the remote actor, holds
// messages while the node is down (up to `[node] max-held`, at most
// `request-timeout` each) and answers every request in flight with
// `node_down` when the node goes, so a request to a dead node gets an error,
// never silence.

#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/settings.hpp>

#include "switchboard/fwd.hpp"

namespace switchboard::remote {

/// The name the peer manager has in the registry.
inline constexpr const char* manager_name = "peers";

/// Whether the config makes this node part of a topology (a `[node]
/// listen` address or `peers`, not empty).
bool enabled(const caf::settings& cfg);

/// Splits `NODE/ACTOR`; false for a name without a node.
bool split_address(const std::string& address, std::string& node_name,
                   std::string& actor_name);

/// Splits `HOST:PORT` (`[::1]:4100` for IPv6); false with `error` set if it
/// is not one.
bool split_host_port(const std::string& text, std::string& host, uint16_t& port,
                     std::string& error);

/// Splits a `[node] peers` entry, `HOST:PORT` or `NAME@HOST:PORT` (the
/// node expected there); false with `error` set if it is neither.
bool split_peer(const std::string& text, std::string& name,
                std::string& address, std::string& host, uint16_t& port,
                std::string& error);

/// Loads CAF's middleman and turns on BASP heartbeats so that a silent peer
/// is declared down within `[node] down-after`, unless `[middleman]` sets
/// `heartbeat-interval` itself.
void configure(caf::actor_system_config& sys_cfg, const caf::settings& cfg);

/// Spawns the peer manager, publishes it on `listen` and starts dialling the
/// peers. Runs in `node::start`, before the config's actors.
caf::expected<caf::actor> start(node& n);

/// Spawns the remote reference for `address` (`NODE/ACTOR`), which resolves
/// the name through `manager`.
caf::actor make_ref(node& n, const caf::actor& manager,
                    const std::string& address);

} // namespace switchboard::remote

// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <map>
#include <string>

#include <switchboard/kinds.hpp>
#include <switchboard/messages.hpp>

namespace switchboard::actors {

/// Forwards each JSON request to the actor its routing field names; the
/// target's reply goes straight back to the requester.
using router_actor = json_actor::extend_with<status_actor>;

/// What a router needs to know.
struct router_config {
  /// The field whose (string) value picks the route.
  std::string field = "type";
  /// Field value -> actor name.
  std::map<std::string, std::string> routes;
  /// Where messages without a matching route go; empty means an error reply.
  std::string fallback;
};

/// The `router` kind. Keys: `routes` (required), `field`, `default`.
kind_spec router_kind();

} // namespace switchboard::actors

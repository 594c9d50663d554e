// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/echo.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <switchboard/node.hpp>

#include <switchboard/status.hpp>

namespace switchboard::actors {

echo_actor::behavior_type echo(echo_actor::pointer self) {
  return {
    [](json_message& x) { return std::move(x); },
    [self](status_atom) { return status_reply(self, "echo", {}); },
  };
}

kind_spec echo_kind() {
  kind_spec result;
  result.name = "echo";
  result.doc = "replies to every JSON request with the request itself";
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(ctx.node.system().spawn(echo));
  };
  return result;
}

} // namespace switchboard::actors

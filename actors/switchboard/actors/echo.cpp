// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/echo.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <switchboard/loop_actor.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

namespace switchboard::actors {

echo_actor::behavior_type echo(metered<echo_actor::base>* self) {
  return {
    [](json_message& x) { return std::move(x); },
    [self](status_atom) { return status_reply(self, "echo", {}); },
  };
}

namespace {

// `echo` on the io loop (run-on = "loop").
class loop_echo : public loop_actor<echo_actor::base> {
public:
  using loop_actor::loop_actor;

  behavior_type make_behavior() override {
    return {
      [](json_message& x) { return std::move(x); },
      [this](status_atom) {
        // Where the handler runs, as seen from inside it.
        return status_reply(
          this, "echo",
          {{"run_on",
            loop().in_loop_thread() ? "\"loop\"" : "\"not the loop\""}});
      },
    };
  }
};

} // namespace

kind_spec echo_kind() {
  kind_spec result;
  result.name = "echo";
  result.doc = "replies to every JSON request with the request itself";
  result.keys = {run_on_key()};
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    if (runs_on_loop(ctx.args))
      return caf::actor_cast<caf::actor>(
        spawn_on_loop<loop_echo>(ctx.node.system(), ctx.node.loop()));
    return caf::actor_cast<caf::actor>(ctx.node.system().spawn(echo));
  };
  return result;
}

} // namespace switchboard::actors

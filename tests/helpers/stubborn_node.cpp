// switchboard: an embeddable C++ actor runtime. MIT License.

// A node whose graceful stop cannot finish: its `busy` actor is stuck in a
// long computation when the stop begins, and stop-timeout is long. Tests use
// it to check that a second SIGTERM or SIGINT ends the process at once.
// Prints "ready" on stderr once it handles signals.

#include <chrono>
#include <thread>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

using namespace switchboard;

int main() {
  auto cfg = node_config::from_string(R"(
[node]
name = "stubborn"
control = "none"
stop-timeout = 60s
[actors]
busy = { kind = "busy" }
)");
  if (!cfg)
    return 1;
  node n{std::move(*cfg)};
  actors::add_builtin_kinds(n.kinds());
  kind_spec busy;
  busy.name = "busy";
  busy.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(
      ctx.node.system().spawn([]() -> json_actor::behavior_type {
        return {[](json_message& m) {
          // Stands for work that does not yield.
          std::this_thread::sleep_for(std::chrono::seconds(30));
          return m;
        }};
      }));
  };
  n.kinds().add(busy);
  if (auto err = n.start())
    return 1;
  if (auto err = n.handle_signals())
    return 1;
  caf::anon_send(caf::actor_cast<json_actor>(n.lookup("busy")),
                 json_message::trusted("1"));
  n.log("ready");
  n.wait_for_stop_request();
  n.stop();
  return 0;
}

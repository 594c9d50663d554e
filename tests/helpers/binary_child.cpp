// switchboard: an embeddable C++ actor runtime. MIT License.

// A node built on switchboard, started by the binary IPC tests as a
// child-process with ipc = "binary". Its `typed` actor answers typed
// messages from the parent node (through the `parent` bridge) and talks
// back to it.

#include <algorithm>
#include <cstdlib>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/bridges/process/node_channel.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

#include "typed_messages.hpp"

using namespace switchboard;
using namespace switchboard::test;
using namespace std::chrono_literals;

int main() {
  bridges::take_parent_channel();
  auto cfg = node_config::from_string(R"(
[node]
name = "binary-child"
control = "none"
[actors]
typed = { kind = "typed" }
[bridges]
parent = { kind = "parent", to = "typed" }
)");
  if (!cfg)
    return 1;
  node n{std::move(*cfg)};
  actors::add_builtin_kinds(n.kinds());
  n.kinds().configure_system([](caf::actor_system_config& sys_cfg) {
    add_test_types(sys_cfg);
    sys_cfg.add_message_type<secret>("secret");
  });
  kind_spec typed;
  typed.name = "typed";
  typed.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto* nd = &ctx.node;
    return ctx.node.system().spawn([nd](caf::event_based_actor* self) {
      auto parent = [nd] { return nd->lookup("parent"); };
      return caf::behavior{
        [](add_atom, int32_t a, int32_t b) { return a + b; },
        [](point p) {
          return point{p.y, p.x};
        },
        [](std::string s) {
          std::reverse(s.begin(), s.end());
          return s;
        },
        [](json_message& m) { return m; },
        [](const std::vector<char>& xs) {
          return static_cast<int64_t>(xs.size());
        },
        // A request to the parent node, answered there by its `to`.
        [self, parent](ask_parent_atom, int32_t x) -> caf::result<int32_t> {
          auto rp = self->make_response_promise<int32_t>();
          self->request(parent(), 5s, add_atom::value, x, x)
            .then([rp](int32_t sum) mutable { rp.deliver(sum); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
          return rp;
        },
        // One-way messages to the parent node, in order.
        [parent](tell_parent_atom, int32_t count) {
          auto to = parent();
          for (int32_t i = 0; i < count; ++i)
            caf::anon_send(to, i);
          return count;
        },
        [](fail_atom) -> caf::result<int32_t> {
          return make_error(errc::bad_message, "asked to fail");
        },
        [](die_atom) { std::_Exit(3); },
        [](secret_atom) { return secret{"only the child knows this type"}; },
      };
    });
  };
  n.kinds().add(typed);
  if (auto err = n.start())
    return 1;
  if (auto err = n.handle_signals())
    return 1;
  n.wait_for_stop_request();
  n.stop();
  return 0;
}

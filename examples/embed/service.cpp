// Shows: a C++ service that embeds a switchboard node and serves an actor of
// its own over HTTP. Build: examples/embed/CMakeLists.txt. Run:
//   embed_service 8080 &
//   curl -d '{"name":"Ada"}' 127.0.0.1:8080/greet    -> {"greeting":"hello, Ada"}

#include <cstdio>
#include <string>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

using namespace switchboard;

// The service's own actor: a typed JSON request in, a JSON reply out.
json_actor::behavior_type greeter() {
  return {[](json_message& m) {
    auto name = nlohmann::json::parse(m.text).value("name", "stranger");
    return json_message::trusted(
      nlohmann::json{{"greeting", "hello, " + name}}.dump());
  }};
}

int main(int argc, char** argv) {
  std::string port = argc > 1 ? argv[1] : "8080";
  auto cfg = node_config::from_string(
    "[node]\nname = \"service\"\ncontrol = \"none\"\n"
    "[actors]\ngreeter = { kind = \"greeter\" }\n"
    "[bridges]\napi = { kind = \"http\", listen = \"127.0.0.1:" + port
    + "\", routes = [{ method = \"POST\", path = \"/greet\", to = "
      "\"greeter\" }] }\n");
  node n{std::move(*cfg)};
  actors::add_builtin_kinds(n.kinds());
  n.kinds().add({"greeter", "greets by name", kind_section::actors, {},
                 [](const spawn_context& ctx) -> caf::expected<caf::actor> {
                   return caf::actor_cast<caf::actor>(
                     ctx.node.system().spawn(greeter));
                 }});
  if (auto err = n.start())
    return std::fprintf(stderr, "%s\n", render(err).c_str()), 1;
  std::printf("serving POST http://127.0.0.1:%s/greet\n", port.c_str());
  std::fflush(stdout);
  n.handle_signals(); // Ctrl-C or SIGTERM: a graceful stop
  n.wait_for_stop_request();
  n.stop();
  return 0;
}

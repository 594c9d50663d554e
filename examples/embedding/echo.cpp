// Shows: embedding a switchboard node in a C++ program. Builds a node from an
// in-memory config, adds a kind of its own, and talks to actors by name.
// Run: build/examples/embed_echo   (prints two replies, exits 0)

#include <cstdio>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

using namespace switchboard;

// -- constants ----------------------------------------------------------------

constexpr const char* config_text = R"(
[node]
name = "embedded"
control = "none"
[actors]
echo  = { kind = "echo" }
shout = { kind = "shout" }   ; a kind this program registers
api   = { kind = "router", routes = { echo = "echo", shout = "shout" } }
)";

// -- configuration: a kind of our own -----------------------------------------

json_actor::behavior_type shout() {
  return {[](json_message& m) {
    for (auto& c : m.text)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return m; // Upper-casing keeps valid JSON valid for this demo's input.
  }};
}

// -- main ---------------------------------------------------------------------

int main() {
  auto cfg = node_config::from_string(config_text);
  if (!cfg)
    return std::fprintf(stderr, "%s\n", render(cfg.error()).c_str()), 1;
  node n{std::move(*cfg)};
  actors::add_builtin_kinds(n.kinds());
  n.kinds().add({"shout",
                 "upper-cases requests",
                 kind_section::actors,
                 {},
                 [](const spawn_context& ctx) -> caf::expected<caf::actor> {
                   return caf::actor_cast<caf::actor>(
                     ctx.node.system().spawn(shout));
                 }});
  if (auto err = n.start())
    return std::fprintf(stderr, "%s\n", render(err).c_str()), 1;
  // More actors by kind name, after start.
  if (auto h = n.spawn("echo2", "echo"); !h)
    return std::fprintf(stderr, "%s\n", render(h.error()).c_str()), 1;
  auto api = caf::actor_cast<json_actor>(n.lookup("api"));
  int failures = 0;
  { // A scoped actor is an actor too: it must be gone before the node stops.
    caf::scoped_actor self{n.system()};
    for (auto text : {R"({"type":"echo","n":1})", R"({"type":"shout","n":2})"})
      self->request(api, std::chrono::seconds(1), json_message::trusted(text))
        .receive([](json_message& r) { std::printf("%s\n", r.text.c_str()); },
                 [&](caf::error& e) {
                   std::fprintf(stderr, "error: %s\n", render(e).c_str());
                   ++failures;
                 });
  }
  n.stop();
  return failures == 0 ? 0 : 1;
}

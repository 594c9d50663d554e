// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/actors/router.hpp>

#include "node_fixture.hpp"

using namespace switchboard;
using switchboard::test::node_fixture;

namespace {

// `tag` answers every request with {"from":"tag"}, so a test sees where a
// message went.
void add_tag_kind(kind_registry& kinds) {
  REQUIRE(!kinds.add(test::reply_kind(
    "tag", [](const json_message&, const std::string& name, auto&) {
      return json_message::trusted("{\"from\":\"" + name + "\"}");
    })));
}

constexpr const char* config = R"(
[node]
control = "none"
[actors]
calc = { kind = "tag" }
chat = { kind = "tag" }
other = { kind = "tag" }
by-type = { kind = "router", routes = { calculate = "calc", say = "chat" } }
by-op = { kind = "router", field = "op", default = "other",
          routes = { add = "calc" } }
)";

} // namespace

TEST_CASE("a router forwards by the value of the type field") {
  node_fixture f{config, add_tag_kind};
  auto r1 = f.ask("by-type", R"({"type":"calculate","operands":[1,2]})");
  REQUIRE(r1);
  CHECK(r1->text == R"({"from":"calc"})");
  auto r2 = f.ask("by-type", R"({"type":"say"})");
  REQUIRE(r2);
  CHECK(r2->text == R"({"from":"chat"})");
  f.stop_and_check();
}

TEST_CASE("a router reads the configured field and falls back to default") {
  node_fixture f{config, add_tag_kind};
  auto r1 = f.ask("by-op", R"({"op":"add"})");
  REQUIRE(r1);
  CHECK(r1->text == R"({"from":"calc"})");
  auto r2 = f.ask("by-op", R"({"op":"mul"})");
  REQUIRE(r2);
  CHECK(r2->text == R"({"from":"other"})");
  auto r3 = f.ask("by-op", R"([1,2])");
  REQUIRE(r3);
  CHECK(r3->text == R"({"from":"other"})");
  f.stop_and_check();
}

TEST_CASE("an unknown value is an error reply that names it and the routes") {
  node_fixture f{config, add_tag_kind};
  auto r = f.ask("by-type", R"({"type":"dance"})");
  REQUIRE(!r);
  CHECK(is(r.error(), errc::no_route));
  auto text = render(r.error());
  CHECK(text.find("\"dance\"") != std::string::npos);
  CHECK(text.find("calculate, say") != std::string::npos);
  auto missing = f.ask("by-type", R"({"kind":"x"})");
  REQUIRE(!missing);
  CHECK(render(missing.error()).find("no string field 'type'")
        != std::string::npos);
  auto not_json = f.ask("by-type", "not json at all");
  REQUIRE(!not_json);
  CHECK(is(not_json.error(), errc::no_route));
  f.stop_and_check();
}

TEST_CASE("a route to an actor that is gone is an error reply") {
  node_fixture f{config, add_tag_kind};
  auto calc = f.node().lookup("calc");
  {
    caf::scoped_actor self{f.node().system()};
    self->send_exit(calc, caf::exit_reason::user_shutdown);
    self->wait_for(calc);
  }
  auto r = f.ask("by-type", R"({"type":"calculate"})");
  REQUIRE(!r);
  CHECK(is(r.error(), errc::unknown_actor));
  f.stop_and_check();
}

TEST_CASE("a router with run-on = loop routes the same, from the io loop") {
  node_fixture f{R"(
[node]
control = "none"
[actors]
calc = { kind = "tag" }
other = { kind = "tag" }
r = { kind = "router", run-on = "loop", default = "other",
      routes = { calculate = "calc" } }
)",
                 add_tag_kind};
  auto r1 = f.ask("r", R"({"type":"calculate"})");
  REQUIRE(r1);
  CHECK(r1->text == R"({"from":"calc"})");
  auto r2 = f.ask("r", R"({"type":"else"})");
  REQUIRE(r2);
  CHECK(r2->text == R"({"from":"other"})");
  // Forwarded twice, as a router on the scheduler counts.
  caf::scoped_actor self{f.node().system()};
  self
    ->request(caf::actor_cast<status_actor>(f.node().lookup("r")),
              std::chrono::seconds(5), status_atom::value)
    .receive(
      [](json_message& st) {
        CHECK(st.text.find("\"forwarded\":2") != std::string::npos);
        CHECK(st.text.find("\"run_on\":\"loop\"") != std::string::npos);
      },
      [](caf::error& e) { FAIL(caf::to_string(e)); });
}

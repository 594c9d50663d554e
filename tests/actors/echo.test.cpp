// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/actors/echo.hpp>

#include "node_fixture.hpp"

using switchboard::test::node_fixture;

TEST_CASE("echo replies with exactly what it got") {
  node_fixture f{
    "[node]\ncontrol = \"none\"\n[actors]\ne = { kind = \"echo\" }\n"};
  for (auto text :
       {"{\"a\":1}", "[1,2,3]", "\"x\"", "{ \"raw\" : \"kept\" }"}) {
    auto reply = f.ask("e", text);
    REQUIRE(reply);
    CHECK(reply->text == text);
  }
  f.stop_and_check();
}

TEST_CASE("echo reports its status") {
  node_fixture f{
    "[node]\ncontrol = \"none\"\n[actors]\ne = { kind = \"echo\" }\n"};
  {
    caf::scoped_actor self{f.node().system()};
    self
      ->request(
        caf::actor_cast<switchboard::status_actor>(f.node().lookup("e")),
        std::chrono::seconds(5), switchboard::status_atom::value)
      .receive(
        [](switchboard::json_message& st) {
          CHECK(st.text == "{\"kind\":\"echo\",\"mailbox\":0}");
        },
        [](caf::error& e) { FAIL(caf::to_string(e)); });
  }
  f.stop_and_check();
}

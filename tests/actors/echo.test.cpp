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

TEST_CASE("echo with run-on = loop answers on the io loop, also behind a tcp "
          "bridge") {
  node_fixture f{R"([node]
control = "none"
[actors]
e = { kind = "echo", run-on = "loop" }
[bridges]
t = { kind = "tcp", listen = "127.0.0.1:0", to = "e" }
)"};
  auto reply = f.ask("e", "{\"a\":1}");
  REQUIRE(reply);
  CHECK(reply->text == "{\"a\":1}");
  {
    caf::scoped_actor self{f.node().system()};
    self
      ->request(
        caf::actor_cast<switchboard::status_actor>(f.node().lookup("e")),
        std::chrono::seconds(5), switchboard::status_atom::value)
      .receive(
        [](switchboard::json_message& st) {
          CHECK(st.text.find("\"run_on\":\"loop\"") != std::string::npos);
        },
        [](caf::error& e) { FAIL(caf::to_string(e)); });
  }
  // A client of the tcp bridge gets its line back.
  std::string listen;
  {
    caf::scoped_actor self{f.node().system()};
    self
      ->request(
        caf::actor_cast<switchboard::status_actor>(f.node().lookup("t")),
        std::chrono::seconds(5), switchboard::status_atom::value)
      .receive([&](switchboard::json_message& st) { listen = st.text; },
               [](caf::error& e) { FAIL(caf::to_string(e)); });
  }
  auto at = listen.find("127.0.0.1:");
  REQUIRE(at != std::string::npos);
  auto port = std::stoi(listen.substr(at + 10));
  {
    switchboard::test::child nc{{"nc", "127.0.0.1", std::to_string(port)},
                                true};
    REQUIRE(nc.write_stdin("{\"b\":2}\n"));
    CHECK(nc.wait_for_stdout("{\"b\":2}\n", std::chrono::seconds(10)));
  }
  f.stop_and_check();
}

TEST_CASE("run-on takes only scheduler or loop") {
  auto cfg = switchboard::node_config::from_string(
    "[actors]\ne = { kind = \"echo\", run-on = \"gpu\" }\n", "r.conf");
  REQUIRE(cfg);
  switchboard::kind_registry kinds;
  REQUIRE(!switchboard::actors::add_builtin_kinds(kinds));
  auto errors = switchboard::validate(*cfg, kinds);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string().find("run-on") != std::string::npos);
}

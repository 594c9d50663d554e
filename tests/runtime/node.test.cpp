// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/node.hpp>

#include "node_fixture.hpp"

#include <future>
#include <thread>

#include <switchboard/registry.hpp>

using namespace switchboard;
using switchboard::test::node_fixture;

namespace {

constexpr const char* two_echoes = R"(
[node]
control = "none"
[actors]
a = { kind = "echo" }
b = { kind = "echo" }
)";

} // namespace

TEST_CASE("a node spawns and names what its config lists") {
  node_fixture f{two_echoes};
  auto names = f.node().registry().list();
  REQUIRE(names.size() == 2);
  CHECK(names[0].name == "a");
  CHECK(names[0].kind == "echo");
  CHECK(names[1].name == "b");
  CHECK(f.node().lookup("a") != f.node().lookup("b"));
  CHECK(!f.node().lookup("c"));
  f.stop_and_check();
}

TEST_CASE("a node refuses to start with an invalid config and lists why") {
  auto cfg = node_config::from_string(
    "[actors]\na = { kind = \"nope\" }\nb = { kind = \"echo\", x = 1 }\n");
  REQUIRE(cfg);
  node n{std::move(*cfg)};
  REQUIRE(!actors::add_builtin_kinds(n.kinds()));
  auto err = n.start();
  REQUIRE(err);
  auto text = render(err);
  CHECK(text.find("actors.a.kind") != std::string::npos);
  CHECK(text.find("actors.b.x") != std::string::npos);
  CHECK(!n.running());
}

TEST_CASE("spawn by kind name validates its arguments") {
  node_fixture f{two_echoes};
  auto& n = f.node();
  CHECK(n.spawn("c", "echo"));
  CHECK(n.lookup("c"));
  auto dup = n.spawn("c", "echo");
  REQUIRE(!dup);
  CHECK(is(dup.error(), errc::name_taken));
  auto unknown = n.spawn("d", "no-such-kind");
  REQUIRE(!unknown);
  CHECK(is(unknown.error(), errc::config_unknown_kind));
  caf::settings bad;
  bad["routes"] = caf::settings{{"x", caf::config_value{"ghost"}}};
  auto r = n.spawn("r", "router", bad);
  REQUIRE(!r);
  CHECK(is(r.error(), errc::config_unknown_actor));
  caf::settings good;
  good["routes"] = caf::settings{{"x", caf::config_value{"a"}}};
  CHECK(n.spawn("r", "router", good));
  f.stop_and_check();
}

TEST_CASE("a kind registered by the embedding service spawns like a built-in") {
  node_fixture f{
    "[node]\ncontrol = \"none\"\n[actors]\nu = { kind = \"upper\", "
    "suffix = \"!\" }\n",
    [](kind_registry& kinds) {
      auto k = test::reply_kind(
        "upper",
        [](const json_message& m, auto&, const caf::settings& args) {
          auto suffix = caf::get_or(args, "suffix", "");
          return json_message::trusted(
            "\"" + m.text.substr(1, m.text.size() - 2) + suffix + "\"");
        },
        {{"suffix", value_type::string, false, "appended"}});
      REQUIRE(!kinds.add(k));
      CHECK(kinds.add(k)); // a second kind of that name is refused
    }};
  auto reply = f.ask("u", "\"hi\"");
  REQUIRE(reply);
  CHECK(reply->text == "\"hi!\"");
  f.stop_and_check();
}

TEST_CASE("a name leaves the registry when its actor exits") {
  node_fixture f{two_echoes};
  auto a = f.node().lookup("a");
  {
    caf::scoped_actor self{f.node().system()};
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->wait_for(a);
  }
  CHECK(!f.node().lookup("a"));
  CHECK(f.node().lookup("b"));
  // The name is free again.
  CHECK(f.node().spawn("a", "echo"));
  f.stop_and_check();
}

TEST_CASE("stop drains what is already in the mailboxes") {
  // A stop timeout long enough for slow (sanitizer) builds to drain.
  node_fixture f{std::string{two_echoes} + "[node]\nstop-timeout = 60s\n"};
  auto a = caf::actor_cast<json_actor>(f.node().lookup("a"));
  constexpr int n = 5000;
  std::promise<std::pair<int, int>> outcome;
  auto counts = outcome.get_future();
  // An unregistered client (the node does not stop it) puts n requests in
  // echo's mailbox, confirms, and counts replies and errors.
  auto client =
    f.node().system().spawn([&](caf::event_based_actor* self) -> caf::behavior {
      auto replies = std::make_shared<std::pair<int, int>>(0, 0);
      auto settle = [=, &outcome] {
        if (replies->first + replies->second == n) {
          outcome.set_value(*replies);
          self->quit();
        }
      };
      return {[=](caf::ok_atom) {
        for (int i = 0; i < n; ++i)
          self
            ->request(a, caf::infinite,
                      json_message::trusted(std::to_string(i)))
            .then(
              [=](json_message&) {
                ++replies->first;
                settle();
              },
              [=](caf::error&) {
                ++replies->second;
                settle();
              });
        return caf::ok_atom::value;
      }};
    });
  {
    caf::scoped_actor self{f.node().system()};
    self->request(client, std::chrono::seconds(10), caf::ok_atom::value)
      .receive([](caf::ok_atom) {},
               [](caf::error& e) { FAIL(caf::to_string(e)); });
  }
  f.node().stop();
  REQUIRE(counts.wait_for(std::chrono::seconds(10))
          == std::future_status::ready);
  auto [replies, errors] = counts.get();
  CHECK(replies == n);
  CHECK(errors == 0);
  f.stop_and_check();
}

TEST_CASE("a request to an actor that has exited comes back as an error") {
  node_fixture f{two_echoes};
  auto a = f.node().lookup("a");
  {
    caf::scoped_actor self{f.node().system()};
    self->send_exit(a, caf::exit_reason::user_shutdown);
    self->wait_for(a);
    self
      ->request(caf::actor_cast<json_actor>(a), std::chrono::seconds(5),
                json_message::trusted("1"))
      .receive(
        [](json_message&) { FAIL("a dead actor replied"); },
        [](caf::error& e) { CHECK(e == caf::sec::request_receiver_down); });
  }
  f.stop_and_check();
}

TEST_CASE("a node starts once, signals need a started node") {
  auto cfg = node_config::from_string("[node]\ncontrol = \"none\"\n");
  REQUIRE(cfg);
  node n{std::move(*cfg)};
  auto early = n.handle_signals();
  REQUIRE(early);
  CHECK(is(early, errc::not_running));
  REQUIRE(!n.start());
  auto twice = n.start();
  REQUIRE(twice);
  CHECK(is(twice, errc::already_running));
  n.stop();
  n.stop(); // idempotent
  CHECK(!n.running());
}

TEST_CASE("stop kills what has not drained by the stop timeout") {
  using namespace std::chrono;
  node_fixture f{"[node]\ncontrol = \"none\"\nstop-timeout = 100ms\n"
                 "[actors]\nslow = { kind = \"slow\" }\n",
                 [](kind_registry& kinds) {
                   REQUIRE(!kinds.add(test::reply_kind(
                     "slow", [](const json_message& m, auto&, auto&) {
                       // Stands for work that takes a while.
                       std::this_thread::sleep_for(milliseconds(5));
                       return m;
                     })));
                 }};
  auto slow = caf::actor_cast<json_actor>(f.node().lookup("slow"));
  // A backlog of 2000 x 5 ms = 10 s: far more than the stop timeout.
  for (int i = 0; i < 2000; ++i)
    caf::anon_send(slow, json_message::trusted("1"));
  auto t0 = steady_clock::now();
  f.node().stop();
  CHECK(steady_clock::now() - t0 < seconds(2));
  f.stop_and_check();
}

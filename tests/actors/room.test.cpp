// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/actors/room.hpp>

#include "node_fixture.hpp"

using namespace switchboard;
using switchboard::test::node_fixture;

namespace {

using got_atom = caf::atom_constant<caf::atom("got")>;

// A member that reports every delivery to `observer` as (got, name, text).
sink_actor::behavior_type member(sink_actor::pointer self, std::string name,
                                 caf::actor observer) {
  return {[=](push_atom, json_message& m) {
    caf::anon_send(observer, got_atom::value, name, m.text);
  }};
}

// Collects deliveries until `n` arrived or the deadline passed.
std::multiset<std::string> collect(caf::scoped_actor& self, size_t n) {
  std::multiset<std::string> result;
  bool timed_out = false;
  while (result.size() < n && !timed_out)
    self->receive(
      [&](got_atom, const std::string& who, const std::string& text) {
        result.insert(who + ":" + text);
      },
      caf::after(std::chrono::seconds(5)) >> [&] { timed_out = true; });
  return result;
}

constexpr const char* config =
  "[node]\ncontrol = \"none\"\n[actors]\nlobby = { kind = \"room\" }\n";

} // namespace

static void deliver_to_others(node_fixture& f) {
  auto& sys = f.node().system();
  caf::scoped_actor self{sys};
  auto room = caf::actor_cast<actors::room_actor>(f.node().lookup("lobby"));
  std::vector<sink_actor> members;
  for (auto name : {"a", "b", "c"}) {
    members.push_back(sys.spawn(member, name, caf::actor{self}));
    self->send(room, join_atom::value, members.back());
  }
  self->send(room, join_atom::value, members[0]); // joining twice is harmless
  // Once the room answers this, it has handled the joins.
  self->request(room, std::chrono::seconds(5), status_atom::value)
    .receive(
      [](json_message& st) {
        CHECK(st.text.find("\"members\":3") != std::string::npos);
      },
      [](caf::error& e) { FAIL(caf::to_string(e)); });
  // "a" speaks through the room: b and c hear it, a does not.
  caf::anon_send(members[0], push_atom::value, json_message::trusted("x"));
  caf::send_as(members[0], room, push_atom::value,
               json_message::trusted("\"hi\""));
  auto got = collect(self, 3);
  CHECK(got == std::multiset<std::string>{"a:x", "b:\"hi\"", "c:\"hi\""});
  // A request from outside reaches everybody and says how many.
  self->request(room, std::chrono::seconds(5), json_message::trusted("1"))
    .receive([](json_message& r) { CHECK(r.text == "{\"delivered\":3}"); },
             [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(collect(self, 3) == std::multiset<std::string>{"a:1", "b:1", "c:1"});
  for (auto& m : members)
    self->send_exit(m, caf::exit_reason::user_shutdown);
  self->wait_for(members[0], members[1], members[2]);
}

static void leave_and_exit(node_fixture& f) {
  auto& sys = f.node().system();
  caf::scoped_actor self{sys};
  auto room = caf::actor_cast<actors::room_actor>(f.node().lookup("lobby"));
  // The room's member count, from its status reply.
  auto members = [&] {
    std::string text;
    self->request(room, std::chrono::seconds(5), status_atom::value)
      .receive([&](json_message& r) { text = r.text; },
               [](caf::error& e) { FAIL(caf::to_string(e)); });
    auto pos = text.find("\"members\":");
    REQUIRE(pos != std::string::npos);
    return std::stoi(text.substr(pos + 10));
  };
  auto a = sys.spawn(member, "a", caf::actor{self});
  auto b = sys.spawn(member, "b", caf::actor{self});
  auto c = sys.spawn(member, "c", caf::actor{self});
  for (auto& m : {a, b, c})
    self->send(room, join_atom::value, m);
  // Mail is handled in order: the status request sees all three joins.
  CHECK(members() == 3);
  self->send(room, leave_atom::value, a);
  CHECK(members() == 2);
  // The room learns of b's exit from a down message whose arrival is not
  // ordered with ours: ask until it shows, within a deadline.
  self->send_exit(b, caf::exit_reason::user_shutdown);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int n = members();
  while (n != 1 && std::chrono::steady_clock::now() < deadline)
    n = members();
  CHECK(n == 1);
  self->request(room, std::chrono::seconds(5), json_message::trusted("2"))
    .receive([](json_message& r) { CHECK(r.text == "{\"delivered\":1}"); },
             [](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(collect(self, 1) == std::multiset<std::string>{"c:2"});
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->send_exit(c, caf::exit_reason::user_shutdown);
  self->wait_for(a, b, c);
}

TEST_CASE("a room delivers a member's message to every other member") {
  node_fixture f{config};
  deliver_to_others(f);
  f.stop_and_check();
}

TEST_CASE("members leave by message or by exiting") {
  node_fixture f{config};
  leave_and_exit(f);
  f.stop_and_check();
}

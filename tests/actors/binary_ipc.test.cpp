// switchboard: an embeddable C++ actor runtime. MIT License.

// ipc = "binary": a node and a child node built on switchboard
// (helpers/binary_child.cpp) exchange typed messages, both ways.

#include <switchboard/actors/child_process.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "node_fixture.hpp"
#include "typed_messages.hpp"

using namespace std::chrono_literals;
using switchboard::json_message;
using switchboard::render;
using switchboard::test::node_fixture;
namespace sb = switchboard;
namespace t = switchboard::test;

namespace {

const std::string binary_child = SWITCHBOARD_BINARY_CHILD;

using switchboard::test::burst_size;

// What the parent's `sink` received from the child, in order.
struct received {
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<int32_t> ints;
  std::deque<std::string> strings;

  void push(int32_t x) {
    std::lock_guard<std::mutex> guard{mtx};
    ints.push_back(x);
    cv.notify_all();
  }

  void push(std::string x) {
    std::lock_guard<std::mutex> guard{mtx};
    strings.push_back(std::move(x));
    cv.notify_all();
  }

  // The first string received, or "" after `timeout`.
  std::string first_string(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> guard{mtx};
    if (!cv.wait_for(guard, timeout, [&] { return !strings.empty(); }))
      return "";
    return strings.front();
  }

  // Waits until `n` ints arrived; false after `timeout`.
  bool wait_for(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, timeout, [&] { return ints.size() >= n; });
  }
};

std::shared_ptr<received> sink_box;

// The parent node's kinds: the test types, and `typed-sink`, which adds
// for the child and records the ints it sends.
void add_parent_kinds(sb::kind_registry& kinds) {
  kinds.configure_system(t::add_test_types);
  sb::kind_spec k;
  k.name = "typed-sink";
  k.factory = [](const sb::spawn_context& ctx) -> caf::expected<caf::actor> {
    auto box = sink_box;
    return ctx.node.system().spawn([box] {
      return caf::behavior{
        [](t::add_atom, int32_t a, int32_t b) { return a + b; },
        [box](int32_t x) { box->push(x); },
        [box](std::string& x) { box->push(std::move(x)); },
      };
    });
  };
  REQUIRE(!kinds.add(std::move(k)));
}

struct binary_fixture : node_fixture {
  explicit binary_fixture(const std::string& extra = "",
                          const std::string& command = "\"" + binary_child
                                                       + "\"")
      : node_fixture(prepare(extra, command), add_parent_kinds) {}

  static std::string prepare(const std::string& extra,
                             const std::string& command) {
    sink_box = std::make_shared<received>();
    return "[node]\ncontrol = \"none\"\n[actors]\nsink = { kind = "
           "\"typed-sink\" }\njob = { kind = \"child-process\", command = ["
           + command + "], ipc = \"binary\", to = \"sink\"" + extra + " }\n";
  }

  // Asks `job` and waits for a reply of type R (or an error).
  template<class R, class... Ts>
  caf::expected<R> ask_job(Ts... xs) {
    caf::expected<R> result = caf::error{};
    caf::scoped_actor self{node().system()};
    self->request(node().lookup("job"), 10s, xs...)
      .receive([&](R& x) { result = std::move(x); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }
};

} // namespace

TEST_CASE("a switchboard child answers typed messages over ipc = binary") {
  binary_fixture f;
  auto sum = f.ask_job<int32_t>(t::add_atom::value, int32_t{2}, int32_t{3});
  REQUIRE(sum);
  CHECK(*sum == 5);
  // A user type both nodes registered.
  auto p = f.ask_job<t::point>(t::point{1, 2});
  REQUIRE(p);
  CHECK(*p == t::point{2, 1});
  auto s = f.ask_job<std::string>(std::string{"abc\ndef"});
  REQUIRE(s);
  CHECK(*s == "fed\ncba");
  std::vector<char> bytes(100000, '\xff');
  auto n = f.ask_job<int64_t>(bytes);
  REQUIRE(n);
  CHECK(*n == 100000);
  // JSON messages cross as they are, so `switchboard send` works too.
  auto j = f.ask("job", "{\"a\":[1,2]}");
  REQUIRE(j);
  CHECK(j->text == "{\"a\":[1,2]}");
  // An error reply arrives as an error.
  auto e = f.ask_job<int32_t>(t::fail_atom::value);
  REQUIRE(!e);
  CHECK(sb::is(e.error(), sb::errc::bad_message));
  CHECK(render(e.error()).find("asked to fail") != std::string::npos);
  f.stop_and_check();
}

TEST_CASE("a switchboard child asks its parent and sends to it in order") {
  binary_fixture f;
  // child -> its parent bridge -> this node's `sink` -> back.
  auto r = f.ask_job<int32_t>(t::ask_parent_atom::value, int32_t{21});
  REQUIRE(r);
  CHECK(*r == 42);
  auto count =
    f.ask_job<int32_t>(t::tell_parent_atom::value, int32_t{burst_size});
  REQUIRE(count);
  CHECK(*count == burst_size);
  REQUIRE(sink_box->wait_for(static_cast<size_t>(burst_size)));
  std::lock_guard<std::mutex> guard{sink_box->mtx};
  bool in_order = true;
  for (int32_t i = 0; i < burst_size; ++i)
    in_order = in_order && sink_box->ints[static_cast<size_t>(i)] == i;
  CHECK(in_order);
  CHECK(sink_box->ints.size() == static_cast<size_t>(burst_size));
  f.stop_and_check();
}

TEST_CASE("what cannot cross the binary channel is an error, it goes on") {
  binary_fixture f{", max-frame = 200000"};
  // A type nobody registered cannot be encoded: the sender learns why.
  auto u = f.ask_job<int32_t>(t::unregistered{1});
  REQUIRE(!u);
  INFO(render(u.error()));
  CHECK(sb::is(u.error(), sb::errc::bad_message));
  CHECK(render(u.error()).find("add_message_type") != std::string::npos);
  // A reply of a type only the child knows cannot be decoded here.
  auto s = f.ask_job<int32_t>(t::secret_atom::value);
  REQUIRE(!s);
  INFO(render(s.error()));
  CHECK(sb::is(s.error(), sb::errc::bad_message));
  CHECK(render(s.error()).find("decode") != std::string::npos);
  // A message over max-frame is refused before it is written.
  auto big = f.ask_job<int64_t>(std::vector<char>(300000, 'x'));
  REQUIRE(!big);
  CHECK(sb::is(big.error(), sb::errc::frame_too_large));
  auto sum = f.ask_job<int32_t>(t::add_atom::value, int32_t{1}, int32_t{1});
  REQUIRE(sum);
  CHECK(*sum == 2);
  f.stop_and_check();
}

TEST_CASE("garbage on the binary channel is counted, the channel goes on") {
  binary_fixture f{"", "\"" SWITCHBOARD_CHILD_HELPER "\", \"binary-garbage\""};
  // Four frames that are not messages, then one that is.
  CHECK(sink_box->first_string() == "still here");
  std::string status;
  {
    caf::scoped_actor self{f.node().system()};
    self->request(f.node().lookup("job"), 5s, sb::status_atom::value)
      .receive([&](json_message& m) { status = m.text; },
               [&](caf::error& e) { status = render(e); });
  }
  INFO(status);
  CHECK(status.find("\"bad_lines\":4") != std::string::npos);
  f.stop_and_check();
}

TEST_CASE("a binary child that dies fails its requests and comes back") {
  binary_fixture f{", restart-delay = 10ms"};
  auto d = f.ask_job<int32_t>(t::die_atom::value);
  REQUIRE(!d);
  CHECK(sb::is(d.error(), sb::errc::child_exited));
  // Held while the child restarts, then answered by the new one.
  auto sum = f.ask_job<int32_t>(t::add_atom::value, int32_t{4}, int32_t{5});
  REQUIRE(sum);
  CHECK(*sum == 9);
  f.stop_and_check();
}

TEST_CASE("correlate is refused with ipc = binary") {
  auto cfg = sb::node_config::from_string(
    "[actors]\njob = { kind = \"child-process\", command = [\"x\"], ipc = "
    "\"binary\", correlate = \"id\" }\n");
  REQUIRE(cfg);
  sb::node n{std::move(*cfg)};
  REQUIRE(!sb::actors::add_builtin_kinds(n.kinds()));
  auto err = n.start();
  REQUIRE(err);
  CHECK(render(err).find("correlate") != std::string::npos);
}

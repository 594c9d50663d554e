// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/actors/child_process.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <dirent.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include <switchboard/actors/buffers.hpp>
#include <switchboard/actors/shared_buffer.hpp>
#include <switchboard/actors/worker_thread.hpp>

#include "node_fixture.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using switchboard::json_message;
using switchboard::render;
using switchboard::test::node_fixture;
namespace actors = switchboard::actors;
namespace sb = switchboard;

namespace {

const std::string helper = SWITCHBOARD_CHILD_HELPER;
const std::string ipc_echo =
  SWITCHBOARD_SOURCE_DIR "/tests/helpers/ipc_echo.js";

using switchboard::test::burst_size;

// Messages an actor received, in order, for the test thread to wait on.
struct inbox {
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<json> items;

  void push(const std::string& text) {
    std::lock_guard<std::mutex> guard{mtx};
    items.push_back(json::parse(text));
    cv.notify_all();
  }

  // The next item, or null after `timeout`.
  json next(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> guard{mtx};
    if (!cv.wait_for(guard, timeout, [&] { return !items.empty(); }))
      return nullptr;
    auto x = std::move(items.front());
    items.pop_front();
    return x;
  }

  // The next item whose "event" is `name` (skipping others), or null.
  json next_event(const std::string& name,
                  std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return nullptr;
      auto x = next(left);
      if (x.is_null() || x.value("event", "") == name)
        return x;
    }
  }
};

// The inbox the next `collector` instance records into.
std::shared_ptr<inbox> next_box;

// Adds the kind `collector`: an actor that records what it gets.
void add_collector_kind(sb::kind_registry& kinds) {
  sb::kind_spec k;
  k.name = "collector";
  k.factory = [](const sb::spawn_context& ctx) -> caf::expected<caf::actor> {
    auto box = next_box;
    return caf::actor_cast<caf::actor>(
      ctx.node.system().spawn([box]() -> sb::json_actor::behavior_type {
        return {[box](json_message& m) {
          box->push(m.text);
          return json_message::trusted("null");
        }};
      }));
  };
  REQUIRE(!kinds.add(std::move(k)));
}

// A node with a `job` child (keys `keys`) and a collector `sink`.
struct child_fixture : node_fixture {
  explicit child_fixture(const std::string& keys,
                         std::shared_ptr<inbox> box = std::make_shared<inbox>())
      : node_fixture(prepare(box, keys), add_collector_kind), box(box) {}

  static std::string prepare(std::shared_ptr<inbox>& box,
                             const std::string& keys) {
    next_box = box;
    return "[node]\ncontrol = \"none\"\n[actors]\nsink = { kind = "
           "\"collector\" }\njob = { kind = \"child-process\", "
           + keys + " }\n";
  }

  std::shared_ptr<inbox> box;
};

std::string child_conf(const std::string& keys) {
  return "[node]\ncontrol = \"none\"\n[actors]\njob = { kind = "
         "\"child-process\", "
         + keys + " }\n";
}

std::string cmd(std::initializer_list<std::string> args) {
  std::string result = "command = [";
  bool first = true;
  for (auto& a : args) {
    result += (first ? "\"" : ", \"") + a + "\"";
    first = false;
  }
  return result + "]";
}

template<class... Ts>
caf::expected<caf::ok_atom> command(sb::node& n, Ts... xs) {
  caf::expected<caf::ok_atom> result = caf::error{};
  caf::scoped_actor self{n.system()};
  self->request(n.lookup("job"), 10s, xs...)
    .receive([&](caf::ok_atom x) { result = x; },
             [&](caf::error& e) { result = std::move(e); });
  return result;
}

// Children of this process that are zombies.
int zombie_children() {
  int n = 0;
  auto me = getpid();
  if (auto dir = opendir("/proc")) {
    while (auto e = readdir(dir)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9')
        continue;
      std::ifstream in{std::string{"/proc/"} + e->d_name + "/stat"};
      std::string line;
      std::getline(in, line);
      auto rp = line.rfind(')');
      if (rp == std::string::npos)
        continue;
      char state = 0;
      int ppid = 0;
      std::sscanf(line.c_str() + rp + 1, " %c %d", &state, &ppid);
      if (ppid == me && state == 'Z')
        ++n;
    }
    closedir(dir);
  }
  return n;
}

} // namespace

TEST_CASE("a child answers requests over stdio lines") {
  node_fixture f{child_conf(cmd({helper, "echo"}))};
  for (int i = 0; i < 20; ++i) {
    auto text = "{\"n\":" + std::to_string(i) + "}";
    auto r = f.ask("job", text);
    REQUIRE(r);
    CHECK(r->text == text);
  }
  // A multi-line JSON request is sent as one line.
  auto r = f.ask("job", "{\n  \"a\": [1,\n 2]\n}");
  REQUIRE(r);
  CHECK(json::parse(r->text) == json{{"a", {1, 2}}});
  auto bad = f.ask("job", "{not json");
  REQUIRE(!bad);
  CHECK(sb::is(bad.error(), sb::errc::invalid_json));
  f.stop_and_check();
}

TEST_CASE("a child answers over length-prefixed frames") {
  node_fixture f{child_conf(cmd({helper, "echo-lp"})
                            + ", stdin = \"length-prefixed\", stdout = "
                              "\"length-prefixed\"")};
  // Newlines inside a frame are just bytes.
  for (auto text : {"{\"a\":\"x\\ny\"}", "[1,2,3]", "\"\""}) {
    auto r = f.ask("job", text);
    REQUIRE(r);
    CHECK(r->text == text);
  }
  f.stop_and_check();
}

TEST_CASE("closing stdin while reading stdout") {
  child_fixture f{cmd({helper, "count"}) + ", to = \"sink\""};
  auto job = caf::actor_cast<sb::json_actor>(f.node().lookup("job"));
  for (int i = 0; i < 3; ++i)
    caf::anon_send(job,
                   json_message::trusted("{\"i\":" + std::to_string(i) + "}"));
  REQUIRE(command(f.node(), actors::eof_atom::value));
  CHECK(f.box->next() == json{{"lines", 3}});
  f.stop_and_check();
}

TEST_CASE("stderr lines become messages tagged stderr") {
  child_fixture f{cmd({helper, "stderr", "oops it broke"})
                  + ", stderr = \"lines\", to = \"sink\""};
  CHECK(f.box->next() == json{{"stderr", "oops it broke"}, {"child", "job"}});
  f.stop_and_check();
}

TEST_CASE("lifecycle events: started, exited with the code") {
  child_fixture f{cmd({helper, "exit", "3"})
                  + ", restart = \"never\", events = \"sink\""};
  auto started = f.box->next_event("started");
  REQUIRE(started.is_object());
  CHECK(started["pid"].get<int>() > 0);
  CHECK(started["child"] == "job");
  auto exited = f.box->next_event("exited");
  REQUIRE(exited.is_object());
  CHECK(exited["code"] == 3);
  CHECK(exited["signal"].is_null());
  // Stopped for good: a message is refused with a reason.
  auto r = f.ask("job", "{}");
  REQUIRE(!r);
  CHECK(sb::is(r.error(), sb::errc::no_channel));
  f.stop_and_check();
}

TEST_CASE("a command that does not exist is an exited event and no crash") {
  child_fixture f{cmd({"/nonexistent/program"})
                  + ", restart = \"never\", events = \"sink\""};
  auto exited = f.box->next_event("exited");
  REQUIRE(exited.is_object());
  CHECK(exited["error"].get<std::string>().find("/nonexistent/program")
        != std::string::npos);
  child_fixture g{cmd({"no-such-command-anywhere"})
                  + ", restart = \"never\", events = \"sink\""};
  exited = g.box->next_event("exited");
  REQUIRE(exited.is_object());
  CHECK(exited["error"].get<std::string>().find("not found")
        != std::string::npos);
  g.stop_and_check();
  f.stop_and_check();
}

TEST_CASE("a crash loop backs off, then gives up") {
  child_fixture f{cmd({helper, "exit", "1"})
                  + ", restart = \"always\", restart-delay = 10ms, "
                    "restart-factor = 2.0, max-restarts = 4, "
                    "restart-window = 30s, events = \"sink\""};
  std::vector<int64_t> delays;
  for (int i = 0; i < 4; ++i) {
    auto ev = f.box->next_event("restarting");
    REQUIRE(ev.is_object());
    CHECK(ev["attempt"] == i + 1);
    delays.push_back(ev["delay_ms"].get<int64_t>());
  }
  CHECK(delays == std::vector<int64_t>{10, 20, 40, 80});
  auto gave_up = f.box->next_event("gave-up");
  REQUIRE(gave_up.is_object());
  CHECK(gave_up["reason"].get<std::string>().find("exit code 1")
        != std::string::npos);
  auto r = f.ask("job", "{}");
  REQUIRE(!r);
  CHECK(sb::is(r.error(), sb::errc::no_channel));
  f.stop_and_check();
}

TEST_CASE("a request outstanding when the child dies gets an error") {
  child_fixture f{cmd({helper, "answer-then-exit"}) + ", restart = \"never\""};
  auto r = f.ask("job", "{\"q\":1}");
  REQUIRE(!r);
  CHECK(sb::is(r.error(), sb::errc::child_exited));
  CHECK(render(r.error()).find("exit code 1") != std::string::npos);
  f.stop_and_check();
}

TEST_CASE("a line that is not JSON is an error event, the channel goes on") {
  child_fixture f{cmd({helper, "garbage"}) + ", events = \"sink\""};
  auto ev = f.box->next_event("error");
  REQUIRE(ev.is_object());
  CHECK(ev["line"] == "this is not json");
  auto r = f.ask("job", "{\"still\":\"here\"}");
  REQUIRE(r);
  CHECK(r->text == "{\"still\":\"here\"}");
  f.stop_and_check();
}

TEST_CASE("a frame over max-frame restarts the child with that reason") {
  child_fixture f{cmd({helper, "huge", "5000"})
                  + ", max-frame = 1000, restart-delay = 10ms, "
                    "events = \"sink\""};
  auto ev = f.box->next_event("error");
  REQUIRE(ev.is_object());
  CHECK(ev["reason"].get<std::string>().find("max-frame") != std::string::npos);
  auto exited = f.box->next_event("exited");
  REQUIRE(exited.is_object());
  CHECK(exited["signal"] == "SIGTERM");
  CHECK(f.box->next_event("restarting").is_object());
  CHECK(f.box->next_event("started").is_object());
  f.stop_and_check();
}

TEST_CASE("stop: SIGTERM, then SIGKILL after kill-timeout") {
  child_fixture f{cmd({helper, "ignore-term"})
                  + ", kill-timeout = 100ms, events = \"sink\", to = "
                    "\"sink\""};
  CHECK(f.box->next().is_object()); // started
  CHECK(f.box->next() == "ready");
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(command(f.node(), actors::stop_atom::value));
  CHECK(std::chrono::steady_clock::now() - t0 >= 90ms);
  auto exited = f.box->next_event("exited");
  REQUIRE(exited.is_object());
  CHECK(exited["signal"] == "SIGKILL");
  // A stopped child starts again on command.
  REQUIRE(command(f.node(), actors::start_atom::value));
  CHECK(f.box->next_event("started").is_object());
  f.stop_and_check();
}

TEST_CASE(
  "env adds to the node's environment, NODE_CHANNEL_FD is not passed on") {
  setenv("NODE_CHANNEL_FD", "7", 1);
  child_fixture f{cmd({helper, "env", "GREETING"})
                  + ", env = { GREETING = \"hello\" }, to = \"sink\""};
  CHECK(f.box->next() == "hello");
  child_fixture g{cmd({helper, "env", "NODE_CHANNEL_FD"}) + ", to = \"sink\""};
  CHECK(g.box->next() == nullptr);
  unsetenv("NODE_CHANNEL_FD");
  g.stop_and_check();
  f.stop_and_check();
}

TEST_CASE(
  "a Node child on the IPC channel: strings, objects, 10,000 in order") {
  child_fixture f{"command = [\"node\", \"" + ipc_echo
                  + "\"], ipc = \"json\", to = \"sink\""};
  for (auto text : {"\"a plain string\"", "{\"a\":[1,{\"b\":null}]}", "42"}) {
    auto r = f.ask("job", text, 20s);
    REQUIRE(r);
    CHECK(json::parse(r->text) == json::parse(text));
  }
  // A NODE_ cmd would be swallowed by Node: refused, nothing written.
  auto internal = f.ask("job", "{\"cmd\":\"NODE_HANDLE\"}");
  REQUIRE(!internal);
  CHECK(sb::is(internal.error(), sb::errc::bad_message));
  auto job = caf::actor_cast<sb::json_actor>(f.node().lookup("job"));
  const int n = burst_size;
  for (int i = 0; i < n; ++i)
    caf::anon_send(job,
                   json_message::trusted("{\"i\":" + std::to_string(i) + "}"));
  for (int i = 0; i < n; ++i) {
    auto x = f.box->next(10s);
    REQUIRE(x.is_object());
    REQUIRE(x["i"] == i);
  }
  f.stop_and_check();
}

TEST_CASE("200 restarts leave no fd and no zombie behind") {
  child_fixture f{cmd({helper, "exit", "0"})
                  + ", restart = \"always\", restart-delay = 1ms, "
                    "restart-delay-max = 1ms, max-restarts = 1000, "
                    "events = \"sink\""};
  for (int i = 0; i < 200; ++i)
    REQUIRE(f.box->next_event("restarting").is_object());
  REQUIRE(command(f.node(), actors::stop_atom::value));
  CHECK(zombie_children() == 0);
  f.stop_and_check(); // checks the fd count
}

namespace {

// Sends both requests at once and returns their replies (or errors), in
// the order they were sent.
std::vector<std::string> ask_two(sb::node& n, const std::string& a,
                                 const std::string& b) {
  std::vector<std::string> result(2);
  caf::scoped_actor self{n.system()};
  auto job = caf::actor_cast<sb::json_actor>(n.lookup("job"));
  auto h1 = self->request(job, 5s, json_message::trusted(a));
  auto h2 = self->request(job, 5s, json_message::trusted(b));
  h1.receive([&](json_message& m) { result[0] = m.text; },
             [&](caf::error& e) { result[0] = render(e); });
  h2.receive([&](json_message& m) { result[1] = m.text; },
             [&](caf::error& e) { result[1] = render(e); });
  return result;
}

} // namespace

TEST_CASE("replies pair with requests in order, or by a correlate field") {
  {
    // The child answers each pair in reverse: in order, each request gets
    // the other's answer.
    child_fixture f{cmd({helper, "swap"})};
    auto r = ask_two(f.node(), "{\"id\":1}", "{\"id\":2}");
    CHECK(r == std::vector<std::string>{"{\"id\":2}", "{\"id\":1}"});
    f.stop_and_check();
  }
  child_fixture f{cmd({helper, "swap"}) + ", correlate = \"id\""};
  auto r = ask_two(f.node(), "{\"id\":1}", "{\"id\":\"two\"}");
  CHECK(r == std::vector<std::string>{"{\"id\":1}", "{\"id\":\"two\"}"});
  // A request without the field cannot be paired.
  auto bad = f.ask("job", "{\"x\":1}");
  REQUIRE(!bad);
  CHECK(sb::is(bad.error(), sb::errc::bad_message));
  f.stop_and_check();
}

TEST_CASE("messages sent while the child restarts are held, up to max-held") {
  child_fixture f{cmd({helper, "echo"}) + ", max-held = 1"};
  {
    caf::scoped_actor self{f.node().system()};
    auto job = f.node().lookup("job");
    // The restart is under way (SIGTERM sent) when the next two arrive.
    auto h0 = self->request(job, 5s, actors::restart_atom::value);
    auto h1 = self->request(caf::actor_cast<sb::json_actor>(job), 5s,
                            json_message::trusted("{\"held\":1}"));
    auto h2 = self->request(caf::actor_cast<sb::json_actor>(job), 5s,
                            json_message::trusted("{\"held\":2}"));
    h0.receive([](caf::ok_atom) {}, [](caf::error& e) { FAIL(render(e)); });
    h1.receive([](json_message& m) { CHECK(m.text == "{\"held\":1}"); },
               [](caf::error& e) { FAIL(render(e)); });
    h2.receive([](json_message& m) { FAIL(m.text); },
               [](caf::error& e) { CHECK(sb::is(e, sb::errc::queue_full)); });
  }
  f.stop_and_check();
}

TEST_CASE("a signal command and a child over max-memory restart the child") {
  child_fixture f{cmd({helper, "grow", "64000000"})
                  + ", max-memory = 32000000, restart-delay = 10ms, "
                    "events = \"sink\""};
  auto ev = f.box->next_event("memory-limit");
  REQUIRE(ev.is_object());
  CHECK(ev["rss"].get<int64_t>() > 32000000);
  CHECK(f.box->next_event("exited")["signal"] == "SIGTERM");
  CHECK(f.box->next_event("started").is_object());
  f.stop_and_check();
  child_fixture g{cmd({helper, "echo"}) + ", events = \"sink\""};
  REQUIRE(g.box->next_event("started").is_object());
  REQUIRE(command(g.node(), actors::signal_atom::value, int32_t{SIGUSR1}));
  CHECK(g.box->next_event("exited")["signal"] == "SIGUSR1");
  // on-failure: a signal is a failure.
  CHECK(g.box->next_event("restarting").is_object());
  CHECK(g.box->next_event("started").is_object());
  g.stop_and_check();
}

TEST_CASE("text lines: each line is a JSON string") {
  child_fixture f{cmd({helper, "echo"}) + ", format = \"text\""};
  auto r = f.ask("job", "\"plain text, not JSON {\"");
  REQUIRE(r);
  CHECK(r->text == "\"plain text, not JSON {\"");
  auto bad = f.ask("job", "{\"a\":1}");
  REQUIRE(!bad);
  CHECK(sb::is(bad.error(), sb::errc::bad_message));
  f.stop_and_check();
}

TEST_CASE("status counts the child's bad lines") {
  child_fixture f{cmd({helper, "garbage"}) + ", events = \"sink\""};
  REQUIRE(f.box->next_event("error").is_object());
  std::string status;
  {
    caf::scoped_actor self{f.node().system()};
    self->request(f.node().lookup("job"), 5s, sb::status_atom::value)
      .receive([&](json_message& m) { status = m.text; },
               [](caf::error& e) { FAIL(render(e)); });
  }
  auto j = json::parse(status);
  CHECK(j["state"] == "running");
  CHECK(j["bad_lines"] == 1);
  CHECK(j["pid"].get<int>() > 0);
  f.stop_and_check();
}

TEST_CASE("ready = message: a restart waits for the child to say ready") {
  child_fixture f{
    "command = [\"node\", \"" + ipc_echo
    + "\"], ipc = \"json\", ready = \"message\", env = { "
      "READY_AFTER = \"300\" }, events = \"sink\", to = \"sink\""};
  // Everything the sink gets up to the ready event: the child's "ready"
  // is the signal, not a message for `to`.
  auto until_ready = [&] {
    std::vector<json> seen;
    for (;;) {
      auto x = f.box->next(10s);
      if (x.is_null() || (x.is_object() && x.value("event", "") == "ready"))
        return std::make_pair(x, seen);
      seen.push_back(x);
    }
  };
  auto [ready, before] = until_ready();
  REQUIRE(ready.is_object());
  REQUIRE(!before.empty());
  CHECK(before.front().value("event", "") == "started");
  CHECK(ready["pid"] == before.front()["pid"]);
  for (auto& x : before)
    CHECK(x != json("ready"));
  // The new child says it is ready 300 ms after it starts; the restart is
  // answered only then.
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(command(f.node(), sb::restart_atom::value));
  CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);
  auto [again, between] = until_ready();
  REQUIRE(again.is_object());
  CHECK(again["pid"] != ready["pid"]);
  for (auto& x : between)
    CHECK(x != json("ready"));
  // And it answers.
  auto r = f.ask("job", "{\"n\":1}");
  REQUIRE(r);
  CHECK(json::parse(r->text) == json{{"n", 1}});
  f.stop_and_check();
}

TEST_CASE("ready = message: a child that never says ready is stopped") {
  child_fixture f{"command = [\"node\", \"" + ipc_echo
                  + "\"], ipc = \"json\", ready = \"message\", "
                    "ready-timeout = 200ms, env = { READY_AFTER = \"never\" }, "
                    "restart = \"never\", events = \"sink\""};
  REQUIRE(f.box->next_event("started").is_object());
  auto err = f.box->next_event("error");
  REQUIRE(err.is_object());
  CHECK(err["reason"].get<std::string>().find("not ready within 200 ms")
        != std::string::npos);
  auto exited = f.box->next_event("exited");
  REQUIRE(exited.is_object());
  CHECK(exited["signal"] == "SIGTERM");
  f.stop_and_check();
}

TEST_CASE("ready = message needs a channel to say it on") {
  auto cfg = sb::node_config::from_string(
    child_conf(cmd({helper, "exit", "0"})
               + ", stdout = \"inherit\", ready = \"message\""));
  REQUIRE(cfg);
  sb::node n{std::move(*cfg)};
  REQUIRE(!actors::add_builtin_kinds(n.kinds()));
  auto err = n.start();
  REQUIRE(err);
  CHECK(render(err).find("ready = \"message\" needs a channel")
        != std::string::npos);
}

// -- shared buffers across processes ------------------------------------------

namespace {

const std::string buffer_child = SWITCHBOARD_BUFFER_CHILD;
const std::string raw_buffer_child = SWITCHBOARD_RAW_BUFFER_CHILD;

// A node whose child `job` (keys `keys`) gets the process-shared buffer
// "shared"; the child's lines go to the collector `sink`.
struct buffer_fixture : node_fixture {
  explicit buffer_fixture(const std::string& keys, std::shared_ptr<inbox> box =
                                                     std::make_shared<inbox>())
      : node_fixture(prepare(box, keys), add_collector_kind), box(box) {}

  static std::string prepare(std::shared_ptr<inbox>& box,
                             const std::string& keys) {
    next_box = box;
    return "[node]\ncontrol = \"none\"\n[buffers]\nshared = { bytes = 100, "
           "share = \"process\" }\n[actors]\nsink = { kind = \"collector\" "
           "}\njob = { kind = \"child-process\", to = \"sink\", buffers = "
           "[\"shared\"], "
           + keys + " }\n";
  }

  actors::shared_buffer buffer() {
    auto buf = actors::named_buffer(node(), "shared");
    REQUIRE(buf);
    return *buf;
  }

  std::shared_ptr<inbox> box;
};

// Plays `rounds` of ping-pong on the int32 at `i` with a child that
// answers each odd value with the next even one, while two threads of
// this process add to another element; returns how often a wait ran
// into its 10 s timeout (a lost wake-up).
int ping_pong(const actors::atomic_view<int32_t>& v, size_t i, int32_t rounds) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> noise;
  for (int t = 0; t < 2; ++t)
    noise.emplace_back([&] {
      while (!stop)
        v.add(i + 2, 1);
    });
  int stalls = 0;
  for (int32_t r = 0; r < rounds; ++r) {
    v.store(i, 2 * r + 1);
    v.notify(i);
    while (*v.load(i) != 2 * r + 2)
      if (*v.wait(i, 2 * r + 1, 10s) == actors::wait_result::timed_out)
        ++stalls;
  }
  stop = true;
  for (auto& t : noise)
    t.join();
  return stalls;
}

} // namespace

TEST_CASE("a node and its child share a buffer: exact adds, no lost wake-up, "
          "and it outlives the child's restarts") {
  constexpr int64_t adds = 200000;
  constexpr int32_t rounds = 20000;
  buffer_fixture f{
    cmd({buffer_child, std::to_string(adds), std::to_string(rounds)})};
  {
    auto buf = f.buffer();
    CHECK(buf.process_shared());
    auto v64 = *buf.view<int64_t>();
    auto v32 = *buf.view<int32_t>();
    auto hello = f.box->next();
    REQUIRE(hello.is_object());
    INFO(hello.dump());
    CHECK(hello["started"] == 0);
    CHECK(hello["size"] == 128);
    // Both sides add at once: every add counts.
    v32.store(8, 1);
    v32.notify(8);
    for (int64_t i = 0; i < adds; ++i)
      v64.add(0, 1);
    CHECK(ping_pong(v32, 10, rounds) == 0);
    auto done = f.box->next(20s);
    REQUIRE(done.is_object());
    CHECK(done["added"] == adds);
    CHECK(done["stalls"] == 0);
    CHECK(done["ball"] == 2 * rounds);
    CHECK(*v64.load(0) == 2 * adds);
    // A restarted child maps the same block: it sees what is there.
    v64.store(3, 42);
    REQUIRE(command(f.node(), actors::restart_atom::value));
    auto again = f.box->next();
    REQUIRE(again.is_object());
    CHECK(again["started"] == 1);
    CHECK(again["marker"] == 42);
  }
  f.stop_and_check();
}

TEST_CASE("a plain C program maps a shared buffer as documented") {
  constexpr int32_t rounds = 5000;
  buffer_fixture f{cmd({raw_buffer_child, std::to_string(rounds)})};
  {
    auto buf = f.buffer();
    auto v32 = *buf.view<int32_t>();
    CHECK(ping_pong(v32, 10, rounds) == 0);
    auto done = f.box->next(20s);
    REQUIRE(done.is_object());
    INFO(done.dump());
    CHECK(done["stalls"] == 0);
    CHECK(done["ball"] == 2 * rounds);
    CHECK(*buf.view<int64_t>()->load(0) == 1000);
  }
  f.stop_and_check();
}

TEST_CASE("a buffer for a child must be process-shared, and one with share "
          "= parent must have been passed") {
  auto start_error = [](const std::string& text) {
    auto cfg = sb::node_config::from_string(text);
    REQUIRE(cfg);
    sb::node n{std::move(*cfg)};
    REQUIRE(!actors::add_builtin_kinds(n.kinds()));
    auto err = n.start();
    REQUIRE(err);
    return render(err);
  };
  CHECK(start_error("[node]\ncontrol = \"none\"\n[buffers]\nb = { bytes = 64 "
                    "}\n[actors]\njob = { kind = \"child-process\", "
                    + cmd({helper, "echo"}) + ", buffers = [\"b\"] }\n")
          .find("buffer 'b' is shared by this node's threads only; give it "
                "share = \"process\"")
        != std::string::npos);
  CHECK(start_error("[node]\ncontrol = \"none\"\n[buffers]\nnever_passed = { "
                    "share = \"parent\" }\n[actors]\nw = { kind = "
                    "\"worker-thread\", behavior = \"calculator\", buffers = "
                    "[\"never_passed\"] }\n")
          .find("the parent passed no shared buffer named 'never_passed'")
        != std::string::npos);
}

TEST_CASE("a node whose parent passed a buffer shares it with its workers") {
  // This process plays the parent: the block is passed the way a
  // child-process passes it, in SWITCHBOARD_BUFFERS.
  auto block = actors::shared_buffer::make_process_shared(64);
  REQUIRE(block);
  block->view<int64_t>()->store(0, 7);
  auto entry = "from_test=" + std::to_string(block->fd()) + ":"
               + std::to_string(block->size());
  setenv(actors::shared_buffer::env_name, entry.c_str(), 1);
  actors::behavior_registry behaviors;
  REQUIRE(!behaviors.add(
    "bump", [](const json_message&, actors::worker_context& ctx) {
      auto v = *ctx.buffers.at("from_test").view<int64_t>();
      return caf::expected<json_message>{
        json_message::trusted(std::to_string(*v.add(0, 1) + 1))};
    }));
  {
    node_fixture f{"[node]\ncontrol = \"none\"\n[buffers]\nfrom_test = { "
                   "share = \"parent\" }\n[actors]\nw = { kind = "
                   "\"worker-thread\", behavior = \"bump\", buffers = "
                   "[\"from_test\"] }\n",
                   nullptr, std::move(behaviors)};
    auto r = f.ask("w", "{}");
    REQUIRE(r);
    CHECK(r->text == "8");
    CHECK(*block->view<int64_t>()->load(0) == 8);
    f.stop_and_check({}, false);
  }
  unsetenv(actors::shared_buffer::env_name);
}

namespace {

// Where a limit cannot be had, the start error names the cgroup and what
// it lacks, and that is so. SWITCHBOARD_TEST_CGROUP=required (set by
// scripts/cgroup-vm.sh, whose kernel has them all) makes it a failure.
void check_no_cgroup_reason(const std::string& why,
                            const std::string& controller) {
  INFO(why);
  auto required = std::getenv("SWITCHBOARD_TEST_CGROUP");
  CHECK_FALSE((required != nullptr && std::string{required} == "required"));
  CHECK(why.find("job: cpu-max, memory-max and pids-max need cgroup v2")
        != std::string::npos);
  CHECK((why.find("max-memory restarts a child") != std::string::npos)
        == (controller == "memory"));
  auto open = why.find("cgroup v2 (");
  if (why.find("offers no " + controller + " controller")
      != std::string::npos) {
    REQUIRE(open != std::string::npos);
    auto dir = why.substr(open + 11, why.find(')', open) - open - 11);
    std::ifstream in{dir + "/cgroup.controllers"};
    std::string all, word;
    while (in >> word)
      all += " " + word + " ";
    CHECK(all.find(" " + controller + " ") == std::string::npos);
  } else if (why.find("is not writable") != std::string::npos) {
    REQUIRE(open != std::string::npos);
    auto dir = why.substr(open + 11, why.find(')', open) - open - 11);
    CHECK(access(dir.c_str(), W_OK) != 0);
  } else {
    CHECK(why.find("cgroup") != std::string::npos);
  }
}

// The cgroup v2 directory of process `pid` (from /proc/PID/cgroup and the
// cgroup2 mount), or empty.
std::string cgroup_dir_of(int64_t pid) {
  std::string rel;
  {
    std::ifstream in{"/proc/" + std::to_string(pid) + "/cgroup"};
    for (std::string line; std::getline(in, line);)
      if (line.rfind("0::", 0) == 0)
        rel = line.substr(3);
  }
  std::ifstream in{"/proc/self/mountinfo"};
  for (std::string line; std::getline(in, line);) {
    std::istringstream words{line};
    std::vector<std::string> w;
    for (std::string x; words >> x;)
      w.push_back(x);
    auto dash = std::find(w.begin(), w.end(), "-");
    if (dash != w.end() && dash + 1 != w.end() && dash[1] == "cgroup2"
        && w.size() > 4)
      return rel.empty() ? std::string{} : w[4] + rel;
  }
  return {};
}

// A node with one child-process `job` (events to `sink`) that has `limit`.
struct limited_child {
  std::shared_ptr<inbox> box = std::make_shared<inbox>();
  std::unique_ptr<sb::node> n;
  caf::error err;

  limited_child(std::initializer_list<std::string> argv,
                const std::string& limit) {
    next_box = box;
    auto cfg = sb::node_config::from_string(
      "[node]\ncontrol = \"none\"\n[actors]\nsink = { kind = \"collector\" "
      "}\njob = { kind = \"child-process\", "
      + cmd(argv) + ", " + limit
      + ", restart = \"never\", events = \"sink\" }\n");
    REQUIRE(cfg);
    n = std::make_unique<sb::node>(std::move(*cfg));
    REQUIRE(!actors::add_builtin_kinds(n->kinds()));
    add_collector_kind(n->kinds());
    err = n->start();
  }

  ~limited_child() {
    if (!err)
      n->stop();
  }
};

} // namespace

TEST_CASE("memory-max is the kernel's limit through cgroup v2, or a start "
          "error that says why the limit cannot be had here") {
  limited_child c{{helper, "grow", "200000000"}, "memory-max = 32000000"};
  if (c.err) {
    check_no_cgroup_reason(render(c.err), "memory");
    return;
  }
  // The limit holds: the child that grows past it is killed by the kernel,
  // and the exited event says so.
  auto exited = c.box->next_event("exited", 20s);
  REQUIRE(exited.is_object());
  CHECK(exited["signal"] == "SIGKILL");
  CHECK(exited["killed_by"] == "memory-max");
}

TEST_CASE("pids-max is the kernel's limit on a child's threads through "
          "cgroup v2, or a start error that says why") {
  // The main thread and 5 more make 6; the 6th pthread_create fails.
  limited_child c{{helper, "threads", "20"}, "pids-max = 6"};
  if (c.err) {
    check_no_cgroup_reason(render(c.err), "pids");
    return;
  }
  auto exited = c.box->next_event("exited", 20s);
  REQUIRE(exited.is_object());
  CHECK(exited["code"] == 5);
  CHECK(!exited.contains("killed_by"));
}

TEST_CASE("cpu-max throttles a busy child through cgroup v2, or a start "
          "error that says why") {
  limited_child c{{helper, "spin", "600"}, "cpu-max = 0.1"};
  if (c.err) {
    check_no_cgroup_reason(render(c.err), "cpu");
    return;
  }
  auto started = c.box->next_event("started", 20s);
  REQUIRE(started.is_object());
  auto dir = cgroup_dir_of(started["pid"].get<int64_t>());
  INFO(dir);
  REQUIRE(!dir.empty());
  CHECK(dir.find("switchboard-") != std::string::npos);
  {
    std::ifstream in{dir + "/cpu.max"};
    std::string quota, period;
    in >> quota >> period;
    CHECK(quota == "10000");
    CHECK(period == "100000");
  }
  auto exited = c.box->next_event("exited", 20s);
  REQUIRE(exited.is_object());
  CHECK(exited["code"] == 0);
  // 600 ms of wall time at a tenth of a core: the kernel held it back.
  std::ifstream in{dir + "/cpu.stat"};
  int64_t throttled = -1;
  for (std::string key, value; in >> key >> value;)
    if (key == "nr_throttled")
      throttled = std::atoll(value.c_str());
  CHECK(throttled > 0);
}

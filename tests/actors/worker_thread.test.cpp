// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/actors/worker_thread.hpp>

#include <future>
#include <set>
#include <sstream>
#include <thread>

#include "node_fixture.hpp"

#include <switchboard/actors/errc.hpp>
#include <switchboard/actors/thread_actor.hpp>

#include "process.hpp"

#include <pthread.h>
#include <unistd.h>

using namespace std::chrono_literals;
using switchboard::json_message;
using switchboard::render;
using switchboard::actors::behavior_registry;
using switchboard::actors::worker_context;
using switchboard::test::node_fixture;
namespace actors = switchboard::actors;

namespace {

// Behaviours that tell where they ran.
behavior_registry test_behaviors(std::shared_future<void> release = {}) {
  auto result = actors::builtin_behaviors();
  // Replies with the worker's index.
  result.add("index", [](const json_message&, worker_context& ctx) {
    return caf::expected<json_message>{
      json_message::trusted(std::to_string(ctx.index))};
  });
  // Replies with the id of the thread it runs on.
  result.add("thread", [](const json_message&, worker_context&) {
    std::ostringstream id;
    id << std::this_thread::get_id();
    return caf::expected<json_message>{
      json_message::trusted("\"" + id.str() + "\"")};
  });
  // "block" waits for the test to release it; anything else answers at once.
  result.add("gate", [release](const json_message& m, worker_context& ctx) {
    if (m.text == "\"block\"" && release.valid())
      release.wait_for(10s);
    return caf::expected<json_message>{
      json_message::trusted(std::to_string(ctx.index))};
  });
  // Throws on "boom"; otherwise tells which worker answered and how often
  // that worker was restarted: {"index":I,"restarts":R}.
  result.add("throws",
             [](const json_message& m,
                worker_context& ctx) -> caf::expected<json_message> {
               if (m.text == "\"boom\"")
                 throw std::runtime_error("boom");
               return json_message::trusted(
                 "{\"index\":" + std::to_string(ctx.index)
                 + ",\"restarts\":" + std::to_string(ctx.restarts) + "}");
             });
  // Takes 5 ms per request: stands for real work.
  result.add("slow", [](const json_message& m, worker_context&) {
    std::this_thread::sleep_for(5ms);
    return caf::expected<json_message>{m};
  });
  // Counts requests in int32 #0 of the buffer "counters"; "read" answers the
  // count, "boom" throws (after counting).
  result.add("count",
             [](const json_message& m,
                worker_context& ctx) -> caf::expected<json_message> {
               auto counters = *ctx.buffers.at("counters").view<int32_t>();
               if (m.text == "\"read\"")
                 return json_message::trusted(
                   std::to_string(*counters.load(0)));
               counters.add(0, 1);
               if (m.text == "\"boom\"")
                 throw std::runtime_error("boom");
               return json_message::trusted("null");
             });
  return result;
}

std::string pool_conf(const std::string& behavior, int count,
                      const std::string& dispatch = "round-robin",
                      const std::string& extra = "") {
  return "[node]\ncontrol = \"none\"\n[actors]\npool = { kind = "
         "\"worker-thread\", behavior = \""
         + behavior + "\", count = " + std::to_string(count) + ", dispatch = \""
         + dispatch + "\"" + extra + " }\n";
}

} // namespace

TEST_CASE("a calculator pool answers calculations") {
  node_fixture f{pool_conf("calculator", 4)};
  for (int i = 0; i < 8; ++i) {
    auto r =
      f.ask("pool", R"({"type":"calculate","operation":"add","operands":[)"
                      + std::to_string(i) + ",1]}");
    REQUIRE(r);
    CHECK(r->text == "{\"result\":" + std::to_string(i + 1) + "}");
  }
  auto bad = f.ask("pool", R"({"operation":"divide","operands":[1,0]})");
  REQUIRE(!bad);
  CHECK(actors::is(bad.error(), actors::errc::bad_calculation));
  f.stop_and_check();
}

TEST_CASE("each worker runs on a thread of its own") {
  node_fixture f{pool_conf("thread", 3), nullptr, test_behaviors()};
  std::set<std::string> threads;
  for (int i = 0; i < 9; ++i)
    threads.insert(f.ask("pool", "1")->text);
  CHECK(threads.size() == 3);
  std::ostringstream main_id;
  main_id << std::this_thread::get_id();
  CHECK(threads.count("\"" + main_id.str() + "\"") == 0);
  f.stop_and_check();
}

TEST_CASE("round-robin takes the workers in turn") {
  node_fixture f{pool_conf("index", 3), nullptr, test_behaviors()};
  std::string order;
  for (int i = 0; i < 7; ++i)
    order += f.ask("pool", "1")->text;
  CHECK(order == "0120120");
  f.stop_and_check();
}

TEST_CASE("least-loaded passes over a busy worker") {
  std::promise<void> gate;
  node_fixture f{pool_conf("gate", 3, "least-loaded"), nullptr,
                 test_behaviors(gate.get_future().share())};
  auto pool = caf::actor_cast<switchboard::json_actor>(f.node().lookup("pool"));
  std::string blocked_on;
  {
    caf::scoped_actor self{f.node().system()};
    // Worker 0 takes the blocking request and stays busy.
    auto busy = self->request(pool, 20s, json_message::trusted("\"block\""));
    // Everything else goes to the least loaded: worker 1, then still 1
    // (equal loads go to the first), never the busy 0.
    std::string order;
    for (int i = 0; i < 4; ++i)
      order += f.ask("pool", "1")->text;
    CHECK(order == "1111");
    gate.set_value();
    busy.receive([&](json_message& r) { blocked_on = r.text; },
                 [](caf::error& e) { FAIL(render(e)); });
  }
  CHECK(blocked_on == "0");
  f.stop_and_check();
}

TEST_CASE("broadcast asks every worker and replies with all answers") {
  node_fixture f{pool_conf("index", 3, "broadcast"), nullptr, test_behaviors()};
  auto r = f.ask("pool", "1");
  REQUIRE(r);
  auto answers = nlohmann::json::parse(r->text);
  REQUIRE(answers.is_array());
  std::multiset<int> seen;
  for (auto& x : answers)
    seen.insert(x.get<int>());
  CHECK(seen == std::multiset<int>{0, 1, 2});
  f.stop_and_check();
}

TEST_CASE("a worker that throws answers with an error and is restarted") {
  node_fixture f{pool_conf("throws", 2), nullptr, test_behaviors()};
  auto r = f.ask("pool", "\"boom\"");
  REQUIRE(!r);
  CHECK(actors::is(r.error(), actors::errc::worker_failed));
  CHECK(render(r.error()) == "worker_failed: pool[0]: boom");
  // The pool answers throughout: worker 1 alone until 0 is back.
  std::set<std::string> seen;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((seen.count(R"({"index":0,"restarts":1})") == 0
          || seen.count(R"({"index":1,"restarts":0})") == 0)
         && std::chrono::steady_clock::now() < deadline) {
    auto ok = f.ask("pool", "1");
    REQUIRE(ok);
    seen.insert(ok->text);
  }
  CHECK(seen.count(R"({"index":0,"restarts":1})") == 1);
  CHECK(seen.count(R"({"index":1,"restarts":0})") == 1);
  CHECK(seen.count(R"({"index":0,"restarts":0})") == 0);
  f.stop_and_check();
}

TEST_CASE("restart = never leaves the pool to the workers that remain") {
  node_fixture f{pool_conf("throws", 2, "round-robin", ", restart = \"never\""),
                 nullptr, test_behaviors()};
  REQUIRE(!f.ask("pool", "\"boom\""));
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i)
    seen.insert(f.ask("pool", "1")->text);
  CHECK(seen == std::set<std::string>{R"({"index":1,"restarts":0})"});
  f.stop_and_check();
}

TEST_CASE("worker-thread config errors are caught before start") {
  auto cfg = switchboard::node_config::from_string(
    "[actors]\na = { kind = \"worker-thread\", behavior = \"calculatr\" }\n"
    "b = { kind = \"worker-thread\", behavior = \"calculator\", count = 0 }\n"
    "c = { kind = \"worker-thread\", behavior = \"calculator\", dispatch = "
    "\"random\" }\n"
    "d = { kind = \"worker-thread\", behavior = \"calculator\", stack-size = "
    "4096 }\n");
  REQUIRE(cfg);
  switchboard::kind_registry kinds;
  REQUIRE(!actors::add_builtin_kinds(kinds));
  auto errors = switchboard::validate(*cfg, kinds);
  REQUIRE(errors.size() == 4);
  CHECK(errors[0].key == "actors.a.behavior");
  CHECK(errors[0].expected == "one of: calculator");
  CHECK(errors[1].key == "actors.b.count");
  CHECK(errors[1].expected == "at least 1");
  CHECK(errors[2].key == "actors.c.dispatch");
  CHECK(errors[3].key == "actors.d.stack-size");
  CHECK(errors[3].expected == "at least 16384");
}

TEST_CASE("workers share the buffers they list, across restarts") {
  node_fixture f{
    "[node]\ncontrol = \"none\"\n[buffers]\ncounters = { bytes = 64 }\n"
    "[actors]\npool = { kind = \"worker-thread\", behavior = "
    "\"count\", count = 4, buffers = [\"counters\"] }\n",
    nullptr, test_behaviors()};
  for (int i = 0; i < 100; ++i)
    REQUIRE(f.ask("pool", "1"));
  CHECK(f.ask("pool", "\"read\"")->text == "100");
  // A worker that fails and restarts finds the same buffer.
  REQUIRE(!f.ask("pool", "\"boom\""));
  for (int i = 0; i < 40; ++i)
    REQUIRE(f.ask("pool", "1"));
  CHECK(f.ask("pool", "\"read\"")->text == "141");
  // Many requests at once: the four workers increment in parallel.
  {
    caf::scoped_actor self{f.node().system()};
    auto pool =
      caf::actor_cast<switchboard::json_actor>(f.node().lookup("pool"));
    constexpr int n = 4000;
    for (int i = 0; i < n; ++i)
      self->send(pool, json_message::trusted("1"));
    int replies = 0;
    bool timed_out = false;
    while (replies < n && !timed_out)
      self->receive([&](json_message&) { ++replies; },
                    caf::after(10s) >> [&] { timed_out = true; });
    CHECK(replies == n);
  }
  CHECK(f.ask("pool", "\"read\"")->text == "4141");
  // The node hands out the same block by name, and a handle outlives the
  // workers and the node.
  auto buf = actors::named_buffer(f.node(), "counters");
  REQUIRE(buf);
  CHECK(buf->size() == 64);
  f.stop_and_check();
  CHECK(*buf->view<int32_t>()->load(0) == 4141);
}

TEST_CASE("buffer config errors are caught before start") {
  auto cfg = switchboard::node_config::from_string(
    "[buffers]\nok = { bytes = 64 }\nbad = { bytes = \"x\" }\nnone = { }\n"
    "from_parent = { share = \"parent\" }\nodd = { bytes = 8, share = "
    "\"nobody\" }\n"
    "[actors]\na = { kind = \"worker-thread\", behavior = \"calculator\", "
    "buffers = [\"ok\", \"ghost\"] }\n");
  REQUIRE(cfg);
  switchboard::kind_registry kinds;
  REQUIRE(!actors::add_builtin_kinds(kinds));
  auto errors = switchboard::validate(*cfg, kinds);
  REQUIRE(errors.size() == 4);
  CHECK(errors[0].key == "buffers.bad.bytes");
  // Only share = "parent" goes without bytes.
  CHECK(errors[1].key == "buffers.none");
  CHECK(errors[1].found.find("bytes is required") != std::string::npos);
  CHECK(errors[2].key == "buffers.odd.share");
  CHECK(errors[3].key == "actors.a.buffers[1]");
  CHECK(errors[3].expected == "the name of an entry of [buffers]");
}

TEST_CASE("a pool with a timeout answers slow requests with a timeout error") {
  std::promise<void> gate;
  node_fixture f{pool_conf("gate", 2, "round-robin", ", timeout = 100ms"),
                 nullptr, test_behaviors(gate.get_future().share())};
  auto t0 = std::chrono::steady_clock::now();
  auto slow = f.ask("pool", "\"block\"");
  REQUIRE(!slow);
  CHECK(switchboard::is(slow.error(), switchboard::errc::timeout));
  CHECK(render(slow.error()) == "timeout: 'pool' did not answer within 100 ms");
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  // The other worker answers in time meanwhile.
  auto quick = f.ask("pool", "1");
  REQUIRE(quick);
  CHECK(quick->text == "1");
  gate.set_value();
  f.stop_and_check();
}

TEST_CASE("a broadcast reports each worker's failure in its place") {
  node_fixture f{pool_conf("throws", 2, "broadcast"), nullptr,
                 test_behaviors()};
  auto r = f.ask("pool", "\"boom\"");
  REQUIRE(r);
  auto answers = nlohmann::json::parse(r->text);
  REQUIRE(answers.size() == 2);
  for (auto& a : answers)
    CHECK(a.at("error").get<std::string>().find("worker_failed") == 0);
  f.stop_and_check();
}

TEST_CASE("a pool spawned at run time may list buffers of the config") {
  node_fixture f{
    "[node]\ncontrol = \"none\"\n[buffers]\ncounters = { bytes = 64 }\n",
    nullptr, test_behaviors()};
  caf::settings args;
  args["behavior"] = "count";
  args["buffers"] = caf::config_value::list{caf::config_value{"counters"}};
  auto h = f.node().spawn("late", "worker-thread", args);
  INFO((h ? "" : render(h.error())));
  REQUIRE(h);
  REQUIRE(f.ask("late", "1"));
  CHECK(f.ask("late", "\"read\"")->text == "1");
  f.stop_and_check();
}

TEST_CASE("stopping a node kills workers that do not drain in time") {
  node_fixture f{pool_conf("slow", 2) + "[node]\nstop-timeout = 100ms\n",
                 nullptr, test_behaviors()};
  auto pool = caf::actor_cast<switchboard::json_actor>(f.node().lookup("pool"));
  // 2000 x 5 ms over two workers: 5 s of backlog.
  for (int i = 0; i < 2000; ++i)
    caf::anon_send(pool, json_message::trusted("1"));
  auto t0 = std::chrono::steady_clock::now();
  f.node().stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  f.stop_and_check();
}

namespace {

// The stack size of the calling thread, in bytes.
size_t own_stack_size() {
  pthread_attr_t attr;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
  }
  return size;
}

behavior_registry stack_behaviors() {
  auto result = test_behaviors();
  result.add("stack", [](const json_message&, worker_context&) {
    return caf::expected<json_message>{
      json_message::trusted(std::to_string(own_stack_size()))};
  });
  return result;
}

} // namespace

TEST_CASE("stack-size sets each worker thread's stack") {
  node_fixture f{pool_conf("stack", 2, "round-robin", ", stack-size = 300000")
                   + "[actors]\nplain = { kind = \"worker-thread\", behavior "
                     "= \"stack\" }\n",
                 nullptr, stack_behaviors()};
  // Rounded up to whole pages (sanitizers add room of their own on top).
  auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto expected = (300000 + page - 1) / page * page;
  auto size = [&](const char* name) {
    return std::stoul(f.ask(name, "1")->text);
  };
  auto plain = size("plain");
  for (int i = 0; i < 2; ++i) {
    auto s = size("pool");
    CHECK(s >= expected);
    CHECK(s < expected + 1024 * 1024);
    // Without the key, the system's default, usually 8 MiB.
    CHECK(s < plain);
  }
  f.stop_and_check();
}

TEST_CASE("workers answer whether they spin or sleep between requests") {
  for (auto spin : {"0us", "20us", "5ms"}) {
    INFO("spin = " << spin);
    node_fixture f{
      pool_conf("index", 2, "round-robin", std::string{", spin = "} + spin),
      nullptr, test_behaviors()};
    // Back to back, and after the workers went to sleep.
    for (int i = 0; i < 200; ++i)
      REQUIRE(f.ask("pool", "1"));
    // Idle past the spin, so the next requests find the workers parked
    // and take the wake-up path (nothing waits on this).
    std::this_thread::sleep_for(10ms);
    for (int i = 0; i < 20; ++i)
      REQUIRE(f.ask("pool", "1"));
    f.stop_and_check();
  }
}

TEST_CASE("a worker's thread ends when the worker exits") {
  node_fixture f{pool_conf("index", 1), nullptr, test_behaviors()};
  REQUIRE(f.ask("pool", "1"));
  auto before = switchboard::test::thread_count();
  caf::settings args;
  caf::put(args, "behavior", "index");
  caf::put(args, "count", int64_t{4});
  auto more = f.node().spawn("more", "worker-thread", std::move(args));
  REQUIRE(more);
  REQUIRE(f.ask("more", "1"));
  // Four workers, each a thread; the supervisor runs on the scheduler.
  CHECK(switchboard::test::thread_count() == before + 4);
  caf::anon_send_exit(*more, caf::exit_reason::user_shutdown);
  CHECK(switchboard::test::eventually(
    [&] { return switchboard::test::thread_count() == before; }));
  f.stop_and_check();
}

TEST_CASE("a thread actor that nobody references ends its thread") {
  node_fixture f{pool_conf("index", 1), nullptr, test_behaviors()};
  auto before = switchboard::test::thread_count();
  std::promise<void> destroyed;
  struct idle : actors::thread_actor<caf::event_based_actor> {
    idle(caf::actor_config& cfg, std::promise<void>* p)
        : thread_actor(cfg, actors::thread_options{}), p_(p) {}
    ~idle() override {
      p_->set_value();
    }
    caf::behavior make_behavior() override {
      return {[](int x) { return x; }};
    }
    std::promise<void>* p_;
  };
  {
    auto h = f.node().system().spawn<idle>(&destroyed);
    CHECK(switchboard::test::thread_count() == before + 1);
    // It answers like any actor.
    caf::scoped_actor self{f.node().system()};
    self->request(h, 5s, 41).receive([](int x) { CHECK(x == 41); },
                                     [](caf::error& e) { FAIL(render(e)); });
  }
  REQUIRE(destroyed.get_future().wait_for(5s) == std::future_status::ready);
  CHECK(switchboard::test::eventually(
    [&] { return switchboard::test::thread_count() == before; }));
  f.stop_and_check();
}

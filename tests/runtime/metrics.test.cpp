// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/metrics.hpp>

#include <catch2/catch.hpp>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <switchboard/metered.hpp>

#include "process.hpp"

using namespace switchboard;

TEST_CASE("a sharded counter is exact with more counting threads than slots, "
          "and an ended thread's slot passes to a new one") {
  sharded_counter c;
  constexpr int threads = 24; // more than the 15 slots of their own
  constexpr int per_thread = 20'000;
  std::mutex mtx;
  std::condition_variable cv;
  int counted = 0;
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i)
    ts.emplace_back([&] {
      for (int k = 0; k < per_thread; ++k)
        c.add();
      // Every thread holds its slot until all have counted.
      std::unique_lock<std::mutex> guard{mtx};
      if (++counted == threads)
        cv.notify_all();
      else
        cv.wait(guard, [&] { return counted == threads; });
    });
  for (auto& t : ts)
    t.join();
  CHECK(c.load() == uint64_t{threads} * per_thread);
  // All 15 slots were taken at once above; had they not been given back,
  // a new thread would count in the shared slot.
  uint32_t slot = 0;
  std::thread later{[&] {
    c.add(5);
    slot = detail::counter_slot;
  }};
  later.join();
  CHECK(slot >= 1);
  CHECK(slot < sharded_counter::slots);
  CHECK(c.load() == uint64_t{threads} * per_thread + 5);
}

TEST_CASE("a histogram counts in time-stamp ticks and reads in nanoseconds") {
  histogram h;
  fast_stamp(); // the first stamp of a process measures the tick's length
  auto wall0 = now_ns();
  auto t0 = fast_stamp();
  while (now_ns() - wall0 < 3'000'000) {
  }
  auto t1 = fast_stamp();
  auto wall = now_ns() - wall0;
  h.observe(t0, t1);
  h.observe(t1, t0); // a stamp that went back counts as zero
  auto snap = h.read();
  CHECK(h.count() == 2);
  // The zero is in the first bucket (<= 1 us); the 3 ms in (2.5 ms, 5 ms].
  CHECK(snap.cumulative[0] == 1);
  CHECK(snap.cumulative[9] == 1);  // le 1 ms
  CHECK(snap.cumulative[10] == 1); // le 2.5 ms
  CHECK(snap.cumulative.back() == 2);
  CHECK(snap.sum_ns >= 2'900'000);
  CHECK(snap.sum_ns <= static_cast<uint64_t>(wall) + wall / 20);
}

namespace {

// Handles ints; the first waits until `go` is set.
caf::behavior held_then_burst(metered_actor* self,
                              std::shared_future<void> go) {
  auto first = std::make_shared<bool>(true);
  return {[=](int) {
    if (*first) {
      *first = false;
      go.wait();
    }
  }};
}

// Handles ints; the first waits until `go` is set, then ends the actor.
caf::behavior held_then_quit(metered_actor* self, std::shared_future<void> go) {
  return {[=](int) {
    go.wait();
    self->quit();
  }};
}

// A metered actor running `behavior` (one of the two above), counting into
// `m`; its first message waits for `release`. The block comes before the
// system, which awaits the actor (whose cleanup leaves `m`).
struct held_actor {
  template<class Behavior>
  held_actor(const char* name, Behavior behavior) : m{name, "test"} {
    a = sys.spawn(behavior, go.get_future().share());
    REQUIRE(attach_metrics(a, &m));
  }

  void release() {
    go.set_value();
  }

  actor_metrics m;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::promise<void> go;
  caf::actor a;
};

} // namespace

TEST_CASE("of a burst an actor handles back to back, one message in "
          "timed_every is timed, and every message is counted") {
  held_actor h{"burst", held_then_burst};
  auto& m = h.m;
  auto& a = h.a;
  caf::anon_send(a, 0);
  // The first message holds the actor while the burst queues up.
  constexpr int burst = 200;
  for (int i = 1; i <= burst; ++i)
    caf::anon_send(a, i);
  h.release();
  CHECK(test::eventually([&] { return m.processed() == burst + 1; }));
  CHECK(m.received.load() == burst + 1);
  CHECK(m.mailbox_depth() == 0);
  // The held message and at least the burst's every 8th; far fewer than all
  // (a run of CAF's takes many messages at once).
  auto timed = m.processing.count();
  CHECK(timed >= 1 + burst / metered_base::timed_every);
  CHECK(timed < (burst + 1) / 2);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("messages to an actor that has exited are counted as dead letters, "
          "and those before its exit are not") {
  held_actor h{"gone", held_then_burst};
  auto& m = h.m;
  auto& a = h.a;
  h.release();
  for (int i = 0; i < 3; ++i)
    caf::anon_send(a, i);
  REQUIRE(test::eventually([&] { return m.processed() == 3; }));
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  // The actor leaves its block in its cleanup, after CAF closed its mailbox.
  REQUIRE(test::eventually([&] { return m.writers.load() == 0; }));
  for (int i = 0; i < 5; ++i)
    caf::anon_send(a, i);
  CHECK(m.dead_letters.load() == 5);
  // The exit message is one the actor received and handled, too.
  CHECK(m.received.load() == 3 + 1 + 5);
  CHECK(m.processed() == 3 + 1);
  CHECK(m.mailbox_depth() == 0);
}

TEST_CASE("messages left in the mailbox of an actor that ends are dead "
          "letters, so its depth settles at 0, and a request among them is "
          "answered with an error") {
  held_actor h{"quits", held_then_quit};
  auto& m = h.m;
  auto& a = h.a;
  caf::anon_send(a, 0);
  // They queue up while the first message holds the actor.
  constexpr int left = 50;
  for (int i = 1; i <= left; ++i)
    caf::anon_send(a, i);
  caf::scoped_actor self{h.sys};
  auto answer = self->request(a, caf::infinite, left + 1);
  h.release();
  bool refused = false;
  answer.receive([] {}, [&](caf::error&) { refused = true; });
  CHECK(refused);
  REQUIRE(test::eventually([&] { return m.writers.load() == 0; }));
  CHECK(m.received.load() == 1 + left + 1);
  CHECK(m.processed() == 1);
  CHECK(m.dead_letters.load() == left + 1);
  CHECK(m.mailbox_depth() == 0);
}

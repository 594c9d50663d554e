// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/metrics.hpp>

#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

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

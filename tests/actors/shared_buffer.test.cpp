// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/actors/shared_buffer.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/syscall.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <switchboard/errc.hpp>

using switchboard::render;
using namespace switchboard::actors;
using namespace std::chrono_literals;

namespace {

// Waits until `n` threads wait on element `i` (they register before they
// sleep), within a deadline.
template<class T>
bool until_waiting(const atomic_view<T>& v, size_t i, size_t n) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline)
    if (*v.waiting(i) == n)
      return true;
    else
      std::this_thread::yield();
  return false;
}

// The threads that called `record` and are now asleep in a futex call
// (futex or futex_waitv), as /proc shows a blocked thread's system call.
class sleepers {
public:
  void record() {
    std::lock_guard<std::mutex> guard{mtx_};
    tids_.push_back(static_cast<pid_t>(syscall(SYS_gettid)));
  }

  // Waits until `n` recorded threads sleep in the kernel, within a deadline.
  bool until_asleep(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      size_t asleep = 0;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        for (auto tid : tids_) {
          std::ifstream in{"/proc/self/task/" + std::to_string(tid)
                           + "/syscall"};
          std::string nr;
          in >> nr;
          if (nr == std::to_string(SYS_futex)
              || nr == std::to_string(SYS_futex_waitv))
            ++asleep;
        }
      }
      if (asleep == n)
        return true;
      std::this_thread::yield();
    }
    return false;
  }

private:
  std::mutex mtx_;
  std::vector<pid_t> tids_;
};

} // namespace

TEST_CASE("a buffer is zeroed, aligned and rounded up to whole cache lines") {
  auto buf = shared_buffer::make(100);
  REQUIRE(buf);
  CHECK(buf->size() == 128);
  CHECK(reinterpret_cast<uintptr_t>(buf->data()) % shared_buffer::alignment
        == 0);
  auto v = buf->view<uint64_t>();
  REQUIRE(v);
  CHECK(v->length() == 16);
  for (size_t i = 0; i < v->length(); ++i)
    CHECK(*v->load(i) == 0);
  CHECK(is(shared_buffer::make(0).error(), errc::out_of_range));
}

TEST_CASE("views check their range and alignment") {
  auto buf = shared_buffer::make(64);
  REQUIRE(buf);
  CHECK(is(buf->view<int32_t>(2).error(), errc::misaligned));
  CHECK(is(buf->view<int64_t>(4).error(), errc::misaligned));
  CHECK(is(buf->view<int32_t>(60, 2).error(), errc::out_of_range));
  CHECK(is(buf->view<int32_t>(128).error(), errc::out_of_range));
  auto v = buf->view<int32_t>(8, 2);
  REQUIRE(v);
  CHECK(v->length() == 2);
  CHECK(!v->store(1, 7));
  auto err = v->store(2, 7);
  REQUIRE(err);
  CHECK(is(err, errc::out_of_range));
  CHECK(render(err) == "out_of_range: index 2 of a view of 2 elements");
  CHECK(is(v->load(5).error(), errc::out_of_range));
  CHECK(is(v->wait(9, 0, 1ms).error(), errc::out_of_range));
  CHECK(is(v->notify(9).error(), errc::out_of_range));
  // Views alias the same memory: element 1 of this view is int32 #3.
  CHECK(*buf->view<int32_t>()->load(3) == 7);
}

TEST_CASE("every atomic operation returns the old value") {
  auto buf = shared_buffer::make(64);
  auto v = *buf->view<int32_t>();
  CHECK(*v.add(0, 5) == 0);
  CHECK(*v.sub(0, 2) == 5);
  CHECK(*v.bit_or(0, 0x10) == 3);
  CHECK(*v.bit_and(0, 0x11) == 0x13);
  CHECK(*v.bit_xor(0, 0x01) == 0x11);
  CHECK(*v.exchange(0, 42) == 0x10);
  CHECK(*v.compare_exchange(0, 41, 1) == 42); // no swap
  CHECK(*v.load(0) == 42);
  CHECK(*v.compare_exchange(0, 42, 1) == 42); // swap
  CHECK(*v.load(0) == 1);
  auto u = *buf->view<uint32_t>();
  CHECK(*u.sub(1, 1) == 0);
  CHECK(*u.load(1) == 0xffffffffu); // wraps
}

TEST_CASE("N threads times M increments on one counter give exactly N*M") {
  constexpr int n = 4;
  constexpr int m = 100000;
  auto buf = shared_buffer::make(64);
  auto v32 = *buf->view<int32_t>();
  auto v64 = *buf->view<uint64_t>(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t)
    threads.emplace_back([=] {
      for (int i = 0; i < m; ++i) {
        v32.add(0, 1);
        v64.add(0, 1);
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(*v32.load(0) == n * m);
  CHECK(*v64.load(0) == uint64_t{n} * m);
}

TEST_CASE("compare_exchange loops from several threads lose no update") {
  constexpr int n = 4;
  constexpr int m = 50000;
  auto buf = shared_buffer::make(64);
  auto v = *buf->view<int64_t>();
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t)
    threads.emplace_back([=] {
      for (int i = 0; i < m; ++i) {
        int64_t old = *v.load(0);
        // Doubling-free increment by CAS: retry until nobody interfered.
        for (;;) {
          auto seen = *v.compare_exchange(0, old, old + 3);
          if (seen == old)
            break;
          old = seen;
        }
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(*v.load(0) == int64_t{3} * n * m);
}

TEST_CASE("wait returns not-equal at once and timed-out after its timeout") {
  auto buf = shared_buffer::make(64);
  auto v = *buf->view<int32_t>();
  v.store(0, 1);
  CHECK(*v.wait(0, 0, 10s) == wait_result::not_equal);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(*v.wait(0, 1, 50ms) == wait_result::timed_out);
  CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
  CHECK(*v.waiting(0) == 0);
  CHECK(std::string{to_string(wait_result::timed_out)} == "timed-out");
}

TEST_CASE("notify wakes waiters and says how many") {
  auto buf = shared_buffer::make(64);
  for (bool wide : {false, true}) {
    auto v32 = *buf->view<int32_t>();
    auto v64 = *buf->view<int64_t>();
    std::atomic<int> woken{0};
    sleepers asleep;
    std::vector<std::thread> waiters;
    for (int t = 0; t < 3; ++t)
      waiters.emplace_back([&] {
        asleep.record();
        auto r = wide ? v64.wait(1, 0, 10s) : v32.wait(1, 0, 10s);
        if (r && *r == wait_result::ok)
          ++woken;
      });
    REQUIRE((wide ? until_waiting(v64, 1, 3) : until_waiting(v32, 1, 3)));
    // Counted from just before they sleep: a notify now could come first.
    REQUIRE(asleep.until_asleep(3));
    // Waiters on another element are not affected.
    CHECK(*(wide ? v64.notify(0) : v32.notify(0)) == 0);
    CHECK(*(wide ? v64.notify(1, 2) : v32.notify(1, 2)) == 2);
    // The two woken leave the count as they return.
    CHECK((wide ? until_waiting(v64, 1, 1) : until_waiting(v32, 1, 1)));
    CHECK(*(wide ? v64.notify(1) : v32.notify(1)) == 1);
    for (auto& t : waiters)
      t.join();
    CHECK(woken == 3);
    CHECK(*(wide ? v64.notify(1) : v32.notify(1)) == 0);
  }
}

TEST_CASE("a wait/notify ping-pong under load loses no wake-up") {
  // Two threads take turns 50,000 times; a lost wake-up would stall one
  // side until its 10 s timeout, which fails the test. Extra threads
  // hammering the same buffer add load.
  constexpr int32_t rounds = 50000;
  auto buf = shared_buffer::make(64);
  auto v = *buf->view<int32_t>();
  std::atomic<bool> stop{false};
  std::vector<std::thread> noise;
  for (int i = 0; i < 2; ++i)
    noise.emplace_back([&] {
      while (!stop)
        v.add(2, 1);
    });
  std::atomic<int> stalls{0};
  std::thread pong{[&] {
    for (int32_t i = 0; i < rounds; ++i) {
      // Wait for ping's odd value, answer with the next even one.
      while (*v.load(0) != 2 * i + 1)
        if (*v.wait(0, 2 * i, 10s) == wait_result::timed_out)
          ++stalls;
      v.store(0, 2 * i + 2);
      v.notify(0);
    }
  }};
  for (int32_t i = 0; i < rounds; ++i) {
    v.store(0, 2 * i + 1);
    v.notify(0);
    while (*v.load(0) != 2 * i + 2)
      if (*v.wait(0, 2 * i + 1, 10s) == wait_result::timed_out)
        ++stalls;
  }
  pong.join();
  stop = true;
  for (auto& t : noise)
    t.join();
  CHECK(stalls == 0);
  CHECK(*v.load(0) == 2 * rounds);
}

TEST_CASE("a buffer lives as long as any handle or view") {
  std::optional<atomic_view<int32_t>> kept;
  {
    auto buf = shared_buffer::make(64);
    auto copy = *buf;
    CHECK(buf->use_count() == 2);
    CHECK(copy == *buf);
    kept = *buf->view<int32_t>();
    kept->store(0, 9);
  }
  // Both handles are gone; the view still reads the block.
  CHECK(*kept->load(0) == 9);
}

TEST_CASE("a buffer cannot be serialized to leave its node") {
  caf::actor_system_config cfg;
  cfg.add_message_type<shared_buffer>("switchboard::shared_buffer");
  caf::actor_system sys{cfg};
  auto buf = *shared_buffer::make(64);
  std::vector<char> out;
  caf::binary_serializer sink{sys, out};
  auto err = sink(buf);
  REQUIRE(err);
  CHECK(is(err, errc::not_shareable));
  CHECK(caf::deep_to_string(buf) == "shared_buffer(64)");
  // In a message to a local actor the block is shared, not copied.
  auto msg = caf::make_message(buf);
  CHECK(msg.get_as<shared_buffer>(0) == buf);
}

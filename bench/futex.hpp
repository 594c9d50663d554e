// switchboard: an embeddable C++ actor runtime. MIT License.

// A raw futex ping-pong between two threads: the OS limit for one thread
// waking another and being woken back.

#pragma once

#include <algorithm>
#include <atomic>
#include <iterator>
#include <climits>
#include <thread>

#include <pthread.h>
#include <sched.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.hpp"

namespace switchboard::bench {

inline void futex_wait(std::atomic<int>& word, int expected) {
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAIT_PRIVATE,
          expected, nullptr, nullptr, 0);
}

inline void futex_wake(std::atomic<int>& word) {
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAKE_PRIVATE, 1,
          nullptr, nullptr, 0);
}

inline void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

inline void unpin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int i = 0; i < CPU_SETSIZE; ++i)
    CPU_SET(i, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/// Round trips per second of two threads handing a token back and forth,
/// each sleeping in the kernel until woken. `same_core` pins both threads to
/// one core (a wake-up is a context switch there); otherwise they are pinned
/// to two cores (a wake-up crosses cores, the case for a loop thread and a
/// scheduler thread).
inline double futex_ping_pong(size_t n, bool same_core = false) {
  std::atomic<int> ball{0}; // even: ping's turn, odd: pong's turn
  pin_to_cpu(0);
  std::thread pong{[&] {
    pin_to_cpu(same_core ? 0 : 1);
    for (size_t i = 0; i < n; ++i) {
      int v;
      while (((v = ball.load(std::memory_order_acquire)) & 1) == 0)
        futex_wait(ball, v);
      ball.store(v + 1, std::memory_order_seq_cst);
      futex_wake(ball);
    }
  }};
  auto t0 = clock::now();
  for (size_t i = 0; i < n; ++i) {
    int v = ball.load(std::memory_order_acquire);
    ball.store(v + 1, std::memory_order_seq_cst);
    futex_wake(ball);
    while (((v = ball.load(std::memory_order_acquire)) & 1) == 1)
      futex_wait(ball, v);
  }
  auto elapsed = clock::now() - t0;
  pong.join();
  unpin();
  return per_second(n, elapsed);
}

/// The median of five futex ping-pong runs of n/5 round trips.
inline double futex_median(size_t n, bool same_core = false) {
  std::vector<double> xs;
  for (int i = 0; i < 5; ++i)
    xs.push_back(futex_ping_pong(std::max<size_t>(n / 5, 1000), same_core));
  return median(std::move(xs));
}

} // namespace switchboard::bench

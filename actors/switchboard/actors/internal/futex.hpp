// switchboard: an embeddable C++ actor runtime. MIT License.

// Thin wrappers over the Linux futex system calls, private to the actors
// library. A futex word is a 32-bit integer; waiting sleeps only while the
// word still holds the expected value (the kernel checks it as it queues
// the waiter), so a wake-up that comes first is never lost. `shared` picks
// futexes that work across processes mapping the same memory; without it
// the kernel keys the word by address in this process only, which is
// cheaper.

#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace switchboard::actors::internal {

/// What `futex_wait` saw.
enum class futex_status {
  /// Woken by a `futex_wake`.
  woken,
  /// The word did not hold the expected value.
  changed,
  /// The timeout passed.
  timed_out,
  /// A signal broke the wait: check and wait again.
  interrupted,
  /// The system call is not there (futex_waitv before Linux 5.16, or
  /// refused by a seccomp filter): `errno` says which.
  unsupported,
  /// Any other failure (a bad address): `errno` says which.
  failed,
};

inline futex_status futex_status_of(long rc) {
  if (rc >= 0)
    return futex_status::woken;
  switch (errno) {
    case EAGAIN: return futex_status::changed;
    case ETIMEDOUT: return futex_status::timed_out;
    case EINTR: return futex_status::interrupted;
    case ENOSYS:
    case EPERM: return futex_status::unsupported;
    default: return futex_status::failed;
  }
}

/// Sleeps while `*word == expected`, at most `timeout` (negative: forever).
inline futex_status futex_wait(const uint32_t* word, uint32_t expected,
                               std::chrono::nanoseconds timeout,
                               bool shared = false) {
  timespec ts;
  timespec* tp = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
    tp = &ts;
  }
  int op = shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE;
  return futex_status_of(
    syscall(SYS_futex, word, op, expected, tp, nullptr, 0));
}

/// Sleeps while the 64-bit `*word == expected`, at most `timeout`
/// (negative: forever): both halves are compared as the waiter is queued
/// (futex_waitv, Linux 5.16), and a `futex_wake` on the low half (the
/// element's own address) wakes it.
inline futex_status futex_wait64(const uint64_t* word, uint64_t expected,
                                 std::chrono::nanoseconds timeout,
                                 bool shared = false) {
  auto halves = reinterpret_cast<const uint32_t*>(word);
  uint32_t flags = FUTEX_32 | (shared ? 0 : FUTEX_PRIVATE_FLAG);
  futex_waitv waiters[2] = {};
  waiters[0].uaddr = reinterpret_cast<uintptr_t>(&halves[0]);
  waiters[0].val = static_cast<uint32_t>(expected);
  waiters[0].flags = flags;
  waiters[1].uaddr = reinterpret_cast<uintptr_t>(&halves[1]);
  waiters[1].val = static_cast<uint32_t>(expected >> 32);
  waiters[1].flags = flags;
  // futex_waitv takes an absolute time on the given clock.
  timespec ts;
  timespec* tp = nullptr;
  if (timeout.count() >= 0) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    auto ns = ts.tv_nsec + timeout.count() % 1000000000;
    ts.tv_sec +=
      static_cast<time_t>(timeout.count() / 1000000000 + ns / 1000000000);
    ts.tv_nsec = static_cast<long>(ns % 1000000000);
    tp = &ts;
  }
  return futex_status_of(
    syscall(SYS_futex_waitv, waiters, 2, 0, tp, CLOCK_MONOTONIC));
}

/// Wakes up to `count` threads sleeping on `word`; returns how many woke.
inline int futex_wake(const uint32_t* word, int count, bool shared = false) {
  int op = shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE;
  return static_cast<int>(
    syscall(SYS_futex, word, op, count, nullptr, nullptr, 0));
}

} // namespace switchboard::actors::internal

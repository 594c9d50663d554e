// switchboard: an embeddable C++ actor runtime. MIT License.

// Thin wrappers over the Linux futex system call, private to the actors
// library. A futex word is a 32-bit integer; waiting sleeps only while the
// word still holds the expected value, so a wake-up that comes first is
// never lost.

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
  /// Woken (or spuriously returned): check the condition again.
  woken,
  /// The word did not hold the expected value.
  changed,
  /// The timeout passed.
  timed_out,
};

/// Sleeps while `*word == expected`, at most `timeout` (negative: forever).
inline futex_status futex_wait(const uint32_t* word, uint32_t expected,
                               std::chrono::nanoseconds timeout) {
  timespec ts;
  timespec* tp = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1000000000);
    tp = &ts;
  }
  auto rc =
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, tp, nullptr, 0);
  if (rc == 0)
    return futex_status::woken;
  if (errno == EAGAIN)
    return futex_status::changed;
  if (errno == ETIMEDOUT)
    return futex_status::timed_out;
  return futex_status::woken; // EINTR: the caller checks again
}

/// Wakes up to `count` threads sleeping on `word`; returns how many woke.
inline int futex_wake(const uint32_t* word, int count) {
  return static_cast<int>(
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0));
}

} // namespace switchboard::actors::internal

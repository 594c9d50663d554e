// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/shared_buffer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "switchboard/actors/internal/futex.hpp"

namespace switchboard::actors {

namespace internal {

// One thread in `wait`: the futex word it sleeps on is its own, so a notify
// wakes exactly the waiters it picked.
struct waiter {
  const void* addr;
  uint32_t woken = 0;
};

struct buffer_block {
  std::byte* data = nullptr;
  size_t size = 0;
  std::mutex mtx;
  // Waiters of every element, oldest first (there are few at a time).
  std::vector<waiter*> waiters;

  ~buffer_block() {
    std::free(data);
  }
};

namespace {

uint64_t load_width(const void* addr, size_t width) {
  if (width == 4)
    return __atomic_load_n(static_cast<const uint32_t*>(addr),
                           __ATOMIC_SEQ_CST);
  return __atomic_load_n(static_cast<const uint64_t*>(addr), __ATOMIC_SEQ_CST);
}

} // namespace

wait_result wait_at(buffer_block& block, const void* addr, size_t width,
                    uint64_t expected, caf::timespan timeout) {
  using clock = std::chrono::steady_clock;
  waiter self{addr};
  {
    std::lock_guard<std::mutex> guard{block.mtx};
    if (load_width(addr, width) != expected)
      return wait_result::not_equal;
    block.waiters.push_back(&self);
  }
  // Beyond a year counts as forever (and keeps `now + timeout` in range).
  bool forever = timeout > std::chrono::hours(24 * 365);
  auto deadline = forever ? clock::time_point::max() : clock::now() + timeout;
  for (;;) {
    if (__atomic_load_n(&self.woken, __ATOMIC_ACQUIRE) != 0)
      return wait_result::ok;
    auto left = forever ? std::chrono::nanoseconds{-1}
                        : std::chrono::nanoseconds{deadline - clock::now()};
    if (!forever && left.count() <= 0)
      break;
    futex_wait(&self.woken, 0, left);
  }
  // Timed out, unless a notify picked this waiter meanwhile: it removes the
  // waiter and sets `woken` under the lock, so the lock tells.
  std::lock_guard<std::mutex> guard{block.mtx};
  auto i = std::find(block.waiters.begin(), block.waiters.end(), &self);
  if (i == block.waiters.end())
    return wait_result::ok;
  block.waiters.erase(i);
  return wait_result::timed_out;
}

size_t notify_at(buffer_block& block, const void* addr, size_t count) {
  size_t woken = 0;
  std::lock_guard<std::mutex> guard{block.mtx};
  auto& xs = block.waiters;
  for (auto i = xs.begin(); i != xs.end() && woken < count;) {
    if ((*i)->addr != addr) {
      ++i;
      continue;
    }
    auto w = *i;
    i = xs.erase(i);
    // Set before the wake: a waiter that has not slept yet sees it and does
    // not sleep. After this store the waiter may return at any time, so the
    // wake only passes its address to the kernel.
    __atomic_store_n(&w->woken, 1u, __ATOMIC_RELEASE);
    futex_wake(&w->woken, 1);
    ++woken;
  }
  return woken;
}

size_t waiting_at(buffer_block& block, const void* addr) {
  std::lock_guard<std::mutex> guard{block.mtx};
  return static_cast<size_t>(
    std::count_if(block.waiters.begin(), block.waiters.end(),
                  [addr](const waiter* w) { return w->addr == addr; }));
}

} // namespace internal

const char* to_string(wait_result x) {
  switch (x) {
    case wait_result::ok: return "ok";
    case wait_result::not_equal: return "not-equal";
    case wait_result::timed_out: return "timed-out";
  }
  return "?";
}

caf::expected<shared_buffer> shared_buffer::make(size_t bytes) {
  if (bytes == 0)
    return make_error(errc::out_of_range,
                      "a shared buffer needs at least 1 byte");
  if (bytes > std::numeric_limits<size_t>::max() - alignment)
    return make_error(errc::out_of_memory, std::to_string(bytes) + " bytes");
  auto rounded = (bytes + alignment - 1) / alignment * alignment;
  auto mem = static_cast<std::byte*>(std::aligned_alloc(alignment, rounded));
  if (mem == nullptr)
    return make_error(errc::out_of_memory,
                      "cannot allocate " + std::to_string(rounded) + " bytes");
  std::memset(mem, 0, rounded);
  shared_buffer result;
  result.block_ = std::make_shared<internal::buffer_block>();
  result.block_->data = mem;
  result.block_->size = rounded;
  return result;
}

size_t shared_buffer::size() const noexcept {
  return block_ ? block_->size : 0;
}

std::byte* shared_buffer::data() const noexcept {
  return block_ ? block_->data : nullptr;
}

caf::error not_shareable_error() {
  return make_error(errc::not_shareable,
                    "a shared_buffer cannot leave its node; send its "
                    "contents instead");
}

} // namespace switchboard::actors

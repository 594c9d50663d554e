// switchboard: an embeddable C++ actor runtime. MIT License.

// Shared memory: the C++ twin of Node's SharedArrayBuffer with Atomics, and
// a step past it, since a block can also be shared with child processes.
//
// A `shared_buffer` is a handle to a reference-counted, cache-line-aligned,
// zeroed block. Copying the handle (e.g. into a message) shares the block;
// the block lives until the last handle is gone. Typed views give atomic
// operations on its elements, and `wait`/`notify` with the semantics of
// `Atomics.wait`/`Atomics.notify`.
//
// `wait` and `notify` are futexes on the element itself, as V8's are: the
// kernel checks the value and queues the waiter in one step, so a notify
// that comes between a waiter's check and its sleep is never lost, and
// `notify` returns the exact number the kernel woke. A 64-bit element is
// waited on with both of its halves (futex_waitv, Linux 5.16) and woken
// through its low half; where futex_waitv is missing, with the low half
// alone, so a change of the high half alone does not end a wait. A block made
// with `make_process_shared` lives in a memfd: a child process that gets the fd
// maps the same memory, and the same views, waits and notifies work across the
// processes (shared, not private, futexes). conf/README.md (`[buffers]`)
// documents the layout for programs that map it without switchboard.
//
// Usage:
// ~~~
// auto buf = shared_buffer::make(4096);          // caf::expected
// auto counters = buf->view<int32_t>();          // 1024 int32 elements
// counters->add(0, 1);                           // returns the old value
// counters->wait(1, 0, std::chrono::seconds(1)); // until notified
// counters->notify(1, 1);                        // returns how many woke
// ~~~

#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/timespan.hpp>

#include "switchboard/actors/errc.hpp"

namespace switchboard::actors {

/// What `atomic_view::wait` saw.
enum class wait_result {
  /// Woken by `notify`.
  ok,
  /// The element did not hold the expected value; nothing waited.
  not_equal,
  /// The timeout passed first.
  timed_out,
};

/// @relates wait_result
const char* to_string(wait_result x);

namespace internal {

struct buffer_block;

/// Waits on the `width`-byte (4 or 8) element at `addr` if it holds
/// `expected` (compared by the kernel as it queues the waiter).
caf::expected<wait_result> wait_at(buffer_block& block, const void* addr,
                                   size_t width, uint64_t expected,
                                   caf::timespan timeout);

/// Wakes up to `count` waiters on `addr`; returns how many woke.
size_t notify_at(buffer_block& block, const void* addr, size_t count);

/// How many wait on `addr`.
size_t waiting_at(buffer_block& block, const void* addr);

} // namespace internal

/// A typed, atomic view of (part of) a shared buffer. Keeps the buffer
/// alive. Thread-safe: every operation is one atomic access (sequentially
/// consistent); `wait` and `notify` are futex calls on the element.
template<class T>
class atomic_view {
public:
  static_assert(
    std::is_same_v<
      T,
      int32_t> || std::is_same_v<T, uint32_t> || std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>,
    "atomic views hold int32, uint32, int64 or uint64");

  /// How many elements the view has.
  size_t length() const noexcept {
    return length_;
  }

  /// The value at `i`.
  caf::expected<T> load(size_t i) const {
    if (auto err = check(i))
      return err;
    return __atomic_load_n(base_ + i, __ATOMIC_SEQ_CST);
  }

  /// Stores `x` at `i`.
  caf::error store(size_t i, T x) const {
    if (auto err = check(i))
      return err;
    __atomic_store_n(base_ + i, x, __ATOMIC_SEQ_CST);
    return caf::none;
  }

  /// Adds `x` at `i` (wrapping); returns the old value.
  caf::expected<T> add(size_t i, T x) const {
    return at(i,
              [x](T* p) { return __atomic_fetch_add(p, x, __ATOMIC_SEQ_CST); });
  }

  /// Subtracts `x` at `i` (wrapping); returns the old value.
  caf::expected<T> sub(size_t i, T x) const {
    return at(i,
              [x](T* p) { return __atomic_fetch_sub(p, x, __ATOMIC_SEQ_CST); });
  }

  /// Bitwise and with `x` at `i`; returns the old value.
  caf::expected<T> bit_and(size_t i, T x) const {
    return at(i,
              [x](T* p) { return __atomic_fetch_and(p, x, __ATOMIC_SEQ_CST); });
  }

  /// Bitwise or with `x` at `i`; returns the old value.
  caf::expected<T> bit_or(size_t i, T x) const {
    return at(i,
              [x](T* p) { return __atomic_fetch_or(p, x, __ATOMIC_SEQ_CST); });
  }

  /// Bitwise xor with `x` at `i`; returns the old value.
  caf::expected<T> bit_xor(size_t i, T x) const {
    return at(i,
              [x](T* p) { return __atomic_fetch_xor(p, x, __ATOMIC_SEQ_CST); });
  }

  /// Stores `x` at `i`; returns the old value.
  caf::expected<T> exchange(size_t i, T x) const {
    return at(
      i, [x](T* p) { return __atomic_exchange_n(p, x, __ATOMIC_SEQ_CST); });
  }

  /// Stores `desired` at `i` if it holds `expected`; returns the old value
  /// either way (the swap happened if it equals `expected`), like
  /// `Atomics.compareExchange`.
  caf::expected<T> compare_exchange(size_t i, T expected, T desired) const {
    if (auto err = check(i))
      return err;
    __atomic_compare_exchange_n(base_ + i, &expected, desired, false,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
  }

  /// If the element at `i` holds `expected`, sleeps until `notify` wakes
  /// this waiter or `timeout` passes; otherwise returns `not_equal` at once.
  caf::expected<wait_result>
  wait(size_t i, T expected,
       caf::timespan timeout = caf::timespan::max()) const {
    if (auto err = check(i))
      return err;
    using unsigned_t = std::make_unsigned_t<T>;
    return internal::wait_at(*block_, base_ + i, sizeof(T),
                             static_cast<unsigned_t>(expected), timeout);
  }

  /// Wakes up to `count` threads waiting on the element at `i` (in this
  /// process or, for a process-shared block, any process that maps it),
  /// oldest first; returns how many woke.
  caf::expected<size_t>
  notify(size_t i, size_t count = std::numeric_limits<size_t>::max()) const {
    if (auto err = check(i))
      return err;
    return internal::notify_at(*block_, base_ + i, count);
  }

  /// How many threads wait on the element at `i` right now (those that
  /// wait through a switchboard view; a program that waits with a raw
  /// futex call is not counted). A thread counts from just before it
  /// sleeps to just after it wakes; a process killed while it waits stays
  /// counted in a process-shared block.
  caf::expected<size_t> waiting(size_t i) const {
    if (auto err = check(i))
      return err;
    return internal::waiting_at(*block_, base_ + i);
  }

private:
  friend class shared_buffer;

  atomic_view(std::shared_ptr<internal::buffer_block> block, T* base,
              size_t length)
      : block_(std::move(block)), base_(base), length_(length) {}

  // Runs `f` on the element at `i`, or returns the range error.
  template<class F>
  caf::expected<T> at(size_t i, F f) const {
    if (auto err = check(i))
      return err;
    return f(base_ + i);
  }

  caf::error check(size_t i) const {
    if (i >= length_)
      return make_error(errc::out_of_range,
                        "index " + std::to_string(i) + " of a view of "
                          + std::to_string(length_) + " elements");
    return caf::none;
  }

  std::shared_ptr<internal::buffer_block> block_;
  T* base_;
  size_t length_;
};

/// A handle to a block of memory the actors of one node share, and with
/// `make_process_shared`, its child processes too. Passing the handle in a
/// message shares the block (no copy); sending it to another node fails
/// with `errc::not_shareable`.
class shared_buffer {
public:
  /// How many bytes blocks are aligned to (and their sizes rounded up to).
  static constexpr size_t alignment = 64;

  /// The largest block (element offsets are kept in 32 bits of 4 bytes).
  static constexpr size_t max_size = size_t{1} << 34;

  /// The environment variable that tells a child process which blocks its
  /// parent passed: `NAME=FD:BYTES`, comma-separated.
  static constexpr const char* env_name = "SWITCHBOARD_BUFFERS";

  /// An invalid handle.
  shared_buffer() = default;

  /// Allocates a zeroed block of at least `bytes` bytes (rounded up to a
  /// multiple of `alignment`) for the threads of this process.
  static caf::expected<shared_buffer> make(size_t bytes);

  /// Makes a zeroed block of at least `bytes` bytes in a memfd (named
  /// `name` in /proc/PID/fd), which a child process can map: pass `fd()`.
  /// @returns `errc::buffer_unavailable` with the system's reason when the
  ///          memfd cannot be made or mapped.
  static caf::expected<shared_buffer>
  make_process_shared(size_t bytes, const std::string& name = "switchboard");

  /// Maps the process-shared block of `bytes` bytes (as `size()` gave in
  /// the process that made it) behind `fd`. The block keeps its own
  /// duplicate of `fd`.
  static caf::expected<shared_buffer> map(int fd, size_t bytes);

  /// The block the parent process passed as `name` (listed in the
  /// environment variable `env_name`). Every call for one name returns the
  /// same block.
  /// @returns `errc::buffer_unavailable` naming what the parent passed when
  ///          it passed no block of that name.
  static caf::expected<shared_buffer> from_parent(const std::string& name);

  /// Whether the handle refers to a block.
  bool valid() const noexcept {
    return block_ != nullptr;
  }

  /// The block's size in bytes (0 for an invalid handle).
  size_t size() const noexcept;

  /// The block's first byte.
  std::byte* data() const noexcept;

  /// Whether other processes can map the block (`make_process_shared`,
  /// `map`, `from_parent`).
  bool process_shared() const noexcept;

  /// The memfd behind a process-shared block, owned by the block (-1 for a
  /// block of this process only). A child process that gets it (without
  /// FD_CLOEXEC) maps the block with `map(fd, size())`.
  int fd() const noexcept;

  /// How many handles (and views) share the block.
  long use_count() const noexcept {
    return block_.use_count();
  }

  /// A view of `length` elements of type `T` starting `byte_offset` bytes
  /// into the block; by default all elements from the offset on.
  /// @returns `errc::misaligned` if the offset is not a multiple of
  ///          `sizeof(T)`, `errc::out_of_range` if the view does not fit.
  template<class T>
  caf::expected<atomic_view<T>>
  view(size_t byte_offset = 0,
       size_t length = std::numeric_limits<size_t>::max()) const {
    if (!valid())
      return make_error(errc::out_of_range, "an invalid buffer has no view");
    if (byte_offset % sizeof(T) != 0)
      return make_error(errc::misaligned, "offset "
                                            + std::to_string(byte_offset)
                                            + " is not a multiple of "
                                            + std::to_string(sizeof(T)));
    if (byte_offset > size())
      return make_error(errc::out_of_range,
                        "offset " + std::to_string(byte_offset)
                          + " is past the buffer's " + std::to_string(size())
                          + " bytes");
    auto available = (size() - byte_offset) / sizeof(T);
    if (length == std::numeric_limits<size_t>::max())
      length = available;
    if (length > available)
      return make_error(errc::out_of_range,
                        std::to_string(length) + " elements from offset "
                          + std::to_string(byte_offset)
                          + " exceed the buffer's " + std::to_string(size())
                          + " bytes");
    return atomic_view<T>{block_, reinterpret_cast<T*>(data() + byte_offset),
                          length};
  }

  friend bool operator==(const shared_buffer& x, const shared_buffer& y) {
    return x.block_ == y.block_;
  }

  friend bool operator!=(const shared_buffer& x, const shared_buffer& y) {
    return !(x == y);
  }

private:
  std::shared_ptr<internal::buffer_block> block_;
};

/// The error a serializer gets for a buffer: it cannot leave its node.
caf::error not_shareable_error();

/// Buffers travel only between actors of one node (a child process gets a
/// process-shared block by its fd, at start): any serializer (BASP to
/// another node, a persistent store) gets `errc::not_shareable`; printing
/// shows the size.
/// @relates shared_buffer
template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, shared_buffer& x) {
  if constexpr (std::is_same_v<typename Inspector::result_type, void>) {
    auto bytes = x.size();
    f(caf::meta::type_name("shared_buffer"), bytes);
  } else {
    return not_shareable_error();
  }
}

} // namespace switchboard::actors

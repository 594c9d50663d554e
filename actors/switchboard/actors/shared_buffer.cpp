// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/shared_buffer.hpp"

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "switchboard/actors/internal/futex.hpp"

namespace switchboard::actors {

namespace internal {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "a 64-bit element is woken through its low half, which comes "
              "first only on little-endian machines");

// Who waits where, for `waiting`. The table follows the data in the block
// itself, so every process that maps the block sees every waiter. A slot
// packs an element's key (its index in 4-byte units, plus 1) in its high
// half and how many wait on it in its low half, and changes only by
// compare-and-swap: a process that dies in the middle of an update leaves
// no lock behind. Two slots may hold one key (a waiter takes the first
// slot it can), so a count adds them up. Nothing on the notify path reads
// the table: `notify` is one futex call, as in a raw futex program.
struct waiter_table {
  static constexpr size_t size = 512;
  uint64_t slots[size];
};

static_assert(sizeof(waiter_table) == 4096);

struct buffer_block {
  // The data, then the waiter table, in one allocation or one mapping.
  std::byte* data = nullptr;
  size_t size = 0;
  waiter_table* table = nullptr;
  // A process-shared block: its memfd and the length of its mapping.
  int fd = -1;
  size_t mapped = 0;

  bool process_shared() const noexcept {
    return fd >= 0;
  }

  ~buffer_block() {
    if (process_shared()) {
      munmap(data, mapped);
      ::close(fd);
    } else {
      std::free(data);
    }
  }
};

namespace {

constexpr uint64_t count_mask = 0xffffffffu;

// Cleared the first time futex_waitv turns out to be missing.
std::atomic<bool> waitv_usable{true};

uint32_t key_of(const buffer_block& block, const void* addr) {
  auto offset =
    static_cast<size_t>(static_cast<const std::byte*>(addr) - block.data);
  return static_cast<uint32_t>(offset / 4 + 1);
}

// Where this thread starts looking for a slot: a cache line of the table
// picked by its thread id, so that two threads taking turns on one element
// (a ping-pong) count themselves in two lines, not by turns in one line
// that crosses between their cores at every wait.
size_t lane() {
  static thread_local size_t x =
    (static_cast<size_t>(::syscall(SYS_gettid)) * size_t{2654435761u} >> 7)
    % (waiter_table::size / 8) * 8;
  return x;
}

// Counts a waiter on `key`; returns its slot, or null when the table is
// full (the wait goes on uncounted).
uint64_t* enlist(waiter_table& t, uint32_t key) {
  auto start = (key * size_t{2654435761u} + lane()) % waiter_table::size;
  for (size_t j = 0; j < waiter_table::size; ++j) {
    auto slot = &t.slots[(start + j) % waiter_table::size];
    auto v = __atomic_load_n(slot, __ATOMIC_SEQ_CST);
    for (;;) {
      uint64_t next;
      if (v == 0)
        next = (uint64_t{key} << 32) | 1;
      else if ((v >> 32) == key)
        next = v + 1;
      else
        break;
      if (__atomic_compare_exchange_n(slot, &v, next, false, __ATOMIC_SEQ_CST,
                                      __ATOMIC_SEQ_CST))
        return slot;
    }
  }
  return nullptr;
}

// Uncounts the waiter `enlist` put in `slot`. The slot keeps its key while
// any count of it remains, so this waiter's is still there.
void delist(uint64_t* slot) {
  if (slot == nullptr)
    return;
  auto v = __atomic_load_n(slot, __ATOMIC_SEQ_CST);
  for (;;) {
    auto next = (v & count_mask) == 1 ? 0 : v - 1;
    if (__atomic_compare_exchange_n(slot, &v, next, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST))
      return;
  }
}

uint64_t load_width(const void* addr, size_t width) {
  if (width == 4)
    return __atomic_load_n(static_cast<const uint32_t*>(addr),
                           __ATOMIC_SEQ_CST);
  return __atomic_load_n(static_cast<const uint64_t*>(addr), __ATOMIC_SEQ_CST);
}

} // namespace

caf::expected<wait_result> wait_at(buffer_block& block, const void* addr,
                                   size_t width, uint64_t expected,
                                   caf::timespan timeout) {
  using clock = std::chrono::steady_clock;
  // The kernel compares again as it queues the waiter; this first look
  // spares the count and the system call.
  if (load_width(addr, width) != expected)
    return wait_result::not_equal;
  bool shared = block.process_shared();
  // Beyond a year counts as forever (and keeps `now + timeout` in range).
  bool forever = timeout > std::chrono::hours(24 * 365);
  auto deadline = forever ? clock::time_point::max() : clock::now() + timeout;
  auto slot = enlist(*block.table, key_of(block, addr));
  caf::expected<wait_result> result = wait_result::timed_out;
  bool after_signal = false;
  for (;;) {
    auto left = forever ? std::chrono::nanoseconds{-1}
                        : std::chrono::nanoseconds{deadline - clock::now()};
    if (!forever && left.count() <= 0)
      break;
    auto status = width == 4 || !waitv_usable
                    ? futex_wait(static_cast<const uint32_t*>(addr),
                                 static_cast<uint32_t>(expected), left, shared)
                    : futex_wait64(static_cast<const uint64_t*>(addr), expected,
                                   left, shared);
    if (status == futex_status::unsupported && width == 8 && waitv_usable) {
      // No futex_waitv here: the low half alone, which a change of the
      // high half alone does not wake.
      waitv_usable = false;
      continue;
    }
    if (status == futex_status::unsupported || status == futex_status::failed) {
      result = make_error(errc::buffer_unavailable,
                          std::string{"futex: "} + std::strerror(errno));
      break;
    }
    if (status == futex_status::woken) {
      result = wait_result::ok;
      break;
    }
    if (status == futex_status::changed) {
      // Changed before the kernel queued this waiter. After a signal broke
      // the first wait, the change came while waiting: a notify's work.
      result = after_signal ? wait_result::ok : wait_result::not_equal;
      break;
    }
    if (status == futex_status::timed_out)
      break;
    // Interrupted by a signal: wait on for the rest of the time.
    after_signal = true;
  }
  delist(slot);
  return result;
}

size_t notify_at(buffer_block& block, const void* addr, size_t count) {
  auto n = count > size_t{INT_MAX} ? INT_MAX : static_cast<int>(count);
  if (n == 0)
    return 0;
  auto woken =
    futex_wake(static_cast<const uint32_t*>(addr), n, block.process_shared());
  return woken > 0 ? static_cast<size_t>(woken) : 0;
}

size_t waiting_at(buffer_block& block, const void* addr) {
  auto key = key_of(block, addr);
  size_t result = 0;
  for (auto& slot : block.table->slots) {
    auto v = __atomic_load_n(&slot, __ATOMIC_SEQ_CST);
    if ((v >> 32) == key)
      result += v & count_mask;
  }
  return result;
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

namespace {

caf::error unavailable(const std::string& what) {
  return make_error(errc::buffer_unavailable, what);
}

caf::error system_unavailable(const std::string& what) {
  return unavailable(what + ": " + std::strerror(errno));
}

// The size a request of `bytes` gets, or the error.
caf::expected<size_t> rounded_size(size_t bytes) {
  if (bytes == 0)
    return make_error(errc::out_of_range,
                      "a shared buffer needs at least 1 byte");
  if (bytes > shared_buffer::max_size)
    return make_error(errc::out_of_memory,
                      std::to_string(bytes) + " bytes is more than the "
                        + std::to_string(shared_buffer::max_size)
                        + " a shared buffer may have");
  return (bytes + shared_buffer::alignment - 1) / shared_buffer::alignment
         * shared_buffer::alignment;
}

// The number `text` spells in decimal digits, if that is all it holds.
std::optional<uint64_t> digits(const std::string& text) {
  if (text.empty() || text.size() > 19)
    return std::nullopt;
  uint64_t result = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    result = result * 10 + static_cast<uint64_t>(c - '0');
  }
  return result;
}

// The whole length of a process-shared block of `size` data bytes.
size_t mapped_length(size_t size) {
  return size + sizeof(internal::waiter_table);
}

} // namespace

caf::expected<shared_buffer> shared_buffer::make(size_t bytes) {
  auto size = rounded_size(bytes);
  if (!size)
    return std::move(size.error());
  auto total = *size + sizeof(internal::waiter_table);
  auto mem = static_cast<std::byte*>(std::aligned_alloc(alignment, total));
  if (mem == nullptr)
    return make_error(errc::out_of_memory,
                      "cannot allocate " + std::to_string(total) + " bytes");
  std::memset(mem, 0, total);
  shared_buffer result;
  result.block_ = std::make_shared<internal::buffer_block>();
  result.block_->data = mem;
  result.block_->size = *size;
  result.block_->table = reinterpret_cast<internal::waiter_table*>(mem + *size);
  return result;
}

namespace {

// Maps the block behind `fd` (which it takes) with `size` data bytes into
// `out`.
caf::error map_owned(int fd, size_t size,
                     std::shared_ptr<internal::buffer_block>& out) {
  auto length = mapped_length(size);
  auto mem = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) {
    auto err = system_unavailable("mmap of a shared buffer");
    ::close(fd);
    return err;
  }
  out = std::make_shared<internal::buffer_block>();
  out->data = static_cast<std::byte*>(mem);
  out->size = size;
  out->table = reinterpret_cast<internal::waiter_table*>(out->data + size);
  out->fd = fd;
  out->mapped = length;
  return caf::none;
}

} // namespace

caf::expected<shared_buffer>
shared_buffer::make_process_shared(size_t bytes, const std::string& name) {
  auto size = rounded_size(bytes);
  if (!size)
    return std::move(size.error());
  // Close-on-exec: a child gets the fd only where a spawn hands it over.
  auto fd = memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0)
    return system_unavailable("memfd_create");
  if (ftruncate(fd, static_cast<off_t>(mapped_length(*size))) != 0) {
    auto err =
      system_unavailable("ftruncate of a shared buffer to "
                         + std::to_string(mapped_length(*size)) + " bytes");
    ::close(fd);
    return err;
  }
  shared_buffer result;
  if (auto err = map_owned(fd, *size, result.block_))
    return err;
  return result;
}

caf::expected<shared_buffer> shared_buffer::map(int fd, size_t bytes) {
  if (bytes == 0 || bytes % alignment != 0 || bytes > max_size)
    return unavailable("a shared buffer's size is a multiple of "
                       + std::to_string(alignment) + " up to "
                       + std::to_string(max_size) + ", not "
                       + std::to_string(bytes));
  struct stat st;
  if (fstat(fd, &st) != 0)
    return system_unavailable("fd " + std::to_string(fd));
  if (!S_ISREG(st.st_mode)
      || static_cast<size_t>(st.st_size) < mapped_length(bytes))
    return unavailable("fd " + std::to_string(fd) + " holds "
                       + std::to_string(st.st_size) + " bytes, not a shared "
                       + "buffer of " + std::to_string(bytes));
  auto own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0)
    return system_unavailable("dup of fd " + std::to_string(fd));
  shared_buffer result;
  if (auto err = map_owned(own, bytes, result.block_))
    return err;
  return result;
}

caf::expected<shared_buffer>
shared_buffer::from_parent(const std::string& name) {
  static std::mutex mtx;
  static std::map<std::string, shared_buffer> mapped;
  std::lock_guard<std::mutex> guard{mtx};
  if (auto i = mapped.find(name); i != mapped.end())
    return i->second;
  auto env = std::getenv(env_name);
  std::string list = env != nullptr ? env : "";
  // NAME=FD:BYTES, comma-separated.
  size_t start = 0;
  while (start < list.size()) {
    auto end = list.find(',', start);
    auto item = list.substr(start, end - start);
    start = end == std::string::npos ? list.size() : end + 1;
    auto eq = item.find('=');
    if (eq == std::string::npos || item.compare(0, eq, name) != 0
        || eq != name.size())
      continue;
    auto colon = item.find(':', eq);
    auto fd = digits(item.substr(eq + 1, colon - eq - 1));
    auto bytes = colon == std::string::npos ? std::nullopt
                                            : digits(item.substr(colon + 1));
    if (!fd || !bytes || *fd > INT_MAX)
      return unavailable(std::string{env_name} + " has a malformed entry: "
                         + item + " (expected NAME=FD:BYTES)");
    auto buf = map(static_cast<int>(*fd), static_cast<size_t>(*bytes));
    if (!buf)
      return buf;
    mapped.emplace(name, *buf);
    return buf;
  }
  return unavailable("the parent passed no shared buffer named '" + name + "' ("
                     + env_name + " is "
                     + (env != nullptr ? "\"" + list + "\"" : "not set") + ")");
}

size_t shared_buffer::size() const noexcept {
  return block_ ? block_->size : 0;
}

std::byte* shared_buffer::data() const noexcept {
  return block_ ? block_->data : nullptr;
}

bool shared_buffer::process_shared() const noexcept {
  return block_ && block_->process_shared();
}

int shared_buffer::fd() const noexcept {
  return block_ ? block_->fd : -1;
}

caf::error not_shareable_error() {
  return make_error(errc::not_shareable,
                    "a shared_buffer cannot leave its node; send its "
                    "contents instead");
}

} // namespace switchboard::actors

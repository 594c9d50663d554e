// switchboard: an embeddable C++ actor runtime. MIT License.

// What a node counts about its actors, and the Prometheus text it prints.
//
// Every named actor or bridge of a node has one `actor_metrics` block, kept
// by the node's `metrics_registry` for the node's lifetime (a restarted
// actor of the same name goes on counting in the same block). The actors
// that make up one entry share its block: a bridge's connections, a pool's
// workers, a cluster's instances. Counters are relaxed atomics that any
// thread may bump and read; nothing here takes a lock on a message's path.
//
// Most counting is done for the actor by `metered<Base>` (metered.hpp):
// messages in, out and processed, processing time, the latency of the
// requests it makes, error replies, dead letters, and trace. A kind adds
// what only it knows: bytes, connections, drops, a child's pid.

#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace switchboard {

/// Adds `n` to the counter `x`: a plain load and store where one writer does
/// it (`alone`; readers on other threads still see whole values), else a
/// locked add.
inline void add_count(std::atomic<uint64_t>& x, uint64_t n,
                      bool alone) noexcept {
  if (alone)
    x.store(x.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  else
    x.fetch_add(n, std::memory_order_relaxed);
}

namespace detail {

/// `histogram::bounds_ns` in `fast_stamp`'s ticks (the same values where
/// the stamps are nanoseconds), set once before `tsc_clock` becomes 1.
extern std::array<uint64_t, 22> bounds_ticks;

/// This thread's slot in every `sharded_counter`, plus one (0: not yet
/// picked).
extern thread_local uint32_t counter_slot;

/// Picks this thread's slot, the first time it counts.
uint32_t pick_counter_slot() noexcept;

} // namespace detail

/// A latency histogram with fixed buckets from 1 us to 10 s (1-2.5-5 steps),
/// as Prometheus wants them: cumulative on output, plus a count and a sum.
/// It counts in `fast_stamp`'s ticks, which `read` turns into nanoseconds:
/// an observation on a message's path is a subtraction and a few compares.
class histogram {
public:
  /// The buckets' upper bounds, in nanoseconds.
  static constexpr std::array<uint64_t, 22> bounds_ns = {
    1'000,         2'500,         5'000,       10'000,        25'000,
    50'000,        100'000,       250'000,     500'000,       1'000'000,
    2'500'000,     5'000'000,     10'000'000,  25'000'000,    50'000'000,
    100'000'000,   250'000'000,   500'000'000, 1'000'000'000, 2'500'000'000,
    5'000'000'000, 10'000'000'000};

  /// Counts the time from `fast_stamp` `from` to `to`. Any thread; with
  /// `alone`, the caller is the only one that observes (see
  /// `actor_metrics::alone`), which spares two locked instructions.
  void observe(uint64_t from, uint64_t to, bool alone = false) noexcept {
    auto ticks = to > from ? to - from : 0;
    size_t i = 0;
    while (i < detail::bounds_ticks.size() && ticks > detail::bounds_ticks[i])
      ++i;
    add_count(buckets_[i], 1, alone);
    add_count(sum_ticks_, ticks, alone);
  }

  /// A consistent-enough copy for printing.
  struct snapshot {
    /// Cumulative counts per bound, then the total (the `+Inf` bucket).
    std::array<uint64_t, bounds_ns.size() + 1> cumulative{};
    uint64_t sum_ns = 0;
  };

  snapshot read() const noexcept;

  /// Observations so far.
  uint64_t count() const noexcept;

private:
  std::array<std::atomic<uint64_t>, bounds_ns.size() + 1> buckets_{};
  std::atomic<uint64_t> sum_ticks_{0};
};

/// A counter that many threads bump on a message's path, as the senders to
/// one actor do. Each of the first `slots - 1` threads that count (the
/// scheduler's workers, the io loops) has a slot of its own, written with
/// a plain load and store: a locked add here was the largest single cost
/// of counting a one-way message. Threads past them share the last slot,
/// with a locked add. A thread's slot passes to a new thread once it ends.
/// A reader sums the slots.
class sharded_counter {
public:
  static constexpr uint32_t slots = 16;

  void add(uint64_t n = 1) noexcept {
    auto s = detail::counter_slot;
    if (s == 0)
      s = detail::pick_counter_slot();
    auto& x = slots_[s - 1];
    if (s < slots)
      x.store(x.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    else
      x.fetch_add(n, std::memory_order_relaxed);
  }

  /// The sum of every thread's counts.
  uint64_t load(std::memory_order order = std::memory_order_relaxed) const
    noexcept {
    uint64_t total = 0;
    for (auto& x : slots_)
      total += x.load(order);
    return total;
  }

private:
  std::array<std::atomic<uint64_t>, slots> slots_{};
};

/// Why a message or frame was dropped, for `switchboard_dropped_total`.
enum class drop_reason : uint8_t {
  /// An outbound queue over its high-water mark (`overflow = "drop"`).
  overflow,
  /// A datagram over `max-frame`.
  oversize,
  /// A one-way message to another node that could not be delivered (past
  /// `max-held`, held too long, or lost with the node).
  undelivered,
};

/// The number of `drop_reason`s.
constexpr size_t drop_reasons = 3;

/// The label value of `x`.
const char* to_string(drop_reason x);

/// One live trace (`switchboard trace`): gets a line per message the traced
/// actor receives or sends, from whichever thread sends it. An
/// implementation limits itself (count, rate) and ends the trace by
/// clearing `actor_metrics::tracer`.
class trace_sink {
public:
  virtual ~trace_sink() = default;

  /// One message: `direction` is "in" (to the traced actor) or "out" (from
  /// it); `payload` is the message, cut to a line by the caller.
  virtual void emit(const char* direction, const std::string& from,
                    const std::string& to, std::string payload) = 0;
};

/// The counters of one named actor (and the actors that share its block).
struct actor_metrics {
  actor_metrics(std::string actor_name, std::string actor_kind)
      : name(std::move(actor_name)), kind(std::move(actor_kind)) {}

  /// The `actor` and `kind` labels.
  const std::string name;
  const std::string kind;

  // Written by senders (any thread): cache lines of their own, so that the
  // actor's own counting below does not bounce them between cores.

  /// Messages put in the mailbox (dead letters included).
  alignas(64) sharded_counter received;
  /// Messages that arrived after the actor had exited.
  std::atomic<uint64_t> dead_letters{0};

  // Written by the actor (or the actors sharing the block), from the next
  // cache line on.

  /// Messages the actor sent to other metered actors (replies included).
  alignas(64) std::atomic<uint64_t> sent{0};
  /// Bytes from and to the outside world (bridges).
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  /// Error replies the actor sent, and errors a bridge met (bad input).
  std::atomic<uint64_t> errors{0};
  /// Restarts under the restart policy (children, workers, connections).
  std::atomic<uint64_t> restarts{0};
  /// Drops, by reason.
  std::array<std::atomic<uint64_t>, drop_reasons> dropped{};
  /// Open connections (connection-bearing bridges).
  std::atomic<int64_t> connections{0};
  /// A child process's pid while it runs, else 0; -1: not a child.
  std::atomic<int64_t> pid{-1};
  /// When the child started (steady clock, ns), if `pid` > 0.
  std::atomic<int64_t> started_ns{0};
  /// Where this actor's requests and one-way messages went: the first
  /// `edge_slots` metered receivers each have a count (the topology's
  /// edges, with rates, for the dashboard); the rest count in
  /// `edges_other`. Replies are not edges.
  struct edge {
    std::atomic<const actor_metrics*> to{nullptr};
    std::atomic<uint64_t> count{0};
  };
  static constexpr size_t edge_slots = 8;
  std::array<edge, edge_slots> edges{};
  std::atomic<uint64_t> edges_other{0};

  /// Counts a message from this actor to `to`'s (`alone`: as in
  /// `histogram::observe`).
  void count_edge(const actor_metrics* to, bool alone) noexcept {
    for (auto& e : edges) {
      auto t = e.to.load(std::memory_order_acquire);
      if (t == nullptr) {
        // The first message to `to` takes a free slot (or finds that a
        // sender on another thread took it for `to` just now).
        if (e.to.compare_exchange_strong(t, to, std::memory_order_acq_rel)
            || t == to) {
          e.count.fetch_add(1, std::memory_order_relaxed);
          return;
        }
      }
      if (t == to) {
        add_count(e.count, 1, alone);
        return;
      }
    }
    edges_other.fetch_add(1, std::memory_order_relaxed);
  }

  /// Messages the actor handled.
  alignas(64) std::atomic<uint64_t> handled{0};
  /// Time spent handling one message: each message that starts a run of
  /// the actor, each answer, and one in `metered_base::timed_every` of the
  /// messages that follow back to back in a run (see `metered_base`).
  histogram processing;
  /// Time from a request this actor sent to its answer.
  histogram requests;

  /// Counts a drop.
  void drop(drop_reason why, uint64_t n = 1) noexcept {
    dropped[static_cast<size_t>(why)].fetch_add(n, std::memory_order_relaxed);
  }

  /// Messages the actor handled.
  uint64_t processed() const noexcept {
    return handled.load(std::memory_order_relaxed);
  }

  /// Messages waiting in the mailbox (or mailboxes) now, the one being
  /// handled included.
  int64_t mailbox_depth() const noexcept;

  /// Messages in and out per second over the last tick (`tick`); `rates()`
  /// has a fresher figure.
  alignas(64) std::atomic<double> in_per_s{0};
  std::atomic<double> out_per_s{0};

  /// Whether a metered actor counts into this block (an actor of a kind
  /// that is not metered leaves it unattached: no series, no trace).
  alignas(64) std::atomic<bool> attached{false};

  /// How many metered actors count into this block now (a pool's workers,
  /// a bridge's connections share one; an actor leaves it when it ends).
  std::atomic<uint32_t> writers{0};

  /// Whether one actor alone counts into this block. Its own counters
  /// (`sent`, the edges, the histograms) are then written by one thread at
  /// a time, in turn as CAF runs the actor, and need no locked
  /// instructions. The acquire pairs with the release of an actor that
  /// left: its last counts come before its successor's. (A second actor
  /// that attaches while the first is counting, as a pool's restarted
  /// worker may, can lose one count of that moment.)
  bool alone() const noexcept {
    return writers.load(std::memory_order_acquire) == 1;
  }

  /// Set while a trace runs; `metered` reads it on every message, so an
  /// untraced actor pays one relaxed load.
  std::atomic<bool> traced{false};

  /// The running trace, if any. Read with `tracer_load`.
  std::shared_ptr<trace_sink> tracer_load() const {
    return std::atomic_load(&tracer_);
  }

  /// Starts a trace; false if one runs already.
  bool start_trace(std::shared_ptr<trace_sink> sink);

  /// Ends the trace `sink` (if it is still the one).
  void end_trace(const trace_sink* sink);

  /// Messages in and out per second: since the last tick when that is long
  /// enough to say something (a status right after a burst shows it), else
  /// over the last tick.
  std::pair<double, double> rates() const;

  /// Drops of every reason.
  uint64_t dropped_total() const noexcept;

private:
  friend class metrics_registry;
  std::shared_ptr<trace_sink> tracer_;
  // `tick`'s last counts and time.
  std::atomic<uint64_t> last_in_{0};
  std::atomic<uint64_t> last_out_{0};
  std::atomic<int64_t> last_tick_ns_{0};
};

/// One peer node as the peer manager sees it.
struct peer_metrics {
  /// Whether the node is connected now.
  std::atomic<bool> up{false};
  /// The last measured round trip (heartbeat), in nanoseconds; 0: none yet.
  std::atomic<int64_t> round_trip_ns{0};
};

/// A node's metric blocks, by actor name. Thread-safe.
class metrics_registry {
public:
  explicit metrics_registry(std::string node_name);

  /// The block named `name`, made on first use. The pointer stays valid for
  /// the registry's lifetime.
  actor_metrics* block(const std::string& name, const std::string& kind);

  /// The block named `name`, or null.
  actor_metrics* find(const std::string& name) const;

  /// The peer `name`'s figures, made on first use. Valid as `block`'s.
  peer_metrics* peer(const std::string& name);

  /// Prometheus text format 0.0.4: every family, `switchboard_` prefixed,
  /// base units, labels `node`, `actor`, `kind`.
  std::string prometheus() const;

  /// One edge of the topology as counted: messages (not replies) `from`'s
  /// actors sent to `to`'s.
  struct edge_count {
    std::string from;
    std::string to;
    uint64_t messages;
  };

  /// Every counted edge, by sender's name.
  std::vector<edge_count> edges() const;

  /// Updates every block's rates; the node calls it once a second.
  void tick();

  /// The node's name (the `node` label).
  const std::string& node_name() const noexcept {
    return node_;
  }

private:
  std::string node_;
  mutable std::mutex mtx_;
  std::map<std::string, std::unique_ptr<actor_metrics>> blocks_;
  std::map<std::string, std::unique_ptr<peer_metrics>> peers_;
  int64_t started_ns_;
};

/// Steady-clock nanoseconds.
int64_t now_ns() noexcept;

namespace detail {

/// 1 where the TSC serves (the kernel's clock, or invariant by the CPU's
/// flags), 0 where not, -1 until the first stamp asks.
extern std::atomic<int> tsc_clock;

/// Nanoseconds per TSC tick, measured once against the steady clock before
/// `tsc_clock` becomes 1.
extern std::atomic<double> ns_per_tick;

/// `fast_stamp` where `tsc_clock` is not 1 (it asks, the first time).
uint64_t slow_stamp() noexcept;

} // namespace detail

/// A time stamp for durations on a message's path: the CPU's time-stamp
/// counter where it is invariant (x86-64: the kernel's clock, or
/// constant_tsc and nonstop_tsc), which costs a few nanoseconds where the
/// steady clock costs about 25; else `now_ns()`.
/// Inline: it runs on a message's path.
inline uint64_t fast_stamp() noexcept {
#if defined(__x86_64__)
  // Acquire (a plain load on x86): the tick's length and
  // `detail::bounds_ticks` were set before.
  if (detail::tsc_clock.load(std::memory_order_acquire) == 1)
    return __builtin_ia32_rdtsc();
#endif
  return detail::slow_stamp();
}

/// What /proc says of a process.
struct process_stats {
  /// Resident memory in bytes.
  int64_t rss_bytes = 0;
  /// User and system CPU time in seconds.
  double cpu_seconds = 0;
};

/// Reads /proc/PID (0: this process); zeros if it is gone.
process_stats read_process(int64_t pid);

} // namespace switchboard

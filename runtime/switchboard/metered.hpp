// switchboard: an embeddable C++ actor runtime. MIT License.

// `metered<Base>`: a CAF actor type that counts its messages into the
// `actor_metrics` block of the entry it belongs to (metrics.hpp).
//
// CAF 0.17 ships without metrics (its actor profiler is compiled out in
// Debian's build), so the two places every message passes are overridden:
// `enqueue`, which runs on the sender's thread, and `consume`, which runs
// the handler on the actor's own. While a metered actor's handler runs, a
// thread-local names it, so the `enqueue` of a message it sends knows its
// sender: that gives "sent" counts, the latency of the requests it makes
// (request id to answer, on its own thread) and the "out" side of a trace
// without touching CAF's send paths.
//
// Every loop actor and thread actor is metered; so are the scheduler
// actors of the built-in kinds. An actor counts nothing until a block is
// attached (the node does it for named entries; a kind hands its block to
// the actors it spawns itself); with `[node] metrics = false` none is.
//
// Usage:
// ~~~
// struct my_actor : metered<caf::event_based_actor> { ... };
// // or, for a function-based actor:
// caf::behavior impl(metered_actor* self) { ... }
// ~~~

#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include <caf/actor_config.hpp>
#include <caf/detail/sync_request_bouncer.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/execution_unit.hpp>
#include <caf/invoke_message_result.hpp>
#include <caf/mailbox_element.hpp>

#include "switchboard/metrics.hpp"

namespace switchboard {

/// The part of `metered<Base>` that does not depend on `Base`. Not
/// polymorphic: it adds 8 bytes to an actor (connections are many; the
/// requests an actor waits for are kept in a table beside it).
class metered_base {
  // The metered actor whose handler runs on this thread (or that a loop
  // callback acts as), and its control block.
  struct running_actor {
    metered_base* self = nullptr;
    const caf::actor_control_block* ctrl = nullptr;
  };

public:
  /// The block this actor counts into, or null.
  actor_metrics* metrics() const noexcept {
    return reinterpret_cast<actor_metrics*>(
      state_.load(std::memory_order_acquire) & ~exiting_bit);
  }

  /// Attaches `m` unless a block is attached already. Any thread.
  void attach_metrics(actor_metrics* m) noexcept {
    if (m == nullptr)
      return;
    // Counted as a writer before the actor can see the block, so that no
    // other actor of the block takes itself to be alone meanwhile.
    m->writers.fetch_add(1, std::memory_order_acq_rel);
    uintptr_t none = 0;
    if (state_.compare_exchange_strong(none, reinterpret_cast<uintptr_t>(m),
                                       std::memory_order_acq_rel))
      m->attached.store(true, std::memory_order_relaxed);
    else
      m->writers.fetch_sub(1, std::memory_order_release);
  }

  /// The metered actor whose handler runs on this thread, or null.
  static metered_base* running() noexcept {
    return current_.self;
  }

  /// Makes `self` (a metered actor) the running actor for a scope outside
  /// its handlers: a loop callback in which a bridge sends on its own
  /// behalf (a frame that became a request), so the send counts as its own.
  class acting_as {
  public:
    template<class Actor>
    explicit acting_as(Actor* self) noexcept : prev_(current_) {
      current_ = {self, self->ctrl()};
    }
    /// The same for an actor known by its parts (`self` may be null: then
    /// nothing is counted as its own).
    acting_as(metered_base* self, const caf::actor_control_block* ctrl) noexcept
        : prev_(current_) {
      current_ = {self, ctrl};
    }
    ~acting_as() {
      current_ = prev_;
    }
    acting_as(const acting_as&) = delete;
    acting_as& operator=(const acting_as&) = delete;

  private:
    running_actor prev_;
  };

protected:
  // Leaves the block as its actor ends (its cleanup, which the node's
  // actor system awaits, so the block is still there): the next actor of
  // the block (a restarted one) may count alone.
  void leave_metrics() noexcept {
    if (auto m = metrics())
      m->writers.fetch_sub(1, std::memory_order_release);
  }

  // Marks the actor as ending, before CAF closes its mailbox (`cleanup`).
  void mark_exiting() noexcept {
    state_.fetch_or(exiting_bit, std::memory_order_seq_cst);
  }

  // Whether a message this thread just put in the mailbox (or tried to)
  // can have found it closed: only once the actor is ending. A push that
  // found the mailbox closed read CAF's close, which came after
  // `mark_exiting`, so this load sees the bit. The actor's own line, which
  // the sender read anyway: asking the mailbox itself on every send
  // fetched its contended line once more.
  bool maybe_exiting() const noexcept {
    return (state_.load(std::memory_order_relaxed) & exiting_bit) != 0;
  }

  // The actor that runs on this thread now (`run_scope`), when its last
  // timed message ended (0: none yet, or the message before was not timed),
  // and how many messages it has handled in this run.
  struct batch {
    const metered_base* self = nullptr;
    uint64_t last = 0;
    uint32_t n = 0;
  };

public:
  /// Of the messages an actor handles back to back in one run, after the
  /// first, one in this many is timed for `actor_metrics::processing` (all
  /// are counted in `handled`). Reading the time-stamp counter costs about
  /// 10 ns, a twentieth of a one-way message between two actors that do
  /// nothing with it; an actor that is not flooded starts a run with
  /// nearly every message, and each of those is timed.
  static constexpr uint32_t timed_every = 8;

protected:
  // Whether `x` is traffic. Urgent messages are the runtime's own (status
  // queries, stop and wake-up signals): a dashboard or `status --watch`
  // asking every second must not show up. Nor a response without a sender:
  // the time-out CAF delivers for every request, also after its answer
  // came (where it is dropped unseen).
  static bool counts(const caf::mailbox_element& x) noexcept {
    return !x.mid.is_urgent_message() && (!x.mid.is_response() || x.sender);
  }

  // What one send counts as, worked out before the receiver's enqueue and
  // counted (`count`) before or after it.
  struct send_count {
    actor_metrics* to = nullptr;
    metered_base* from = nullptr;
    actor_metrics* from_block = nullptr;
    caf::message_id mid;
    bool error = false;
  };

  // The receiver's side of a send, on the sender's thread, before the
  // enqueue: `self` is the receiver (its id names it in a trace line). A
  // trace line goes out now.
  send_count on_enqueue(caf::mailbox_element& x,
                        const caf::abstract_actor* self) noexcept {
    send_count c;
    if (!counts(x))
      return c;
    c.to = metrics();
    c.from = current_.self;
    c.from_block = c.from != nullptr ? c.from->metrics() : nullptr;
    // An answer that CAF sends on another's behalf (a request to an actor
    // that has exited bounces back from it) is not the running actor's.
    if (c.from_block != nullptr && x.mid.is_response() && x.sender
        && x.sender.get() != current_.ctrl)
      c.from_block = nullptr;
    c.mid = x.mid;
    c.error = c.from_block != nullptr && x.mid.is_response()
              && x.content().match_elements<caf::error>();
    if ((c.to != nullptr && c.to->traced.load(std::memory_order_relaxed))
        || (c.from_block != nullptr
            && c.from_block->traced.load(std::memory_order_relaxed)))
      trace(x, c.to, c.from_block, self);
    return c;
  }

  // Counts a send that `on_enqueue` worked out. Also after the enqueue, a
  // request's answer cannot be handled before this (its sent time is
  // stored here): it goes to the running actor, whose handler (or loop
  // callback) is still on this thread.
  static void count(const send_count& c) noexcept {
    if (c.to != nullptr)
      c.to->received.add();
    if (c.from_block != nullptr) {
      c.from->on_send(*c.from_block, c.mid, c.error);
      if (c.to != nullptr && c.to != c.from_block && !c.mid.is_response())
        c.from_block->count_edge(c.to, c.from_block->alone());
    }
  }

  // Runs `consume` as the handler of this actor (whose control block is
  // `ctrl`), counted.
  template<class F>
  caf::invoke_message_result counted(caf::mailbox_element& x,
                                     const caf::actor_control_block* ctrl,
                                     F&& consume) {
    auto m = metrics();
    bool in_run = batch_.self == this;
    if (m == nullptr || !counts(x)) {
      if (in_run)
        batch_.last = 0; // the next message's time starts anew
      return consume();
    }
    auto prev = current_;
    current_ = {this, ctrl};
    auto mid = x.mid;
    // Timed: a message outside a run or the first of one, an answer (its
    // arrival is the end of a request's latency), and one in `timed_every`
    // of the rest. Within a run, a message timed right after a timed one
    // starts where that one ended: one time stamp for it rather than two,
    // at the price of counting CAF's dequeue (tens of nanoseconds) in.
    bool timed =
      !in_run || batch_.n++ % timed_every == 0 || mid.is_response();
    uint64_t t0 = 0;
    if (timed)
      t0 = in_run && batch_.last != 0 ? batch_.last : fast_stamp();
    // What the handler sends next is on the critical path of a round trip:
    // the answer's latency is taken now (`t0`) and recorded after it.
    auto result = consume();
    auto alone = m->alone();
    add_count(m->handled, 1, alone);
    if (timed) {
      auto t1 = fast_stamp();
      m->processing.observe(t0, t1, alone);
      if (in_run)
        batch_.last = t1;
      if (mid.is_response())
        on_answer(*m, mid.integer_value(), t0);
    } else {
      batch_.last = 0;
    }
    current_ = prev;
    return result;
  }

  // Marks one run of this actor on this thread (see `counted`).
  class run_scope {
  public:
    explicit run_scope(const metered_base* self) noexcept : prev_(batch_) {
      batch_ = {self, 0, 0};
    }
    ~run_scope() {
      batch_ = prev_;
    }
    run_scope(const run_scope&) = delete;
    run_scope& operator=(const run_scope&) = delete;

  private:
    batch prev_;
  };

private:
  // This actor (running its handler) sent a message with id `mid` (an
  // error reply if `error`).
  void on_send(actor_metrics& m, caf::message_id mid, bool error) noexcept;

  // An answer to one of this actor's requests arrived (`at`: its
  // `fast_stamp`).
  void on_answer(actor_metrics& m, uint64_t mid, uint64_t at) noexcept;

  // Emits the trace line(s) for `x` (receiver block `m`, sender block `fm`).
  static void trace(caf::mailbox_element& x, actor_metrics* m,
                    actor_metrics* fm,
                    const caf::abstract_actor* receiver) noexcept;

  static thread_local running_actor current_;
  static thread_local batch batch_;

  // The attached block's address (64-byte aligned), and `exiting_bit`. One
  // word: a connection actor must stay within its allocator size class.
  static constexpr uintptr_t exiting_bit = 1;
  std::atomic<uintptr_t> state_{0};
};

/// Runs the CAF actor type `Base`, counting its messages.
template<class Base>
class metered : public Base, public metered_base {
public:
  template<class... Ts>
  explicit metered(caf::actor_config& cfg, Ts&&... xs)
      : Base(cfg, std::forward<Ts>(xs)...) {}

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    auto c = on_enqueue(*ptr, this);
    // A request or a reply is on a round trip's critical path: it is
    // counted once it is in the mailbox. A one-way message is counted
    // first (a stream of them measured faster so).
    if (c.mid.is_async()) {
      count(c);
      Base::enqueue(std::move(ptr), eu);
    } else {
      Base::enqueue(std::move(ptr), eu);
      count(c);
    }
    // A closed mailbox took the message only to drop it (or to bounce a
    // request). Asked after the enqueue, and only of an actor that is
    // ending. (A message that got in in the instant before the mailbox
    // closed counts twice, here and in `drop_mailbox`: rare, at its exit.)
    if (c.to != nullptr && this->maybe_exiting() && this->mailbox().closed())
      c.to->dead_letters.fetch_add(1, std::memory_order_relaxed);
  }

  bool cleanup(caf::error&& reason, caf::execution_unit* host) override {
    mark_exiting();
    drop_mailbox(reason);
    return Base::cleanup(std::move(reason), host);
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    return counted(x, this->ctrl(), [&] { return Base::consume(x); });
  }

  caf::resumable::resume_result resume(caf::execution_unit* eu,
                                       size_t max_throughput) override {
    run_scope run{this};
    return Base::resume(eu, max_throughput);
  }

  void on_cleanup(const caf::error& reason) override {
    leave_metrics();
    Base::on_cleanup(reason);
  }

private:
  // Counts each message left in the mailbox as the actor ends as a dead
  // letter (as Akka does), so that the block's depth settles at 0. CAF's
  // `scheduled_actor::cleanup` would close and drain the mailbox the same
  // way, answering each request with `reason`, but without a count; it
  // leaves a closed mailbox alone.
  void drop_mailbox(const caf::error& reason) {
    auto& box = this->mailbox();
    if (box.closed())
      return;
    box.close();
    this->get_normal_queue().flush_cache();
    this->get_urgent_queue().flush_cache();
    caf::detail::sync_request_bouncer bounce{reason};
    uint64_t n = 0;
    auto drop = [&](const auto&... xs) {
      ++n;
      return bounce(xs...);
    };
    while (box.queue().new_round(1000, drop).consumed_items) {
      // until empty
    }
    if (auto m = metrics(); m != nullptr && n > 0)
      m->dead_letters.fetch_add(n, std::memory_order_relaxed);
  }
};

/// A metered `caf::event_based_actor`, for function-based actors.
class metered_actor : public metered<caf::event_based_actor> {
public:
  using metered::metered;
};

/// Attaches `m` to `handle` if it is a metered actor; false otherwise.
bool attach_metrics(const caf::actor& handle, actor_metrics* m);

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

// Actors that run on an OS thread of their own.
//
// CAF's detached actors (`spawn<caf::detached>`) sleep on a condition
// variable whenever their mailbox runs empty, so every message to an idle
// one pays a wake-up across cores (~10 us here), and their stack size is
// the system's. `thread_actor<Base>` runs `Base` on a thread that, once the
// mailbox is empty, keeps polling it for `spin` before it sleeps on a futex,
// and whose stack is `stack_size` bytes when that is set. Requests that come
// back to back (a worker answering a loop of requests) then never wait for
// a wake-up; an idle actor costs nothing after `spin`.
//
// The technique is the one `loop_actor` uses: the two places where CAF
// schedules an actor, `launch` and `enqueue`, name this actor's own
// execution unit, which runs it on its thread; anything else that unit is
// asked to run (an actor this one sent a message to) goes to CAF's
// scheduler.
//
// Usage:
// ~~~
// thread_options opts;
// opts.spin = std::chrono::microseconds(50);
// auto h = sys.spawn<thread_actor<caf::event_based_actor>>(opts);
// ~~~

#pragma once

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include <caf/actor_config.hpp>
#include <caf/execution_unit.hpp>
#include <caf/mailbox_element.hpp>

#include <switchboard/metered.hpp>

namespace switchboard::actors {

/// How a `thread_actor`'s thread behaves.
struct thread_options {
  /// How long the thread polls an empty mailbox before it sleeps. Zero:
  /// it sleeps at once, like a CAF detached actor.
  std::chrono::nanoseconds spin{0};
  /// The thread's stack size in bytes; 0 takes the system's default.
  /// Rounded up to whole pages and to the system's minimum.
  size_t stack_size = 0;
  /// The thread's name (at most 15 characters show in `top` and `ps`).
  std::string name = "sb.thread";
};

namespace internal {

class actor_thread;

/// Starts the thread for `self`; returns its execution unit, or null (and
/// an error in `err`) if the system refused a thread.
actor_thread* start_actor_thread(caf::actor_system& sys, caf::resumable* self,
                                 const thread_options& opts, std::string& err);

caf::execution_unit* as_execution_unit(actor_thread* t);

/// Asks the thread to end once it is idle (the actor was cleaned up
/// without running, e.g. destroyed while nothing referenced it).
void stop_actor_thread(actor_thread* t);

} // namespace internal

/// Runs the CAF actor type `Base` on an OS thread of its own, metered.
template<class Base>
class thread_actor : public metered<Base> {
public:
  using super = metered<Base>;

  template<class... Ts>
  thread_actor(caf::actor_config& cfg, thread_options opts, Ts&&... xs)
      : super(cfg, std::forward<Ts>(xs)...), opts_(std::move(opts)) {}

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit*) override {
    super::enqueue(std::move(ptr), unit_);
  }

  void launch(caf::execution_unit*, bool lazy, bool hide) override {
    std::string err;
    thread_ =
      internal::start_actor_thread(this->home_system(), this, opts_, err);
    if (thread_ == nullptr)
      throw std::runtime_error("cannot start a thread: " + err);
    unit_ = internal::as_execution_unit(thread_);
    super::launch(unit_, lazy, hide);
  }

  bool cleanup(caf::error&& reason, caf::execution_unit* host) override {
    auto result = super::cleanup(std::move(reason), host);
    // When cleanup runs on the actor's own thread (the usual way), the
    // thread ends as soon as resume returns; otherwise it is told to.
    if (host != unit_)
      internal::stop_actor_thread(thread_);
    return result;
  }

private:
  thread_options opts_;
  internal::actor_thread* thread_ = nullptr;
  // The thread's execution unit. Only dereferenced while the actor runs
  // (an enqueue that finds the mailbox closed does not use it), so it may
  // outlive the thread, which ends with the actor.
  caf::execution_unit* unit_ = nullptr;
};

} // namespace switchboard::actors

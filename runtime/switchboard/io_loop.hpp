// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <caf/actor_addr.hpp>
#include <caf/fwd.hpp>

struct uv_loop_s;

namespace switchboard {

/// The node's one I/O thread: a libuv loop that owns every file descriptor
/// of processes, pipes and sockets.
///
/// Other threads hand it work with `post` (a mutex-guarded queue plus one
/// `uv_async_t`, so a burst of posts costs one wake-up). Actors spawned with
/// `spawn_on_loop` (loop_actor.hpp) run on this thread too: their behaviours
/// may touch loop handles directly, and a reply from a scheduler actor
/// reaches them with exactly one wake-up of this thread.
///
/// Usage:
/// ~~~
/// io_loop loop;
/// loop.start();
/// loop.post([&] { uv_timer_init(loop.native(), &timer); ... });
/// loop.stop(); // closes every handle, joins the thread
/// ~~~
class io_loop {
public:
  io_loop();
  ~io_loop();

  io_loop(const io_loop&) = delete;
  io_loop& operator=(const io_loop&) = delete;

  /// Starts the loop thread. Work posted before runs first, in order.
  void start();

  /// Runs `fn` on the loop thread, after everything posted before it.
  /// Thread-safe. Returns false (and drops `fn`) once the loop has stopped.
  bool post(std::function<void()> fn);

  /// After handling work, keep polling (without sleeping) for `duration`
  /// before blocking again: the next message then costs no wake-up of this
  /// thread, at the price of a busy core for that long after each burst.
  /// 0 (the default) always sleeps. Call before `start`.
  void set_spin(std::chrono::nanoseconds duration);

  /// Registers `fn` to run on the loop thread when `stop` begins, before
  /// remaining handles are closed: bridges close their handles here.
  /// Loop thread only.
  void on_stop(std::function<void()> fn);

  /// For a teardown that needs more turns of the loop than the stop hooks
  /// get (libwebsockets frees a context only after its handles' close
  /// callbacks have run): while holds are taken, `stop` keeps the loop
  /// turning after the stop hooks, for at most a second, before it closes
  /// the handles left open. Each `hold` needs one `release`. Loop thread
  /// only.
  void hold();

  /// Gives back one `hold`. Loop thread only.
  void release();

  /// Stops the loop: ends loop actors that still run, runs what was posted
  /// before, then the stop hooks, closes every remaining handle, ends the
  /// thread and closes the loop. Thread-safe and idempotent: every caller
  /// returns once the loop has stopped. Never call it on the loop thread.
  void stop();

  /// Whether the caller runs on the loop thread.
  bool in_loop_thread() const noexcept;

  /// Whether `start` was called and `stop` was not.
  bool running() const noexcept;

  /// The libuv loop. Touch it only on the loop thread (or before `start`).
  uv_loop_s* native() noexcept;

  /// What `uv_loop_close` returned when the loop stopped (0 on a clean
  /// shutdown, where every handle was closed), or 1 before it stopped.
  int close_result() const noexcept;

  /// Handles that were still open when the loop stopped and had to be
  /// closed by force: each one is a bridge that forgot to close its own.
  int forced_closes() const noexcept;

  /// A loop actor's entry in its loop's list of live actors: intrusive, so
  /// tracking allocates nothing (`loop_actor` holds one).
  struct tracked {
    tracked* prev = nullptr;
    tracked* next = nullptr;
    caf::actor_control_block* ctrl = nullptr;
  };

  /// Loop actors announce themselves here (`loop_actor` does it) so that
  /// `stop` can end any that still run: each gets an urgent kill, handled on
  /// the loop before its handles close. Thread-safe.
  void track(tracked& actor);

  /// Forgets an actor that has exited; it must do so before it is gone.
  /// Thread-safe.
  void untrack(tracked& actor);

  /// On a loop thread, while it runs loop actors' mail or posted tasks:
  /// queues `fn(arg)` to run once that work is all done, before the loop
  /// polls again, and returns true. In a libuv callback on a loop thread
  /// (a read, a timer), `fn(arg)` runs once this turn's callbacks are done
  /// (the loop's check phase). Anywhere else, or once the loop is stopping,
  /// returns false and does nothing. Bridges use it to write what a batch
  /// of messages or of reads produced with one system call.
  static bool at_end_of_turn(void (*fn)(void*), void* arg);

  /// Binds the loop to an actor system: needed before `executor` is used.
  void attach(caf::actor_system& sys);

  /// The CAF execution unit that runs loop actors on this thread and hands
  /// every other actor to the system's scheduler.
  caf::execution_unit* executor() noexcept;

  class impl;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace switchboard

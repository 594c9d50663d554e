// switchboard: an embeddable C++ actor runtime. MIT License.

// The loop thread drains two queues on every wake-up: tasks posted with
// `post` and loop actors that have mail (`exec_later`). Both sit behind one
// mutex; a vector swap empties them, so the lock is held only for a push or a
// swap. `uv_async_send` coalesces: a burst of posts wakes the loop once.

#include "switchboard/io_loop.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/system_messages.hpp>
#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include <pthread.h>
#include <uv.h>

#include "switchboard/assert.hpp"
#include "switchboard/log.hpp"

namespace switchboard {

namespace {

struct turn_end_fn {
  void (*fn)(void*);
  void* arg;
};

// While a loop thread drains its queues: what runs once it is done.
thread_local std::vector<turn_end_fn>* turn_end = nullptr;

// The loop a thread runs, while it runs it.
thread_local io_loop::impl* this_loop = nullptr;

} // namespace

class io_loop::impl : public caf::execution_unit {
public:
  impl() {
    SWITCHBOARD_ASSERT(uv_loop_init(&loop_) == 0);
    SWITCHBOARD_ASSERT(uv_async_init(&loop_, &wake_, on_wake) == 0);
    wake_.data = this;
    SWITCHBOARD_ASSERT(uv_idle_init(&loop_, &spin_) == 0);
    spin_.data = this;
    SWITCHBOARD_ASSERT(uv_check_init(&loop_, &turn_check_) == 0);
    turn_check_.data = this;
  }

  ~impl() override {
    stop();
    if (!stopped_) {
      // Never started: close the async handle and the loop here.
      uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&spin_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&turn_check_), nullptr);
      uv_run(&loop_, UV_RUN_DEFAULT);
      close_result_ = uv_loop_close(&loop_);
    }
  }

  // Outside a drain, on the loop thread (a libuv callback): `fn(arg)` runs
  // in this turn's check phase, right after the callbacks of the poll.
  bool after_poll(void (*fn)(void*), void* arg) {
    if (turn_check_closed_)
      return false;
    after_poll_.push_back({fn, arg});
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&turn_check_)))
      uv_check_start(&turn_check_, [](uv_check_t* h) {
        auto self = static_cast<impl*>(h->data);
        uv_check_stop(h);
        std::swap(self->after_poll_, self->local_after_poll_);
        for (auto& x : self->local_after_poll_)
          x.fn(x.arg);
        self->local_after_poll_.clear();
      });
    return true;
  }

  void attach(caf::actor_system& sys) {
    system_ = &sys;
  }

  void start() {
    SWITCHBOARD_ASSERT(!thread_.joinable());
    running_ = true;
    thread_ = std::thread{[this] { run(); }};
  }

  bool post(std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!accepting_)
        return false;
      tasks_.push_back(std::move(fn));
      wake();
    }
    return true;
  }

  // Called by CAF whenever an actor that was idle gets mail while running on
  // (or spawned for) this unit. Loop actors mark themselves as `io_actor`;
  // everybody else belongs on the scheduler.
  void exec_later(caf::resumable* job) override {
    if (job->subtype() != caf::resumable::io_actor) {
      system_->scheduler().enqueue(job);
      return;
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (accepting_) {
        jobs_.push_back(job);
        wake();
        return;
      }
    }
    // The loop is gone: drop the reference the enqueuer added for us.
    intrusive_ptr_release(job);
  }

  // Makes the loop drain its queues soon; the caller holds `mtx_`. A
  // spinning loop finds the work without help. Another thread wakes it
  // through the async handle (under the lock: once `begin_stop` has taken
  // it, nobody touches that handle any more). On the loop thread itself,
  // a drain that runs now picks the work up, and otherwise the spin handle
  // runs one: both cheaper than a write to the async handle's eventfd.
  void wake() {
    if (spinning_ || draining_)
      return;
    if (!in_loop_thread()) {
      uv_async_send(&wake_);
      return;
    }
    if (stopping_) {
      if (!wake_closed_)
        uv_async_send(&wake_);
      return;
    }
    spinning_ = true;
    spin_until_ = std::chrono::steady_clock::time_point{};
    uv_idle_start(&spin_, on_spin);
  }

  void set_spin(std::chrono::nanoseconds d) {
    spin_for_ = d;
  }

  void on_stop(std::function<void()> fn) {
    SWITCHBOARD_ASSERT(in_loop_thread());
    stop_hooks_.push_back(std::move(fn));
  }

  void hold() {
    SWITCHBOARD_ASSERT(in_loop_thread());
    ++holds_;
  }

  void release() {
    SWITCHBOARD_ASSERT(in_loop_thread() && holds_ > 0);
    --holds_;
  }

  void stop() {
    SWITCHBOARD_ASSERT(!in_loop_thread());
    // Held throughout, so a second caller returns only once it is done.
    std::lock_guard<std::mutex> guard{stop_mtx_};
    if (!running_.exchange(false))
      return;
    post([this] { begin_stop(); });
    thread_.join();
  }

  void track(tracked& actor) {
    std::lock_guard<std::mutex> guard{mtx_};
    actor.prev = nullptr;
    actor.next = actors_;
    if (actors_ != nullptr)
      actors_->prev = &actor;
    actors_ = &actor;
  }

  void untrack(tracked& actor) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (actor.prev == nullptr && actors_ != &actor)
      return; // not tracked
    (actor.prev != nullptr ? actor.prev->next : actors_) = actor.next;
    if (actor.next != nullptr)
      actor.next->prev = actor.prev;
    actor.prev = actor.next = nullptr;
  }

  bool in_loop_thread() const noexcept {
    return std::this_thread::get_id() == tid_.load();
  }

  bool running() const noexcept {
    return running_;
  }

  uv_loop_t* native() noexcept {
    return &loop_;
  }

  int close_result() const noexcept {
    return close_result_;
  }

  int forced_closes() const noexcept {
    return forced_;
  }

private:
  void run() {
    // Named as CAF names its threads (caf.clock, ...), for top and perf.
    pthread_setname_np(pthread_self(), "switchboard.io");
    tid_ = std::this_thread::get_id();
    this_loop = this;
    uv_run(&loop_, UV_RUN_DEFAULT);
    // Nothing can be queued any more (accepting_ is false): release the loop
    // actors that got mail between the last drain and the close.
    stopped_ = true;
    drain();
    close_result_ = uv_loop_close(&loop_);
    this_loop = nullptr;
    tid_ = std::thread::id{};
  }

  static void on_wake(uv_async_t* handle) {
    auto self = static_cast<impl*>(handle->data);
    if (self->drain())
      self->start_spinning();
  }

  // After work, keep polling for a while instead of sleeping in epoll: the
  // next message is picked up without a wake-up (and its sender skips the
  // eventfd write). I/O is still served: an active idle handle makes each
  // loop iteration poll with a zero timeout.
  void start_spinning() {
    if (spin_for_.count() == 0 || stopping_)
      return;
    spin_until_ = std::chrono::steady_clock::now() + spin_for_;
    if (uv_is_active(reinterpret_cast<uv_handle_t*>(&spin_)))
      return;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      spinning_ = true;
    }
    uv_idle_start(&spin_, on_spin);
  }

  static void on_spin(uv_idle_t* handle) {
    auto self = static_cast<impl*>(handle->data);
    if (self->drain()) {
      self->spin_until_ = std::chrono::steady_clock::now() + self->spin_for_;
      return;
    }
    if (self->spin_for_.count() > 0
        && std::chrono::steady_clock::now() < self->spin_until_)
      return;
    // Stop only with the lock held and the queues empty, so that a poster
    // either sees `spinning_` true and its work is drained here, or sees it
    // false and wakes the loop.
    std::lock_guard<std::mutex> guard{self->mtx_};
    if (!self->tasks_.empty() || !self->jobs_.empty())
      return;
    self->spinning_ = false;
    uv_idle_stop(handle);
  }

  // Runs everything queued; returns whether there was anything.
  // Not reentrant: tasks and actors it runs must not call it.
  bool drain() {
    bool any = false;
    turn_end = &turn_end_;
    // Rounds: each runs what is queued. Work that the last round queued
    // (a reply, the next request) runs in the next round, so a chain of
    // messages between loop actors finishes within one turn. A flood ends
    // the turn after a few rounds with mail left over (an actor takes
    // `max_throughput` messages per round), and a long chain after
    // `max_rounds`: the loop then polls its fds before the rest runs, so
    // I/O is never starved, and a bridge's writes, done at the end of the
    // turn, reach their fd while the rest is still queued.
    size_t flooded = 0; // rounds that left mail over
    for (size_t round = 0; round < max_rounds; ++round) {
      {
        std::lock_guard<std::mutex> guard{mtx_};
        std::swap(tasks_, local_tasks_);
        std::swap(jobs_, local_jobs_);
        draining_ = !local_tasks_.empty() || !local_jobs_.empty();
      }
      if (!draining_)
        break;
      any = true;
      for (auto& fn : local_tasks_)
        fn();
      local_tasks_.clear();
      bool more = false;
      for (auto job : local_jobs_)
        more |= resume(job);
      local_jobs_.clear();
      if (more && ++flooded >= flood_rounds)
        break;
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      draining_ = false;
      // What is left runs after the next poll, which must not sleep.
      if ((!tasks_.empty() || !jobs_.empty()) && !stopped_)
        wake();
    }
    turn_end = nullptr;
    // What the work asked to run once it is done. It runs outside the
    // drain; anything it queues wakes the loop as usual.
    std::swap(turn_end_, local_turn_end_);
    for (auto& x : local_turn_end_)
      x.fn(x.arg);
    local_turn_end_.clear();
    return any;
  }

  // Runs a loop actor's mail; returns whether it has mail left (it is
  // queued again, behind what arrived meanwhile).
  bool resume(caf::resumable* job) {
    if (stopped_) {
      intrusive_ptr_release(job);
      return false;
    }
    switch (job->resume(this, max_throughput)) {
      case caf::resumable::resume_later: {
        std::lock_guard<std::mutex> guard{mtx_};
        jobs_.push_back(job);
        return true;
      }
      default:
        // done or awaiting_message: the mailbox is empty; the next enqueue
        // adds a new reference and schedules the actor again.
        intrusive_ptr_release(job);
        return false;
    }
  }

  // Stopping runs in three steps, each a task queued behind what came
  // before it (the drain loop runs them all in one go):
  // 1. loop actors that still run get an urgent kill;
  // 2. the queues close: nothing new is taken, what is queued still runs;
  // 3. the stop hooks run and whatever handle is still open is closed.
  void begin_stop() {
    stopping_ = true;
    uv_idle_stop(&spin_);
    std::vector<caf::weak_actor_ptr> alive;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      spinning_ = false;
      // A weak reference first: an actor whose last strong one is being
      // dropped on another thread waits for this lock to untrack itself,
      // so its control block is still there; the upgrade below then fails.
      for (auto t = actors_; t != nullptr; t = t->next)
        alive.emplace_back(t->ctrl);
    }
    for (auto& weak : alive)
      if (auto h = weak.lock())
        h->enqueue(nullptr, caf::make_message_id(caf::message_priority::high),
                   caf::make_message(
                     caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill}),
                   nullptr);
    post([this] { close_intake(); });
  }

  void close_intake() {
    std::lock_guard<std::mutex> guard{mtx_};
    accepting_ = false;
    tasks_.push_back([this] { finish_stop(); });
  }

  void finish_stop() {
    for (auto& fn : stop_hooks_)
      fn();
    stop_hooks_.clear();
    if (holds_ > 0) {
      // A teardown still needs the loop: look again every few ms.
      uv_timer_init(&loop_, &linger_);
      linger_.data = this;
      linger_until_ = uv_now(&loop_) + 1000;
      uv_timer_start(&linger_, on_linger, 2, 2);
      return;
    }
    close_all();
  }

  static void on_linger(uv_timer_t* t) {
    auto self = static_cast<impl*>(t->data);
    if (self->holds_ > 0 && uv_now(&self->loop_) < self->linger_until_)
      return;
    if (self->holds_ > 0)
      log_anywhere(log_level::warn, {},
                   "io loop stopped with " + std::to_string(self->holds_)
                     + " teardown(s) unfinished after 1 s");
    uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
    self->close_all();
  }

  void close_all() {
    // What is still due after the poll runs now; nothing is queued after.
    uv_check_stop(&turn_check_);
    turn_check_closed_ = true;
    std::swap(after_poll_, local_after_poll_);
    for (auto& x : local_after_poll_)
      x.fn(x.arg);
    local_after_poll_.clear();
    // Whatever is still open was not closed by its owner: close it so that
    // uv_loop_close succeeds, and count it.
    uv_walk(
      &loop_,
      [](uv_handle_t* h, void* arg) {
        auto self = static_cast<impl*>(arg);
        if (h == reinterpret_cast<uv_handle_t*>(&self->wake_)
            || h == reinterpret_cast<uv_handle_t*>(&self->linger_)
            || h == reinterpret_cast<uv_handle_t*>(&self->spin_)
            || h == reinterpret_cast<uv_handle_t*>(&self->turn_check_)
            || uv_is_closing(h))
          return;
        ++self->forced_;
        log_anywhere(log_level::warn, {},
                     std::string{"io loop closed a "}
                       + uv_handle_type_name(uv_handle_get_type(h))
                       + " handle that its owner left open");
        uv_close(h, nullptr);
      },
      this);
    wake_closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&spin_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&turn_check_), nullptr);
  }

  // How many messages a loop actor handles before others get a turn.
  static constexpr size_t max_throughput = 64;
  // How many rounds of queued work one turn of the loop runs at most, and
  // how many of them may leave mail over. Measured with bench_children:
  // one round with mail left per turn halves the json one-way rate (a write
  // per 64 messages); 8 keeps it and streams stdio lines 50% faster than
  // draining everything first.
  static constexpr size_t max_rounds = 16;
  static constexpr size_t flood_rounds = 8;

  uv_loop_t loop_;
  uv_async_t wake_;
  uv_idle_t spin_;
  std::chrono::nanoseconds spin_for_{0};
  std::chrono::steady_clock::time_point spin_until_;
  bool stopping_ = false;             // loop thread only
  bool wake_closed_ = false;          // loop thread only
  std::vector<turn_end_fn> turn_end_; // loop thread only
  std::vector<turn_end_fn> local_turn_end_;
  uv_check_t turn_check_;                     // runs after_poll_
  bool turn_check_closed_ = false;            // loop thread only
  std::vector<turn_end_fn> after_poll_;       // loop thread only
  std::vector<turn_end_fn> local_after_poll_; // loop thread only
  std::thread thread_;
  std::atomic<std::thread::id> tid_{};
  std::atomic<bool> running_{false};
  bool stopped_ = false;
  int close_result_ = 1;
  int forced_ = 0;

  std::mutex stop_mtx_;

  std::mutex mtx_;
  bool accepting_ = true;
  // The spin handle is active: the loop polls without sleeping.
  bool spinning_ = false;
  // The loop thread is running queued work and checks the queues again
  // before it sleeps.
  bool draining_ = false;
  // Loop actors that have not exited, newest first.
  tracked* actors_ = nullptr;
  std::vector<std::function<void()>> tasks_;
  std::vector<caf::resumable*> jobs_;

  // Loop thread only.
  std::vector<std::function<void()>> local_tasks_;
  std::vector<caf::resumable*> local_jobs_;
  std::vector<std::function<void()>> stop_hooks_;
  // Teardowns that still need the loop (`hold`), and the timer that waits
  // for them at stop.
  int holds_ = 0;
  uv_timer_t linger_;
  uint64_t linger_until_ = 0;
};

io_loop::io_loop() : impl_(std::make_unique<impl>()) {}

io_loop::~io_loop() = default;

void io_loop::start() {
  impl_->start();
}

bool io_loop::post(std::function<void()> fn) {
  return impl_->post(std::move(fn));
}

void io_loop::set_spin(std::chrono::nanoseconds duration) {
  impl_->set_spin(duration);
}

void io_loop::on_stop(std::function<void()> fn) {
  impl_->on_stop(std::move(fn));
}

void io_loop::hold() {
  impl_->hold();
}

void io_loop::release() {
  impl_->release();
}

void io_loop::stop() {
  impl_->stop();
}

bool io_loop::in_loop_thread() const noexcept {
  return impl_->in_loop_thread();
}

bool io_loop::running() const noexcept {
  return impl_->running();
}

uv_loop_s* io_loop::native() noexcept {
  return impl_->native();
}

int io_loop::close_result() const noexcept {
  return impl_->close_result();
}

int io_loop::forced_closes() const noexcept {
  return impl_->forced_closes();
}

void io_loop::track(tracked& actor) {
  impl_->track(actor);
}

void io_loop::untrack(tracked& actor) {
  impl_->untrack(actor);
}

void io_loop::attach(caf::actor_system& sys) {
  impl_->attach(sys);
}

bool io_loop::at_end_of_turn(void (*fn)(void*), void* arg) {
  // `arg` must live until `fn` has run: a channel counts the callback as one
  // of its handles, so that closing it meanwhile does not free it.
  if (turn_end != nullptr) {
    turn_end->push_back({fn, arg});
    return true;
  }
  return this_loop != nullptr && this_loop->after_poll(fn, arg);
}

caf::execution_unit* io_loop::executor() noexcept {
  return impl_.get();
}

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/thread_actor.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>

#include <pthread.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>

#include "switchboard/actors/internal/futex.hpp"

namespace switchboard::actors::internal {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

} // namespace

// The execution unit of one actor's thread.
//
// The actor's mailbox decides when the actor needs to run: an enqueue that
// finds it blocked (the actor went idle) calls `exec_later` once. That sets
// `ready_`; the thread, polling or asleep, takes it and resumes the actor
// until its mailbox is empty again. Parking follows the futex protocol:
// the thread announces `parked_ = 1` and looks at `ready_` again before it
// sleeps, and `exec_later` sets `ready_` before it looks at `parked_`, both
// sequentially consistent, so one of the two always sees the other.
class actor_thread : public caf::execution_unit {
public:
  actor_thread(caf::actor_system& sys, caf::resumable* self,
               const thread_options& opts)
      : caf::execution_unit(&sys), self_(self), opts_(opts) {}

  void exec_later(caf::resumable* job) override {
    if (job != self_) {
      // An actor this one sent to, scheduled by CAF as usual.
      system().scheduler().enqueue(job);
      return;
    }
    ready_.store(true);
    if (parked_.exchange(0) == 1)
      futex_wake(&parked_word(), 1);
  }

  void stop() {
    stop_.store(true);
    if (parked_.exchange(0) == 1)
      futex_wake(&parked_word(), 1);
  }

  static void* run(void* arg) {
    auto self = static_cast<actor_thread*>(arg);
    auto& sys = self->system();
    pthread_setname_np(pthread_self(), self->opts_.name.substr(0, 15).c_str());
    sys.thread_started();
    self->loop();
    sys.thread_terminates();
    delete self;
    // Last: the actor system waits for this count before it goes away.
    sys.dec_detached_threads();
    return nullptr;
  }

private:
  uint32_t& parked_word() {
    return *reinterpret_cast<uint32_t*>(&parked_);
  }

  // Waits until the actor has mail; false if the thread is to end.
  bool await_ready() {
    using clock = std::chrono::steady_clock;
    auto deadline = clock::time_point::min();
    for (unsigned i = 0;; ++i) {
      if (ready_.exchange(false))
        return true;
      if (stop_.load())
        return false;
      if (opts_.spin.count() > 0) {
        // Checking the clock costs more than a look at `ready_`.
        if ((i & 63) != 0) {
          cpu_relax();
          continue;
        }
        auto now = clock::now();
        if (deadline == clock::time_point::min())
          deadline = now + opts_.spin;
        if (now < deadline) {
          cpu_relax();
          continue;
        }
      }
      parked_.store(1);
      if (ready_.load() || stop_.load()) {
        parked_.store(0);
        continue;
      }
      futex_wait(&parked_word(), 1, std::chrono::nanoseconds{-1});
      parked_.store(0);
      deadline = clock::time_point::min();
    }
  }

  void loop() {
    auto max_throughput = std::numeric_limits<size_t>::max();
    while (await_ready()) {
      for (;;) {
        auto r = self_->resume(this, max_throughput);
        if (r == caf::resumable::resume_later)
          continue;
        // done or awaiting_message: the mailbox is empty or closed, and
        // the reference taken when the actor was scheduled goes.
        intrusive_ptr_release(self_);
        if (r != caf::resumable::awaiting_message)
          return;
        break;
      }
    }
  }

  caf::resumable* self_;
  thread_options opts_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint32_t> parked_{0};
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
};

actor_thread* start_actor_thread(caf::actor_system& sys, caf::resumable* self,
                                 const thread_options& opts, std::string& err) {
  auto t = new actor_thread(sys, self, opts);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (opts.stack_size > 0) {
    auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    auto size =
      std::max(opts.stack_size, static_cast<size_t>(PTHREAD_STACK_MIN));
    size = (size + page - 1) / page * page;
    if (auto rc = pthread_attr_setstacksize(&attr, size); rc != 0) {
      err = std::strerror(rc);
      pthread_attr_destroy(&attr);
      delete t;
      return nullptr;
    }
  }
  sys.inc_detached_threads();
  pthread_t tid;
  auto rc = pthread_create(&tid, &attr, &actor_thread::run, t);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    sys.dec_detached_threads();
    err = std::strerror(rc);
    delete t;
    return nullptr;
  }
  return t;
}

caf::execution_unit* as_execution_unit(actor_thread* t) {
  return t;
}

void stop_actor_thread(actor_thread* t) {
  if (t != nullptr)
    t->stop();
}

} // namespace switchboard::actors::internal

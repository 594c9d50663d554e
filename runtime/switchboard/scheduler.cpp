// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/scheduler.hpp"

#include <thread>

#include <caf/actor_system_config.hpp>
#include <caf/settings.hpp>

namespace switchboard {

void apply_scheduler_defaults(caf::actor_system_config& cfg) {
  // CAF 0.17 starts 4 workers even on a 2-core machine: match the hardware.
  auto cores = std::max(2u, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", static_cast<int64_t>(cores));
  // An idle work-stealing worker polls briefly, then (by default) takes 500
  // fixed 50 us naps that no new message interrupts, and only then waits on
  // a condition variable that an enqueue signals. Skipping the naps makes a
  // message from another thread (the io loop, an HTTP thread) wake a worker
  // at once: the hop runs about 3x faster and an idle node naps less.
  cfg.set("work-stealing.moderate-poll-attempts", int64_t{0});
}

std::string describe_scheduler(const caf::actor_system_config& cfg) {
  auto& xs = cfg.content;
  auto policy = caf::get_or(xs, "scheduler.policy", caf::atom("stealing"));
  auto threads = caf::get_or(xs, "scheduler.max-threads", int64_t{0});
  auto spins =
    caf::get_or(xs, "work-stealing.aggressive-poll-attempts", int64_t{100});
  auto naps =
    caf::get_or(xs, "work-stealing.moderate-poll-attempts", int64_t{500});
  return "scheduler " + caf::to_string(policy) + ", " + std::to_string(threads)
         + " threads, " + std::to_string(spins) + " polls, "
         + std::to_string(naps) + " naps";
}

} // namespace switchboard

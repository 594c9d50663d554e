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
}

std::string describe_scheduler(const caf::actor_system_config& cfg) {
  auto& xs = cfg.content;
  auto policy = caf::get_or(xs, "scheduler.policy", caf::atom("stealing"));
  auto threads = caf::get_or(xs, "scheduler.max-threads", int64_t{0});
  return "scheduler " + caf::to_string(policy) + ", "
         + std::to_string(threads) + " threads";
}

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <string>

#include <caf/fwd.hpp>

namespace switchboard {

/// Sets the scheduler settings switchboard picks for CAF unless the config
/// file names its own (see conf/default.conf, `[scheduler]` and
/// `[work-stealing]`, for the measurements behind them).
void apply_scheduler_defaults(caf::actor_system_config& cfg);

/// One line naming the scheduler settings in effect, for the node's log.
std::string describe_scheduler(const caf::actor_system_config& cfg);

} // namespace switchboard

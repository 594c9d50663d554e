// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <switchboard/kinds.hpp>

#include "switchboard/actors/worker_thread.hpp"

namespace switchboard::actors {

/// Registers the built-in actor kinds: `echo`, `router`, `room` and
/// `worker-thread` (running `behaviors`, by default the built-in ones), and
/// the message types they send.
caf::error add_builtin_kinds(kind_registry& kinds,
                             behavior_registry behaviors = builtin_behaviors());

} // namespace switchboard::actors

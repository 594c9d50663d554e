// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <switchboard/kinds.hpp>

namespace switchboard::actors {

/// Registers the built-in actor kinds: `echo`, `router`, `room`.
caf::error add_builtin_kinds(kind_registry& kinds);

} // namespace switchboard::actors

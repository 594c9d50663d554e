// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <switchboard/kinds.hpp>

namespace switchboard::actors {

/// The `chain` kind: a pipeline of actors. A JSON request goes to the first
/// of `steps`, its reply is the request to the second, and so on; the last
/// reply is the chain's. An error at a step ends the chain with that error,
/// its text naming the step. Steps may be local names or NODE/ACTOR.
kind_spec chain_kind();

} // namespace switchboard::actors

// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <switchboard/kinds.hpp>

namespace switchboard::actors {

/// The `balancer` kind: spreads JSON requests over the actors of `to` in
/// turn (local names or NODE/ACTOR), and sends a request again to the next
/// one when its target could not take it or its node went down before it
/// answered (errors `node_down`, `queue_full`, `unknown_actor`, a receiver
/// that is gone). A target that failed so is skipped for `bench` unless
/// every target is. Akka's group router over actor paths, with a retry.
kind_spec balancer_kind();

} // namespace switchboard::actors

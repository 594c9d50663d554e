// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <switchboard/kinds.hpp>
#include <switchboard/messages.hpp>

namespace switchboard::actors {

/// A group of sinks. A message from a member goes to every other member;
/// a request from outside goes to all of them. The reply to a request says
/// how many got it: `{"delivered": N}`. Members that exit leave by
/// themselves.
using room_actor = json_actor::extend<
  caf::reacts_to<join_atom, sink_actor>, caf::reacts_to<leave_atom, sink_actor>,
  caf::reacts_to<push_atom, json_message>>::extend_with<status_actor>;

/// Spawns a room outside any node (tests, embedding).
room_actor spawn_room(caf::actor_system& sys);

/// The `room` kind. Keys: none.
kind_spec room_kind();

} // namespace switchboard::actors

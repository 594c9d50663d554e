// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/room.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <switchboard/metered.hpp>

#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

namespace switchboard::actors {

namespace {

struct room_state {
  std::vector<sink_actor> members;
  uint64_t delivered = 0;
};

using room_pointer = caf::stateful_actor<room_state, metered<room_actor::base>>*;

// Sends `msg` to every member but the current sender; returns the count.
size_t broadcast(room_pointer self,
                 const json_message& msg) {
  auto sender = self->current_sender();
  size_t n = 0;
  for (auto& m : self->state.members) {
    if (sender && m.address() == sender->address())
      continue;
    self->send(m, push_atom::value, msg);
    ++n;
  }
  self->state.delivered += n;
  return n;
}

room_actor::behavior_type
room_impl(room_pointer self) {
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& xs = self->state.members;
    xs.erase(std::remove_if(
               xs.begin(), xs.end(),
               [&](const sink_actor& m) { return m.address() == dm.source; }),
             xs.end());
  });
  return {
    [self](json_message& msg) {
      auto n = broadcast(self, msg);
      return json_message::trusted("{\"delivered\":" + std::to_string(n) + "}");
    },
    [self](push_atom, json_message& msg) { broadcast(self, msg); },
    [self](join_atom, sink_actor& who) {
      auto& xs = self->state.members;
      if (std::find(xs.begin(), xs.end(), who) != xs.end())
        return;
      self->monitor(who);
      xs.push_back(std::move(who));
    },
    [self](leave_atom, const sink_actor& who) {
      auto& xs = self->state.members;
      auto i = std::find(xs.begin(), xs.end(), who);
      if (i == xs.end())
        return;
      self->demonitor(who.address());
      xs.erase(i);
    },
    [self](status_atom) {
      return status_reply(
        self, "room",
        {{"members", std::to_string(self->state.members.size())},
         {"delivered", std::to_string(self->state.delivered)}});
    },
  };
}

} // namespace

room_actor spawn_room(caf::actor_system& sys) {
  return sys.spawn(room_impl);
}

kind_spec room_kind() {
  kind_spec result;
  result.name = "room";
  result.doc = "members join and leave; a message goes to every other member";
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(spawn_room(ctx.node.system()));
  };
  return result;
}

} // namespace switchboard::actors

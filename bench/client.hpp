// switchboard: an embeddable C++ actor runtime. MIT License.

// A client actor that measures sequential request/reply round trips; the
// benchmarks that time a round trip share it.

#pragma once

#include <future>

#include <caf/all.hpp>

#include "bench.hpp"

namespace switchboard::bench {

struct client_state {
  size_t i = 0;
  size_t n = 0;
  clock::time_point start;
  std::promise<clock::duration>* done = nullptr;
};

using client = caf::stateful_actor<client_state>;

/// One request; the reply triggers the next.
template<class Handle, class Msg>
void step(client* self, Handle target, Msg msg) {
  auto& st = self->state;
  if (st.i++ == st.n) {
    st.done->set_value(clock::now() - st.start);
    self->quit();
    return;
  }
  self->request(target, caf::infinite, msg).then([=](const Msg&) {
    step(self, target, msg);
  });
}

/// A client on the scheduler that asks `target` n times, one after the
/// other; returns the time all of them took.
template<class Handle, class Msg>
clock::duration round_trips(caf::actor_system& sys, Handle target, Msg msg,
                            size_t n) {
  std::promise<clock::duration> done;
  auto result = done.get_future();
  sys.spawn([=, &done](client* self) -> caf::behavior {
    self->state.n = n;
    self->state.done = &done;
    self->state.start = clock::now();
    step(self, target, msg);
    return {[](caf::ok_atom) {}};
  });
  return result.get();
}

} // namespace switchboard::bench

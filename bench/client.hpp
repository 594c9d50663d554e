// switchboard: an embeddable C++ actor runtime. MIT License.

// A client actor that measures sequential request/reply round trips; the
// benchmarks that time a round trip share it.

#pragma once

#include <future>

#include <caf/all.hpp>

#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>

#include "bench.hpp"

namespace switchboard::bench {

struct client_state {
  size_t i = 0;
  size_t n = 0;
  clock::time_point start;
  std::promise<clock::duration>* done = nullptr;
  caf::timespan pause{0};
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
    if (self->state.pause.count() > 0)
      self->delayed_send(self, self->state.pause, caf::ok_atom::value);
    else
      step(self, target, msg);
  });
}

/// A client on the scheduler that asks `target` n times, one after the
/// other (waiting `pause` after each reply); returns the time all of them
/// took.
template<class Handle, class Msg>
clock::duration round_trips(caf::actor_system& sys, Handle target, Msg msg,
                            size_t n, caf::timespan pause = caf::timespan{0}) {
  std::promise<clock::duration> done;
  auto result = done.get_future();
  sys.spawn([=, &done](client* self) -> caf::behavior {
    self->state.n = n;
    self->state.done = &done;
    self->state.start = clock::now();
    self->state.pause = pause;
    step(self, target, msg);
    return {[=](caf::ok_atom) { step(self, target, msg); }};
  });
  return result.get();
}

/// Asks `target` n times, one request after the other, from the io loop
/// thread, as a bridge does; `done` gets the time all of them took.
class loop_client : public loop_actor<caf::event_based_actor> {
public:
  /// With a `pause`, waits that long between a reply and the next request.
  loop_client(caf::actor_config& cfg, io_loop& loop, json_actor target,
              size_t n, std::promise<clock::duration>* done,
              caf::timespan pause = caf::timespan{0},
              json_message msg = json_message::trusted("{\"ping\":1}"))
      : loop_actor(cfg, loop), target_(std::move(target)), n_(n), done_(done),
        pause_(pause), msg_(std::move(msg)) {}

  caf::behavior make_behavior() override {
    start_ = clock::now();
    step();
    return {[this](caf::ok_atom) { step(); }};
  }

private:
  void step() {
    if (i_++ == n_) {
      done_->set_value(clock::now() - start_);
      quit();
      return;
    }
    request(target_, caf::infinite, msg_).then([this](json_message&) {
      if (pause_.count() > 0)
        delayed_send(this, pause_, caf::ok_atom::value);
      else
        step();
    });
  }

  json_actor target_;
  size_t n_;
  size_t i_ = 0;
  std::promise<clock::duration>* done_;
  caf::timespan pause_;
  clock::time_point start_;
  json_message msg_;
};

} // namespace switchboard::bench

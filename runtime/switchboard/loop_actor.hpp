// switchboard: an embeddable C++ actor runtime. MIT License.

// Actors that run on the io loop thread instead of CAF's scheduler.
//
// A bridge owns loop handles, so its behaviour belongs on the loop thread:
// there it may call libuv directly, and a message from a scheduler actor
// reaches it with one wake-up of the loop (the same way CAF's own brokers run
// on the middleman's thread). `loop_actor<Base>` reroutes the two places where
// CAF schedules an actor, `launch` and `enqueue`, to the loop's execution
// unit, and marks the actor as `io_actor` so that unit keeps it.
//
// Usage:
// ~~~
// struct my_bridge : loop_actor<caf::event_based_actor> {
//   using loop_actor::loop_actor;
//   caf::behavior make_behavior() override { ... }
// };
// auto h = spawn_on_loop<my_bridge>(sys, loop);
// ~~~

#pragma once

#include <utility>

#include <caf/actor_system.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/resumable.hpp>

#include "switchboard/io_loop.hpp"
#include "switchboard/metered.hpp"

namespace switchboard {

/// Runs the CAF actor type `Base` on the io loop thread, metered.
template<class Base>
class loop_actor : public metered<Base> {
public:
  using super = metered<Base>;

  template<class... Ts>
  loop_actor(caf::actor_config& cfg, io_loop& loop, Ts&&... xs)
      : super(cfg, std::forward<Ts>(xs)...), loop_(loop) {}

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit*) override {
    super::enqueue(std::move(ptr), loop_.executor());
  }

  void launch(caf::execution_unit*, bool lazy, bool hide) override {
    // The loop ends actors that still run when it stops.
    tracked_.ctrl = this->ctrl();
    loop_.track(tracked_);
    super::launch(loop_.executor(), lazy, hide);
  }

  // Runs once, however the actor ends (and before it is destroyed).
  void on_cleanup(const caf::error& reason) override {
    loop_.untrack(tracked_);
    super::on_cleanup(reason);
  }

  caf::resumable::subtype_t subtype() const override {
    return caf::resumable::io_actor;
  }

  /// The loop this actor runs on.
  io_loop& loop() noexcept {
    return loop_;
  }

private:
  io_loop& loop_;
  io_loop::tracked tracked_;
};

/// Spawns `Impl` (a `loop_actor`) on `loop`.
template<class Impl, class... Ts>
auto spawn_on_loop(caf::actor_system& sys, io_loop& loop, Ts&&... xs) {
  return sys.spawn<Impl>(loop, std::forward<Ts>(xs)...);
}

} // namespace switchboard

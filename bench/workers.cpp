// switchboard: an embeddable C++ actor runtime. MIT License.

// Worker threads and shared buffers:
// - worker round trip and one-way throughput: a scheduler actor and a
//   `worker-thread` pool of one (its own OS thread), next to Node's
//   worker_threads postMessage (bench/peers/postmessage.js);
// - wait/notify ping-pong between two threads through a shared buffer, next
//   to a raw futex ping-pong and Node's Atomics.wait/notify
//   (bench/peers/atomics.js).

#include <future>
#include <thread>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/actors/shared_buffer.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

#include "bench.hpp"
#include "client.hpp"
#include "futex.hpp"

using namespace switchboard;
using namespace switchboard::bench;
using actors::shared_buffer;
using actors::wait_result;

namespace {

// Sends n messages without waiting; the worker's answers come back as
// ordinary messages, and the time is taken when the last one arrives.
clock::duration one_way(caf::actor_system& sys, json_actor target, size_t n) {
  std::promise<clock::duration> done;
  auto result = done.get_future();
  sys.spawn([=, &done](caf::event_based_actor* self) -> caf::behavior {
    auto start = clock::now();
    auto seen = std::make_shared<size_t>(0);
    auto msg = json_message::trusted("{\"ping\":1}");
    for (size_t i = 0; i < n; ++i)
      caf::send_as(caf::actor_cast<caf::actor>(self), target, msg);
    return {[=, &done](json_message&) {
      if (++*seen == n) {
        done.set_value(clock::now() - start);
        self->quit();
      }
    }};
  });
  return result.get();
}

// Two threads take turns through element 0 of a shared buffer, sleeping in
// wait until notified.
double buffer_ping_pong(size_t n) {
  auto buf = *shared_buffer::make(64);
  auto v = *buf.view<int32_t>();
  std::thread pong{[&] {
    pin_to_cpu(1);
    for (size_t i = 0; i < n; ++i) {
      int32_t x;
      while (((x = *v.load(0)) & 1) == 0)
        v.wait(0, x);
      v.store(0, x + 1);
      v.notify(0, 1);
    }
  }};
  pin_to_cpu(0);
  auto t0 = clock::now();
  for (size_t i = 0; i < n; ++i) {
    auto x = *v.load(0);
    v.store(0, x + 1);
    v.notify(0, 1);
    while (((x = *v.load(0)) & 1) == 1)
      v.wait(0, x);
  }
  auto elapsed = clock::now() - t0;
  pong.join();
  unpin();
  return per_second(n, elapsed);
}

} // namespace

int main() {
  auto n_rt = scaled(20000);
  auto n_ow = scaled(500000);
  {
    auto behaviors = actors::builtin_behaviors();
    behaviors.add("echo", [](const json_message& m, actors::worker_context&) {
      return caf::expected<json_message>{m};
    });
    auto cfg = node_config::from_string(
      "[node]\ncontrol = \"none\"\n[actors]\nw = { kind = \"worker-thread\", "
      "behavior = \"echo\" }\n");
    node nd{std::move(*cfg)};
    actors::add_builtin_kinds(nd.kinds(), std::move(behaviors));
    if (auto err = nd.start())
      return std::fprintf(stderr, "%s\n", render(err).c_str()), 1;
    auto w = caf::actor_cast<json_actor>(nd.lookup("w"));
    auto msg = json_message::trusted("{\"ping\":1}");
    round_trips(nd.system(), w, msg, n_rt / 10);
    report("worker round trip", "switchboard",
           per_second(n_rt, round_trips(nd.system(), w, msg, n_rt)), "rt/s");
    report("worker one-way", "switchboard",
           per_second(n_ow, one_way(nd.system(), w, n_ow)), "msg/s");
    nd.stop();
  }
  auto n_pp = scaled(20000);
  buffer_ping_pong(n_pp / 10);
  report("wait/notify ping-pong", "switchboard", buffer_ping_pong(n_pp),
         "rt/s");
  report("wait/notify ping-pong", "raw futex ping-pong, two cores",
         futex_median(n_pp), "rt/s");
  report("wait/notify ping-pong", "switchboard (again)", buffer_ping_pong(n_pp),
         "rt/s");
}

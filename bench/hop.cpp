// switchboard: an embeddable C++ actor runtime. MIT License.

// The hop: io loop thread -> scheduler actor -> io loop thread, the round
// trip every bridge pays. A loop actor (as bridges are) asks an echo actor on
// CAF's scheduler, one request at a time, under several scheduler settings;
// next to it, the OS limit: a raw futex ping-pong between two threads.

#include <future>
#include <thread>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

#include "bench.hpp"
#include "node.hpp"
#include "client.hpp"
#include "futex.hpp"

using namespace switchboard;
using namespace switchboard::bench;

namespace {

// Runs the hop on a fresh node with `settings` (INI lines) and reports it.
void run_hop(const std::string& impl, const std::string& settings, size_t n) {
  auto owned = start_node("[node]\ncontrol = \"none\"\n[actors]\n"
                          "echo = { kind = \"echo\" }\n"
                          + settings);
  auto& nd = *owned;
  auto echo = caf::actor_cast<json_actor>(nd.lookup("echo"));
  // Warm up, then measure.
  for (auto count : {n / 10, n}) {
    std::promise<clock::duration> done;
    auto result = done.get_future();
    auto cpu0 = cpu_time();
    spawn_on_loop<loop_client>(nd.system(), nd.loop(), echo, count, &done);
    auto elapsed = result.get();
    auto cpu = cpu_time() - cpu0;
    if (count == n) {
      report("hop round trip", impl, per_second(n, elapsed), "rt/s");
      report("hop CPU per round trip", impl,
             std::chrono::duration<double, std::micro>(cpu).count()
               / static_cast<double>(n),
             "us");
    }
  }
  // What the settings cost a node with light traffic: one request every
  // millisecond, as a share of one core.
  {
    std::promise<clock::duration> done;
    auto result = done.get_future();
    auto cpu0 = cpu_time();
    spawn_on_loop<loop_client>(nd.system(), nd.loop(), echo, 300, &done,
                               caf::timespan{std::chrono::milliseconds(1)});
    auto elapsed = result.get();
    report("CPU at 1 request/ms", impl,
           100.0 * std::chrono::duration<double>(cpu_time() - cpu0).count()
             / std::chrono::duration<double>(elapsed).count(),
           "% of a core");
  }
  // And a node that has nothing to do: CPU used over half a second after
  // the burst.
  auto cpu0 = cpu_time();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  report("idle CPU after a burst", impl,
         100.0 * std::chrono::duration<double>(cpu_time() - cpu0).count() / 0.5,
         "% of a core");
  nd.stop();
}

} // namespace

int main(int argc, char** argv) {
  auto n = scaled(20000);
  if (argc == 3) { // bench_hop NAME SETTINGS: one variant, for exploring
    std::string settings = argv[2];
    for (auto& c : settings)
      if (c == ';')
        c = '\n';
    run_hop(argv[1], settings, n);
    return 0;
  }
  // The OS limit: two threads waking each other, on two cores (as the loop
  // thread and a scheduler thread usually are) and on one.
  report("hop round trip", "raw futex ping-pong, two cores", futex_median(n),
         "rt/s");
  report("hop round trip", "raw futex ping-pong, one core",
         futex_median(n, true), "rt/s");
  // switchboard's defaults (conf/default.conf explains them).
  run_hop("switchboard", "", n);
  // The alternatives they were chosen over.
  run_hop("no io spin", "[node]\nio-spin = 0us\n", n);
  run_hop("CAF work-stealing as shipped, no io spin",
          "[node]\nio-spin = 0us\n[work-stealing]\n"
          "moderate-poll-attempts = 500\n",
          n);
  run_hop("CAF sharing policy, no io spin",
          "[node]\nio-spin = 0us\n[scheduler]\npolicy = 'sharing'\n", n);
  run_hop("low latency: io-spin 100us, 1000 polls",
          "[node]\nio-spin = 100us\n[work-stealing]\n"
          "aggressive-poll-attempts = 1000\n",
          n);
  report("hop round trip", "raw futex ping-pong, two cores (again)",
         futex_median(n), "rt/s");
}

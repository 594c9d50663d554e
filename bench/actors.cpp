// switchboard: an embeddable C++ actor runtime. MIT License.

// Actor round trip and one-way throughput: a switchboard node (json_message
// vocabulary, switchboard's scheduler settings) next to raw CAF as shipped
// (plain values, CAF's default config). The peer, Node's worker_threads
// postMessage, runs from bench/peers/postmessage.js in the same run.

#include <future>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

#include "bench.hpp"
#include "node.hpp"
#include "client.hpp"

using namespace switchboard;
using namespace switchboard::bench;

namespace {

// Sends n messages to a counting actor; returns the time until it has all.
template<class Msg, class MakeSink>
clock::duration one_way(caf::actor_system& sys, Msg msg, size_t n,
                        MakeSink make_sink) {
  std::promise<clock::duration> done;
  auto result = done.get_future();
  auto start = clock::now();
  auto sink =
    make_sink(n, [&done, start] { done.set_value(clock::now() - start); });
  sys.spawn([=](caf::event_based_actor* self) {
    for (size_t i = 0; i < n; ++i)
      self->send(sink, msg);
  });
  return result.get();
}

} // namespace

int main() {
  auto n_rt = scaled(200000);
  auto n_ow = scaled(2000000);
  { // Raw CAF as shipped.
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    auto echo = sys.spawn([]() -> caf::behavior {
      return {[](const std::string& x) { return x; }};
    });
    std::string payload = "{\"ping\":1}";
    round_trips(sys, echo, payload, n_rt / 10);
    report("actor round trip", "raw CAF",
           per_second(n_rt, round_trips(sys, echo, payload, n_rt)), "rt/s");
    auto elapsed = one_way(sys, payload, n_ow, [&](size_t n, auto on_done) {
      return sys.spawn(
        [n, on_done](caf::event_based_actor* self) -> caf::behavior {
          auto seen = std::make_shared<size_t>(0);
          return {[=](const std::string&) {
            if (++*seen == n) {
              on_done();
              self->quit();
            }
          }};
        });
    });
    report("actor one-way", "raw CAF", per_second(n_ow, elapsed), "msg/s");
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  }
  { // switchboard: a node's echo kind, json_message requests.
    auto owned = start_node(
      "[node]\ncontrol = \"none\"\n[actors]\necho = { kind = \"echo\" }\n");
    auto& nd = *owned;
    auto echo = caf::actor_cast<json_actor>(nd.lookup("echo"));
    auto msg = json_message::trusted("{\"ping\":1}");
    round_trips(nd.system(), echo, msg, n_rt / 10);
    report("actor round trip", "switchboard",
           per_second(n_rt, round_trips(nd.system(), echo, msg, n_rt)), "rt/s");
    auto elapsed = one_way(nd.system(), msg, n_ow, [&](size_t n, auto on_done) {
      return nd.system().spawn(
        [n, on_done](caf::event_based_actor* self) -> caf::behavior {
          auto seen = std::make_shared<size_t>(0);
          return {[=](const json_message&) {
            if (++*seen == n) {
              on_done();
              self->quit();
            }
          }};
        });
    });
    report("actor one-way", "switchboard", per_second(n_ow, elapsed), "msg/s");
    nd.stop();
  }
}

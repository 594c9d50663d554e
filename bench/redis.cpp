// switchboard: an embeddable C++ actor runtime. MIT License.

// The redis bridges against a running redis-server (bench/redis.js starts
// it and runs the peers, ioredis and redis-benchmark, in the same run):
// - pub/sub: an actor publishes N 64-byte JSON messages through a `redis`
//   bridge (`publish = "bench"`, WINDOW requests in flight), a second
//   bridge subscribed to the channel hands each to a counting actor;
//   messages/s from the first publish until the counter has them all;
// - stream produce: XADD through a `redis-stream` bridge, WINDOW in
//   flight; entries/s;
// - stream consume: a `redis-stream` consumer (consumer group, batch 64,
//   concurrency 256) hands the N entries to a counting actor, which
//   answers each, and XACKs them; entries/s until the counter has them all.
//
//   bench_redis PORT N WINDOW [pubsub|stream]

#include <atomic>
#include <thread>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

#include "bench.hpp"
#include "node.hpp"

using namespace switchboard;
using namespace switchboard::bench;

namespace {

// 64 bytes of JSON.
const std::string message = [] {
  std::string s = "{\"ping\":1,\"data\":\"";
  while (s.size() < 64 - 2)
    s += 'x';
  return s + "\"}";
}();

std::atomic<size_t> counted{0};

// `counter`: counts what it gets and answers each request.
kind_spec counter_kind() {
  kind_spec k;
  k.name = "counter";
  k.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(
      ctx.node.system().spawn([]() -> json_actor::behavior_type {
        return {[](json_message&) {
          counted.fetch_add(1, std::memory_order_relaxed);
          return json_message::trusted("true");
        }};
      }));
  };
  return k;
}

// Sends `n` requests to `target` with `window` in flight; returns once
// all are answered.
void pump(switchboard::node& nd, const std::string& target, size_t n,
          size_t window) {
  std::atomic<size_t> answered{0};
  auto to = caf::actor_cast<json_actor>(nd.lookup(target));
  // Lives until every request is answered: the last use of it comes
  // before the last count.
  std::function<void()> next;
  nd.system().spawn([&, to](caf::event_based_actor* self) {
    auto sent = std::make_shared<size_t>(0);
    next = [self, to, n, sent, &next, &answered] {
      if (*sent >= n)
        return;
      ++*sent;
      auto done = [&answered, &next] {
        next();
        answered.fetch_add(1, std::memory_order_release);
      };
      // No timeout: a timeout is a timer in CAF's clock (a lock and a
      // condition variable per request), which ioredis's promises do not pay.
      self->request(to, caf::infinite, json_message::trusted(message))
        .then([done](json_message&) { done(); },
              [done](caf::error&) { done(); });
    };
    for (size_t i = 0; i < window && i < n; ++i)
      next();
  });
  auto deadline = clock::now() + std::chrono::seconds(120);
  while (answered.load() < n && clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
}

bool wait_counted(size_t n) {
  auto deadline = clock::now() + std::chrono::seconds(120);
  while (counted.load() < n && clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  return counted.load() >= n;
}

std::unique_ptr<switchboard::node> start(const std::string& bridges) {
  auto text = "[node]\nname = \"bench\"\ncontrol = \"none\"\n"
              "[actors]\ncount = { kind = \"counter\" }\n[bridges]\n"
              + bridges;
  return start_node(text, actors::builtin_behaviors(),
                    [](kind_registry& kinds) { kinds.add(counter_kind()); });
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_redis PORT N WINDOW\n");
    return 2;
  }
  auto address = std::string{"127.0.0.1:"} + argv[1];
  size_t n = std::stoul(argv[2]);
  size_t window = std::stoul(argv[3]);
  auto redis = "address = \"" + address + "\"";
  std::string only = argc > 4 ? argv[4] : "";
  if (only.empty() || only == "pubsub") {
    auto nd = start("out = { kind = \"redis\", " + redis
                    + ", publish = \"bench\", max-held = 100000 }\n"
                      "in = { kind = \"redis\", "
                    + redis + ", subscribe = [\"bench\"], to = \"count\" }\n");
    // Until both links are up and the subscription stands: one message
    // that arrives.
    auto deadline = clock::now() + std::chrono::seconds(10);
    while (counted.load() == 0 && clock::now() < deadline) {
      pump(*nd, "out", 1, 1);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    counted = 0;
    auto t0 = clock::now();
    pump(*nd, "out", n, window);
    if (!wait_counted(n))
      std::fprintf(stderr, "bench_redis: %zu of %zu arrived\n", counted.load(),
                   n);
    report("redis pub/sub (64 B JSON)", "switchboard",
           per_second(counted.load(), clock::now() - t0), "msg/s");
    nd->stop();
  }
  if (!only.empty() && only != "stream")
    return 0;
  {
    auto nd = start("add = { kind = \"redis-stream\", " + redis
                    + ", stream = \"bench-stream\", max-held = 100000 }\n");
    pump(*nd, "add", 1, 1); // connected
    auto t0 = clock::now();
    pump(*nd, "add", n, window);
    report("redis stream XADD", "switchboard", per_second(n, clock::now() - t0),
           "entry/s");
    nd->stop();
  }
  {
    counted = 0;
    auto t0 = clock::now();
    auto nd = start("take = { kind = \"redis-stream\", " + redis
                    + ", stream = \"bench-stream\", group = \"bench\", "
                      "to = \"count\", batch = 64, concurrency = 256 }\n");
    // n + 1 entries: the one that checked the connection too.
    if (!wait_counted(n + 1))
      std::fprintf(stderr, "bench_redis: consumed %zu of %zu\n", counted.load(),
                   n + 1);
    report("redis stream consume + XACK", "switchboard",
           per_second(counted.load(), clock::now() - t0), "entry/s");
    nd->stop();
  }
  return 0;
}

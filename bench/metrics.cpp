// switchboard: an embeddable C++ actor runtime. MIT License.

// What metrics cost: the same paths on a node that counts (the default)
// and on one with `[node] metrics = false`, in alternating rounds of one
// run (medians), so that the ratio is the counting's own cost. A second
// node without metrics, in the same rounds, shows how far two equal nodes
// differ: the noise a ratio must be read against.
//
// - round trip from a loop actor (a bridge's place) to a scheduler actor
//   (echo): both ends count, and the request's latency is recorded;
// - round trip from a loop actor to a pool of worker threads;
// - one-way sends between two scheduler actors: the per-message cost alone.

#include <cstdio>
#include <future>

#include <unistd.h>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/metered.hpp>
#include <switchboard/metrics.hpp>
#include <switchboard/node.hpp>

#include "bench.hpp"
#include "node.hpp"
#include "client.hpp"

using namespace switchboard;
using namespace switchboard::bench;

namespace {

std::unique_ptr<node> make_node(bool metrics) {
  return start_node(std::string{"[node]\ncontrol = \"none\"\nmetrics = "}
                    + (metrics ? "true" : "false")
                    + "\n[actors]\necho = { kind = \"echo\" }\n"
                      "calc = { kind = \"worker-thread\", behavior = "
                      "\"calculator\", count = 1 }\n");
}

// The block an unnamed bench actor counts into, when the node counts.
actor_metrics* block_of(node& nd, const std::string& name) {
  return nd.metrics_enabled() ? nd.metrics().block(name, "bench") : nullptr;
}

// Requests from a loop actor to `target`, one after the other.
double loop_round_trips(node& nd, const std::string& target, size_t n,
                        json_message msg) {
  std::promise<clock::duration> done;
  auto result = done.get_future();
  auto h = nd.system().spawn<loop_client>(
    nd.loop(), caf::actor_cast<json_actor>(nd.lookup(target)), n, &done,
    caf::timespan{0}, std::move(msg));
  attach_metrics(caf::actor_cast<caf::actor>(h), block_of(nd, "client"));
  return per_second(n, result.get());
}

// Counts what it gets; `on_done` once it has `n`.
class sink : public metered_actor {
public:
  sink(caf::actor_config& cfg, size_t n, std::promise<clock::time_point>* done)
      : metered_actor(cfg), n_(n), done_(done) {}

  caf::behavior make_behavior() override {
    return {[this](const json_message&) {
      if (++seen_ == n_) {
        done_->set_value(clock::now());
        quit();
      }
    }};
  }

private:
  size_t n_;
  size_t seen_ = 0;
  std::promise<clock::time_point>* done_;
};

class source : public metered_actor {
public:
  source(caf::actor_config& cfg, caf::actor to, size_t n)
      : metered_actor(cfg), to_(std::move(to)), n_(n) {}

  caf::behavior make_behavior() override {
    auto msg = json_message::trusted("{\"ping\":1}");
    for (size_t i = 0; i < n_; ++i)
      send(to_, msg);
    quit();
    return {};
  }

private:
  caf::actor to_;
  size_t n_;
};

double one_way(node& nd, size_t n) {
  std::promise<clock::time_point> done;
  auto result = done.get_future();
  auto& sys = nd.system();
  auto to = sys.spawn<sink>(n, &done);
  attach_metrics(to, block_of(nd, "sink"));
  auto start = clock::now();
  // Spawned lazily, so that the block is attached before it sends.
  auto from = sys.spawn<source, caf::lazy_init>(to, n);
  attach_metrics(from, block_of(nd, "source"));
  caf::anon_send(from, caf::ok_atom::value);
  return per_second(n, result.get() - start);
}

// One process's rounds: for each path, the median of each node's rounds,
// as lines `PATH NODE VALUE` (nodes: 0 on, 1 off, 2 off again).
int rounds_here() {
  auto n_rt = scaled(25000);
  auto n_ow = scaled(250000);
  constexpr int rounds = 8;
  auto on = make_node(true);
  auto off = make_node(false);
  auto off_again = make_node(false);
  auto ping = json_message::trusted("{\"ping\":1}");
  auto add = json_message::trusted(R"({"operation":"add","operands":[1,2]})");
  std::vector<std::function<double(node&)>> paths{
    [&](node& nd) { return loop_round_trips(nd, "echo", n_rt, ping); },
    [&](node& nd) { return loop_round_trips(nd, "calc", n_rt, add); },
    [&](node& nd) { return one_way(nd, n_ow); },
  };
  if (auto only = std::getenv("SWITCHBOARD_BENCH_PROFILE")) {
    // One path on one node, for a profiler (perf stat, perf record):
    // SWITCHBOARD_BENCH_PROFILE=on or =off, and the path (0, 1, 2; the
    // first by default) in SWITCHBOARD_BENCH_PATH.
    auto& nd = std::string{only} == "on" ? *on : *off;
    auto path = std::getenv("SWITCHBOARD_BENCH_PATH");
    auto p = path ? static_cast<size_t>(std::atoi(path)) : 0;
    for (int i = 0; i < 40; ++i)
      paths[p < paths.size() ? p : 0](nd);
    return 0;
  }
  node* nodes[] = {on.get(), off.get(), off_again.get()};
  for (size_t p = 0; p < paths.size(); ++p) {
    // Warm all three (threads, allocator), then take turns; each goes
    // first in a third of the rounds (the first after a pause pays for
    // waking threads up).
    for (auto nd : nodes)
      paths[p](*nd);
    std::vector<double> figures[3];
    for (int i = 0; i < rounds; ++i)
      for (int k = 0; k < 3; ++k) {
        auto which = (i + k) % 3;
        figures[which].push_back(paths[p](*nodes[which]));
      }
    for (int k = 0; k < 3; ++k)
      std::printf("%zu %d %f\n", p, k, median(figures[k]));
  }
  std::fflush(stdout);
  for (auto nd : nodes)
    nd->stop();
  return 0;
}

} // namespace

// Two nodes of one process can differ by 10% and more on the same path
// (where their threads happen to run), so one process's on/off ratio
// says little: the figures are the medians over several processes.
int main(int argc, char** argv) {
  if (argc > 1 && std::string{argv[1]} == "--rounds")
    return rounds_here();
  if (std::getenv("SWITCHBOARD_BENCH_PROFILE"))
    return rounds_here();
  const char* names[] = {"metrics cost: loop to scheduler round trip",
                         "metrics cost: loop to worker thread round trip",
                         "metrics cost: one-way between scheduler actors"};
  const char* units[] = {"rt/s", "rt/s", "msg/s"};
  const char* impls[] = {"switchboard", "metrics off",
                         "metrics off, a second node (noise)"};
  constexpr int processes = 6;
  std::vector<double> figures[3][3];
  auto self = std::string{"/proc/self/exe"};
  char path[4096];
  if (auto len = readlink("/proc/self/exe", path, sizeof(path) - 1); len > 0)
    self.assign(path, static_cast<size_t>(len));
  for (int i = 0; i < processes; ++i) {
    auto cmd = "'" + self + "' --rounds 2>/dev/null";
    auto out = popen(cmd.c_str(), "r");
    if (out == nullptr) {
      std::perror("popen");
      return 1;
    }
    size_t p = 0;
    int k = 0;
    double value = 0;
    while (std::fscanf(out, "%zu %d %lf", &p, &k, &value) == 3)
      if (p < 3 && k >= 0 && k < 3)
        figures[p][k].push_back(value);
    if (pclose(out) != 0) {
      std::fprintf(stderr, "bench_metrics: a round failed\n");
      return 1;
    }
  }
  for (size_t p = 0; p < 3; ++p)
    for (int k = 0; k < 3; ++k)
      report(names[p], impls[k], median(figures[p][k]), units[p]);
}

// switchboard: an embeddable C++ actor runtime. MIT License.

// Worker threads and shared buffers:
// - worker round trip and one-way throughput: a scheduler actor and a
//   `worker-thread` pool of one (its own OS thread), next to Node's
//   worker_threads postMessage (bench/peers/postmessage.js);
// - wait/notify ping-pong between two threads through a shared buffer, next
//   to a raw futex ping-pong and Node's Atomics.wait/notify
//   (bench/peers/atomics.js);
// - the same between a node and a child process it passed a process-shared
//   buffer (a child-process with `buffers`; the child is this program,
//   started with --child), next to a raw futex ping-pong between two
//   processes sharing an anonymous mapping.

#include <future>
#include <string>
#include <thread>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>

#include <switchboard/actors/buffers.hpp>
#include <switchboard/actors/builtins.hpp>
#include <switchboard/actors/shared_buffer.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

#include "bench.hpp"
#include "node.hpp"
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

// Takes `n` turns with a partner through element 0 of `v`: this side makes
// it odd, the partner even, each sleeping in wait until notified.
double ping(const actors::atomic_view<int32_t>& v, size_t n) {
  auto t0 = clock::now();
  for (size_t i = 0; i < n; ++i) {
    auto x = *v.load(0);
    v.store(0, x + 1);
    v.notify(0, 1);
    while (((x = *v.load(0)) & 1) == 1)
      v.wait(0, x);
  }
  return per_second(n, clock::now() - t0);
}

// The partner of `ping`, for `n` turns (or for ever with n = 0).
void pong(const actors::atomic_view<int32_t>& v, size_t n) {
  for (size_t i = 0; n == 0 || i < n; ++i) {
    int32_t x;
    while (((x = *v.load(0)) & 1) == 0)
      v.wait(0, x);
    v.store(0, x + 1);
    v.notify(0, 1);
  }
}

// Two threads of this process, pinned to two cores, ping-pong through a
// shared buffer.
double buffer_ping_pong(size_t n) {
  auto buf = *shared_buffer::make(64);
  auto v = *buf.view<int32_t>();
  std::thread partner{[&] {
    pin_to_cpu(1);
    pong(v, n);
  }};
  pin_to_cpu(0);
  auto rate = ping(v, n);
  partner.join();
  unpin();
  return rate;
}

// The raw peer across processes: a forked child pinned to core 1 and this
// process on core 0 take turns through an int in a shared anonymous
// mapping, with shared (not private) futexes.
double raw_process_ping_pong(size_t n) {
  auto mem = mmap(nullptr, 64, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto ball = static_cast<int*>(mem);
  auto wait = [ball](int x) {
    syscall(SYS_futex, ball, FUTEX_WAIT, x, nullptr, nullptr, 0);
  };
  auto wake = [ball] {
    syscall(SYS_futex, ball, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  };
  auto pid = fork();
  if (pid == 0) {
    pin_to_cpu(1);
    for (size_t i = 0; i < n; ++i) {
      int x;
      while (((x = __atomic_load_n(ball, __ATOMIC_SEQ_CST)) & 1) == 0)
        wait(x);
      __atomic_store_n(ball, x + 1, __ATOMIC_SEQ_CST);
      wake();
    }
    _exit(0);
  }
  pin_to_cpu(0);
  auto t0 = clock::now();
  for (size_t i = 0; i < n; ++i) {
    int x = __atomic_load_n(ball, __ATOMIC_SEQ_CST);
    __atomic_store_n(ball, x + 1, __ATOMIC_SEQ_CST);
    wake();
    while (((x = __atomic_load_n(ball, __ATOMIC_SEQ_CST)) & 1) == 1)
      wait(x);
  }
  auto rate = per_second(n, clock::now() - t0);
  waitpid(pid, nullptr, 0);
  munmap(mem, 64);
  unpin();
  return rate;
}

// The child of the cross-process figure: a switchboard program that maps
// the buffer its parent node passed and answers every ping until stopped.
int buffer_child() {
  auto buf = shared_buffer::from_parent("ball");
  if (!buf) {
    std::fprintf(stderr, "%s\n", render(buf.error()).c_str());
    return 1;
  }
  pin_to_cpu(1);
  pong(*buf->view<int32_t>(), 0);
  return 0;
}

// Alternating rounds of each pair, so that both see the same machine:
// in-process (two threads) and across processes (a node and its child).
void wait_notify(const std::string& self) {
  // Rounds of about 100 ms: shorter ones mostly measure the machine's
  // moods.
  auto n = scaled(70000);
  constexpr int rounds = 7;
  auto owned = start_node(
    "[node]\ncontrol = \"none\"\n[buffers]\nball = { bytes = 64, share = "
    "\"process\" }\n[actors]\nchild = { kind = \"child-process\", command "
    "= [\""
    + self
    + "\", \"--child\"], stdin = \"none\", stdout = \"inherit\", "
      "buffers = [\"ball\"] }\n");
  auto& nd = *owned;
  auto ball = *actors::named_buffer(nd, "ball");
  auto v = *ball.view<int32_t>();
  buffer_ping_pong(n / 10);
  futex_ping_pong(n / 10);
  pin_to_cpu(0);
  ping(v, n / 10);
  unpin();
  std::vector<double> ours, raw, ours_proc, raw_proc;
  for (int r = 0; r < rounds; ++r) {
    ours.push_back(buffer_ping_pong(n / rounds));
    raw.push_back(futex_ping_pong(n / rounds));
    pin_to_cpu(0);
    ours_proc.push_back(ping(v, n / rounds));
    unpin();
    raw_proc.push_back(raw_process_ping_pong(n / rounds));
  }
  nd.stop();
  report("wait/notify ping-pong", "switchboard", median(ours), "rt/s");
  report("wait/notify ping-pong", "raw futex ping-pong, two cores", median(raw),
         "rt/s");
  report("wait/notify ping-pong across processes", "switchboard",
         median(ours_proc), "rt/s");
  report("wait/notify ping-pong across processes",
         "raw futex ping-pong, two processes", median(raw_proc), "rt/s");
}

// Runs the worker figures on a fresh node whose pool `w` (one worker,
// echoing) has the extra keys `keys`, with the node settings `settings`.
void run_workers(const std::string& impl, const std::string& keys,
                 const std::string& settings, bool one_way_too) {
  auto n_rt = scaled(20000);
  auto n_ow = scaled(500000);
  auto behaviors = actors::builtin_behaviors();
  behaviors.add("echo", [](const json_message& m, actors::worker_context&) {
    return caf::expected<json_message>{m};
  });
  auto owned = start_node(
    "[node]\ncontrol = \"none\"\n[actors]\nw = { kind = \"worker-thread\", "
    "behavior = \"echo\" "
      + keys + " }\n" + settings,
    std::move(behaviors));
  auto& nd = *owned;
  auto w = caf::actor_cast<json_actor>(nd.lookup("w"));
  auto msg = json_message::trusted("{\"ping\":1}");
  // From the io loop, as a bridge (HTTP, WebSocket, the control socket)
  // asks: the peer of Node's main thread posting to a worker.
  auto from_loop = [&](size_t n) {
    std::promise<clock::duration> done;
    auto result = done.get_future();
    spawn_on_loop<loop_client>(nd.system(), nd.loop(), w, n, &done);
    return result.get();
  };
  from_loop(n_rt / 10);
  auto cpu0 = cpu_time();
  auto elapsed = from_loop(n_rt);
  auto cpu = cpu_time() - cpu0;
  report("worker round trip", impl, per_second(n_rt, elapsed), "rt/s");
  report("worker CPU per round trip", impl,
         std::chrono::duration<double, std::micro>(cpu).count()
           / static_cast<double>(n_rt),
         "us");
  // From an actor on CAF's scheduler.
  round_trips(nd.system(), w, msg, n_rt / 10);
  cpu0 = cpu_time();
  elapsed = round_trips(nd.system(), w, msg, n_rt);
  cpu = cpu_time() - cpu0;
  report("worker round trip from a scheduler actor", impl,
         per_second(n_rt, elapsed), "rt/s");
  report("worker CPU per round trip from a scheduler actor", impl,
         std::chrono::duration<double, std::micro>(cpu).count()
           / static_cast<double>(n_rt),
         "us");
  if (one_way_too)
    report("worker one-way", impl,
           per_second(n_ow, one_way(nd.system(), w, n_ow)), "msg/s");
  // Light traffic: one request every millisecond, as a share of one core.
  cpu0 = cpu_time();
  elapsed = round_trips(nd.system(), w, msg, 300,
                        caf::timespan{std::chrono::milliseconds(1)});
  report("worker CPU at 1 request/ms", impl,
         100.0 * std::chrono::duration<double>(cpu_time() - cpu0).count()
           / std::chrono::duration<double>(elapsed).count(),
         "% of a core");
  nd.stop();
}

} // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string{argv[1]} == "--child")
    return buffer_child();
  // `bench_workers wait` runs only the wait/notify figures.
  bool only_wait = argc >= 2 && std::string{argv[1]} == "wait";
  if (!only_wait) {
    // switchboard's defaults (conf/README.md explains them), then the
    // alternatives.
    run_workers("switchboard", "", "", true);
    run_workers("no spin (as CAF's detached actors)", ", spin = 0us", "",
                false);
    run_workers("low latency: spin 100us, 1000 polls", ", spin = 100us",
                "[work-stealing]\naggressive-poll-attempts = 1000\n", false);
  }
  wait_notify(argv[0]);
}

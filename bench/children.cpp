// switchboard: an embeddable C++ actor runtime. MIT License.

// Child processes:
// - IPC round trip (one message at a time) and one-way throughput over
//   Node's json channel: a `child-process` with ipc = "json", asked from
//   the io loop as a bridge asks, next to a raw socketpair ping-pong
//   between two processes (the OS limit) and Node's `fork` (peers/fork.js);
// - stdio JSON lines, parsed on both sides, streamed through a child that
//   parses and re-serializes each line, next to Node's `spawn`.
// - the same round trip and one-way stream over ipc = "binary", to a child
//   that is itself a switchboard node (its `parent` bridge hands the
//   messages to an actor).
// The children are this program, started with --child MODE: small C++
// loops over the fd, the same for switchboard and for the raw figure, or
// a switchboard node for the binary channel.

#include <cstring>
#include <future>
#include <string>

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/bridges/process/node_channel.hpp>
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

const std::string payload =
  "{\"ping\":1,\"data\":\"abcdefghijklmnopqrstuvwxyz\"}";

// -- children -----------------------------------------------------------------

// Reads lines from `in`, hands each to `fn` and calls `after_read` once
// the lines of one read are done; buffered, no stdio.
template<class F, class G = void (*)()>
void each_line(
  int in, F fn, G after_read = [] {}) {
  std::string buf;
  char chunk[65536];
  for (;;) {
    auto n = read(in, chunk, sizeof(chunk));
    if (n <= 0)
      return;
    buf.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    for (;;) {
      auto nl = buf.find('\n', start);
      if (nl == std::string::npos)
        break;
      fn(std::string_view{buf.data() + start, nl - start});
      start = nl + 1;
    }
    buf.erase(0, start);
    after_read();
  }
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    auto n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0)
      return;
    off += static_cast<size_t>(n);
  }
}

std::unique_ptr<node> start_with(const std::string& entries,
                                 void (*add_kinds)(kind_registry&) = nullptr);

// The number of messages `count` waits for in a binary child.
size_t count_target = 0;

// A switchboard child: `parent` hands what its parent sends to `to`.
int node_child(const std::string& to_kind) {
  bridges::take_parent_channel();
  auto nd = start_with(
    "to = { kind = \"" + to_kind
      + "\" }\n[bridges]\nparent = { kind = \"parent\", to = \"to\" }\n",
    [](kind_registry& kinds) {
      // Counts one-way messages; after count_target, tells the parent.
      kind_spec k;
      k.name = "count";
      k.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
        auto* nd = &ctx.node;
        return ctx.node.system().spawn([nd](caf::event_based_actor* self) {
          auto seen = std::make_shared<size_t>(0);
          return caf::behavior{[nd, seen, self](json_message&) {
            if (++*seen == count_target) {
              *seen = 0;
              self->send(nd->lookup("parent"),
                         json_message::trusted(
                           "{\"count\":" + std::to_string(count_target) + "}"));
            }
          }};
        });
      };
      kinds.add(std::move(k));
    });
  nd->wait_for_stop_request();
  nd->stop();
  return 0;
}

int child_main(const std::string& mode, int argc, char** argv) {
  // Round trips pin the child to a core of its own (see main).
  if (auto cpu = std::getenv("SWITCHBOARD_BENCH_CHILD_CPU"))
    pin_to_cpu(std::atoi(cpu));
  // A switchboard child, on either channel (its bridge finds which).
  if (mode == "node-echo")
    return node_child("echo");
  if (mode == "node-count" && argc > 0) {
    count_target = static_cast<size_t>(std::atol(argv[0]));
    return node_child("count");
  }
  if (mode == "echo") { // fd 3: echo each line
    each_line(3, [](std::string_view line) {
      std::string out{line};
      out += '\n';
      write_all(3, out);
    });
  } else if (mode == "count" && argc > 0) { // fd 3: answer after N lines
    long n = std::atol(argv[0]), seen = 0;
    each_line(3, [&](std::string_view) {
      if (++seen == n) {
        write_all(3, "{\"count\":" + std::to_string(n) + "}\n");
        seen = 0;
      }
    });
  } else if (mode == "json-lines") { // stdin -> parse, dump -> stdout
    std::string out;
    simdjson::dom::parser parser;
    // Answers what one read brought in with one write.
    each_line(
      0,
      [&](std::string_view line) {
        auto doc = parser.parse(line.data(), line.size(), true);
        if (doc.error())
          std::abort();
        out += simdjson::minify(doc.value());
        out += '\n';
      },
      [&] {
        write_all(1, out);
        out.clear();
      });
  }
  return 0;
}

// -- raw socketpair -----------------------------------------------------------

double raw_socketpair(const std::string& self_path, size_t n) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  auto pid = fork();
  if (pid == 0) {
    dup2(sv[1], 3);
    execl(self_path.c_str(), self_path.c_str(), "--child", "echo", nullptr);
    _exit(127);
  }
  close(sv[1]);
  auto line = payload + "\n";
  char buf[4096];
  auto t0 = clock::now();
  for (size_t i = 0; i < n; ++i) {
    write_all(sv[0], line);
    size_t got = 0;
    while (got < line.size()) {
      auto k = read(sv[0], buf, sizeof(buf));
      if (k <= 0)
        break;
      got += static_cast<size_t>(k);
    }
  }
  auto elapsed = clock::now() - t0;
  close(sv[0]);
  int status;
  waitpid(pid, &status, 0);
  return per_second(n, elapsed);
}

// -- switchboard --------------------------------------------------------------

std::unique_ptr<node> start_with(const std::string& entries,
                                 void (*add_kinds)(kind_registry&)) {
  return start_node("[node]\ncontrol = \"none\"\n[actors]\n" + entries,
                    actors::builtin_behaviors(), add_kinds);
}

// The bench's `sink`: the actor the child's unsolicited messages go to. A
// round sets how many it waits for; with `parse`, it parses each (simdjson).
class sink {
public:
  sink(node& nd, bool parse) : st_(std::make_shared<state>()) {
    st_->parse = parse;
    // The config's echo holds the name for validation; this replaces it.
    {
      auto echo = nd.lookup("sink");
      caf::scoped_actor self{nd.system()};
      self->send_exit(echo, caf::exit_reason::user_shutdown);
      self->wait_for(echo);
    }
    actor_ = nd.system().spawn([st = st_]() -> json_actor::behavior_type {
      return {[st](json_message& m) {
        if (st->parse && st->parser.parse(m.text).error())
          std::abort();
        if (--st->left == 0)
          st->done->set_value();
        return json_message::trusted("null");
      }};
    });
    nd.add("sink", caf::actor_cast<caf::actor>(actor_));
  }

  ~sink() {
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
  }

  /// Sends `msg` n times to `job` and returns how long it took until the
  /// sink got `expect` messages.
  clock::duration round(json_actor job, const json_message& msg, size_t n,
                        size_t expect) {
    std::promise<void> done;
    auto fut = done.get_future();
    // Set before the first send: the mailbox orders it before the sink
    // reads it.
    st_->left = expect;
    st_->done = &done;
    auto t0 = clock::now();
    for (size_t i = 0; i < n; ++i)
      caf::anon_send(job, msg);
    fut.wait();
    return clock::now() - t0;
  }

private:
  struct state {
    bool parse = false;
    simdjson::dom::parser parser;
    size_t left = 0;
    std::promise<void>* done = nullptr;
  };
  std::shared_ptr<state> st_;
  json_actor actor_;
};

std::string in_quotes(const std::string& s) {
  return "\"" + s + "\"";
}

} // namespace

// Each figure is the median of `rounds` rounds of n operations; where
// two figures are compared, their rounds alternate, so that both see the
// same moments of a noisy machine.
constexpr size_t rounds = 9;

int main(int argc, char** argv) {
  if (argc >= 3 && std::string{argv[1]} == "--child")
    return child_main(argv[2], argc - 3, argv + 3);
  std::string self = argv[0];
  // `bench_children [rt] [one-way] [stdio]` runs only those parts.
  auto wanted = [&](const char* part) {
    if (argc < 2)
      return true;
    for (int i = 1; i < argc; ++i)
      if (std::string{argv[i]} == part)
        return true;
    return false;
  };
  auto n_rt = scaled(20000);
  auto n_ow = scaled(200000);
  auto n_lines = scaled(200000);
  if (wanted("rt")) {
    // One node per channel; the raw ping-pong runs between its rounds.
    auto rt_node = [&](const std::string& ipc, const std::string& mode) {
      auto nd = start_with("job = { kind = \"child-process\", command = ["
                           + in_quotes(self) + ", \"--child\", \"" + mode
                           + "\"], ipc = \"" + ipc + "\" }\n");
      auto job = caf::actor_cast<json_actor>(nd->lookup("job"));
      auto from_loop = [ndp = nd.get(), job](size_t n) {
        std::promise<clock::duration> done;
        auto result = done.get_future();
        // The same message as the raw ping-pong and Node's.
        spawn_on_loop<loop_client>(ndp->system(), ndp->loop(), job, n, &done,
                                   caf::timespan{0},
                                   json_message::trusted(payload));
        return per_second(n, result.get());
      };
      from_loop(n_rt / 10); // warm-up
      return std::make_pair(std::move(nd), from_loop);
    };
    // A round trip's rate depends above all on where the scheduler puts
    // the two sides: on this kind of machine a wake-up on the same core is
    // several times cheaper than one across cores, and an unpinned run
    // flips between the two. So the parent (every thread of the node) is
    // pinned to core 0 and the child to core 1, for every figure here and
    // for Node's (peers/fork.js).
    pin_to_cpu(0);
    setenv("SWITCHBOARD_BENCH_CHILD_CPU", "1", 1);
    std::vector<double> raw, json, binary, json_to_node;
    raw_socketpair(self, n_rt / 10);
    {
      auto [nd, run] = rt_node("json", "echo");
      for (size_t r = 0; r < rounds; ++r) {
        raw.push_back(raw_socketpair(self, n_rt));
        json.push_back(run(n_rt));
      }
      nd->stop();
    }
    report("IPC round trip", "raw socketpair ping-pong", median(raw), "rt/s");
    report("IPC round trip", "switchboard", median(json), "rt/s");
    // A child that is a switchboard node: binary, and json for comparison.
    {
      auto [bin_nd, bin_run] = rt_node("binary", "node-echo");
      auto [json_nd, json_run] = rt_node("json", "node-echo");
      for (size_t r = 0; r < rounds; ++r) {
        binary.push_back(bin_run(n_rt));
        json_to_node.push_back(json_run(n_rt));
      }
      bin_nd->stop();
      json_nd->stop();
    }
    unsetenv("SWITCHBOARD_BENCH_CHILD_CPU");
    unpin();
    report("IPC round trip to a switchboard child", "switchboard",
           median(binary), "rt/s");
    report("IPC round trip to a switchboard child",
           "the json channel to the same child", median(json_to_node), "rt/s");
  }
  if (wanted("one-way")) {
    auto one_way_run = [&](const std::string& ipc, const std::string& mode) {
      auto nd =
        start_with("job = { kind = \"child-process\", command = ["
                   + in_quotes(self) + ", \"--child\", \"" + mode + "\", \""
                   + std::to_string(n_ow) + "\"], ipc = \"" + ipc
                   + "\", to = \"sink\" }\nsink = { kind = " + "\"echo\" }\n");
      auto job = caf::actor_cast<json_actor>(nd->lookup("job"));
      auto msg = json_message::trusted(payload);
      std::vector<double> xs;
      {
        sink counted{*nd, false};
        for (size_t r = 0; r < rounds; ++r)
          xs.push_back(per_second(n_ow, counted.round(job, msg, n_ow, 1)));
      }
      nd->stop();
      return median(xs);
    };
    auto json_one_way = one_way_run("json", "count");
    report("IPC one-way", "switchboard", json_one_way, "msg/s");
    report("IPC one-way to a switchboard child", "switchboard",
           one_way_run("binary", "node-count"), "msg/s");
    report("IPC one-way to a switchboard child",
           "the json channel to a C++ loop (above)", json_one_way, "msg/s");
  }
  if (wanted("stdio")) {
    // Streamed as Node's peer streams: lines go out as one-way messages,
    // the child's lines come back unasked and go to `to`, which parses
    // each (the channel has checked it is JSON on the way in).
    auto nd = start_with("job = { kind = \"child-process\", command = ["
                         + in_quotes(self)
                         + ", \"--child\", \"json-lines\"], to = \"sink\" }\n"
                         + "sink = { kind = \"echo\" }\n");
    auto job = caf::actor_cast<json_actor>(nd->lookup("job"));
    auto msg = json_message::trusted(payload);
    std::vector<double> xs;
    {
      sink parsing{*nd, true};
      for (size_t r = 0; r < rounds; ++r)
        xs.push_back(
          per_second(n_lines, parsing.round(job, msg, n_lines, n_lines)));
    }
    report("stdio JSON lines", "switchboard", median(xs), "lines/s");
    nd->stop();
  }
}

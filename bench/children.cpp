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
#include "client.hpp"

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

std::unique_ptr<node> start_node(const std::string& actors,
                                 void (*add_kinds)(kind_registry&) = nullptr);

// The number of messages `count` waits for in a binary child.
size_t count_target = 0;

// A switchboard child: `parent` hands what its parent sends to `to`.
int node_child(const std::string& to_kind) {
  bridges::take_parent_channel();
  auto nd = start_node(
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

std::unique_ptr<node> start_node(const std::string& actors,
                                 void (*add_kinds)(kind_registry&)) {
  auto cfg =
    node_config::from_string("[node]\ncontrol = \"none\"\n[actors]\n" + actors);
  if (!cfg) {
    std::fprintf(stderr, "%s\n", render(cfg.error()).c_str());
    std::exit(1);
  }
  auto nd = std::make_unique<node>(std::move(*cfg));
  actors::add_builtin_kinds(nd->kinds());
  if (add_kinds)
    add_kinds(nd->kinds());
  if (auto err = nd->start()) {
    std::fprintf(stderr, "%s\n", render(err).c_str());
    std::exit(1);
  }
  return nd;
}

// Waits for the first message from the child (one that nobody asked for).
struct collector_state {
  std::promise<void>* done = nullptr;
};

clock::duration one_way(node& nd, json_actor job, size_t n) {
  std::promise<void> done;
  auto fut = done.get_future();
  auto sink = nd.system().spawn([&done]() -> json_actor::behavior_type {
    return {[&done](json_message&) {
      done.set_value();
      return json_message::trusted("null");
    }};
  });
  nd.add("sink", caf::actor_cast<caf::actor>(sink));
  auto msg = json_message::trusted(payload);
  auto t0 = clock::now();
  for (size_t i = 0; i < n; ++i)
    caf::anon_send(job, msg);
  fut.wait();
  auto elapsed = clock::now() - t0;
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  return elapsed;
}

std::string in_quotes(const std::string& s) {
  return "\"" + s + "\"";
}

} // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string{argv[1]} == "--child")
    return child_main(argv[2], argc - 3, argv + 3);
  std::string self = argv[0];
  auto n_rt = scaled(20000);
  auto n_ow = scaled(200000);
  auto n_lines = scaled(200000);
  raw_socketpair(self, n_rt / 10);
  report("IPC round trip", "raw socketpair ping-pong",
         raw_socketpair(self, n_rt), "rt/s");
  auto round_trip = [&](const std::string& ipc, const std::string& mode) {
    auto nd = start_node("job = { kind = \"child-process\", command = ["
                         + in_quotes(self) + ", \"--child\", \"" + mode
                         + "\"], ipc = \"" + ipc + "\" }\n");
    auto job = caf::actor_cast<json_actor>(nd->lookup("job"));
    auto from_loop = [&](size_t n) {
      std::promise<clock::duration> done;
      auto result = done.get_future();
      spawn_on_loop<loop_client>(nd->system(), nd->loop(), job, n, &done);
      return result.get();
    };
    from_loop(n_rt / 10);
    auto rate = per_second(n_rt, from_loop(n_rt));
    nd->stop();
    return rate;
  };
  report("IPC round trip", "switchboard", round_trip("json", "echo"), "rt/s");
  // A child that is a switchboard node: binary, and json for comparison.
  report("IPC round trip to a switchboard child", "switchboard",
         round_trip("binary", "node-echo"), "rt/s");
  report("IPC round trip to a switchboard child",
         "the json channel to the same child", round_trip("json", "node-echo"),
         "rt/s");
  report("IPC round trip", "raw socketpair ping-pong (again)",
         raw_socketpair(self, n_rt), "rt/s");
  auto one_way_run = [&](const std::string& ipc, const std::string& mode) {
    auto nd =
      start_node("job = { kind = \"child-process\", command = ["
                 + in_quotes(self) + ", \"--child\", \"" + mode + "\", \""
                 + std::to_string(n_ow) + "\"], ipc = \"" + ipc
                 + "\", to = \"sink\" }\nsink = { kind = " + "\"echo\" }\n");
    // The echo holds the name for validation; the bench's sink replaces it.
    {
      auto echo = nd->lookup("sink");
      caf::actor_system& sys = nd->system();
      caf::scoped_actor self_actor{sys};
      self_actor->send_exit(echo, caf::exit_reason::user_shutdown);
      self_actor->wait_for(echo);
    }
    auto job = caf::actor_cast<json_actor>(nd->lookup("job"));
    auto rate = per_second(n_ow, one_way(*nd, job, n_ow));
    nd->stop();
    return rate;
  };
  auto json_one_way = one_way_run("json", "count");
  report("IPC one-way", "switchboard", json_one_way, "msg/s");
  report("IPC one-way to a switchboard child", "switchboard",
         one_way_run("binary", "node-count"), "msg/s");
  report("IPC one-way to a switchboard child",
         "the json channel to a C++ loop (above)", json_one_way, "msg/s");
  {
    // Streamed as Node's peer streams: lines go out as one-way messages,
    // the child's lines come back unasked and go to `to`, which parses
    // each (the channel has checked it is JSON on the way in).
    auto nd = start_node("job = { kind = \"child-process\", command = ["
                         + in_quotes(self)
                         + ", \"--child\", \"json-lines\"], to = \"sink\" }\n"
                         + "sink = { kind = \"echo\" }\n");
    {
      auto echo = nd->lookup("sink");
      caf::actor_system& sys = nd->system();
      caf::scoped_actor self_actor{sys};
      self_actor->send_exit(echo, caf::exit_reason::user_shutdown);
      self_actor->wait_for(echo);
    }
    std::promise<void> done;
    auto fut = done.get_future();
    auto left = std::make_shared<size_t>(n_lines);
    auto sink =
      nd->system().spawn([&done, left]() -> json_actor::behavior_type {
        auto parser = std::make_shared<simdjson::dom::parser>();
        return {[&done, left, parser](json_message& m) {
          if (parser->parse(m.text).error())
            std::abort();
          if (--*left == 0)
            done.set_value();
          return json_message::trusted("null");
        }};
      });
    nd->add("sink", caf::actor_cast<caf::actor>(sink));
    auto job = caf::actor_cast<json_actor>(nd->lookup("job"));
    auto msg = json_message::trusted(payload);
    auto t0 = clock::now();
    for (size_t i = 0; i < n_lines; ++i)
      caf::anon_send(job, msg);
    fut.wait();
    report("stdio JSON lines", "switchboard",
           per_second(n_lines, clock::now() - t0), "lines/s");
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
    nd->stop();
  }
}

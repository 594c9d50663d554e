// switchboard: an embeddable C++ actor runtime. MIT License.

// Two nodes over BASP: round trips (one request at a time) and one-way
// throughput from node a to node b, a child process. Next to it, in the same
// run: a raw blocking TCP ping-pong of 64-byte messages between the same two
// processes (the OS limit), the same over plain CAF as shipped (a published
// string echo, no switchboard), and two Node processes with JSON lines over
// TCP (peers/remote.js). Round trips pin this process to core 0 and the
// other to core 1, as bench/children.cpp does; one-way runs pinned too.
//
//   bench_remote PEERS_DIR            every figure
//   bench_remote --serve ...          (the other process)

#include <atomic>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

#include "bench.hpp"
#include "futex.hpp"

using namespace switchboard;
using namespace switchboard::bench;

namespace {

// Extra config text for both nodes (e.g. "[middleman]\nworkers = 0\n"):
// what a setting does to the figures.
std::string extra_config() {
  auto x = std::getenv("SWITCHBOARD_BENCH_REMOTE_CONFIG");
  return x ? std::string{"\n"} + x + "\n" : std::string{};
}

// 64 bytes of JSON: the message every path carries.
#define SWITCHBOARD_BENCH_PAYLOAD                                              \
  R"({"ping":1,"data":"abcdefghijklmnopqrstuvwxyz0123456789abcdefgh"})"
static_assert(sizeof(SWITCHBOARD_BENCH_PAYLOAD) == 65);
const std::string payload = SWITCHBOARD_BENCH_PAYLOAD;

constexpr size_t frame = 64;

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool read_exactly(int fd, char* p, size_t n) {
  while (n > 0) {
    auto k = read(fd, p, n);
    if (k <= 0)
      return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    auto k = write(fd, p, n);
    if (k <= 0)
      return;
    p += k;
    n -= static_cast<size_t>(k);
  }
}

// -- the raw TCP pair: 64-byte frames; 'p' is echoed, 'c' counted, 'd'
// answered with the count
// ------------------------------------------------------

void raw_server(int listener) {
  for (;;) {
    int fd = accept(listener, nullptr, nullptr);
    if (fd < 0)
      return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // Reads what is there (many frames at once when the client streams).
    std::vector<char> buf(frame * 1024);
    size_t have = 0;
    uint64_t count = 0;
    for (;;) {
      auto k = read(fd, buf.data() + have, buf.size() - have);
      if (k <= 0)
        break;
      have += static_cast<size_t>(k);
      size_t at = 0;
      for (; have - at >= frame; at += frame) {
        auto f = buf.data() + at;
        if (f[0] == 'p') {
          write_all(fd, f, frame);
        } else if (f[0] == 'c') {
          ++count;
        } else {
          std::memcpy(f, &count, sizeof(count));
          write_all(fd, f, frame);
          count = 0;
        }
      }
      std::memmove(buf.data(), buf.data() + at, have - at);
      have -= at;
    }
    close(fd);
  }
}

int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

double raw_round_trips(int port, size_t n) {
  int fd = dial(port);
  char buf[frame];
  std::memset(buf, 'p', frame);
  auto t0 = clock::now();
  for (size_t i = 0; i < n; ++i) {
    write_all(fd, buf, frame);
    read_exactly(fd, buf, frame);
  }
  auto elapsed = clock::now() - t0;
  close(fd);
  return per_second(n, elapsed);
}

double raw_one_way(int port, size_t n) {
  int fd = dial(port);
  std::vector<char> batch(frame * 256, 'c');
  auto t0 = clock::now();
  for (size_t sent = 0; sent < n;) {
    auto k = std::min<size_t>(256, n - sent);
    write_all(fd, batch.data(), k * frame);
    sent += k;
  }
  char buf[frame];
  std::memset(buf, 'd', frame);
  write_all(fd, buf, frame);
  read_exactly(fd, buf, frame);
  auto elapsed = clock::now() - t0;
  uint64_t count = 0;
  std::memcpy(&count, buf, sizeof(count));
  close(fd);
  if (count != n)
    std::fprintf(stderr, "raw one-way: %zu of %zu arrived\n",
                 static_cast<size_t>(count), n);
  return per_second(n, elapsed);
}

// -- actors on both sides -----------------------------------------------------

// Sends `n` requests to `target`, one at a time, from an actor of `sys`.
template<class Reply, class Make>
double actor_round_trips(caf::actor_system& sys, caf::actor target, size_t n,
                         Make make) {
  std::promise<void> done;
  auto t0 = clock::now();
  sys.spawn([&, target, n, make](caf::event_based_actor* self) {
    auto step = std::make_shared<std::function<void(size_t)>>();
    *step = [self, target, make, step, &done](size_t left) {
      if (left == 0) {
        done.set_value();
        *step = nullptr;
        return;
      }
      self->request(target, caf::infinite, make())
        .then([step, left](Reply&) { (*step)(left - 1); },
              [](caf::error& err) {
                std::fprintf(stderr, "round trip: %s\n", render(err).c_str());
                std::abort();
              });
    };
    (*step)(n);
  });
  done.get_future().wait();
  return per_second(n, clock::now() - t0);
}

// Sends `n` one-way messages to `target`, then a request that the target
// answers once it has counted them all.
template<class One, class Done>
double actor_one_way(caf::actor_system& sys, caf::actor target, size_t n,
                     One one, Done last) {
  std::promise<uint64_t> done;
  auto t0 = clock::now();
  sys.spawn([&, target, n, one, last](caf::event_based_actor* self) {
    for (size_t i = 0; i < n; ++i)
      self->send(target, one());
    self->request(target, caf::infinite, last())
      .then([&done](uint64_t count) { done.set_value(count); },
            [&done](caf::error&) { done.set_value(0); });
  });
  auto count = done.get_future().get();
  auto rate = per_second(n, clock::now() - t0);
  if (count != n)
    std::fprintf(stderr, "one-way: %zu of %zu arrived\n",
                 static_cast<size_t>(count), n);
  return rate;
}

using count_atom = caf::atom_constant<caf::atom("count")>;
using done_atom = caf::atom_constant<caf::atom("done")>;

// What b's `count` kind and the raw CAF side's counter do.
caf::behavior counter(caf::event_based_actor*) {
  auto n = std::make_shared<uint64_t>(0);
  return {
    [n](push_atom, json_message&) { ++*n; },
    [n](count_atom, std::string&) { ++*n; },
    [n](done_atom) {
      auto result = *n;
      *n = 0;
      return result;
    },
  };
}

// -- the other process
// ----------------------------------------------------------

int serve(int sb_port, int raw_port, int caf_port, int caf_count_port) {
  pin_to_cpu(1);
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(raw_port));
  bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  listen(listener, 16);
  std::thread{raw_server, listener}.detach();
  // CAF as shipped: a published string echo and a counter.
  caf::actor_system_config raw_cfg;
  raw_cfg.load<caf::io::middleman>();
  caf::actor_system raw_sys{raw_cfg};
  auto raw_echo = raw_sys.spawn(
    []() -> caf::behavior { return {[](std::string& s) { return s; }}; });
  auto raw_count = raw_sys.spawn(counter);
  raw_sys.middleman().publish(raw_echo, static_cast<uint16_t>(caf_port),
                              "127.0.0.1", true);
  raw_sys.middleman().publish(raw_count, static_cast<uint16_t>(caf_count_port),
                              "127.0.0.1", true);
  // Node b.
  auto cfg = node_config::from_string(
    "[node]\nname = \"b\"\ncontrol = \"none\"\nlisten = \"127.0.0.1:"
    + std::to_string(sb_port)
    + "\"\n[actors]\necho = { kind = \"echo\" }\ncount = { kind = "
      "\"count\" }\n"
    + extra_config());
  node b{std::move(*cfg)};
  actors::add_builtin_kinds(b.kinds());
  kind_spec count;
  count.name = "count";
  count.accepts_json = false;
  count.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return ctx.node.system().spawn(counter);
  };
  b.kinds().add(count);
  if (auto err = b.start()) {
    std::fprintf(stderr, "node b: %s\n", render(err).c_str());
    _exit(1); // CAF's system would wait for its published actors.
  }
  std::printf("ready\n");
  std::fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  b.stop();
  caf::anon_send_exit(raw_echo, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(raw_count, caf::exit_reason::user_shutdown);
  _exit(0); // The raw server thread blocks in accept.
}

// A child process with a pipe to its stdin (closed to stop it) and from
// its stdout; returns its first line.
struct peer_process {
  pid_t pid = -1;
  int in = -1;
  int out = -1;

  peer_process(const std::vector<std::string>& argv) {
    int to[2];
    int from[2];
    if (pipe(to) != 0 || pipe(from) != 0)
      std::abort();
    pid = fork();
    if (pid == 0) {
      dup2(to[0], 0);
      dup2(from[1], 1);
      close(to[1]);
      close(from[0]);
      std::vector<char*> args;
      for (auto& x : argv)
        args.push_back(const_cast<char*>(x.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(to[0]);
    close(from[1]);
    in = to[1];
    out = from[0];
  }

  // Waits for the process to end on its own; returns its exit status.
  int finish() {
    close(in);
    in = -1;
    char buf[256];
    while (read(out, buf, sizeof(buf)) > 0) {
    }
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return status;
  }

  std::string line() {
    std::string result;
    char c;
    while (read(out, &c, 1) == 1 && c != '\n')
      result += c;
    return result;
  }

  ~peer_process() {
    if (in >= 0)
      close(in);
    close(out);
    if (pid > 0) {
      kill(pid, SIGTERM);
      int status;
      waitpid(pid, &status, 0);
    }
  }
};

// A Node client's rate (peers/remote.js prints one number), on core 0.
double node_client(const std::string& script, const std::string& mode,
                   const std::string& port, size_t n) {
  peer_process p{
    {"taskset", "-c", "0", "node", script, mode, port, std::to_string(n)}};
  return std::atof(p.line().c_str());
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::string{argv[1]} == "--serve")
    return serve(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]),
                 std::atoi(argv[5]));
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_remote PEERS_DIR\n");
    return 2;
  }
  std::string script = std::string{argv[1]} + "/remote.js";
  auto n_rt = scaled(20000);
  auto n_one_way = scaled(200000);
  size_t rounds = 5;
  auto sb_port = free_port();
  auto raw_port = free_port();
  auto caf_port = free_port();
  auto caf_count_port = free_port();
  pin_to_cpu(0);
  char self[4096];
  auto len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  self[len > 0 ? len : 0] = '\0';
  peer_process other{{self, "--serve", std::to_string(sb_port),
                      std::to_string(raw_port), std::to_string(caf_port),
                      std::to_string(caf_count_port)}};
  if (other.line() != "ready") {
    std::fprintf(stderr, "the other node did not start\n");
    return 1;
  }
  // Node a, and CAF as shipped beside it.
  auto cfg = node_config::from_string(
    "[node]\nname = \"a\"\ncontrol = \"none\"\npeers = [\"127.0.0.1:"
    + std::to_string(sb_port) + "\"]\n" + extra_config());
  node a{std::move(*cfg)};
  actors::add_builtin_kinds(a.kinds());
  if (auto err = a.start()) {
    std::fprintf(stderr, "node a: %s\n", render(err).c_str());
    return 1;
  }
  caf::actor_system_config raw_cfg;
  raw_cfg.load<caf::io::middleman>();
  caf::actor_system raw_sys{raw_cfg};
  auto raw_echo = raw_sys.middleman().remote_actor(
    "127.0.0.1", static_cast<uint16_t>(caf_port));
  auto raw_count = raw_sys.middleman().remote_actor(
    "127.0.0.1", static_cast<uint16_t>(caf_count_port));
  if (!raw_echo || !raw_count) {
    std::fprintf(stderr, "raw CAF: cannot connect: %s\n",
                 render(!raw_echo ? raw_echo.error() : raw_count.error())
                   .c_str());
    return 1;
  }
  auto echo = a.lookup("b/echo");
  auto count = a.lookup("b/count");
  auto json = [] { return json_message::trusted(payload); };
  auto text = [] { return std::string{payload}; };
  // Warm up: the first request resolves b/echo and waits for the peer.
  actor_round_trips<json_message>(a.system(), echo, 100, json);
  actor_round_trips<uint64_t>(
    a.system(), count, 1, [] { return caf::make_message(done_atom::value); });
  actor_round_trips<std::string>(raw_sys, *raw_echo, 100, text);
  std::vector<double> sb, raw, caf_rt;
  for (size_t r = 0; r < rounds; ++r) {
    raw.push_back(raw_round_trips(raw_port, n_rt));
    sb.push_back(actor_round_trips<json_message>(a.system(), echo, n_rt, json));
    caf_rt.push_back(
      actor_round_trips<std::string>(raw_sys, *raw_echo, n_rt, text));
  }
  report("remote round trip", "raw TCP ping-pong", median(raw), "rt/s");
  report("remote round trip", "switchboard", median(sb), "rt/s");
  report("remote round trip", "CAF BASP as shipped", median(caf_rt), "rt/s");
  auto us = [](double rate) { return 1e6 / rate; };
  report("remote round trip time", "raw TCP ping-pong", us(median(raw)), "us");
  report("remote round trip time", "switchboard", us(median(sb)), "us");
  sb.clear();
  raw.clear();
  caf_rt.clear();
  for (size_t r = 0; r < rounds; ++r) {
    raw.push_back(raw_one_way(raw_port, n_one_way));
    sb.push_back(actor_one_way(
      a.system(), count, n_one_way,
      [] {
        return caf::make_message(push_atom::value,
                                 json_message::trusted(payload));
      },
      [] { return caf::make_message(done_atom::value); }));
    caf_rt.push_back(actor_one_way(
      raw_sys, *raw_count, n_one_way,
      [] { return caf::make_message(count_atom::value, std::string{payload}); },
      [] { return caf::make_message(done_atom::value); }));
  }
  report("remote one-way", "raw TCP, 64-byte frames", median(raw), "msg/s");
  report("remote one-way", "switchboard", median(sb), "msg/s");
  report("remote one-way", "CAF BASP as shipped", median(caf_rt), "msg/s");
  // Node: both processes pinned as ours.
  {
    peer_process server{{"taskset", "-c", "1", "node", script, "serve"}};
    auto line = server.line();
    auto port = line.substr(line.find(' ') + 1);
    std::vector<double> rt, ow;
    for (size_t r = 0; r < rounds; ++r) {
      rt.push_back(node_client(script, "rt", port, n_rt));
      ow.push_back(node_client(script, "one-way", port, n_one_way));
    }
    report("remote round trip", "Node TCP, JSON lines", median(rt), "rt/s");
    report("remote one-way", "Node TCP, JSON lines", median(ow), "msg/s");
  }
  echo = nullptr;
  count = nullptr;
  a.stop();
  // The same two nodes with TLS between them (a self-signed certificate,
  // its own CA, made by the openssl command).
  char dir[] = "/tmp/switchboard-bench-XXXXXX";
  if (mkdtemp(dir) == nullptr)
    return 1;
  auto cert = std::string{dir} + "/cert.pem";
  auto key = std::string{dir} + "/key.pem";
  peer_process openssl{{"openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "1", "-subj", "/CN=localhost",
                        "-keyout", key, "-out", cert}};
  if (openssl.finish() != 0) {
    std::fprintf(stderr, "openssl req failed\n");
    return 1;
  }
  setenv("SWITCHBOARD_BENCH_REMOTE_CONFIG",
         ("[node]\ntls = true\ncert-file = \"" + cert + "\"\nkey-file = \""
          + key + "\"\nca-file = \"" + cert + "\"\n")
           .c_str(),
         1);
  {
    auto tls_port = free_port();
    peer_process tls_other{{self, "--serve", std::to_string(tls_port),
                            std::to_string(free_port()),
                            std::to_string(free_port()),
                            std::to_string(free_port())}};
    if (tls_other.line() != "ready") {
      std::fprintf(stderr, "the TLS node did not start\n");
      return 1;
    }
    auto tls_cfg = node_config::from_string(
      "[node]\nname = \"a\"\ncontrol = \"none\"\npeers = [\"127.0.0.1:"
      + std::to_string(tls_port) + "\"]\n" + extra_config());
    node ta{std::move(*tls_cfg)};
    actors::add_builtin_kinds(ta.kinds());
    if (auto err = ta.start()) {
      std::fprintf(stderr, "TLS node a: %s\n", render(err).c_str());
      return 1;
    }
    auto tls_echo = ta.lookup("b/echo");
    auto tls_count = ta.lookup("b/count");
    actor_round_trips<json_message>(ta.system(), tls_echo, 100, json);
    actor_round_trips<uint64_t>(ta.system(), tls_count, 1, [] {
      return caf::make_message(done_atom::value);
    });
    sb.clear();
    std::vector<double> ow;
    for (size_t r = 0; r < rounds; ++r) {
      sb.push_back(
        actor_round_trips<json_message>(ta.system(), tls_echo, n_rt, json));
      ow.push_back(actor_one_way(
        ta.system(), tls_count, n_one_way,
        [] {
          return caf::make_message(push_atom::value,
                                   json_message::trusted(payload));
        },
        [] { return caf::make_message(done_atom::value); }));
    }
    report("remote round trip", "switchboard with TLS", median(sb), "rt/s");
    report("remote one-way", "switchboard with TLS", median(ow), "msg/s");
    tls_echo = nullptr;
    tls_count = nullptr;
    ta.stop();
  }
  unlink(cert.c_str());
  unlink(key.c_str());
  rmdir(dir);
  return 0;
}

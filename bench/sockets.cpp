// switchboard: an embeddable C++ actor runtime. MIT License.

// The tcp and uds bridges, serving `echo` (each line a JSON request, the
// reply a line), against the same blocking C client:
// - echo, 64-byte messages, one at a time (window 1), over TCP and a Unix
//   socket, next to a raw blocking C echo server (a plain C server: it
//   sleeps in read between messages) and Node's
//   `net` (peers/net.js: lines, JSON.parse, JSON.stringify); the server
//   side on core 0, the client on core 1, as in children.cpp;
// - echo with 64 messages in flight, next to Node;
// - connection churn: 8 client threads, each connect, one echo, close;
// - 10,000 idle connections: the server's RSS per connection.
//
//   bench_sockets PEERS_DIR [window1] [window64] [churn] [idle]

#include <cstring>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

#include "bench.hpp"
#include "node.hpp"
#include "futex.hpp"

using namespace switchboard;
using namespace switchboard::bench;

namespace {

// 63 bytes of JSON and a newline.
const std::string message = [] {
  std::string s = "{\"ping\":1,\"data\":\"";
  while (s.size() < 63 - 2)
    s += 'x';
  s += "\"}\n";
  return s;
}();

constexpr size_t rounds = 5;

// Where a server listens: a TCP port on 127.0.0.1 or a Unix socket path.
struct address {
  bool unix_socket = false;
  int port = 0;
  std::string path;
};

int dial(const address& a) {
  int fd;
  if (a.unix_socket) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, a.path.c_str(), sizeof(sa.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      std::perror("connect");
      std::exit(1);
    }
    return fd;
  }
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(a.port));
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    auto k = ::write(fd, p, n);
    if (k <= 0) {
      std::perror("write");
      std::exit(1);
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
}

// Reads until `lines` more newlines arrived.
void read_lines(int fd, size_t lines) {
  char buf[65536];
  while (lines > 0) {
    auto k = ::read(fd, buf, sizeof(buf));
    if (k <= 0) {
      std::fprintf(stderr, "read: the server closed\n");
      std::exit(1);
    }
    for (ssize_t i = 0; i < k; ++i)
      lines -= buf[i] == '\n' ? 1 : 0;
  }
}

// n echoes with `window` in flight, on one connection; messages/s.
double echo(const address& a, size_t n, size_t window) {
  int fd = dial(a);
  std::string batch;
  for (size_t i = 0; i < window; ++i)
    batch += message;
  char buf[65536];
  auto t0 = clock::now();
  write_all(fd, batch.data(), batch.size());
  size_t sent = window;
  size_t got = 0;
  while (got < n) {
    auto k = ::read(fd, buf, sizeof(buf));
    if (k <= 0) {
      std::fprintf(stderr, "read: the server closed\n");
      std::exit(1);
    }
    size_t lines = 0;
    for (ssize_t i = 0; i < k; ++i)
      lines += buf[i] == '\n' ? 1 : 0;
    got += lines;
    auto more = std::min(lines, n - std::min(n, sent));
    if (more > 0) {
      write_all(fd, batch.data(), more * message.size());
      sent += more;
    }
  }
  auto elapsed = clock::now() - t0;
  ::close(fd);
  return per_second(n, elapsed);
}

// Runs `fn` on a thread pinned to core 1 (the client's core).
template<class F>
double on_core_1(F fn) {
  double result = 0;
  std::thread t{[&] {
    pin_to_cpu(1);
    result = fn();
  }};
  t.join();
  return result;
}

// `clients` threads, each `n` times: connect, one echo, close.
double churn(const address& a, size_t clients, size_t n) {
  auto t0 = clock::now();
  std::vector<std::thread> ts;
  for (size_t c = 0; c < clients; ++c)
    ts.emplace_back([&] {
      for (size_t i = 0; i < n; ++i) {
        int fd = dial(a);
        write_all(fd, message.data(), message.size());
        read_lines(fd, 1);
        ::close(fd);
      }
    });
  for (auto& t : ts)
    t.join();
  return per_second(clients * n, clock::now() - t0);
}

long rss_kib(pid_t pid) {
  auto path = "/proc/" + std::to_string(pid) + "/status";
  auto f = std::fopen(path.c_str(), "r");
  if (f == nullptr)
    return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof(line), f) != nullptr)
    if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1)
      break;
  std::fclose(f);
  return kib;
}

// Bytes of RSS per idle connection that `pid` holds once `n` are open.
// The connections come from a child process, so the server's process
// needs descriptors only for its own ends.
double idle_rss(const address& a, pid_t pid, size_t n) {
  auto before = rss_kib(pid);
  int ready[2];
  int hold[2];
  if (pipe(ready) != 0 || pipe(hold) != 0)
    std::exit(1);
  auto child = fork();
  if (child == 0) {
    ::close(ready[0]);
    ::close(hold[1]);
    std::vector<int> fds;
    fds.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      fds.push_back(dial(a));
      // An echo every 256 connections: the server has accepted them all,
      // so the listen backlog never overflows (a dropped SYN waits 1 s).
      if (fds.size() % 256 == 0 || fds.size() == n) {
        write_all(fds.back(), message.data(), message.size());
        read_lines(fds.back(), 1);
      }
    }
    write_all(ready[1], "r", 1);
    char c;
    (void)!::read(hold[0], &c, 1); // until the parent has measured
    _exit(0);
  }
  ::close(ready[1]);
  ::close(hold[0]);
  char c;
  if (::read(ready[0], &c, 1) != 1) {
    std::fprintf(stderr, "the idle clients failed\n");
    std::exit(1);
  }
  auto after = rss_kib(pid);
  ::close(hold[1]);
  ::close(ready[0]);
  ::waitpid(child, nullptr, 0);
  return static_cast<double>(after - before) * 1024.0 / static_cast<double>(n);
}

// -- the servers --------------------------------------------------------------

// A TCP socket bound to a free port on 127.0.0.1, which `a` gets.
int bind_loopback(int flags, address& a) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  a.port = ntohs(sa.sin_port);
  return fd;
}

// A raw blocking echo server on its own thread (on core 0 with `pin`): one
// connection at a time, bytes back as they come: what a plain C server
// reaches (it sleeps in read between messages; a polling loop can beat it).
class raw_server {
public:
  raw_server(bool unix_socket, const std::string& path, bool pin = true) {
    addr_.unix_socket = unix_socket;
    if (unix_socket) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
      ::unlink(path.c_str());
      ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
      addr_.path = path;
    } else {
      fd_ = bind_loopback(0, addr_);
    }
    ::listen(fd_, 16);
    thread_ = std::thread{[this, pin] {
      if (pin)
        pin_to_cpu(0);
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0)
          return;
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char buf[65536];
        for (;;) {
          auto k = ::read(c, buf, sizeof(buf));
          if (k <= 0)
            break;
          write_all(c, buf, static_cast<size_t>(k));
        }
        ::close(c);
      }
    }};
  }

  ~raw_server() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    if (addr_.unix_socket)
      ::unlink(addr_.path.c_str());
  }

  const address& addr() const {
    return addr_;
  }

private:
  int fd_;
  address addr_;
  std::thread thread_;
};

// Node's net server (peers/net.js) in a child process.
// The raw OS limit for churn: one thread, epoll, non-blocking accept, read,
// write back what was read, close on EOF. No framing, no allocation per
// connection.
class raw_epoll_server {
public:
  raw_epoll_server() {
    fd_ = bind_loopback(SOCK_NONBLOCK, addr_);
    ::listen(fd_, 511);
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    stop_ = ::eventfd(0, EFD_CLOEXEC);
    add(fd_);
    add(stop_);
    thread_ = std::thread{[this] { run(); }};
  }

  ~raw_epoll_server() {
    uint64_t one = 1;
    (void)!::write(stop_, &one, sizeof(one));
    thread_.join();
    ::close(ep_);
    ::close(stop_);
    ::close(fd_);
  }

  const address& addr() const {
    return addr_;
  }

private:
  void add(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  void run() {
    epoll_event evs[64];
    char buf[65536];
    for (;;) {
      int n = ::epoll_wait(ep_, evs, 64, -1);
      for (int i = 0; i < n; ++i) {
        int fd = evs[i].data.fd;
        if (fd == stop_)
          return;
        if (fd == fd_) {
          int c;
          while (
            (c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC))
            >= 0) {
            int one = 1;
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            add(c);
          }
          continue;
        }
        auto k = ::read(fd, buf, sizeof(buf));
        if (k > 0) {
          write_all(fd, buf, static_cast<size_t>(k));
        } else if (k == 0 || errno != EAGAIN) {
          ::close(fd); // leaves the epoll set with it
        }
      }
    }
  }

  int fd_;
  int ep_;
  int stop_;
  address addr_;
  std::thread thread_;
};

class node_server {
public:
  node_server(const std::string& peers, bool unix_socket,
              const std::string& path, bool pin) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
      std::exit(1);
    std::vector<std::string> args = {"node", peers + "/net.js"};
    if (unix_socket) {
      args.push_back("uds");
      args.push_back(path);
    } else {
      args.push_back("tcp");
    }
    if (pin)
      args.push_back("pin");
    if (unix_socket)
      ::unlink(path.c_str()); // a previous peer's, if it was killed
    pid_ = fork();
    if (pid_ == 0) {
      // It goes with this program, however this program ends.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      dup2(out[1], 1);
      std::vector<char*> argv;
      for (auto& s : args)
        argv.push_back(s.data());
      argv.push_back(nullptr);
      execvp("node", argv.data());
      _exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n')
      line += c;
    ::close(out[0]);
    if (line.rfind("listening ", 0) != 0) {
      std::fprintf(stderr, "node peer did not start: %s\n", line.c_str());
      std::exit(1);
    }
    addr_.unix_socket = unix_socket;
    if (unix_socket)
      addr_.path = path;
    else
      addr_.port = std::atoi(line.c_str() + 10);
  }

  ~node_server() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }

  const address& addr() const {
    return addr_;
  }

  pid_t pid() const {
    return pid_;
  }

private:
  pid_t pid_;
  address addr_;
};

// A node with `echo` behind a tcp and a uds bridge; with `on_loop`, echo
// runs on the io loop beside the bridges (run-on = "loop").
class sb_server {
public:
  explicit sb_server(const std::string& path, bool on_loop = false) {
    node_ = start_node(
      std::string{"[node]\ncontrol = \"none\"\n[actors]\necho = { kind = "
                  "\"echo\", run-on = \""}
      + (on_loop ? "loop" : "scheduler")
      + "\" }\n"
        "[bridges]\n"
        "t = { kind = \"tcp\", listen = \"127.0.0.1:0\", to = \"echo\", "
        "max-connections = 20000 }\n"
        "u = { kind = \"uds\", listen = \""
      + path + "\", to = \"echo\", max-connections = 20000 }\n");
    caf::scoped_actor self{node_->system()};
    self
      ->request(caf::actor_cast<status_actor>(node_->lookup("t")),
                std::chrono::seconds(5), status_atom::value)
      .receive(
        [&](json_message& m) {
          std::string key = "\"listen\":\"127.0.0.1:";
          auto at = m.text.find(key);
          if (at == std::string::npos) {
            std::fprintf(stderr, "no port in %s\n", m.text.c_str());
            std::exit(1);
          }
          tcp_.port = std::atoi(m.text.c_str() + at + key.size());
        },
        [](caf::error& e) {
          std::fprintf(stderr, "%s\n", render(e).c_str());
          std::exit(1);
        });
    uds_.unix_socket = true;
    uds_.path = path;
  }

  ~sb_server() {
    node_->stop();
  }

  const address& tcp() const {
    return tcp_;
  }

  const address& uds() const {
    return uds_;
  }

private:
  std::unique_ptr<node> node_;
  address tcp_;
  address uds_;
};

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_sockets PEERS_DIR [parts]\n");
    return 2;
  }
  std::string peers = argv[1];
  auto wanted = [&](const char* part) {
    if (argc < 3)
      return true;
    for (int i = 2; i < argc; ++i)
      if (std::string{argv[i]} == part)
        return true;
    return false;
  };
  signal(SIGPIPE, SIG_IGN);
  // 10,000 connections take 20,000 descriptors here; raised for this
  // process (and the Node peer it starts), not system-wide.
  rlimit lim;
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  auto dir = std::string{"/tmp/switchboard-bench-"} + std::to_string(getpid());
  ::mkdir(dir.c_str(), 0700);
  auto n_rt = scaled(20000);
  auto n_win = scaled(400000);
  auto n_churn = scaled(1000);
  auto n_idle = std::min<size_t>(10000, lim.rlim_cur - 100);
  if (wanted("window1")) {
    // A round trip: the server side on core 0 (every thread of the node,
    // the raw server's thread, the Node process), the client on core 1, as
    // in children.cpp.
    pin_to_cpu(0);
    sb_server sb{dir + "/sb.sock"};
    sb_server sb_loop{dir + "/sb-loop.sock", true};
    raw_server raw_tcp{false, ""};
    raw_server raw_uds{true, dir + "/raw.sock"};
    node_server node_tcp{peers, false, "", true};
    node_server node_uds{peers, true, dir + "/node.sock", true};
    unpin();
    for (bool uds : {false, true}) {
      std::vector<double> ours, on_loop, raw, nd;
      auto& sb_addr = uds ? sb.uds() : sb.tcp();
      auto& loop_addr = uds ? sb_loop.uds() : sb_loop.tcp();
      auto& raw_addr = uds ? raw_uds.addr() : raw_tcp.addr();
      auto& node_addr = uds ? node_uds.addr() : node_tcp.addr();
      on_core_1([&] { return echo(sb_addr, n_rt / 10, 1); }); // warm-up
      on_core_1([&] { return echo(loop_addr, n_rt / 10, 1); });
      on_core_1([&] { return echo(node_addr, n_rt / 10, 1); });
      for (size_t r = 0; r < rounds; ++r) {
        raw.push_back(on_core_1([&] { return echo(raw_addr, n_rt, 1); }));
        ours.push_back(on_core_1([&] { return echo(sb_addr, n_rt, 1); }));
        on_loop.push_back(on_core_1([&] { return echo(loop_addr, n_rt, 1); }));
        nd.push_back(on_core_1([&] { return echo(node_addr, n_rt, 1); }));
      }
      // Each placement of `echo` as its own figure, next to the same peers.
      std::string what = uds ? "UDS echo, window 1" : "TCP echo, window 1";
      for (auto [fig, value] :
           {std::pair{what, median(ours)},
            std::pair{what + ", echo run-on = loop", median(on_loop)}}) {
        report(fig, "switchboard", value, "msg/s");
        report(fig, "raw blocking C ping-pong", median(raw), "msg/s");
        report(fig, "Node net", median(nd), "msg/s");
      }
    }
  }
  if (wanted("window64")) {
    // Throughput, unpinned as children.cpp's one-way figures: each side
    // may use both cores.
    sb_server sb{dir + "/sb.sock"};
    sb_server sb_loop{dir + "/sb-loop.sock", true};
    raw_server raw_tcp{false, "", false};
    raw_server raw_uds{true, dir + "/raw.sock", false};
    node_server node_tcp{peers, false, "", false};
    node_server node_uds{peers, true, dir + "/node.sock", false};
    for (bool uds : {false, true}) {
      std::vector<double> ours, on_loop, raw, nd;
      auto& sb_addr = uds ? sb.uds() : sb.tcp();
      auto& loop_addr = uds ? sb_loop.uds() : sb_loop.tcp();
      auto& raw_addr = uds ? raw_uds.addr() : raw_tcp.addr();
      auto& node_addr = uds ? node_uds.addr() : node_tcp.addr();
      for (size_t r = 0; r < rounds; ++r) {
        ours.push_back(echo(sb_addr, n_win, 64));
        on_loop.push_back(echo(loop_addr, n_win, 64));
        raw.push_back(echo(raw_addr, n_win, 64));
        nd.push_back(echo(node_addr, n_win, 64));
      }
      std::string what = uds ? "UDS echo, window 64" : "TCP echo, window 64";
      for (auto [fig, value] :
           {std::pair{what, median(ours)},
            std::pair{what + ", echo run-on = loop", median(on_loop)}}) {
        report(fig, "switchboard", value, "msg/s");
        report(fig, "raw blocking C echo (bytes back as read, no framing)",
               median(raw), "msg/s");
        report(fig, "Node net", median(nd), "msg/s");
      }
    }
  }
  if (wanted("churn")) {
    // Unpinned: 8 clients and the server share both cores.
    sb_server sb{dir + "/sb.sock"};
    sb_server sb_loop{dir + "/sb-loop.sock", true};
    raw_server raw{false, "", false};
    raw_epoll_server raw_ep;
    node_server node_tcp{peers, false, "", false};
    std::vector<double> ours, on_loop, rw, rep, nd;
    churn(sb.tcp(), 8, n_churn / 10);
    churn(node_tcp.addr(), 8, n_churn / 10);
    for (size_t r = 0; r < rounds; ++r) {
      ours.push_back(churn(sb.tcp(), 8, n_churn));
      on_loop.push_back(churn(sb_loop.tcp(), 8, n_churn));
      rw.push_back(churn(raw.addr(), 8, n_churn));
      rep.push_back(churn(raw_ep.addr(), 8, n_churn));
      nd.push_back(churn(node_tcp.addr(), 8, n_churn));
    }
    std::string what = "TCP churn, 8 clients (connect, echo, close)";
    for (auto [fig, value] :
         {std::pair{what, median(ours)},
          std::pair{what + ", echo run-on = loop", median(on_loop)}}) {
      report(fig, "switchboard", value, "conn/s");
      report(fig, "raw blocking C echo (one connection at a time)", median(rw),
             "conn/s");
      report(fig, "raw epoll C echo", median(rep), "conn/s");
      report(fig, "Node net", median(nd), "conn/s");
    }
  }
  if (wanted("idle")) {
    double ours, nd;
    {
      sb_server sb{dir + "/sb.sock"};
      ours = idle_rss(sb.tcp(), getpid(), n_idle);
    }
    {
      node_server node_tcp{peers, false, "", false};
      nd = idle_rss(node_tcp.addr(), node_tcp.pid(), n_idle);
    }
    auto what = std::to_string(n_idle)
                + " idle TCP connections, RSS per "
                  "connection";
    report(what, "switchboard", ours, "bytes");
    report(what, "Node net", nd, "bytes");
  }
  ::rmdir(dir.c_str());
  return 0;
}

// switchboard: an embeddable C++ actor runtime. MIT License.

// A WebSocket load client on one thread (epoll, raw sockets): fast enough
// that the server it drives, not the client, sets the pace. bench/
// websocket.js runs it against a node's websocket bridges and against
// Node + ws doing the same.
//
//   bench_ws_load broadcast PORT CLIENTS SECONDS
//       CLIENTS connect to a room; the first sends, the others receive;
//       prints the messages delivered per second (all receivers together)
//   bench_ws_load echo PORT WINDOW SECONDS
//       one connection keeps WINDOW messages in flight; prints replies per
//       second
//   bench_ws_load idle PORT N
//       opens N connections, prints "ready", holds them until stdin ends
//   bench_ws_load serve PORT
//       the raw limit: a blocking C WebSocket echo server, a thread per
//       connection, that knows only this client's handshake

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "bench_ws_load: %s\n", why.c_str());
  std::exit(1);
}

struct conn {
  int fd = -1;
  std::string in;
  uint64_t received = 0;
};

// Connects and upgrades (blocking, 5 s at most); then non-blocking.
conn open_ws(int port) {
  conn c;
  c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    die(std::string{"connect: "} + std::strerror(errno));
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::string req =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: "
    "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL)
      != static_cast<ssize_t>(req.size()))
    die("handshake send");
  auto deadline = clock_type::now() + std::chrono::seconds(5);
  while (c.in.find("\r\n\r\n") == std::string::npos) {
    if (clock_type::now() > deadline)
      die("handshake timed out");
    pollfd p{c.fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    char buf[4096];
    auto n = ::recv(c.fd, buf, sizeof(buf), 0);
    if (n <= 0)
      die("handshake: closed");
    c.in.append(buf, static_cast<size_t>(n));
  }
  if (c.in.rfind("HTTP/1.1 101", 0) != 0)
    die("handshake refused: " + c.in.substr(0, c.in.find('\r')));
  c.in.erase(0, c.in.find("\r\n\r\n") + 4);
  ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
  return c;
}

// A client's text frame: masked, with a zero key (the payload as is).
std::string frame(const std::string& payload) {
  std::string f;
  f += static_cast<char>(0x81);
  if (payload.size() < 126) {
    f += static_cast<char>(0x80 | payload.size());
  } else {
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  }
  f.append(4, '\0');
  return f + payload;
}

// Counts the complete data frames in `c.in` and drops them.
uint64_t take_frames(conn& c) {
  uint64_t n = 0;
  size_t pos = 0;
  auto& b = c.in;
  for (;;) {
    if (b.size() - pos < 2)
      break;
    auto b0 = static_cast<unsigned char>(b[pos]);
    auto b1 = static_cast<unsigned char>(b[pos + 1]);
    size_t len = b1 & 0x7f;
    size_t head = 2;
    if (len == 126) {
      if (b.size() - pos < 4)
        break;
      len = (static_cast<unsigned char>(b[pos + 2]) << 8)
            | static_cast<unsigned char>(b[pos + 3]);
      head = 4;
    } else if (len == 127) {
      if (b.size() - pos < 10)
        break;
      len = 0;
      for (int i = 0; i < 8; ++i)
        len = (len << 8) | static_cast<unsigned char>(b[pos + 2 + i]);
      head = 10;
    }
    if (b.size() - pos < head + len)
      break;
    auto op = b0 & 0x0f;
    if (op == 1 || op == 2)
      ++n;
    else if (op == 8)
      die("the server closed a connection");
    pos += head + len;
  }
  b.erase(0, pos);
  c.received += n;
  return n;
}

// Reads what `c` has; returns the frames completed.
uint64_t drain(conn& c) {
  uint64_t n = 0;
  char buf[65536];
  for (;;) {
    auto got = ::recv(c.fd, buf, sizeof(buf), 0);
    if (got > 0) {
      c.in.append(buf, static_cast<size_t>(got));
      n += take_frames(c);
      continue;
    }
    if (got == 0)
      die("the server closed a connection");
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return n;
    die(std::string{"recv: "} + std::strerror(errno));
  }
}

void send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 100);
    } else {
      die("send failed");
    }
  }
}

std::string message(uint64_t seq) {
  // 40 bytes of JSON, as a chat line would be.
  auto s = std::to_string(seq);
  return "{\"seq\":" + s + ",\"text\":\"" + std::string(29 - s.size(), 'm')
         + "\"}";
}

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

int broadcast(int port, int clients, double secs) {
  std::vector<conn> cs;
  for (int i = 0; i < clients; ++i)
    cs.push_back(open_ws(port));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 1; i < clients; ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
  }
  auto receivers = static_cast<uint64_t>(clients - 1);
  // Joining the room follows the handshake: probe until every receiver
  // has one message.
  uint64_t sent = 0;
  auto all_have = [&](uint64_t k) {
    for (int i = 1; i < clients; ++i)
      if (cs[i].received < k)
        return false;
    return true;
  };
  auto wait_round = [&](int ms) {
    epoll_event evs[256];
    auto n = epoll_wait(ep, evs, 256, ms);
    uint64_t got = 0;
    for (int i = 0; i < n; ++i)
      got += drain(cs[evs[i].data.u32]);
    return got;
  };
  auto probe_deadline = clock_type::now() + std::chrono::seconds(10);
  while (!all_have(1)) {
    if (clock_type::now() > probe_deadline)
      die("the room did not take every client within 10 s");
    send_all(cs[0].fd, frame(message(sent++)));
    wait_round(20);
  }
  // The sender keeps at most `window` messages ahead of the slowest
  // receiver: the server's queues stay short and the figure is what it
  // delivers, not what it buffers.
  const uint64_t window = 512, batch = 32;
  uint64_t total = 0;
  for (int i = 1; i < clients; ++i)
    total += cs[i].received;
  const double warmup = 0.5;
  auto start = clock_type::now();
  auto measured_from = start;
  uint64_t counted = 0;
  bool measuring = false;
  while (seconds_since(start) < warmup + secs) {
    if (!measuring && seconds_since(start) >= warmup) {
      measuring = true;
      measured_from = clock_type::now();
    }
    // Messages every receiver should have by now, at most.
    auto expected = sent * receivers;
    bool full = expected - total >= window * receivers;
    if (!full) {
      std::string out;
      for (uint64_t k = 0; k < batch; ++k)
        out += frame(message(sent++));
      send_all(cs[0].fd, out);
    }
    auto got = wait_round(full ? 10 : 0);
    total += got;
    if (measuring)
      counted += got;
  }
  secs = seconds_since(measured_from);
  std::printf("%.0f\n", static_cast<double>(counted) / secs);
  return 0;
}

int echo(int port, uint64_t window, double secs) {
  auto c = open_ws(port);
  std::string out;
  for (uint64_t k = 0; k < window; ++k)
    out += frame(message(k));
  send_all(c.fd, out);
  uint64_t sent = window;
  const double warmup = 0.5;
  auto start = clock_type::now();
  auto measured_from = start;
  uint64_t counted = 0;
  bool measuring = false;
  while (seconds_since(start) < warmup + secs) {
    if (!measuring && seconds_since(start) >= warmup) {
      measuring = true;
      measured_from = clock_type::now();
    }
    pollfd p{c.fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    auto got = drain(c);
    if (measuring)
      counted += got;
    if (got > 0) {
      out.clear();
      for (uint64_t k = 0; k < got; ++k)
        out += frame(message(sent++));
      send_all(c.fd, out);
    }
  }
  secs = seconds_since(measured_from);
  std::printf("%.0f\n", static_cast<double>(counted) / secs);
  return 0;
}

int idle(int port, int n) {
  std::vector<conn> cs;
  cs.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    cs.push_back(open_ws(port));
  std::printf("ready\n");
  std::fflush(stdout);
  char buf[64];
  while (::read(0, buf, sizeof(buf)) > 0) {
  }
  for (auto& c : cs)
    ::close(c.fd);
  return 0;
}

// Reads exactly `n` bytes; false at the end of the stream.
bool read_exact(int fd, char* p, size_t n) {
  while (n > 0) {
    auto got = ::recv(fd, p, n, 0);
    if (got <= 0)
      return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

void serve_one(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::string head;
  char ch;
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &ch, 1, 0) != 1) {
      ::close(fd);
      return;
    }
    head += ch;
  }
  // The accept value of the key every bench_ws_load client sends (RFC
  // 6455's own example).
  std::string ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                   "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  send_all(fd, ok);
  std::string payload, out;
  for (;;) {
    unsigned char h[2];
    if (!read_exact(fd, reinterpret_cast<char*>(h), 2))
      break;
    size_t len = h[1] & 0x7f;
    if (len == 126) {
      unsigned char x[2];
      if (!read_exact(fd, reinterpret_cast<char*>(x), 2))
        break;
      len = (static_cast<size_t>(x[0]) << 8) | x[1];
    } else if (len == 127) {
      break; // not sent by this client
    }
    char mask[4];
    if (!read_exact(fd, mask, 4))
      break;
    payload.resize(len);
    if (!read_exact(fd, payload.data(), len))
      break;
    for (size_t i = 0; i < len; ++i)
      payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
    out.clear();
    out += static_cast<char>(h[0]);
    if (len < 126) {
      out += static_cast<char>(len);
    } else {
      out += static_cast<char>(126);
      out += static_cast<char>(len >> 8);
      out += static_cast<char>(len & 0xff);
    }
    out += payload;
    send_all(fd, out);
  }
  ::close(fd);
}

int serve(int port) {
  int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0
      || ::listen(ls, 128) != 0)
    die(std::string{"listen: "} + std::strerror(errno));
  for (;;) {
    int fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0)
      std::thread{serve_one, fd}.detach();
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string{argv[1]} == "serve")
    return serve(std::atoi(argv[2]));
  if (argc < 4)
    die("usage: bench_ws_load broadcast|echo|idle PORT N [SECONDS]");
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  std::string mode = argv[1];
  int port = std::atoi(argv[2]);
  int n = std::atoi(argv[3]);
  double secs = argc > 4 ? std::atof(argv[4]) : 5;
  if (mode == "broadcast")
    return broadcast(port, n, secs);
  if (mode == "echo")
    return echo(port, static_cast<uint64_t>(n), secs);
  if (mode == "idle")
    return idle(port, n);
  die("unknown mode " + mode);
}

// switchboard: an embeddable C++ actor runtime. MIT License.

// The tcp and uds bridges against real sockets on 127.0.0.1, ::1 and under
// a temporary directory, with plain blocking clients on the test's side.

#include <switchboard/bridges/stream/bridge.hpp>

#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <switchboard/framing.hpp>
#include <switchboard/status.hpp>

#include "node_fixture.hpp"
#include "stream_helpers.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::test::add_collector;
using switchboard::test::events;
using switchboard::test::eventually;
using switchboard::test::node_fixture;
using switchboard::test::status_of;
using switchboard::test::temp_dir;
using json = nlohmann::json;

namespace {

// A blocking client socket with deadlines.
class peer {
public:
  static peer tcp(int port, bool v6 = false) {
    peer p;
    p.fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
      auto a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET6, "::1", &a->sin6_addr);
      len = sizeof(sockaddr_in6);
    } else {
      auto a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
      len = sizeof(sockaddr_in);
    }
    p.ok_ = ::connect(p.fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0;
    return p;
  }

  // A TCP connection from the loopback address `source` (any 127.x.y.z
  // is this machine's).
  static peer tcp_from(int port, const std::string& source) {
    peer p;
    p.fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    p.ok_ =
      ::bind(p.fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from)) == 0
      && ::connect(p.fd_, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0;
    return p;
  }

  static peer unix(const std::string& path) {
    peer p;
    p.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.copy(sa.sun_path, path.size());
    socklen_t len =
      offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1);
    if (path[0] == '@')
      sa.sun_path[0] = '\0';
    p.ok_ = ::connect(p.fd_, reinterpret_cast<sockaddr*>(&sa), len) == 0;
    return p;
  }

  static peer adopt(int fd);

  peer() = default;
  peer(peer&& other) noexcept : fd_(other.fd_), ok_(other.ok_) {
    other.fd_ = -1;
  }
  peer& operator=(peer&& other) noexcept {
    std::swap(fd_, other.fd_);
    std::swap(ok_, other.ok_);
    return *this;
  }
  ~peer() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  bool ok() const {
    return ok_;
  }

  int fd() const {
    return fd_;
  }

  void write(const std::string& data, size_t step = 0) {
    size_t off = 0;
    if (step == 0)
      step = data.size();
    while (off < data.size()) {
      auto n = ::send(fd_, data.data() + off, std::min(step, data.size() - off),
                      MSG_NOSIGNAL);
      if (n <= 0)
        return;
      off += static_cast<size_t>(n);
    }
  }

  // Reads until `done(buffer)` holds, EOF, or 10 s.
  template<class Pred>
  bool read_until(Pred done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done(buf_)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0)
        return false;
      char tmp[65536];
      auto n = ::read(fd_, tmp, sizeof(tmp));
      if (n <= 0) {
        eof_ = true;
        return done(buf_);
      }
      buf_.append(tmp, static_cast<size_t>(n));
    }
    return true;
  }

  // The next `n` frames of framing `how`, decoded.
  std::vector<std::string> frames(framing how, size_t n) {
    std::vector<std::string> out;
    frame_decoder dec{how, 1 << 24};
    size_t used = 0;
    read_until([&](const std::string& buf) {
      dec.feed(buf.data() + used, buf.size() - used, [&](std::string&& f) {
        out.push_back(std::move(f));
        return true;
      });
      used = buf.size();
      return out.size() >= n;
    });
    buf_.clear();
    return out;
  }

  std::string line() {
    auto xs = frames(framing::lines, 1);
    return xs.empty() ? std::string{} : xs[0];
  }

  // Whether the node closed the connection within 10 s (data before the
  // EOF is kept in `rest`).
  bool closed_by_node(std::string* rest = nullptr) {
    read_until([&](const std::string&) { return eof_; });
    if (rest != nullptr)
      *rest = buf_;
    return eof_;
  }

private:
  int fd_ = -1;
  bool ok_ = false;
  bool eof_ = false;
  std::string buf_;
};

int port_of(node_fixture& f, const std::string& name) {
  return test::port_in_status(f, name, "listen");
}

// This process's resident memory (the node runs in it).
size_t rss_bytes() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoul(line.substr(6)) * 1024;
  return 0;
}

std::string encode(framing how, const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    REQUIRE(!encode_frame(how, x, out));
  return out;
}

} // namespace

TEST_CASE("tcp echo over every framing, a byte at a time and 1,000 "
          "messages in one write") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
l = { kind = "tcp", listen = "127.0.0.1:0", to = "echo" }
p = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", framing = "length-prefixed" }
s = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", framing = "length-prefixed-16" }
j = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", framing = "json-stream" }
)"};
  std::vector<std::string> msgs;
  for (int i = 0; i < 1000; ++i)
    msgs.push_back(R"({"i":)" + std::to_string(i) + R"(,"s":"{[\"x\"]}"})");
  for (auto [name, how] : {std::pair{"l", framing::lines},
                           std::pair{"p", framing::length_prefixed},
                           std::pair{"s", framing::length_prefixed16},
                           std::pair{"j", framing::json_stream}}) {
    INFO(name);
    auto c = peer::tcp(port_of(f, name));
    REQUIRE(c.ok());
    std::vector<std::string> few(msgs.begin(), msgs.begin() + 3);
    c.write(encode(how, few), 1);
    CHECK(c.frames(how, 3) == few);
    c.write(encode(how, msgs));
    CHECK(c.frames(how, msgs.size()) == msgs);
  }
  f.stop_and_check();
}

TEST_CASE("json-stream takes what socket.write(JSON.stringify(x)) sends") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
j = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", framing = "json-stream" }
)"};
  auto c = peer::tcp(port_of(f, "j"));
  std::string in = R"({"a":{"b":"}{"}}[1,{"c":"\"]"}]"x\"y"12 34)";
  c.write(in, 1);
  c.write(" ");
  auto out = c.frames(framing::json_stream, 5);
  CHECK(out
        == std::vector<std::string>{R"({"a":{"b":"}{"}})", R"([1,{"c":"\"]"}])",
                                    R"("x\"y")", "12", "34"});
  c = peer{};
  f.stop_and_check();
}

TEST_CASE("raw text framing serves a plain socket.write('hello') client") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
r = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", framing = "raw", format = "text" }
)"};
  auto c = peer::tcp(port_of(f, "r"));
  c.write("hello");
  CHECK(c.frames(framing::raw, 1) == std::vector<std::string>{"hello"});
  c = peer{};
  f.stop_and_check();
}

TEST_CASE("tcp serves IPv6 on ::1") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
v6 = { kind = "tcp", listen = "[::1]:0", to = "echo" }
)"};
  CHECK(status_of(f, "v6")["listen"].get<std::string>().rfind("[::1]:", 0)
        == 0);
  auto c = peer::tcp(port_of(f, "v6"), true);
  REQUIRE(c.ok());
  c.write("[6]\n");
  CHECK(c.line() == "[6]");
  c = peer{};
  f.stop_and_check();
}

TEST_CASE("a frame that is not JSON gets an error reply in its place") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
l = { kind = "tcp", listen = "127.0.0.1:0", to = "echo" }
)"};
  auto c = peer::tcp(port_of(f, "l"));
  c.write("1\nnot json\n2\n");
  auto out = c.frames(framing::lines, 3);
  REQUIRE(out.size() == 3);
  CHECK(out[0] == "1");
  CHECK(out[1].find("invalid_json") != std::string::npos);
  CHECK(out[2] == "2");
  CHECK(status_of(f, "l")["errors"] == 1);
  c = peer{};
  f.stop_and_check();
}

TEST_CASE("uds: 0600, echo, removed on stop, abstract names") {
  temp_dir dir;
  auto path = dir.path() + "/echo.sock";
  auto abstract = "@switchboard-test-" + std::to_string(::getpid());
  {
    node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
u = { kind = "uds", listen = ")"
                   + path + R"(", to = "echo" }
a = { kind = "uds", listen = ")"
                   + abstract + R"(", to = "echo" }
)"};
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
    for (auto& where : {path, abstract}) {
      auto c = peer::unix(where);
      REQUIRE(c.ok());
      c.write("{\"u\":1}\n");
      CHECK(c.line() == "{\"u\":1}");
    }
    f.stop_and_check();
  }
  struct stat st;
  CHECK(::stat(path.c_str(), &st) != 0);
}

TEST_CASE("plain socat and nc peers against the tcp and uds bridges") {
  temp_dir dir;
  auto path = dir.path() + "/echo.sock";
  auto chat = dir.path() + "/chat.sock";
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
lobby = { kind = "room" }
[bridges]
t = { kind = "tcp", listen = "127.0.0.1:0", to = "echo" }
u = { kind = "uds", listen = ")"
                 + path + R"(", to = "echo" }
c = { kind = "uds", listen = ")"
                 + chat + R"(", room = "lobby", format = "text" }
)"};
  auto tcp = "127.0.0.1:" + std::to_string(port_of(f, "t"));
  auto port = std::to_string(port_of(f, "t"));
  std::vector<std::vector<std::string>> clients = {
    {"socat", "-", "TCP:" + tcp},
    {"nc", "127.0.0.1", port},
    {"socat", "-", "UNIX-CONNECT:" + path},
    {"nc", "-U", path},
  };
  for (auto& argv : clients) {
    INFO(argv[0] << " " << argv.back());
    test::child c{argv, true};
    REQUIRE(c.write_stdin("{\"n\":1}\n{\"n\":2}\n"));
    CHECK(c.wait_for_stdout("{\"n\":1}\n{\"n\":2}\n", 10s));
  }
  // The seeds' chat with two nc clients: a line reaches the other, once.
  {
    test::child alice{{"nc", "-U", chat}, true};
    test::child bob{{"nc", "-U", chat}, true};
    REQUIRE(eventually([&] { return status_of(f, "c")["connections"] == 2; }));
    REQUIRE(alice.write_stdin("hi bob\n"));
    CHECK(bob.wait_for_stdout("hi bob\n", 10s));
    REQUIRE(bob.write_stdin("hi alice\n"));
    CHECK(alice.wait_for_stdout("hi alice\n", 10s));
    CHECK(alice.out() == "hi alice\n");
  }
  CHECK(eventually([&] { return status_of(f, "t")["closed"] == 2; }));
  f.stop_and_check();
}

TEST_CASE("uds: a stale socket file is replaced, a live one is not stolen, "
          "another file is left alone") {
  temp_dir dir;
  auto path = dir.path() + "/s.sock";
  // A stale socket: bound, then its listener gone.
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.copy(sa.sun_path, path.size());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
    ::close(fd);
  }
  auto conf = R"(
[actors]
echo = { kind = "echo" }
[bridges]
u = { kind = "uds", listen = ")"
              + path + R"(", to = "echo" }
)";
  node_fixture f{conf};
  auto c = peer::unix(path);
  REQUIRE(c.ok());
  c.write("1\n");
  CHECK(c.line() == "1");
  // A second node must not take the live socket.
  {
    auto cfg = node_config::from_string("[node]\ncontrol = \"none\"\n" + conf,
                                        "second.conf");
    REQUIRE(cfg);
    switchboard::node second{std::move(*cfg)};
    REQUIRE(!actors::add_builtin_kinds(second.kinds()));
    auto err = second.start();
    REQUIRE(err);
    CHECK(render(err).find("live socket") != std::string::npos);
  }
  c.write("2\n");
  CHECK(c.line() == "2");
  c = peer{};
  f.stop_and_check();
  // A regular file in the way is an error, and stays.
  auto file = dir.write("plain", "data");
  auto cfg = node_config::from_string(R"(
[node]
control = "none"
[actors]
echo = { kind = "echo" }
[bridges]
u = { kind = "uds", listen = ")" + file
                                      + R"(", to = "echo" }
)");
  REQUIRE(cfg);
  switchboard::node third{std::move(*cfg)};
  REQUIRE(!actors::add_builtin_kinds(third.kinds()));
  auto err = third.start();
  REQUIRE(err);
  CHECK(render(err).find("not a socket") != std::string::npos);
  struct stat st;
  CHECK(::stat(file.c_str(), &st) == 0);
}

TEST_CASE("a room of 100 tcp connections: each message reaches every other "
          "member once, never its sender") {
  node_fixture f{R"(
[actors]
lobby = { kind = "room" }
[bridges]
chat = { kind = "tcp", listen = "127.0.0.1:0", room = "lobby" }
)"};
  auto port = port_of(f, "chat");
  constexpr int n = 100;
  std::vector<peer> ps;
  for (int i = 0; i < n; ++i) {
    ps.push_back(peer::tcp(port));
    REQUIRE(ps.back().ok());
  }
  // Everyone joined before anyone speaks.
  REQUIRE(eventually([&] { return status_of(f, "chat")["connections"] == n; }));
  auto lobby = f.node().lookup("lobby");
  REQUIRE(eventually([&] {
    caf::scoped_actor self{f.node().system()};
    bool full = false;
    self->request(caf::actor_cast<status_actor>(lobby), 5s, status_atom::value)
      .receive(
        [&](json_message& m) { full = json::parse(m.text)["members"] == n; },
        [](caf::error&) {});
    return full;
  }));
  for (int i = 0; i < n; ++i)
    ps[i].write("{\"from\":" + std::to_string(i) + "}\n");
  for (int i = 0; i < n; ++i) {
    auto got = ps[i].frames(framing::lines, n - 1);
    REQUIRE(got.size() == static_cast<size_t>(n - 1));
    std::vector<int> seen(n, 0);
    for (auto& g : got)
      ++seen[json::parse(g)["from"].get<int>()];
    for (int j = 0; j < n; ++j)
      CHECK(seen[j] == (j == i ? 0 : 1));
  }
  ps.clear();
  f.stop_and_check();
}

TEST_CASE("1,000 concurrent connections are served, max-connections "
          "refuses the next with a reason") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
ev = { kind = "collector" }
[bridges]
big = { kind = "tcp", listen = "127.0.0.1:0", to = "echo" }
small = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", max-connections = 2, events = "ev" }
)",
                 add_collector};
  // Two fds a connection in this one process (the node's and the peer's).
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 4096 && lim.rlim_max > lim.rlim_cur) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 4096);
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  REQUIRE(lim.rlim_cur >= 2100);
  auto port = port_of(f, "big");
  std::vector<peer> ps;
  for (int i = 0; i < 1000; ++i) {
    ps.push_back(peer::tcp(port));
    REQUIRE(ps.back().ok());
  }
  for (int i = 0; i < 1000; ++i)
    ps[i].write(std::to_string(i) + "\n");
  for (int i = 0; i < 1000; ++i)
    REQUIRE(ps[i].line() == std::to_string(i));
  CHECK(status_of(f, "big")["connections"] == 1000);
  ps.clear();
  auto small = port_of(f, "small");
  auto a = peer::tcp(small);
  auto b = peer::tcp(small);
  a.write("1\n");
  CHECK(a.line() == "1");
  b.write("2\n");
  CHECK(b.line() == "2");
  auto c = peer::tcp(small);
  std::string rest;
  CHECK(c.closed_by_node(&rest));
  CHECK(rest.find("max-connections") != std::string::npos);
  CHECK(eventually([&] { return events().of("refused").size() == 1; }));
  CHECK(status_of(f, "small")["refused"] == 1);
  a = peer{};
  b = peer{};
  c = peer{};
  ps.clear();
  f.stop_and_check();
}

TEST_CASE("bad input closes a connection with the reason and the node goes "
          "on") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
ev = { kind = "collector" }
[bridges]
j = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", framing = "json-stream", events = "ev", max-frame = 1000 }
t = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", frame-timeout = 200ms, events = "ev" }
i = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", idle-timeout = 200ms, events = "ev" }
)",
                 add_collector};
  auto reason_of = [&](size_t k) -> std::string {
    if (!eventually([&] { return events().of("closed").size() > k; }))
      return "";
    return events().of("closed")[k]["reason"].get<std::string>();
  };
  SECTION("garbage") {
    auto c = peer::tcp(port_of(f, "j"));
    c.write("{\"ok\":1}\x01\x02garbage");
    std::string rest;
    CHECK(c.closed_by_node(&rest));
    CHECK(rest.find("{\"ok\":1}") == 0);
    CHECK(reason_of(0).find("cannot start a JSON value") != std::string::npos);
  }
  SECTION("a frame over max-frame") {
    auto c = peer::tcp(port_of(f, "j"));
    c.write("[\"" + std::string(5000, 'x') + "\"]");
    CHECK(c.closed_by_node());
    CHECK(reason_of(0).find("exceeds 1000") != std::string::npos);
  }
  SECTION("a peer that trickles a frame one byte at a time") {
    auto c = peer::tcp(port_of(f, "t"));
    // A byte every 50 ms keeps the connection busy but never completes a
    // line; frame-timeout (200ms) ends it, where an idle timer would not.
    auto start = std::chrono::steady_clock::now();
    for (int k = 0; k < 100 && events().of("closed").empty(); ++k) {
      c.write("x");
      std::this_thread::sleep_for(50ms);
    }
    CHECK(std::chrono::steady_clock::now() - start < 4s);
    CHECK(c.closed_by_node());
    CHECK(reason_of(0).find("frame-timeout") != std::string::npos);
  }
  SECTION("a half-open peer: it stops sending, its replies still arrive, "
          "then the connection closes") {
    auto c = peer::tcp(port_of(f, "i"));
    c.write("1\n2\n");
    ::shutdown(c.fd(), SHUT_WR);
    std::string rest;
    CHECK(c.closed_by_node(&rest));
    CHECK(rest == "1\n2\n");
    CHECK(reason_of(0).find("the peer closed") != std::string::npos);
  }
  SECTION("a silent peer, with idle-timeout") {
    auto c = peer::tcp(port_of(f, "i"));
    c.write("1\n");
    CHECK(c.line() == "1");
    CHECK(c.closed_by_node());
    CHECK(reason_of(0).find("idle-timeout") != std::string::npos);
  }
  // The node still serves.
  auto c = peer::tcp(port_of(f, "j"));
  c.write("[1]");
  CHECK(c.frames(framing::json_stream, 1) == std::vector<std::string>{"[1]"});
  c = peer{};
  f.stop_and_check();
}

TEST_CASE("10,000 connect-and-close in a row leave the node serving") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
l = { kind = "tcp", listen = "127.0.0.1:0", to = "echo" }
)"};
  auto port = port_of(f, "l");
  constexpr int n = test::burst_size;
  for (int i = 0; i < n; ++i) {
    auto c = peer::tcp(port);
    REQUIRE(c.ok());
  }
  CHECK(eventually([&] { return status_of(f, "l")["closed"] == n; }, 20s));
  CHECK(status_of(f, "l")["connections"] == 0);
  auto c = peer::tcp(port);
  c.write("1\n");
  CHECK(c.line() == "1");
  c = peer{};
  f.stop_and_check();
}

TEST_CASE("a peer that never reads: each overflow policy bounds the queue") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
ev = { kind = "collector" }
[bridges]
p = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", max-queued = 65536 }
d = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", max-queued = 65536, overflow = "disconnect", events = "ev" }
)",
                 add_collector};
  std::string line = "\"" + std::string(1000, 'x') + "\"\n";
  SECTION("pause: the node stops reading, its queue stays near the mark") {
    auto c = peer::tcp(port_of(f, "p"));
    ::fcntl(c.fd(), F_SETFL, O_NONBLOCK);
    auto rss_before = rss_bytes();
    // Flood for at most 2 s or 200 MB, whichever comes first; writes stop
    // being taken once the node pauses.
    std::string chunk;
    for (int i = 0; i < 64; ++i)
      chunk += line;
    size_t sent = 0;
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < deadline && sent < (200u << 20)) {
      auto n = ::send(c.fd(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n > 0)
        sent += static_cast<size_t>(n);
      else
        std::this_thread::sleep_for(1ms);
    }
    auto st = status_of(f, "p");
    INFO(st.dump());
    // Replies queue up to the mark plus the requests in flight when it was
    // reached; the socket buffers hold the rest of what was sent.
    CHECK(st["queued"].get<size_t>() < 65536 + 1024 * 1002);
    CHECK(sent < (64u << 20));
    CHECK(st["connections"] == 1);
    // The node (this process) did not take the flood into memory.
    CHECK(rss_bytes() < rss_before + (32u << 20));
  }
  SECTION("disconnect: the connection closes with the reason") {
    auto c = peer::tcp(port_of(f, "d"));
    ::fcntl(c.fd(), F_SETFL, O_NONBLOCK);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline
           && events().of("closed").empty()) {
      if (::send(c.fd(), line.data(), line.size(), MSG_NOSIGNAL) <= 0)
        std::this_thread::sleep_for(1ms);
    }
    REQUIRE(events().of("closed").size() == 1);
    CHECK(events().of("closed")[0]["reason"].get<std::string>().find("overflow")
          != std::string::npos);
  }
  f.stop_and_check();
}

TEST_CASE("a slow room member: drop counts what it could not take") {
  node_fixture f{R"(
[actors]
lobby = { kind = "room" }
[bridges]
chat = { kind = "tcp", listen = "127.0.0.1:0", room = "lobby", max-queued = 65536, overflow = "drop" }
)"};
  auto port = port_of(f, "chat");
  auto slow = peer::tcp(port);
  auto fast = peer::tcp(port);
  REQUIRE(eventually([&] { return status_of(f, "chat")["connections"] == 2; }));
  std::string line = "\"" + std::string(1000, 'y') + "\"\n";
  std::string chunk;
  for (int i = 0; i < 100; ++i)
    chunk += line;
  // 20 MB towards a member that never reads.
  for (int i = 0; i < 200; ++i)
    fast.write(chunk);
  CHECK(eventually([&] { return status_of(f, "chat")["drops"] > 0; }));
  CHECK(status_of(f, "chat")["queued"].get<size_t>() < 65536 + 2000);
  fast = peer{};
  slow = peer{};
  f.stop_and_check();
}

TEST_CASE("commands: send to one connection, broadcast except one, list, "
          "close") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
l = { kind = "tcp", listen = "127.0.0.1:0", to = "echo" }
)"};
  auto port = port_of(f, "l");
  auto a = peer::tcp(port);
  auto b = peer::tcp(port);
  REQUIRE(eventually([&] { return status_of(f, "l")["connections"] == 2; }));
  auto list = f.ask("l", R"({"op":"list"})");
  REQUIRE(list);
  auto conns = json::parse(list->text)["connections"];
  REQUIRE(conns.size() == 2);
  auto id_a = conns[0]["conn"].get<uint64_t>();
  auto id_b = conns[1]["conn"].get<uint64_t>();
  CHECK(conns[0]["peer"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  auto r = f.ask("l", R"({"op":"send","conn":)" + std::to_string(id_a)
                        + R"(,"data":{"to":"a"}})");
  REQUIRE(r);
  CHECK(a.line() == R"({"to":"a"})");
  r = f.ask("l", R"({"op":"broadcast","data":"all","except":)"
                   + std::to_string(id_a) + "}");
  REQUIRE(r);
  CHECK(r->text == R"({"sent":1})");
  CHECK(b.line() == "\"all\"");
  CHECK(!f.ask("l", R"({"op":"send","conn":999,"data":1})"));
  auto bad = f.ask("l", R"({"op":"dance"})");
  REQUIRE(!bad);
  CHECK(render(bad.error()).find("commands:") != std::string::npos);
  REQUIRE(f.ask("l", R"({"op":"close","conn":)" + std::to_string(id_b) + "}"));
  CHECK(b.closed_by_node());
  CHECK(eventually([&] { return status_of(f, "l")["connections"] == 1; }));
  a = peer{};
  b = peer{};
  f.stop_and_check();
}

namespace {

// A plain TCP server on the test's side: accepts one connection at a time.
class raw_server {
public:
  explicit raw_server(int port = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~raw_server() {
    ::close(fd_);
  }
  int port() const {
    return port_;
  }
  // The next connection, within 10 s.
  peer accept() {
    pollfd p{fd_, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 10000) == 1);
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(c >= 0);
    return peer::adopt(c);
  }

private:
  int fd_;
  int port_;
};

} // namespace

peer peer::adopt(int fd) {
  peer p;
  p.fd_ = fd;
  p.ok_ = true;
  return p;
}

TEST_CASE("a tcp client reconnects when its server restarts, sends held "
          "while down arrive in order, past max-held the sender gets "
          "queue_full") {
  auto server = std::make_unique<raw_server>();
  auto port = server->port();
  node_fixture f{R"(
[actors]
ev = { kind = "collector" }
[bridges]
c = { kind = "tcp", mode = "client", connect = "127.0.0.1:)"
                   + std::to_string(port) + R"(", events = "ev",
      restart-delay = 20ms, restart-delay-max = 100ms, max-held = 5 }
)",
                 add_collector};
  auto conn = server->accept();
  REQUIRE(eventually([&] { return events().of("up").size() == 1; }));
  // A request is answered by the server's next frame.
  std::thread answer([&] {
    auto req = conn.line();
    conn.write(req + "\n");
  });
  auto reply = f.ask("c", R"({"q":1})");
  answer.join();
  REQUIRE(reply);
  CHECK(reply->text == R"({"q":1})");
  // The server goes away.
  conn = peer{};
  server.reset();
  REQUIRE(eventually([&] { return events().of("down").size() == 1; }));
  auto c = caf::actor_cast<json_actor>(f.node().lookup("c"));
  {
    caf::scoped_actor self{f.node().system()};
    for (int i = 0; i < 5; ++i)
      self->send(c, json_message::trusted(std::to_string(i)));
    // The sixth is over max-held.
    self->request(c, 5s, json_message::trusted("6"))
      .receive([](json_message&) { FAIL("held past max-held"); },
               [](caf::error& e) { CHECK(is(e, errc::queue_full)); });
  }
  // Back on the same port: the held messages arrive, in order.
  server = std::make_unique<raw_server>(port);
  conn = server->accept();
  CHECK(conn.frames(framing::lines, 5)
        == std::vector<std::string>{"0", "1", "2", "3", "4"});
  CHECK(eventually([&] { return events().of("up").size() == 2; }));
  CHECK(!events().of("restarting").empty());
  CHECK(status_of(f, "c")["state"] == "up");
  conn = peer{};
  f.stop_and_check();
}

TEST_CASE("a tcp client connects by host name: the name is looked up off "
          "the loop, and a name is refused on a server's listen only") {
  // `localhost` comes from /etc/hosts; it may name ::1 first, where nobody
  // listens, and then 127.0.0.1.
  raw_server server;
  node_fixture f{R"(
[actors]
ev = { kind = "collector" }
[bridges]
c = { kind = "tcp", mode = "client", connect = "localhost:)"
                   + std::to_string(server.port()) + R"(", events = "ev" }
)",
                 add_collector};
  auto conn = server.accept();
  REQUIRE(eventually([&] { return events().of("up").size() == 1; }));
  std::thread answer([&] { conn.write(conn.line() + "\n"); });
  auto reply = f.ask("c", R"({"by":"name"})");
  answer.join();
  REQUIRE(reply);
  CHECK(reply->text == R"({"by":"name"})");
  CHECK(status_of(f, "c")["state"] == "up");
  conn = peer{};
  f.stop_and_check();
  // Checked without a lookup: a client's host may be any name, a server's
  // listen address must be numeric.
  auto errors = test::check_config(R"(
[bridges]
named = { kind = "tcp", mode = "client", connect = "db.example:7000" }
bad-port = { kind = "tcp", mode = "client", connect = "db.example:70000" }
listen-name = { kind = "tcp", listen = "db.example:7000", to = "x" }
[actors]
x = { kind = "echo" }
)");
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].key == "bridges.bad-port");
  CHECK(errors[0].found.find("0 to 65535") != std::string::npos);
  CHECK(errors[1].key == "bridges.listen-name");
  CHECK(errors[1].found.find("numeric") != std::string::npos);
}

namespace {

// The node's end of the connection from `client` (the node runs in this
// process): the socket whose peer is the client's local address.
int node_end_of(const peer& client) {
  sockaddr_in mine{};
  socklen_t len = sizeof(mine);
  ::getsockname(client.fd(), reinterpret_cast<sockaddr*>(&mine), &len);
  for (int fd = 3; fd < 4096; ++fd) {
    sockaddr_in other{};
    len = sizeof(other);
    if (fd == client.fd()
        || ::getpeername(fd, reinterpret_cast<sockaddr*>(&other), &len) != 0
        || other.sin_family != AF_INET)
      continue;
    if (other.sin_port == mine.sin_port)
      return fd;
  }
  return -1;
}

} // namespace

TEST_CASE("tcp keepalive finds a vanished peer: on after 60s by default, "
          "set by keepalive, off with 0s, no delay on every connection") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
d = { kind = "tcp", listen = "127.0.0.1:0", to = "echo" }
k = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", keepalive = 5s }
o = { kind = "tcp", listen = "127.0.0.1:0", to = "echo", keepalive = 0s }
)"};
  for (auto [name, on, idle] :
       {std::tuple{"d", 1, 60}, std::tuple{"k", 1, 5}, std::tuple{"o", 0, 0}}) {
    INFO(name);
    auto c = peer::tcp(port_of(f, name));
    c.write("1\n");
    REQUIRE(c.line() == "1"); // accepted and served
    auto fd = node_end_of(c);
    REQUIRE(fd >= 0);
    int value = -1;
    socklen_t len = sizeof(value);
    REQUIRE(::getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &value, &len) == 0);
    CHECK(value == on);
    if (on) {
      REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &value, &len) == 0);
      CHECK(value == idle);
      // Then 10 probes 1 s apart: a dead peer is found ~10 s after `idle`.
      REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &value, &len) == 0);
      CHECK(value == 1);
      REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &value, &len) == 0);
      CHECK(value == 10);
    }
    // Set on the listener once, inherited by every accepted socket.
    REQUIRE(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &len) == 0);
    CHECK(value == 1);
  }
  f.stop_and_check();
}

// -- handing connections to child processes ---------------------------------

namespace {

const std::string handle_child =
  SWITCHBOARD_SOURCE_DIR "/tests/helpers/handle_child.js";

// A node with Node children w1 and w2 (tests/helpers/handle_child.js), a
// `log` collector and a tcp server `front` that hands the children its
// connections (`keys` added).
std::string handing_conf(const std::string& keys) {
  auto child = "{ kind = \"child-process\", command = [\"node\", \""
               + handle_child + "\"], ipc = \"json\", stdout = \"inherit\" }";
  return "[node]\ncontrol = \"none\"\n[actors]\nlog = { kind = "
         "\"collector\" }\nw1 = "
         + child + "\nw2 = " + child
         + "\n[bridges]\nfront = { kind = \"tcp\", listen = \"127.0.0.1:0\", "
           "hand-to = [\"w1\", \"w2\"]"
         + keys + " }\n";
}

// Sends one line on a fresh connection from `source` and returns the
// child's answer (null if none came).
json ask_handed(int port, const std::string& source, const std::string& text) {
  auto p = source.empty() ? peer::tcp(port) : peer::tcp_from(port, source);
  if (!p.ok())
    return nullptr;
  p.write(text + "\n");
  auto reply = json::parse(p.line(), nullptr, false);
  return reply.is_discarded() ? json{} : reply;
}

int64_t pid_of(node_fixture& f, const std::string& name) {
  return status_of(f, name).value("pid", int64_t{-1});
}

} // namespace

TEST_CASE("hand-to: Node children serve the connections a tcp server "
          "accepts, round robin, under a client that connects in a loop") {
  node_fixture f{handing_conf(""), add_collector};
  auto port = port_of(f, "front");
  std::map<int64_t, int> served;
  for (int i = 0; i < 200; ++i) {
    auto reply = ask_handed(port, "", "hello " + std::to_string(i));
    REQUIRE(reply.is_object());
    CHECK(reply["got"] == "hello " + std::to_string(i));
    CHECK(reply["bridge"] == "front");
    CHECK(reply["peer"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
    ++served[reply["pid"].get<int64_t>()];
  }
  // Round robin: every other connection to each child.
  CHECK(served[pid_of(f, "w1")] == 100);
  CHECK(served[pid_of(f, "w2")] == 100);
  auto st = status_of(f, "front");
  CHECK(st["handed"]["w1"] == 100);
  CHECK(st["handed"]["w2"] == 100);
  CHECK(st["refused"] == 0);
  CHECK(status_of(f, "w1")["handed"] == 100);
  f.stop_and_check();
}

TEST_CASE("hand-to: sticky dispatch sends a client address to the same "
          "child every time") {
  node_fixture f{handing_conf(", dispatch = \"sticky\""), add_collector};
  auto port = port_of(f, "front");
  std::map<std::string, int64_t> pids{{"w1", pid_of(f, "w1")},
                                      {"w2", pid_of(f, "w2")}};
  std::set<int64_t> used;
  for (int round = 0; round < 3; ++round)
    for (int k = 2; k < 18; ++k) {
      auto source = "127.0.0." + std::to_string(k);
      auto reply = ask_handed(port, source, "from " + source);
      REQUIRE(reply.is_object());
      // The same rule the bridge applies to the address without its port.
      auto expected = std::hash<std::string>{}(source) % 2 == 0 ? "w1" : "w2";
      INFO(source);
      CHECK(reply["pid"] == pids[expected]);
      used.insert(reply["pid"].get<int64_t>());
    }
  CHECK(used.size() == 2);
  f.stop_and_check();
}

TEST_CASE("hand-to: a child that is not running passes its connections on, "
          "and with none running a connection is refused with the reason") {
  node_fixture f{handing_conf(", events = \"log\""), add_collector};
  auto port = port_of(f, "front");
  auto stop = [&](const std::string& name) {
    caf::scoped_actor self{f.node().system()};
    bool ok = false;
    self->request(f.node().lookup(name), 10s, stop_atom::value)
      .receive([&](caf::ok_atom) { ok = true; }, [](caf::error&) {});
    return ok;
  };
  REQUIRE(stop("w1"));
  auto w2 = pid_of(f, "w2");
  for (int i = 0; i < 10; ++i) {
    auto reply = ask_handed(port, "", "only w2");
    REQUIRE(reply.is_object());
    CHECK(reply["pid"] == w2);
  }
  REQUIRE(stop("w2"));
  {
    auto p = peer::tcp(port);
    REQUIRE(p.ok());
    CHECK(p.closed_by_node());
  }
  REQUIRE(eventually([] { return events().count("refused") == 1; }));
  auto why = events().of("refused")[0]["reason"].get<std::string>();
  CHECK(why.find("no child took the connection") != std::string::npos);
  CHECK(why.find("not running") != std::string::npos);
  CHECK(status_of(f, "front")["refused"] == 1);
  f.stop_and_check();
}

TEST_CASE("hand-to: a switchboard child serves handed connections with a "
          "server of listen = parent, over binary and json IPC") {
  temp_dir dir;
  auto conf = dir.path() + "/inner.conf";
  {
    std::ofstream out{conf};
    out << "[node]\nname = \"inner\"\ncontrol = \"none\"\n[actors]\necho "
           "= { kind = \"echo\" }\n[bridges]\nparent = { kind = "
           "\"parent\", connections = \"served\" }\nserved = { kind = "
           "\"tcp\", listen = \"parent\", to = \"echo\" }\n";
  }
  for (std::string ipc : {"binary", "json"}) {
    INFO(ipc);
    node_fixture f{"[node]\ncontrol = \"none\"\n[actors]\nw = { kind = "
                   "\"child-process\", command = [\"" SWITCHBOARD_CLI
                   "\", \"run\", \""
                   + conf + "\"], ipc = \"" + ipc
                   + "\", stdout = \"inherit\" }\n[bridges]\nfront = { kind "
                     "= \"tcp\", listen = \"127.0.0.1:0\", hand-to = "
                     "[\"w\"] }\n"};
    auto port = port_of(f, "front");
    for (int i = 0; i < 50; ++i) {
      auto p = peer::tcp(port);
      REQUIRE(p.ok());
      auto msg = json{{"n", i}, {"via", ipc}}.dump();
      p.write(msg + "\n");
      CHECK(p.line() == msg);
    }
    CHECK(status_of(f, "front")["handed"]["w"] == 50);
    f.stop_and_check();
  }
}

TEST_CASE("hand-to and listen = parent refuse what they cannot do") {
  auto errors_of = [](const std::string& text) {
    auto cfg = node_config::from_string(text);
    REQUIRE(cfg);
    kind_registry kinds;
    REQUIRE(!actors::add_builtin_kinds(kinds));
    std::string all;
    for (auto& e : validate(*cfg, kinds))
      all += e.to_string() + "\n";
    return all;
  };
  auto both = errors_of(
    "[actors]\necho = { kind = \"echo\" }\nw = { kind = \"child-process\", "
    "command = [\"true\"], ipc = \"json\" }\n[bridges]\na = { kind = "
    "\"tcp\", listen = \"127.0.0.1:0\", hand-to = [\"w\"], to = \"echo\" "
    "}\nb = { kind = \"tcp\", listen = \"parent\", hand-to = [\"w\"] }\nc "
    "= { kind = \"tcp\", listen = \"127.0.0.1:0\", to = \"echo\", "
    "dispatch = \"sticky\" }\nd = { kind = \"tcp\", listen = "
    "\"127.0.0.1:0\", hand-to = [\"ghost\"] }\n");
  CHECK(both.find("hand-to excludes to and room") != std::string::npos);
  CHECK(both.find("cannot hand it on") != std::string::npos);
  CHECK(both.find("dispatch is for hand-to") != std::string::npos);
  CHECK(both.find("bridges.d.hand-to") != std::string::npos);
}

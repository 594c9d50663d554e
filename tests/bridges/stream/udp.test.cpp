// switchboard: an embeddable C++ actor runtime. MIT License.

// The udp bridge against real datagram sockets on 127.0.0.1 and ::1, and
// against a plain `socat` peer.

#include <switchboard/bridges/stream/bridge.hpp>

#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <switchboard/status.hpp>

#include <switchboard/metrics.hpp>

#include "node_fixture.hpp"
#include "stream_helpers.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::test::add_collector;
using switchboard::test::events;
using switchboard::test::eventually;
using switchboard::test::node_fixture;
using switchboard::test::status_of;
using json = nlohmann::json;

namespace {

// A datagram socket bound to a free port on 127.0.0.1 or ::1.
class dgram {
public:
  explicit dgram(bool v6 = false) : v6_(v6) {
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto addr = address(0);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), length());
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }

  ~dgram() {
    ::close(fd_);
  }

  dgram(const dgram&) = delete;
  dgram& operator=(const dgram&) = delete;

  int port() const {
    return port_;
  }

  std::string where() const {
    return (v6_ ? "[::1]:" : "127.0.0.1:") + std::to_string(port_);
  }

  bool send(int port, const std::string& data) {
    auto addr = address(port);
    return ::sendto(fd_, data.data(), data.size(), 0,
                    reinterpret_cast<sockaddr*>(&addr), length())
           == static_cast<ssize_t>(data.size());
  }

  // The next datagram within `timeout`, with the sender's port.
  std::optional<std::pair<std::string, int>>
  receive(std::chrono::milliseconds timeout = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
      return std::nullopt;
    std::string buf(70000, '\0');
    sockaddr_storage from{};
    socklen_t len = sizeof(from);
    auto n = ::recvfrom(fd_, buf.data(), buf.size(), 0,
                        reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0)
      return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    int port = ntohs(v6_ ? reinterpret_cast<sockaddr_in6*>(&from)->sin6_port
                         : reinterpret_cast<sockaddr_in*>(&from)->sin_port);
    return std::make_pair(std::move(buf), port);
  }

private:
  sockaddr_storage address(int port) const {
    sockaddr_storage ss{};
    if (v6_) {
      auto a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET6, "::1", &a->sin6_addr);
    } else {
      auto a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
    }
    return ss;
  }

  socklen_t length() const {
    return v6_ ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  }

  bool v6_;
  int fd_;
  int port_ = 0;
};

int port_of(node_fixture& f, const std::string& name) {
  return test::port_in_status(f, name, "bind");
}

caf::error start_error(const std::string& config) {
  auto cfg = node_config::from_string(config, "test.conf");
  REQUIRE(cfg);
  switchboard::node n{std::move(*cfg)};
  REQUIRE(!actors::add_builtin_kinds(n.kinds(), actors::builtin_behaviors()));
  auto err = n.start();
  n.stop();
  return err;
}

} // namespace

TEST_CASE("udp echo on 127.0.0.1 and ::1: each datagram a request, the "
          "reply goes back to its sender") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
u4 = { kind = "udp", bind = "127.0.0.1:0", to = "echo" }
u6 = { kind = "udp", bind = "[::1]:0", to = "echo" }
)"};
  for (bool v6 : {false, true}) {
    INFO((v6 ? "::1" : "127.0.0.1"));
    auto name = v6 ? "u6" : "u4";
    auto port = port_of(f, name);
    dgram a{v6};
    dgram b{v6};
    // Two senders at once: each gets its own answers back.
    for (int i = 0; i < 100; ++i) {
      REQUIRE(a.send(port, R"({"from":"a","i":)" + std::to_string(i) + "}"));
      REQUIRE(b.send(port, R"({"from":"b","i":)" + std::to_string(i) + "}"));
    }
    std::set<std::string> got_a;
    std::set<std::string> got_b;
    for (int i = 0; i < 100; ++i) {
      auto x = a.receive();
      auto y = b.receive();
      REQUIRE(x);
      REQUIRE(y);
      CHECK(x->second == port);
      CHECK(json::parse(x->first)["from"] == "a");
      CHECK(json::parse(y->first)["from"] == "b");
      got_a.insert(x->first);
      got_b.insert(y->first);
    }
    CHECK(got_a.size() == 100);
    CHECK(got_b.size() == 100);
    auto st = status_of(f, name);
    CHECK(st["in"] == 200);
    CHECK(st["out"] == 200);
  }
  f.stop_and_check();
}

TEST_CASE("udp: datagrams over max-frame are dropped, counted and reported, "
          "garbage gets an error reply, the bridge goes on") {
  dgram c; // opened before the node: the node's fd check leaves it out
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
ev = { kind = "collector" }
[bridges]
u = { kind = "udp", bind = "127.0.0.1:0", to = "echo", max-frame = 100, events = "ev" }
)",
                 add_collector};
  auto port = port_of(f, "u");
  REQUIRE(c.send(port, "\"" + std::string(200, 'x') + "\""));
  REQUIRE(c.send(port, "\"" + std::string(98, 'y') + "\"")); // 100 bytes
  auto r = c.receive();
  REQUIRE(r);
  CHECK(r->first == "\"" + std::string(98, 'y') + "\"");
  CHECK(eventually([&] { return events().count("dropped") == 1; }));
  CHECK(status_of(f, "u")["oversize"] == 1);
  // More oversize datagrams within the second: counted, not each reported.
  for (int i = 0; i < 10; ++i)
    REQUIRE(c.send(port, std::string(1000, 'z')));
  REQUIRE(eventually([&] { return status_of(f, "u")["oversize"] == 11; }));
  // The metrics count them as drops of their own reason.
  CHECK(f.node().metrics().prometheus().find(
          "switchboard_dropped_total{node=\"main\",actor=\"u\",kind=\"udp\","
          "reason=\"oversize\"} 11\n")
        != std::string::npos);
  CHECK(events().count("dropped") == 1);
  // Not JSON: an error in place of the reply.
  REQUIRE(c.send(port, "{not json"));
  r = c.receive();
  REQUIRE(r);
  auto reply = json::parse(r->first);
  CHECK(reply["error"].get<std::string>().find("not JSON")
        != std::string::npos);
  CHECK(status_of(f, "u")["errors"] == 1);
  REQUIRE(c.send(port, "[1,2]"));
  r = c.receive();
  REQUIRE(r);
  CHECK(r->first == "[1,2]");
  f.stop_and_check();
}

TEST_CASE("udp out: messages go to the default peer or to the {peer, data} "
          "they name, a request is answered by the peer's next datagram or "
          "times out") {
  dgram server;
  dgram other;
  node_fixture f{R"(
[bridges]
u = { kind = "udp", peer = ")"
                 + server.where() + R"(", request-timeout = 300ms }
)"};
  auto u = caf::actor_cast<json_actor>(f.node().lookup("u"));
  {
    caf::scoped_actor self{f.node().system()};
    self->send(u, json_message::trusted(R"({"hello":1})"));
    self->send(u, json_message::trusted(R"({"peer":")" + other.where()
                                        + R"(","data":{"hi":2}})"));
  }
  auto at_server = server.receive();
  REQUIRE(at_server);
  CHECK(at_server->first == R"({"hello":1})");
  auto at_other = other.receive();
  REQUIRE(at_other);
  CHECK(at_other->first == R"({"hi":2})");
  CHECK(at_other->second == at_server->second); // one socket
  // A request: the server's next datagram is the answer.
  std::thread answer([&] {
    auto q = server.receive();
    if (q)
      server.send(q->second, R"({"answer":42})");
  });
  auto reply = f.ask("u", R"({"q":1})");
  answer.join();
  REQUIRE(reply);
  CHECK(reply->text == R"({"answer":42})");
  // Nobody answers: a timeout, not silence.
  auto silent = f.ask("u", R"({"q":2})");
  REQUIRE(!silent);
  CHECK(is(silent.error(), errc::timeout));
  CHECK(server.receive()); // the request went out
  // Over max-frame outbound: refused with a reason.
  auto big = f.ask("u", "\"" + std::string(70000, 'x') + "\"");
  REQUIRE(!big);
  CHECK(is(big.error(), errc::frame_too_large));
  auto bad_peer = f.ask("u", R"({"peer":"nowhere","data":1})");
  REQUIRE(!bad_peer);
  CHECK(is(bad_peer.error(), errc::bad_message));
  auto st = status_of(f, "u");
  CHECK(st["out"] == 4);
  CHECK(st["waiting"] == 0);
  f.stop_and_check();
}

TEST_CASE("udp deliver = envelope hands `to` the sender's address, text "
          "format takes any payload") {
  dgram c;
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
e = { kind = "udp", bind = "127.0.0.1:0", to = "echo", deliver = "envelope" }
t = { kind = "udp", bind = "127.0.0.1:0", to = "echo", format = "text" }
)"};
  REQUIRE(c.send(port_of(f, "e"), R"({"x":1})"));
  auto r = c.receive();
  REQUIRE(r);
  auto env = json::parse(r->first);
  CHECK(env["peer"] == c.where());
  CHECK(env["data"] == json{{"x", 1}});
  REQUIRE(c.send(port_of(f, "t"), "plain words\n"));
  r = c.receive();
  REQUIRE(r);
  CHECK(r->first == "plain words\n");
  f.stop_and_check();
}

TEST_CASE("udp echo with a socat peer") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
u = { kind = "udp", bind = "127.0.0.1:0", to = "echo", format = "text" }
)"};
  {
    test::child socat{
      {"socat", "-", "UDP:127.0.0.1:" + std::to_string(port_of(f, "u"))}, true};
    REQUIRE(socat.write_stdin("hello over udp\n"));
    CHECK(socat.wait_for_stdout("hello over udp\n", 10s));
    REQUIRE(socat.write_stdin("second datagram\n"));
    CHECK(socat.wait_for_stdout("second datagram\n", 10s));
  }
  CHECK(status_of(f, "u")["in"] == 2);
  f.stop_and_check();
}

TEST_CASE("udp config errors are clear") {
  auto err = start_error(R"(
[bridges]
u = { kind = "udp", format = "text" }
)");
  REQUIRE(err);
  CHECK(render(err).find("needs bind") != std::string::npos);
  err = start_error(R"(
[bridges]
u = { kind = "udp", bind = "127.0.0.1:0", max-frame = 70000 }
)");
  REQUIRE(err);
  CHECK(render(err).find("65507") != std::string::npos);
  err = start_error(R"(
[bridges]
u = { kind = "udp", bind = "127.0.0.1:0", peer = "[::1]:9" }
)");
  REQUIRE(err);
  CHECK(render(err).find("address families") != std::string::npos);
  err = start_error(R"(
[bridges]
u = { kind = "udp", bind = "127.0.0.1:x" }
)");
  REQUIRE(err);
  CHECK(render(err).find("bind") != std::string::npos);
}

TEST_CASE("check refuses the udp and tcp entries that run would refuse") {
  auto errors = test::check_config(R"(
[bridges]
u = { kind = "udp", format = "text" }
m = { kind = "udp", bind = "127.0.0.1:0", max-frame = 70000 }
t = { kind = "tcp", listen = "127.0.0.1:99999", room = "r" }
p = { kind = "udp", peer = "nohost:1" }
ok = { kind = "udp", bind = "127.0.0.1:0" }
[actors]
r = { kind = "room" }
)");
  std::string all;
  for (auto& e : errors)
    all += e.to_string() + "\n";
  INFO(all);
  REQUIRE(errors.size() == 4);
  CHECK(errors[0].key == "bridges.u");
  CHECK(errors[0].found.find("needs bind") != std::string::npos);
  CHECK(errors[1].found.find("65507") != std::string::npos);
  CHECK(errors[2].found.find("0 to 65535") != std::string::npos);
  CHECK(errors[3].found.find("numeric") != std::string::npos);
  CHECK(errors[0].line == 3);
}

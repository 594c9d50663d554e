// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/bridges/control/bridge.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include "node_fixture.hpp"

#include <switchboard/defaults.hpp>

using namespace switchboard;
using switchboard::test::node_fixture;

namespace {

// A blocking line client for the control socket.
class client {
public:
  explicit client(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, path.size());
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
            == 0);
  }
  ~client() {
    close(fd_);
  }
  void write(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      auto n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0)
        return; // the node closed the connection
      off += static_cast<size_t>(n);
    }
  }
  // The next line, or "" on EOF or after 10 s.
  std::string read_line() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        auto line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0)
        return {};
      char tmp[4096];
      auto n = read(fd_, tmp, sizeof(tmp));
      if (n <= 0)
        return {};
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }
  void shutdown_write() {
    ::shutdown(fd_, SHUT_WR);
  }
  std::string call(const std::string& line) {
    write(line + "\n");
    return read_line();
  }

private:
  int fd_;
  std::string buf_;
};

// `mute` takes requests and never answers them (until it exits).
void add_mute_kind(kind_registry& kinds) {
  kind_spec k;
  k.name = "mute";
  k.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(ctx.node.system().spawn(
      [](json_actor::pointer self) -> json_actor::behavior_type {
        return {[self](json_message&) {
          // Keep the promise pending: the requester must time out.
          return self->make_response_promise<json_message>();
        }};
      }));
  };
  REQUIRE(!kinds.add(k));
}

// `pretty` answers with JSON spread over lines; `broken` with text that is
// not JSON at all.
void add_test_kinds(kind_registry& kinds) {
  add_mute_kind(kinds);
  for (auto [name, text] :
       {std::pair{"pretty", "{\n  \"a\": [\n    1\n  ]\n}\n"},
        std::pair{"broken", "not json"}})
    REQUIRE(!kinds.add(
      test::reply_kind(name, [text = std::string{text}](auto&, auto&, auto&) {
        return json_message::trusted(text);
      })));
}

// A node with the test kinds and its control socket in a fresh directory.
struct control_fixture {
  test::temp_dir dir;
  std::string path = dir.path() + "/ctl.sock";
  node_fixture f;
  explicit control_fixture(const char* config_text)
      : f{config_text, add_test_kinds} {
    REQUIRE(bridges::control::start(f.node(), path));
  }
};

constexpr const char* config = R"(
[node]
name = "ctl"
control = "none"
[actors]
echo = { kind = "echo" }
quiet = { kind = "mute" }
pretty = { kind = "pretty" }
broken = { kind = "broken" }
)";

} // namespace

TEST_CASE("the control socket answers send and status") {
  control_fixture cf{config};
  auto& [dir, path, f] = cf;
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  {
    client c{path};
    CHECK(c.call(R"({"op":"send","to":"echo","message":{"a":1}})")
          == R"({"ok":true,"reply":{"a":1}})");
    CHECK(c.call(R"({"op":"send","to":"echo","message":"s","id":7})")
          == R"({"ok":true,"reply":"s","id":7})");
    auto status = c.call(R"({"op":"status"})");
    CHECK(status.find(R"("node":"ctl")") != std::string::npos);
    CHECK(status.find(R"("name":"echo")") != std::string::npos);
    CHECK(status.find(R"("name":"control")") != std::string::npos);
    CHECK(status.find(R"("mailbox":0)") != std::string::npos);
    auto one = c.call(R"({"op":"status","address":"echo"})");
    CHECK(one.find(R"("name":"quiet")") == std::string::npos);
    CHECK(one.find(R"("name":"echo")") != std::string::npos);
  }
  f.stop_and_check();
  CHECK(access(path.c_str(), F_OK) != 0); // the socket file is gone
}

TEST_CASE("bad requests get clear errors and the connection goes on") {
  control_fixture cf{config};
  auto& [dir, path, f] = cf;
  {
    client c{path};
    CHECK(c.call("this is not json").find("invalid_json") != std::string::npos);
    CHECK(c.call(R"({"op":"dance"})").find("unknown op 'dance'")
          != std::string::npos);
    CHECK(c.call(R"({"op":"send","to":"ghost","message":1})")
            .find("unknown_actor: no actor named 'ghost'")
          != std::string::npos);
    auto no_message = c.call(R"({"op":"send","to":"echo"})");
    INFO(no_message);
    CHECK(no_message.find("no \\\"message\\\"") != std::string::npos);
    CHECK(c.call(R"({"op":"send","to":"control","message":1})")
            .find("does not take JSON requests")
          != std::string::npos);
    CHECK(c.call(R"({"op":"send","to":"quiet","message":1,"timeout_ms":50})")
            .find("timeout: 'quiet' did not reply within 50 ms")
          != std::string::npos);
    // Still serving after all that.
    CHECK(c.call(R"({"op":"send","to":"echo","message":2})")
          == R"({"ok":true,"reply":2})");
  }
  f.stop_and_check();
}

TEST_CASE("a line over the limit closes that connection only") {
  control_fixture cf{config};
  auto& [dir, path, f] = cf;
  {
    client big{path};
    big.write(std::string(defaults::max_control_line + 1, 'x'));
    CHECK(big.read_line().find("frame_too_large") != std::string::npos);
    CHECK(big.read_line().empty()); // closed
    client other{path};
    CHECK(other.call(R"({"op":"send","to":"echo","message":3})")
          == R"({"ok":true,"reply":3})");
  }
  f.stop_and_check();
}

TEST_CASE("a stale socket file is replaced, a live one is refused") {
  test::temp_dir dir;
  auto path = dir.path() + "/ctl.sock";
  { // Leave a socket file nobody listens on.
    auto fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, path.size());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    close(fd);
  }
  node_fixture f{config, add_test_kinds};
  REQUIRE(bridges::control::start(f.node(), path));
  {
    node_fixture g{config, add_test_kinds};
    auto second = bridges::control::start(g.node(), path);
    REQUIRE(!second);
    CHECK(render(second.error()).find("another node listens")
          != std::string::npos);
    // Not g.stop_and_check(): g's fd baseline counted f's fds, which f may
    // open and close meanwhile (its end of g's probe). f's check below
    // covers both nodes.
    g.node().stop();
  }
  f.stop_and_check();
}

TEST_CASE("fields of the wrong type are errors that name the field") {
  control_fixture cf{config};
  auto& [dir, path, f] = cf;
  {
    client c{path};
    CHECK(c.call(R"({"op":"status","timeout_ms":"5"})")
            .find("field 'timeout_ms' must be a positive whole number")
          != std::string::npos);
    CHECK(c.call(R"({"op":"send","to":"echo","message":1,"timeout_ms":-3})")
            .find("field 'timeout_ms'")
          != std::string::npos);
    CHECK(c.call(R"({"op":5})").find("field 'op' must be a string")
          != std::string::npos);
    CHECK(c.call(R"({"op":"send","to":["echo"],"message":1})")
            .find("field 'to' must be a string")
          != std::string::npos);
    CHECK(c.call("[1,2]").find("one JSON object per line")
          != std::string::npos);
    // The endpoint survived all of it.
    CHECK(c.call(R"({"op":"send","to":"echo","message":4})")
          == R"({"ok":true,"reply":4})");
  }
  f.stop_and_check();
}

TEST_CASE("replies stay on one line and must be JSON") {
  control_fixture cf{config};
  auto& [dir, path, f] = cf;
  {
    client c{path};
    CHECK(c.call(R"({"op":"send","to":"pretty","message":1})")
          == R"({"ok":true,"reply":{  "a": [    1  ]}})");
    CHECK(c.call(R"({"op":"send","to":"broken","message":1})")
            .find("'broken' replied with text that is not JSON")
          != std::string::npos);
    CHECK(c.call(R"({"op":"send","to":"echo","message":5})")
          == R"({"ok":true,"reply":5})");
  }
  f.stop_and_check();
}

TEST_CASE("a client that half-closes still gets its replies") {
  control_fixture cf{config};
  auto& [dir, path, f] = cf;
  {
    client c{path};
    // Two requests, the last without a newline, then EOF.
    c.write("{\"op\":\"send\",\"to\":\"echo\",\"message\":1}\n"
            "{\"op\":\"send\",\"to\":\"echo\",\"message\":2}");
    c.shutdown_write();
    CHECK(c.read_line() == R"({"ok":true,"reply":1})");
    CHECK(c.read_line() == R"({"ok":true,"reply":2})");
    CHECK(c.read_line().empty()); // then the node closes
  }
  f.stop_and_check();
}

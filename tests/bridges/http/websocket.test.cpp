// switchboard: an embeddable C++ actor runtime. MIT License.

// The websocket kind against real clients: Node's `ws` (tests/helpers/
// ws_client.js) for rooms, replies, formats, TLS and compression; raw
// sockets for peers that misbehave (never read, never answer a ping, send
// garbage).

#include <switchboard/bridges/http/server.hpp>

#include <caf/scoped_actor.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../stream/stream_helpers.hpp"
#include <switchboard/metrics.hpp>

#include "node_fixture.hpp"
#include "process.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::test::add_collector;
using switchboard::test::events;
using switchboard::test::eventually;
using switchboard::test::node_fixture;
using switchboard::test::port_in_status;
using switchboard::test::status_of;
using switchboard::test::temp_dir;
using json = nlohmann::json;

namespace {

const std::string client_js =
  SWITCHBOARD_SOURCE_DIR "/tests/helpers/ws_client.js";

std::string ws_url(node_fixture& f, const std::string& name,
                   const std::string& path = "/",
                   const std::string& scheme = "ws") {
  return scheme + "://127.0.0.1:"
         + std::to_string(port_in_status(f, name, "listen")) + path;
}

// Runs ws_client.js to completion (batch modes); its one line of JSON.
json run_client(std::vector<std::string> args) {
  std::vector<std::string> argv{"node", client_js};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = test::run(argv, 30s);
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE(j.is_object());
  return j;
}

// ws_client.js in `hold` mode: one connection driven by stdin lines.
struct held_client {
  held_client(const std::string& url, std::vector<std::string> env = {},
              const std::string& protocol = "")
      : proc(argv_of(url, std::move(env), protocol), true) {}

  static std::vector<std::string> argv_of(const std::string& url,
                                          std::vector<std::string> env,
                                          const std::string& protocol) {
    std::vector<std::string> argv{"env"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.insert(argv.end(), {"node", client_js, "hold", url});
    if (!protocol.empty())
      argv.push_back(protocol);
    return argv;
  }

  bool saw(const std::string& needle, test::ms timeout = 10s) {
    if (proc.wait_for_stdout(needle, timeout))
      return true;
    auto out = proc.out();
    WARN("ws_client.js printed: "
         << (out.size() > 2000 ? "..." + out.substr(out.size() - 2000) : out)
         << "\nand on stderr: " << proc.err());
    return false;
  }

  void say(const std::string& line) {
    REQUIRE(proc.write_stdin(line + "\n"));
  }

  test::child proc;
};

// A socket that completed (or tried) an upgrade by hand.
struct raw_ws {
  int fd = -1;
  int status = 0;
  ~raw_ws() {
    if (fd >= 0)
      ::close(fd);
  }
};

std::unique_ptr<raw_ws> raw_upgrade(int port, const std::string& path,
                                    const std::string& headers = "",
                                    int rcvbuf = 0) {
  auto r = std::make_unique<raw_ws>();
  r->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (rcvbuf > 0)
    ::setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(r->fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  std::string req = "GET " + path
                    + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: "
                      "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
                      "13\r\n"
                    + headers + "\r\n";
  REQUIRE(::send(r->fd, req.data(), req.size(), MSG_NOSIGNAL)
          == static_cast<ssize_t>(req.size()));
  // Byte by byte up to the blank line: nothing after it is taken.
  std::string head;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (head.find("\r\n\r\n") == std::string::npos
         && std::chrono::steady_clock::now() < deadline) {
    pollfd p{r->fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0)
      continue;
    char ch;
    if (::recv(r->fd, &ch, 1, 0) != 1)
      break;
    head += ch;
  }
  // lws answers a refused upgrade as HTTP/1.0.
  if (head.rfind("HTTP/1.", 0) == 0 && head.size() > 12)
    r->status = std::stoi(head.substr(9, 3));
  return r;
}

// Whether the server closes `fd` (EOF or reset) within `timeout`, reading
// and dropping what comes before.
bool closed_by_server(int fd, test::ms timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0)
      continue;
    char buf[4096];
    if (::recv(fd, buf, sizeof(buf), 0) <= 0)
      return true;
  }
  return false;
}

size_t rss_bytes() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoul(line.substr(6)) * 1024;
  return 0;
}

} // namespace

TEST_CASE("websocket: a room of 50 clients gets every message exactly once, "
          "never its own") {
  node_fixture f{R"(
[actors]
lobby = { kind = "room" }
[bridges]
chat = { kind = "websocket", listen = "127.0.0.1:0", room = "lobby" }
)"};
  const int n = 50, k = 20;
  auto out = run_client(
    {"room", ws_url(f, "chat"), std::to_string(n), std::to_string(k)});
  auto& got = out["got"];
  REQUIRE(got.size() == n);
  std::vector<int> expected(k);
  for (int s = 0; s < k; ++s)
    expected[s] = s;
  for (int i = 0; i < n; ++i) {
    INFO("client " << i);
    CHECK(!got[i].contains(std::to_string(i)));
    CHECK(got[i].size() == n - 1);
    for (auto& [from, seqs] : got[i].items()) {
      INFO("from " << from);
      auto xs = seqs.get<std::vector<int>>();
      // In order, each once.
      CHECK(xs == expected);
    }
  }
  auto st = status_of(f, "chat");
  CHECK(st["websocket"]["in"].get<int>() >= n * k);
  CHECK(st["websocket"]["accepted"] == n);
  f.stop_and_check();
}

TEST_CASE("websocket: with to, replies come in the order of the messages, "
          "one that is not JSON gets an error in its place") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
api = { kind = "websocket", listen = "127.0.0.1:0", to = "echo", path = "/ws",
        routes = [{ method = "POST", path = "/echo", to = "echo" }] }
tight = { kind = "websocket", listen = "127.0.0.1:0", to = "echo",
          max-queued = 100, overflow = "disconnect" }
)"};
  SECTION("replies to its own messages are never dropped or cut, even "
          "past max-queued") {
    auto out = run_client({"echo", ws_url(f, "tight"), "100"});
    CHECK(out["replies"].size() == 100);
  }
  auto out = run_client({"echo", ws_url(f, "api", "/ws"), "100"});
  auto& replies = out["replies"];
  REQUIRE(replies.size() == 100);
  for (int i = 0; i < 100; ++i) {
    auto r = replies[i].get<std::string>();
    if (i == 5)
      CHECK_THAT(r, Catch::Contains("invalid_json"));
    else
      CHECK(json::parse(r) == json{{"i", i}});
  }
  SECTION("the same port serves the HTTP routes; /status is off here") {
    auto port = std::to_string(port_in_status(f, "api", "listen"));
    auto r = test::run({"curl", "-s", "-d", R"({"via":"http"})",
                        "http://127.0.0.1:" + port + "/echo"});
    CHECK(r.out == R"({"via":"http"})");
    r = test::run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                   "http://127.0.0.1:" + port + "/status"});
    CHECK(r.out == "404");
  }
  SECTION("another path is refused with 404") {
    auto raw = raw_upgrade(port_in_status(f, "api", "listen"), "/other");
    CHECK(raw->status == 404);
  }
  f.stop_and_check();
}

TEST_CASE("websocket: format text and binary") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
t = { kind = "websocket", listen = "127.0.0.1:0", to = "echo", format = "text" }
b = { kind = "websocket", listen = "127.0.0.1:0", to = "echo", format = "binary" }
)"};
  SECTION("text: a message is a JSON string; the reply's string goes back") {
    held_client c{ws_url(f, "t")};
    REQUIRE(c.saw("open"));
    c.say("send plain words, not JSON");
    CHECK(c.saw("msg plain words, not JSON"));
  }
  SECTION("binary: bytes arrive as base64 and go back as a binary frame") {
    held_client c{ws_url(f, "b")};
    REQUIRE(c.saw("open"));
    c.say("sendb abc");
    CHECK(c.saw("msgb abc"));
    // What is not base64 is refused, not sent as whatever lws makes of it.
    auto r = f.ask("b", R"({"op":"broadcast","data":"hello world!"})");
    REQUIRE(!r);
    CHECK_THAT(render(r.error()), Catch::Contains("not base64"));
    r = f.ask("b", R"({"op":"broadcast","data":{"not":"a string"}})");
    REQUIRE(!r);
    CHECK_THAT(render(r.error()), Catch::Contains("JSON strings"));
    r = f.ask("b", R"({"op":"broadcast","data":"aGk="})");
    REQUIRE(r);
    CHECK(c.saw("msgb hi"));
  }
  f.stop_and_check();
}

TEST_CASE("websocket: a message over max-message closes with 1009, the node "
          "goes on") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
ev = { kind = "collector" }
[bridges]
api = { kind = "websocket", listen = "127.0.0.1:0", to = "echo", max-message = 1000, events = "ev" }
)",
                 add_collector};
  {
    held_client c{ws_url(f, "api")};
    REQUIRE(c.saw("open"));
    c.say("big 2000");
    CHECK(c.saw("close 1009"));
  }
  REQUIRE(eventually([&] { return events().count("closed") == 1; }));
  CHECK_THAT(events().of("closed")[0]["reason"].get<std::string>(),
             Catch::Contains("max-message"));
  CHECK(events().of("closed")[0]["code"] == 1009);
  {
    held_client c{ws_url(f, "api")};
    REQUIRE(c.saw("open"));
    c.say("big 900");
    CHECK(c.saw("msg \"xxx"));
  }
  f.stop_and_check();
}

TEST_CASE("websocket: garbage frames close the connection, the node goes "
          "on") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
api = { kind = "websocket", listen = "127.0.0.1:0", to = "echo" }
)"};
  auto port = port_in_status(f, "api", "listen");
  SECTION("a frame with a reserved opcode") {
    auto raw = raw_upgrade(port, "/");
    REQUIRE(raw->status == 101);
    // Masked (zero key), with opcode 3, which is reserved.
    std::string frame = std::string{"\x83\x85\0\0\0\0", 6} + "hello";
    ::send(raw->fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    CHECK(closed_by_server(raw->fd, 5s));
  }
  SECTION("bytes that are no frame at all") {
    auto raw = raw_upgrade(port, "/");
    REQUIRE(raw->status == 101);
    std::string junk(4096, '\xff');
    ::send(raw->fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    CHECK(closed_by_server(raw->fd, 5s));
  }
  SECTION("invalid UTF-8 in a text frame") {
    auto raw = raw_upgrade(port, "/");
    REQUIRE(raw->status == 101);
    // Masked with a zero key: the payload is as written.
    std::string frame = std::string{"\x81\x82\0\0\0\0", 6} + "\xc3\x28";
    ::send(raw->fd, frame.data(), frame.size(), MSG_NOSIGNAL);
    CHECK(closed_by_server(raw->fd, 5s));
  }
  auto out = run_client({"echo", ws_url(f, "api"), "10"});
  CHECK(out["replies"].size() == 10);
  f.stop_and_check();
}

TEST_CASE("websocket: origins, token and subprotocols decide who may "
          "connect") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
ev = { kind = "collector" }
[bridges]
api = { kind = "websocket", listen = "127.0.0.1:0", to = "echo", token = "s3cret",
        origins = ["https://app.example"], protocols = ["chat", "chat.v2"], events = "ev" }
)",
                 add_collector};
  auto port = port_in_status(f, "api", "listen");
  CHECK(raw_upgrade(port, "/")->status == 401);
  CHECK(raw_upgrade(port, "/", "Authorization: Bearer wrong\r\n")->status
        == 401);
  CHECK(raw_upgrade(port, "/?token=s3cret")->status == 101);
  CHECK(raw_upgrade(port, "/", "Authorization: Bearer s3cret\r\n")->status
        == 101);
  CHECK(raw_upgrade(port, "/?token=s3cret", "Origin: https://evil.example\r\n")
          ->status
        == 403);
  CHECK(raw_upgrade(port, "/?token=s3cret", "Origin: https://app.example\r\n")
          ->status
        == 101);
  CHECK(status_of(f, "api")["websocket"]["refused"] == 3);
  {
    held_client c{ws_url(f, "api"), {"WS_TOKEN=s3cret"}, "chat.v2"};
    REQUIRE(c.saw("open chat.v2"));
    REQUIRE(eventually([&] {
      for (auto& e : events().of("opened"))
        if (e.value("protocol", "") == "chat.v2")
          return true;
      return false;
    }));
    c.say("send {\"p\":2}");
    CHECK(c.saw("msg {\"p\":2}"));
    held_client other{ws_url(f, "api"), {"WS_TOKEN=s3cret"}, "mqtt"};
    CHECK(other.saw("error"));
  }
  f.stop_and_check();
}

TEST_CASE("websocket: commands send, broadcast, list and close") {
  node_fixture f{R"(
[actors]
lobby = { kind = "room" }
[bridges]
chat = { kind = "websocket", listen = "127.0.0.1:0", room = "lobby" }
)"};
  {
    held_client a{ws_url(f, "chat")};
    held_client b{ws_url(f, "chat")};
    REQUIRE(a.saw("open"));
    REQUIRE(b.saw("open"));
    json list;
    REQUIRE(eventually([&] {
      auto r = f.ask("chat", R"({"op":"list"})");
      REQUIRE(r);
      list = json::parse(r->text);
      return list["connections"].size() == 2;
    }));
    auto first = list["connections"][0]["conn"].get<uint64_t>();
    auto second = list["connections"][1]["conn"].get<uint64_t>();
    CHECK_THAT(list["connections"][0]["peer"].get<std::string>(),
               Catch::StartsWith("127.0.0.1:"));
    auto r = f.ask("chat", R"({"op":"broadcast","data":{"all":1}})");
    REQUIRE(r);
    CHECK(r->text == R"({"sent":2})");
    CHECK(a.saw("msg {\"all\":1}"));
    CHECK(b.saw("msg {\"all\":1}"));
    r = f.ask("chat", R"({"op":"broadcast","data":"but one","except":)"
                        + std::to_string(first) + "}");
    REQUIRE(r);
    CHECK(r->text == R"({"sent":1})");
    r = f.ask("chat", R"({"op":"send","conn":)" + std::to_string(first)
                        + R"(,"data":[1,2]})");
    REQUIRE(r);
    r = f.ask("chat", R"({"op":"send","conn":999,"data":1})");
    REQUIRE(!r);
    CHECK_THAT(render(r.error()), Catch::Contains("no connection 999"));
    r = f.ask("chat", R"({"op":"shout"})");
    REQUIRE(!r);
    CHECK_THAT(render(r.error()), Catch::Contains("unknown op"));
    r =
      f.ask("chat", R"({"op":"close","conn":)" + std::to_string(second) + "}");
    REQUIRE(r);
    // Which client is which: the one that got [1,2] is `first`.
    bool a_first = false;
    REQUIRE(eventually([&] {
      a_first = a.proc.wait_for_stdout("msg [1,2]", 10ms);
      return a_first || b.proc.wait_for_stdout("msg [1,2]", 10ms);
    }));
    auto& closed = a_first ? b : a;
    CHECK(closed.saw("close 1000 closed by command"));
    CHECK(eventually(
      [&] { return status_of(f, "chat")["websocket"]["connections"] == 1; }));
    // The bridge's metrics count its open connections too.
    CHECK(f.node().metrics().prometheus().find(
            "switchboard_connections{node=\"main\",actor=\"chat\",kind="
            "\"websocket\"} 1\n")
          != std::string::npos);
  }
  f.stop_and_check();
}

TEST_CASE("websocket: a client that stops reading is dropped or "
          "disconnected, the node's memory stays bounded") {
  node_fixture f{R"(
[actors]
ev = { kind = "collector" }
lobby = { kind = "room" }
[bridges]
d = { kind = "websocket", listen = "127.0.0.1:0", room = "lobby", max-queued = 65536 }
x = { kind = "websocket", listen = "127.0.0.1:0", room = "lobby", max-queued = 65536, overflow = "disconnect", events = "ev" }
)",
                 add_collector};
  // 10 KB messages, pushed by commands; 2,000 of them is 20 MB.
  auto cmd =
    json{{"op", "broadcast"}, {"data", std::string(10000, 'z')}}.dump();
  SECTION("drop: messages past the mark are counted, the queue stays there") {
    auto raw = raw_upgrade(port_in_status(f, "d", "listen"), "/", "", 4096);
    REQUIRE(raw->status == 101);
    REQUIRE(eventually(
      [&] { return status_of(f, "d")["websocket"]["connections"] == 1; }));
    auto rss_before = rss_bytes();
    for (int i = 0; i < 2000; ++i)
      REQUIRE(f.ask("d", cmd));
    auto st = status_of(f, "d")["websocket"];
    INFO(st.dump());
    CHECK(st["drops"].get<int>() > 1500);
    CHECK(st["queued"].get<size_t>() < 65536 + 10100);
    CHECK(st["connections"] == 1);
#if !defined(__SANITIZE_ADDRESS__) // its quarantine keeps freed memory
    CHECK(rss_bytes() < rss_before + (16u << 20));
#else
    (void)rss_before;
#endif
  }
  SECTION("disconnect: the connection closes with the reason") {
    auto raw = raw_upgrade(port_in_status(f, "x", "listen"), "/", "", 4096);
    REQUIRE(raw->status == 101);
    REQUIRE(eventually(
      [&] { return status_of(f, "x")["websocket"]["connections"] == 1; }));
    for (int i = 0; i < 2000 && events().count("closed") == 0; ++i)
      REQUIRE(f.ask("x", cmd));
    REQUIRE(eventually([&] { return events().count("closed") == 1; }));
    CHECK_THAT(events().of("closed")[0]["reason"].get<std::string>(),
               Catch::Contains("overflow"));
    CHECK(closed_by_server(raw->fd, 5s));
  }
  f.stop_and_check();
}

TEST_CASE("websocket: a peer that stops answering pings is closed after "
          "the timeout, one that answers stays") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
ev = { kind = "collector" }
[bridges]
api = { kind = "websocket", listen = "127.0.0.1:0", to = "echo", ping-interval = 1s, ping-timeout = 1s, events = "ev" }
)",
                 add_collector};
  {
    held_client alive{ws_url(f, "api")};
    REQUIRE(alive.saw("open"));
    // Never reads, so never answers.
    auto mute = raw_upgrade(port_in_status(f, "api", "listen"), "/");
    REQUIRE(mute->status == 101);
    auto start = std::chrono::steady_clock::now();
    REQUIRE(eventually([&] { return events().count("closed") == 1; }, 8s));
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 1500ms);
    CHECK_THAT(events().of("closed")[0]["reason"].get<std::string>(),
               Catch::Contains("ping-timeout"));
    // The client that answers outlives twice the timeout.
    CHECK(eventually(
      [&] {
        auto r = f.ask("api", R"({"op":"list"})");
        auto xs = json::parse(r->text)["connections"];
        return xs.size() == 1 && xs[0]["age_ms"].get<int>() > 4000;
      },
      8s));
    CHECK(events().count("closed") == 1);
  }
  f.stop_and_check();
}

TEST_CASE("websocket: TLS and permessage-deflate") {
  temp_dir dir;
  auto cert = test::self_signed_cert(dir);
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
api = { kind = "websocket", listen = "127.0.0.1:0", to = "echo", compress = true,
        cert-file = ")"
                 + cert.cert + R"(", key-file = ")" + cert.key + R"(" }
)"};
  {
    held_client c{ws_url(f, "api", "/", "wss"),
                  {"WS_CA=" + cert.cert, "WS_DEFLATE=1"}};
    REQUIRE(c.saw("open - permessage-deflate"));
    c.say("big 100000");
    CHECK(c.saw("msg \"" + std::string(1000, 'x')));
    c.say("send {\"small\":true}");
    CHECK(c.saw("msg {\"small\":true}"));
  }
  f.stop_and_check();
}

TEST_CASE("websocket: a stopping node closes its clients with 1001") {
  node_fixture f{R"(
[actors]
lobby = { kind = "room" }
[bridges]
chat = { kind = "websocket", listen = "127.0.0.1:0", room = "lobby" }
)"};
  auto a = std::make_unique<held_client>(ws_url(f, "chat"));
  REQUIRE(a->saw("open"));
  // One that never reads must not hold the stop up.
  auto mute = raw_upgrade(port_in_status(f, "chat", "listen"), "/", "", 4096);
  REQUIRE(mute->status == 101);
  // Connection 2 (the mute one): fill its queue.
  auto big =
    json{{"op", "send"}, {"conn", 2}, {"data", std::string(100000, 'q')}}
      .dump();
  for (int i = 0; i < 20; ++i)
    REQUIRE(f.ask("chat", big));
  f.stop_and_check([&] {
    CHECK(a->saw("close 1001 the node is stopping"));
    a.reset();
    mute.reset();
  });
}

namespace {

const std::string server_js =
  SWITCHBOARD_SOURCE_DIR "/tests/helpers/ws_server.js";

// The events and messages the collector got, of one kind ("" for the
// messages that are not events).
std::vector<json> collected(const std::string& kind) {
  std::lock_guard<std::mutex> guard{events().mx};
  std::vector<json> out;
  for (auto& e : events().events)
    if (e.value("event", "") == kind)
      out.push_back(e);
  return out;
}

} // namespace

TEST_CASE("websocket-client: held while the server is away, delivered once "
          "it is up, reconnects after it goes") {
  auto port = std::to_string(test::closed_port());
  node_fixture f{R"(
[actors]
ev = { kind = "collector" }
[bridges]
feed = { kind = "websocket-client", url = "ws://localhost:)"
                   + port + R"(/", to = "ev", events = "ev", token = "t0k",
         restart-delay = 50ms, restart-delay-max = 200ms, max-held = 3 }
)",
                 add_collector};
  {
    // (A scoped actor must be gone before the node stops.)
    caf::scoped_actor self{f.node().system()};
    auto feed = f.node().lookup("feed");
    // No server yet: sends are held, up to max-held.
    for (int i = 0; i < 3; ++i)
      self->send(
        feed, json_message::trusted(R"({"held":)" + std::to_string(i) + "}"));
  }
  REQUIRE(eventually([&] { return status_of(f, "feed")["held"] == 3; }));
  auto r = f.ask("feed", R"({"held":3})");
  REQUIRE(!r);
  CHECK_THAT(render(r.error()), Catch::Contains("max-held"));
  CHECK(eventually([&] { return !collected("restarting").empty(); }));
  {
    test::child server{{"node", server_js, port}, true};
    REQUIRE(server.wait_for_stdout("listening", 10s));
    REQUIRE(eventually([&] { return collected("up").size() == 1; }, 10s));
    // The greeting (with the token it was sent) and the three held ones,
    // echoed, in order, all to `to`.
    REQUIRE(eventually([&] { return collected("").size() == 4; }));
    auto got = collected("");
    CHECK(got[0] == json{{"hello", 1}, {"auth", "Bearer t0k"}});
    for (int i = 0; i < 3; ++i)
      CHECK(got[i + 1] == json{{"held", i}});
    // A request is answered by the server's next message.
    r = f.ask("feed", R"({"ask":1})");
    REQUIRE(r);
    CHECK(r->text == R"({"ask":1})");
  }
  // The server is gone (killed): down, then up again with a new one.
  REQUIRE(eventually([&] { return collected("down").size() == 1; }, 10s));
  CHECK(status_of(f, "feed")["state"] != "up");
  auto server = std::make_unique<test::child>(
    std::vector<std::string>{"node", server_js, port}, true);
  REQUIRE(server->wait_for_stdout("listening", 10s));
  REQUIRE(eventually([&] { return collected("up").size() == 2; }, 10s));
  {
    // The new server's greeting first: a request takes the next message.
    REQUIRE(eventually([&] { return collected("").size() == 5; }));
    CHECK(collected("")[4]["hello"] == 1);
    r = f.ask("feed", R"({"again":true})");
    REQUIRE(r);
    CHECK(r->text == R"({"again":true})");
  }
  f.stop_and_check([&] {
    server->close_stdin();
    CHECK(server->wait(10s) == 0);
    server.reset();
  });
}

TEST_CASE("websocket-client: wss:// to the node's own websocket bridge, "
          "verified with ca-file, a token it lacks keeps it out") {
  temp_dir dir;
  auto cert = test::self_signed_cert(dir);
  auto port = std::to_string(test::closed_port());
  node_fixture f{
    R"(
[actors]
echo = { kind = "echo" }
ev = { kind = "collector" }
[bridges]
srv = { kind = "websocket", listen = "127.0.0.1:)"
      + port + R"(", to = "echo", token = "t0k",
        cert-file = ")"
      + cert.cert + R"(", key-file = ")" + cert.key + R"(" }
good = { kind = "websocket-client", url = "wss://localhost:)"
      + port + R"(/", token = "t0k", ca-file = ")" + cert.cert
      + R"(", events = "ev" }
nokey = { kind = "websocket-client", url = "wss://127.0.0.1:)"
      + port + R"(/", ca-file = ")" + cert.cert
      + R"(", restart-delay = 50ms, max-restarts = 2, events = "ev" }
)",
    add_collector};
  REQUIRE(eventually([&] {
    for (auto& e : collected("up"))
      if (e["bridge"] == "good")
        return true;
    return false;
  }));
  auto r = f.ask("good", R"({"over":"tls"})");
  REQUIRE(r);
  CHECK(r->text == R"({"over":"tls"})");
  // 401 on every attempt, until the policy gives up.
  REQUIRE(eventually([&] { return !collected("gave-up").empty(); }, 10s));
  CHECK(collected("gave-up")[0]["bridge"] == "nokey");
  r = f.ask("nokey", R"({"x":1})");
  REQUIRE(!r);
  CHECK_THAT(render(r.error()), Catch::Contains("gave up"));
  f.stop_and_check();
}

// switchboard: an embeddable C++ actor runtime. MIT License.

// Nodes of one topology over BASP on 127.0.0.1: NODE/ACTOR both ways and
// through a third node, a node that goes down (stopped, killed, frozen)
// and comes back, held messages and their bound, message types that only
// one side knows. Nodes run in this process (one actor system each) or as
// real `switchboard run` processes where a signal must reach them.
//
// A node on a port that is free for a while (a closed port dialled before
// the node comes, a killed node's) has a name no other test uses: tests run
// side by side, and another test's node may take that port meanwhile; a
// node dialling it would meet that one.

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <future>
#include <map>
#include <mutex>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <switchboard/config.hpp>

#include <switchboard/metrics.hpp>

#include "node_fixture.hpp"
#include "process.hpp"
#include "typed_messages.hpp"

using namespace switchboard;
using namespace switchboard::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string cli = SWITCHBOARD_CLI;

// The events one node's `log` actor received, with a wait on them.
struct node_events {
  std::mutex mx;
  std::condition_variable cv;
  std::vector<json> events;

  void add(json ev) {
    std::lock_guard<std::mutex> guard{mx};
    events.push_back(std::move(ev));
    cv.notify_all();
  }

  // Waits until `n` events of `kind` (about `node`, if given) arrived;
  // returns the n-th, or null after `timeout`.
  json wait_for(const std::string& kind, size_t n, ms timeout,
                const std::string& node = "") {
    std::unique_lock<std::mutex> guard{mx};
    json result;
    cv.wait_for(guard, timeout, [&] {
      size_t seen = 0;
      for (auto& e : events)
        if (e.value("event", "") == kind
            && (node.empty() || e.value("node", "") == node) && ++seen == n) {
          result = e;
          return true;
        }
      return false;
    });
    return result;
  }
};

std::map<std::string, node_events>& logs() {
  static std::map<std::string, node_events> result;
  return result;
}

// `who` answers {"from": TAG, "got": REQUEST}; `log` keeps what it gets
// in logs()[TAG]; `silent` never answers; `adder` adds a point's x and y.
void add_test_kinds(kind_registry& kinds) {
  REQUIRE(!kinds.add(reply_kind(
    "who",
    [](const json_message& m, const std::string&, const caf::settings& args) {
      auto tag = caf::get_or(args, "tag", std::string{});
      return json_message::trusted(R"({"from":")" + tag + R"(","got":)" + m.text
                                   + "}");
    },
    {{"tag", value_type::string, false, "a name"}})));
  REQUIRE(!kinds.add(reply_kind(
    "log",
    [](const json_message& m, const std::string&, const caf::settings& args) {
      logs()[caf::get_or(args, "tag", std::string{})].add(json::parse(m.text));
      return json_message::trusted("null");
    },
    {{"tag", value_type::string, false, "a name"}})));
  kind_spec silent;
  silent.name = "silent";
  silent.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(ctx.node.system().spawn(
      [](caf::event_based_actor* self) -> caf::behavior {
        auto kept = std::make_shared<std::vector<caf::response_promise>>();
        return {[self, kept](json_message&) {
          kept->push_back(self->make_response_promise());
        }};
      }));
  };
  REQUIRE(!kinds.add(silent));
  kind_spec adder;
  adder.name = "adder";
  adder.accepts_json = false;
  adder.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(
      ctx.node.system().spawn([]() -> caf::behavior {
        return {[](const point& p) { return p.x + p.y; },
                [](const secret& s) { return s.text; }};
      }));
  };
  REQUIRE(!kinds.add(adder));
  kinds.configure_system(add_test_types);
}

// Adds the `secret` type as well: only nodes built with this know it.
void add_test_kinds_and_secret(kind_registry& kinds) {
  add_test_kinds(kinds);
  kinds.configure_system([](caf::actor_system_config& cfg) {
    cfg.add_message_type<secret>("secret");
  });
}

// A node named `name` with `who` (tag = name), `silent` and a `log` for
// its events; `node_keys` go into [node].
// (`tag` tells apart two nodes of one name.)
std::string node_text(const std::string& name, const std::string& node_keys,
                      std::string tag = "") {
  if (tag.empty())
    tag = name;
  logs()[tag].events.clear();
  return "[node]\nname = \"" + name
         + "\"\ncontrol = \"none\"\nevents = \"log\"\n" + node_keys
         + "\n[actors]\nwho = { kind = \"who\", tag = \"" + tag
         + "\" }\nlog = { kind = \"log\", tag = \"" + tag
         + "\" }\nsilent = { kind = \"silent\" }\nadder = { kind = "
           "\"adder\" }\n";
}

// The port the node's peer manager listens on.
int listen_port(node_fixture& f) {
  return port_in_status(f, "peers", "listen");
}

std::string peer_list(std::initializer_list<int> ports) {
  std::string result = "peers = [";
  for (auto p : ports)
    result += (result.back() == '[' ? "\"" : ", \"") + std::string{"127.0.0.1:"}
              + std::to_string(p) + "\"";
  return result + "]";
}

std::string from_of(const caf::expected<json_message>& reply) {
  if (!reply)
    return "error: " + render(reply.error());
  return json::parse(reply->text).value("from", "?");
}

} // namespace

TEST_CASE("NODE/ACTOR reaches an actor of another node, both ways") {
  node_fixture b{node_text("b", "listen = \"127.0.0.1:0\""), add_test_kinds};
  node_fixture a{node_text("a", peer_list({listen_port(b)})), add_test_kinds};
  // The first request waits (held) until a has met b.
  auto reply = a.ask("b/who", R"({"n":1})");
  REQUIRE(reply);
  CHECK(json::parse(reply->text) == json{{"from", "b"}, {"got", {{"n", 1}}}});
  // b met a when a greeted it: it reaches a's actors without dialling.
  REQUIRE(!logs()["b"].wait_for("node-up", 1, 5s, "a").is_null());
  CHECK(from_of(b.ask("a/who", "{}")) == "a");
  // A node's own name is itself.
  CHECK(from_of(a.ask("a/who", "{}")) == "a");
  auto up = logs()["a"].wait_for("node-up", 1, 5s, "b");
  CHECK(up["address"] == "127.0.0.1:" + std::to_string(listen_port(b)));
  // The stand-in shows what it did and the remote actor's own status.
  auto st = status_of(a, "b/who");
  CHECK(st["kind"] == "remote");
  CHECK(st["state"] == "up");
  CHECK(st["forwarded"] == 1);
  CHECK(st.contains("remote"));
  auto peers = status_of(a, "peers");
  REQUIRE(peers["nodes"].size() == 1);
  CHECK(peers["nodes"][0]["node"] == "b");
  CHECK(peers["nodes"][0]["state"] == "up");
  // b/who's stand-in is known to the peer manager, which tells it first
  // when b goes.
  CHECK(peers["nodes"][0]["references"] == 1);
  // Metrics: b is up, and a measured a round trip to it.
  CHECK(eventually([&] {
    auto text = a.node().metrics().prometheus();
    return text.find("switchboard_peer_up{node=\"a\",peer=\"b\"} 1")
             != std::string::npos
           && text.find("switchboard_peer_round_trip_seconds{node=\"a\",peer="
                        "\"b\"} 0\n")
                == std::string::npos;
  }));
  // A name the other node does not have is an error from that node.
  auto missing = a.ask_error("b/nobody", "{}");
  CHECK(missing.find("unknown_actor") != std::string::npos);
  CHECK(missing.find("node b has no actor named 'nobody'")
        != std::string::npos);
  a.stop_and_check();
  b.stop_and_check();
}

TEST_CASE("a burst crosses in relay batches, in order, a request last") {
  node_fixture b{node_text("b", "listen = \"127.0.0.1:0\""), add_test_kinds};
  node_fixture a{node_text("a", peer_list({listen_port(b)})), add_test_kinds};
  // Resolved first: a burst to an address still being resolved waits, and
  // past max-held it is refused.
  REQUIRE(a.ask("b/log", "{}"));
  auto count = [] {
    std::lock_guard<std::mutex> guard{logs()["b"].mx};
    size_t n = 0;
    for (auto& e : logs()["b"].events)
      n += e.contains("i") ? 1 : 0;
    return n;
  };
  const int n = burst_size;
  {
    caf::scoped_actor self{a.node().system()};
    auto log = a.node().lookup("b/log");
    REQUIRE(log);
    for (int i = 0; i < n; ++i)
      self->send(log, json_message::trusted(json{{"i", i}}.dump()));
    // The request goes behind the burst, and is answered once all of it
    // has been handed out on b.
    std::string got;
    self->request(log, 20s, json_message::trusted(json{{"i", n}}.dump()))
      .receive([&](json_message& reply) { got = reply.text; },
               [&](caf::error& err) { got = render(err); });
    CHECK(got == "null");
    CHECK(count() == static_cast<size_t>(n) + 1);
  }
  std::vector<int> order;
  {
    std::lock_guard<std::mutex> guard{logs()["b"].mx};
    for (auto& e : logs()["b"].events)
      if (e.contains("i"))
        order.push_back(e["i"].get<int>());
  }
  REQUIRE(order.size() == static_cast<size_t>(n) + 1);
  bool in_order = true;
  for (int i = 0; i <= n; ++i)
    in_order = in_order && order[i] == i;
  CHECK(in_order);
  // Most of it went in batches, which b's peer manager handed out.
  auto st = status_of(a, "b/log");
  CHECK(st["batches"].get<int>() > 0);
  CHECK(st["batched"].get<int>() > n / 2);
  CHECK(st["dropped"] == 0);
  CHECK(status_of(b, "peers")["relayed"].get<int>() == st["batched"]);
  a.stop_and_check();
  b.stop_and_check();
}

TEST_CASE("an actor on a third node is reached through the node between") {
  node_fixture c{node_text("c", "listen = \"127.0.0.1:0\""), add_test_kinds};
  node_fixture b{
    node_text("b", "listen = \"127.0.0.1:0\"\n" + peer_list({listen_port(c)})),
    add_test_kinds};
  // (a counts descriptors from here: b's connection to c is made by then.)
  REQUIRE(!logs()["b"].wait_for("node-up", 1, 5s, "c").is_null());
  node_fixture a{node_text("a", peer_list({listen_port(b)})), add_test_kinds};
  // a knows only b; b finds c.
  CHECK(from_of(a.ask("c/who", R"({"hop":2})")) == "c");
  CHECK(from_of(c.ask("a/who", "{}")) == "a");
  auto peers = status_of(a, "peers");
  CHECK(peers["nodes"].size() == 1);
  a.stop_and_check();
  b.stop_and_check();
  c.stop_and_check();
}

TEST_CASE("typed messages pass, a type one node lacks is a clear error") {
  node_fixture b{node_text("b", "listen = \"127.0.0.1:0\""), add_test_kinds};
  node_fixture a{node_text("a", peer_list({listen_port(b)})),
                 add_test_kinds_and_secret};
  using adder_actor =
    caf::typed_actor<caf::replies_to<point>::with<int32_t>,
                     caf::replies_to<secret>::with<std::string>>;
  auto adder = caf::actor_cast<adder_actor>(a.node().lookup("b/adder"));
  {
    caf::scoped_actor self{a.node().system()};
    self->request(adder, 5s, point{20, 22})
      .receive([](int32_t sum) { CHECK(sum == 42); },
               [](caf::error& err) { FAIL(render(err)); });
    // a and b said at greeting which types differ.
    auto differ = logs()["a"].wait_for("types-differ", 1, 5s, "b");
    CHECK(differ["they_lack"] == json{"secret"});
    std::string text;
    self->request(adder, 5s, secret{"x"})
      .receive([&](std::string&) { text = "a reply"; },
               [&](caf::error& err) { text = render(err); });
    CHECK(text.find("node b does not know message type 'secret'")
          != std::string::npos);
    self->request(caf::actor_cast<caf::actor>(adder), 5s, unregistered{1})
      .receive([&](caf::message&) { text = "a reply"; },
               [&](caf::error& err) { text = render(err); });
    CHECK(text.find("cannot leave this node") != std::string::npos);
    self->request(adder, 5s, point{1, 2})
      .receive([](int32_t sum) { CHECK(sum == 3); },
               [](caf::error& err) { FAIL(render(err)); });
  }
  adder = nullptr;
  a.stop_and_check();
  b.stop_and_check();
}

TEST_CASE("a request in flight to a node that goes down gets node_down") {
  auto port = closed_port();
  node_fixture a{node_text("a", peer_list({port})), add_test_kinds};
  auto b = std::make_unique<node_fixture>(
    node_text("inflight",
              "listen = \"127.0.0.1:" + std::to_string(port) + "\""),
    add_test_kinds);
  REQUIRE(from_of(a.ask("inflight/who", "{}")) == "inflight");
  auto t0 = std::chrono::steady_clock::now();
  auto answer = std::async(std::launch::async, [&] {
    return a.ask_error("inflight/silent", "{}", 20s);
  });
  // The request has reached b's silent actor once the stand-in counts it.
  REQUIRE(eventually(
    [&] { return status_of(a, "inflight/silent")["pending"] == 1; }));
  // (a's sockets come and go while b runs: b cannot count descriptors.)
  b->stop_and_check({}, false);
  CHECK(answer.get().find("node_down") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  auto down = logs()["a"].wait_for("node-down", 1, 5s, "inflight");
  CHECK(down["reason"] == "it stopped");
  a.stop_and_check();
}

TEST_CASE("messages wait for a node that is down, up to max-held") {
  auto port = closed_port();
  node_fixture a{
    node_text("a", peer_list({port}) + "\nmax-held = 2\nrequest-timeout = 10s"),
    add_test_kinds};
  // Two wait; a third is refused at once.
  std::vector<std::future<std::string>> askers;
  for (int i = 0; i < 2; ++i)
    askers.push_back(std::async(std::launch::async, [&, i] {
      auto r = a.ask("late/who", std::to_string(i), 30s);
      return r ? r->text : render(r.error());
    }));
  REQUIRE(eventually([&] { return status_of(a, "late/who")["held"] == 2; }));
  auto refused = a.ask_error("late/who", "2");
  CHECK(refused.find("queue_full") != std::string::npos);
  CHECK(refused.find("max-held") != std::string::npos);
  // The dials fail meanwhile, with the reason in the restart events.
  auto restarting = logs()["a"].wait_for("restarting", 1, 5s);
  CHECK(restarting["peer"] == "127.0.0.1:" + std::to_string(port));
  CHECK(!restarting["reason"].get<std::string>().empty());
  // b comes up where a dials: both held requests are answered by it.
  node_fixture b{
    node_text("late", "listen = \"127.0.0.1:" + std::to_string(port) + "\""),
    add_test_kinds};
  CHECK(askers[0].get() == R"({"from":"late","got":0})");
  CHECK(askers[1].get() == R"({"from":"late","got":1})");
  b.stop_and_check({}, false);
  a.stop_and_check();
}

TEST_CASE("a message held longer than request-timeout gets node_down") {
  node_fixture a{
    node_text("a", peer_list({closed_port()}) + "\nrequest-timeout = 300ms"),
    add_test_kinds};
  auto t0 = std::chrono::steady_clock::now();
  auto err = a.ask_error("absent/who", "{}", 10s);
  CHECK(err.find("node_down") != std::string::npos);
  // Four fifths of request-timeout: the sender's own wait is longer.
  CHECK(err.find("did not come up within 240 ms") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  a.stop_and_check();
}

TEST_CASE("a second node of the same name is refused while the first is up") {
  node_fixture c{node_text("c", "listen = \"127.0.0.1:0\""), add_test_kinds};
  auto peers = peer_list({listen_port(c)});
  node_fixture first{node_text("s", peers, "s1"), add_test_kinds};
  REQUIRE(!logs()["s1"].wait_for("node-up", 1, 5s, "c").is_null());
  node_fixture second{node_text("s", peers, "s2"), add_test_kinds};
  auto refused = logs()["s2"].wait_for("restarting", 1, 5s);
  REQUIRE(!refused.is_null());
  CHECK(refused["reason"].get<std::string>().find(
          "a node named 's' is connected already")
        != std::string::npos);
  // c still reaches the first.
  auto r = c.ask("s/who", "{}");
  REQUIRE(r);
  CHECK(json::parse(r->text)["from"] == "s1");
  second.stop_and_check({}, false);
  first.stop_and_check({}, false);
  c.stop_and_check();
}

TEST_CASE("a peer entry NAME@HOST:PORT meets only the node of that name") {
  node_fixture b{node_text("b", "listen = \"127.0.0.1:0\""), add_test_kinds};
  auto where = "127.0.0.1:" + std::to_string(listen_port(b));
  {
    node_fixture a{node_text("a", "peers = [\"x@" + where + "\"]"),
                   add_test_kinds};
    auto refused = logs()["a"].wait_for("restarting", 1, 5s);
    REQUIRE(!refused.is_null());
    CHECK(refused["reason"] == "the node there is named 'b', not 'x'");
    CHECK(status_of(a, "peers")["nodes"].empty());
    a.stop_and_check({}, false);
  }
  node_fixture a{node_text("a", "peers = [\"b@" + where + "\"]"),
                 add_test_kinds};
  CHECK(from_of(a.ask("b/who", "{}")) == "b");
  auto up = logs()["a"].wait_for("node-up", 1, 5s, "b");
  CHECK(up["address"] == where);
  a.stop_and_check({}, false);
  b.stop_and_check();
}

TEST_CASE("nodes that share a cookie meet and one without it is refused") {
  node_fixture b{node_text("b", "listen = \"127.0.0.1:0\"\ncookie = \"k1\""),
                 add_test_kinds};
  auto peers = peer_list({listen_port(b)});
  {
    node_fixture a{node_text("a", peers + "\ncookie = \"k1\""), add_test_kinds};
    CHECK(from_of(a.ask("b/who", "{}")) == "b");
    a.stop_and_check();
  }
  for (auto cookie : {"cookie = \"k2\"", ""}) {
    node_fixture a{node_text("a", peers + "\nrequest-timeout = 1s\n" + cookie),
                   add_test_kinds};
    auto refused = logs()["a"].wait_for("restarting", 1, 5s);
    REQUIRE(!refused.is_null());
    CHECK(refused["reason"] == "node b does not know this node's cookie");
    CHECK(a.ask_error("b/who", "{}").find("node_down") != std::string::npos);
    a.stop_and_check();
  }
  b.stop_and_check();
}

TEST_CASE("garbage on the listen port is dropped and the node goes on") {
  node_fixture b{node_text("b", "listen = \"127.0.0.1:0\""), add_test_kinds};
  auto port = listen_port(b);
  // Not BASP: a line of text, then 64 KiB of zeros and a header that
  // claims a huge payload.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  std::string junk = "GET / HTTP/1.1\r\n\r\n" + std::string(65536, '\0')
                     + std::string(64, '\xff');
  CHECK(write(fd, junk.data(), junk.size()) > 0);
  // b closes the connection (EOF or a reset), within a deadline.
  pollfd p{fd, POLLIN, 0};
  bool closed = false;
  for (auto t0 = std::chrono::steady_clock::now();
       !closed && std::chrono::steady_clock::now() - t0 < 5s;) {
    if (poll(&p, 1, 100) > 0) {
      char buf[4096];
      closed = read(fd, buf, sizeof(buf)) <= 0;
    }
  }
  close(fd);
  CHECK(closed);
  // A real node still meets it and is answered.
  node_fixture a{node_text("a", peer_list({port})), add_test_kinds};
  CHECK(from_of(a.ask("b/who", "{}")) == "b");
  CHECK(status_of(b, "peers")["nodes"].size() == 1);
  a.stop_and_check({}, false);
  b.stop_and_check();
}

TEST_CASE("a node answers no lookup from a node it has not greeted") {
  node_fixture b{node_text("b", "listen = \"127.0.0.1:0\""), add_test_kinds};
  // Plain CAF, no greeting: it reaches b's peer manager over BASP...
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  std::string text;
  std::string text2;
  std::string text3;
  {
    caf::actor_system sys{cfg};
    auto mgr = sys.middleman().remote_actor(
      "127.0.0.1", static_cast<uint16_t>(listen_port(b)));
    REQUIRE(mgr);
    caf::scoped_actor self{sys};
    // ... but asking it which actor "who" is gets a refusal, not a handle.
    self
      ->request(
        *mgr, 5s,
        caf::make_message(caf::atom("resolve"), std::string{"who"}, int32_t{3}))
      .receive([&](caf::actor&) { text = "a handle"; },
               [&](caf::error& err) { text = render(err); });
    // Nor does the form the node's own stand-ins use.
    self
      ->request(*mgr, 5s,
                caf::make_message(caf::atom("resolve"), std::string{"who"}))
      .receive(
        [&](caf::actor&, std::vector<std::string>&) { text2 = "a handle"; },
        [&](caf::error& err) { text2 = render(err); });
    // Nor its status.
    self->request(*mgr, 5s, status_atom::value)
      .receive([&](json_message&) { text3 = "a status"; },
               [&](caf::error& err) { text3 = render(err); });
  }
  CHECK(text.find("answers only nodes it has greeted") != std::string::npos);
  CHECK(text2.find("a lookup for this node only") != std::string::npos);
  CHECK(text3.find("status is for this node and the nodes it has greeted")
        != std::string::npos);
  b.stop_and_check();
}

TEST_CASE("TLS between nodes: the right CA passes, another CA and plaintext do "
          "not") {
  temp_dir dir1;
  temp_dir dir2;
  auto ours = self_signed_cert(dir1);
  auto theirs = self_signed_cert(dir2);
  auto tls = [](const cert_files& c) {
    return "tls = true\ncert-file = \"" + c.cert + "\"\nkey-file = \"" + c.key
           + "\"\nca-file = \"" + c.cert + "\"\n";
  };
  node_fixture b{node_text("b", "listen = \"127.0.0.1:0\"\n" + tls(ours)),
                 add_test_kinds};
  CHECK(status_of(b, "peers")["tls"] == true);
  auto peers = peer_list({listen_port(b)}) + "\nrequest-timeout = 1s\n";
  {
    node_fixture a{node_text("a", peers + tls(ours)), add_test_kinds};
    CHECK(from_of(a.ask("b/who", "{}")) == "b");
    a.stop_and_check({}, false);
  }
  // A certificate from a CA that b does not trust; then no TLS at all.
  for (auto keys : {tls(theirs), std::string{}}) {
    node_fixture a{node_text("a", peers + keys), add_test_kinds};
    auto refused = logs()["a"].wait_for("restarting", 1, 5s);
    REQUIRE(!refused.is_null());
    CHECK(refused["reason"].get<std::string>().find("hung up during the "
                                                    "handshake")
          != std::string::npos);
    CHECK(a.ask_error("b/who", "{}").find("node_down") != std::string::npos);
    CHECK(status_of(a, "peers")["nodes"].empty());
    a.stop_and_check({}, false);
  }
  b.stop_and_check({}, false);
}

TEST_CASE("a TLS node with a file it cannot use does not start, and says why") {
  temp_dir dir;
  auto c = self_signed_cert(dir);
  auto cfg = node_config::from_string(
    "[node]\nname = \"t\"\ncontrol = \"none\"\nlisten = \"127.0.0.1:0\"\n"
    "tls = true\ncert-file = \""
    + c.cert + "\"\nkey-file = \"" + dir.path() + "/missing.pem\"\nca-file = \""
    + c.cert + "\"\n");
  REQUIRE(cfg);
  node n{std::move(*cfg)};
  REQUIRE(!actors::add_builtin_kinds(n.kinds()));
  auto err = n.start();
  REQUIRE(err);
  CHECK(render(err).find("[node] key-file '" + dir.path() + "/missing.pem'")
        != std::string::npos);
  CHECK(!n.running());
}

TEST_CASE("check and start refuse bad topology keys") {
  auto cfg = node_config::from_string(
    "[node]\nname = \"a/b\"\nlisten = \"localhost\"\ntls = true\n"
    "peers = [\"127.0.0.1:99999\", \"127.0.0.1:0\", \"a b@127.0.0.1:1\"]\n"
    "down-after = 0s\n"
    "[actors]\npeers = { kind = \"echo\" }\n"
    "r = { kind = \"router\", routes = { x = \"b/\" } }\n",
    "bad.conf");
  REQUIRE(cfg);
  kind_registry kinds;
  REQUIRE(!actors::add_builtin_kinds(kinds));
  std::string all;
  for (auto& e : validate(*cfg, kinds))
    all += e.to_string() + "\n";
  INFO(all);
  CHECK(all.find("node.listen: expected HOST:PORT") != std::string::npos);
  CHECK(all.find("node.peers[0]: expected HOST:PORT or NAME@HOST:PORT")
        != std::string::npos);
  CHECK(all.find("actors.peers") != std::string::npos);
  CHECK(all.find("node.peers[1]: expected the port a peer listens on")
        != std::string::npos);
  CHECK(all.find("node.peers[2]: expected HOST:PORT or NAME@HOST:PORT (a NAME")
        != std::string::npos);
  CHECK(all.find("node.down-after: expected a duration above 0")
        != std::string::npos);
  CHECK(all.find("node.name: expected a name of letters") != std::string::npos);
  CHECK(all.find("node.cert-file: expected a file (tls = true needs")
        != std::string::npos);
  CHECK(all.find("'b/'") != std::string::npos);
  // Without listen or peers, NODE/ACTOR has nowhere to go.
  auto lone = node_config::from_string(
    "[actors]\nr = { kind = \"router\", routes = { x = \"b/echo\" } }\n");
  REQUIRE(lone);
  auto errors = validate(*lone, kinds);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string().find("needs [node] peers or listen")
        != std::string::npos);
}

// -- real processes: signals
// ---------------------------------------------------

namespace {

// A `switchboard run` node named `name` listening on `port` with `who`.
std::unique_ptr<child> start_process_node(const temp_dir& dir, int port,
                                          const std::string& name) {
  auto conf =
    dir.write(name + ".conf", "[node]\nname = \"" + name
                                + "\"\ncontrol = \"none\"\nlisten = "
                                  "\"127.0.0.1:"
                                + std::to_string(port)
                                + "\"\n[actors]\nwho = { kind = \"echo\" }\n");
  auto c = std::make_unique<child>(std::vector<std::string>{cli, "run", conf});
  INFO(c->err());
  REQUIRE(c->wait_for_stderr("ready", ms{10000}));
  return c;
}

} // namespace

TEST_CASE("a killed node is down at once and reached again when it returns") {
  temp_dir dir;
  auto port = closed_port();
  auto b = start_process_node(dir, port, "killed");
  node_fixture a{node_text("a", peer_list({port}) + "\ndown-after = 1s"),
                 add_test_kinds};
  REQUIRE(a.ask("killed/who", R"({"k":1})"));
  REQUIRE(!logs()["a"].wait_for("node-up", 1, 5s, "killed").is_null());
  auto t0 = std::chrono::steady_clock::now();
  b->signal(SIGKILL);
  b->wait(ms{5000});
  REQUIRE(!logs()["a"].wait_for("node-down", 1, 5s, "killed").is_null());
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  // While b is away a request waits; b returns on the same port and
  // answers it.
  // (A future, not a thread: should b fail to start, the test waits for
  // the answer and reports, instead of ending the process.)
  auto answer = std::async(std::launch::async, [&] {
    auto r = a.ask("killed/who", R"({"k":2})", 20s);
    return r ? r->text : render(r.error());
  });
  b = start_process_node(dir, port, "killed");
  CHECK(answer.get() == R"({"k":2})");
  auto up = logs()["a"].wait_for("node-up", 2, 10s, "killed");
  REQUIRE(!up.is_null());
  CHECK(up["down_ms"].get<int64_t>() >= 0);
  a.stop_and_check();
}

TEST_CASE("a frozen node (SIGSTOP) is declared down within down-after") {
  temp_dir dir;
  auto port = closed_port();
  auto b = start_process_node(dir, port, "frozen");
  node_fixture a{node_text("a", peer_list({port}) + "\ndown-after = 1s"),
                 add_test_kinds};
  REQUIRE(a.ask("frozen/who", "{}"));
  auto t0 = std::chrono::steady_clock::now();
  b->signal(SIGSTOP);
  auto down = logs()["a"].wait_for("node-down", 1, 10s, "frozen");
  auto took = std::chrono::steady_clock::now() - t0;
  b->signal(SIGCONT);
  REQUIRE(!down.is_null());
  INFO("declared down after " << std::chrono::duration_cast<ms>(took).count()
                              << " ms");
  // 0.75 to 0.95 of down-after by design; a loaded machine adds a little.
  CHECK(took >= 700ms);
  CHECK(took < 1500ms);
  // Awake again, b is dialled and reached once more.
  REQUIRE(!logs()["a"].wait_for("node-up", 2, 15s, "frozen").is_null());
  CHECK(a.ask("frozen/who", R"({"again":true})"));
  a.stop_and_check();
}

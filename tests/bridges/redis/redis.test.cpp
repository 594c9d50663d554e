// switchboard: an embeddable C++ actor runtime. MIT License.

// The `redis` bridge against a real redis-server: the shared one of the
// CTest fixture for pub/sub and commands (over its Unix socket), and one of
// the test's own (over TCP) where Redis must go away, freeze or ask for a
// password.

#include <switchboard/bridges/redis/redis.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "node_fixture.hpp"
#include "redis_server.hpp"
#include "stream_helpers.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::test::add_collector;
using switchboard::test::child;
using switchboard::test::events;
using switchboard::test::eventually;
using switchboard::test::node_fixture;
using switchboard::test::redis_cli;
using switchboard::test::redis_server;
using switchboard::test::shared_redis;
using switchboard::test::status_of;
using json = nlohmann::json;

namespace {

// The collector keeps events and deliveries in one list; deliveries are
// envelopes (deliver = "envelope"): {channel, pattern, payload}.
std::vector<json> on_channel(const std::string& channel) {
  std::lock_guard<std::mutex> guard{events().mx};
  std::vector<json> out;
  for (auto& e : events().events)
    if (e.is_object() && !e.contains("event")
        && e.value("channel", "") == channel)
      out.push_back(e);
  return out;
}

std::string conf(const std::string& bridges, const std::string& actors = {}) {
  return "[node]\nname = \"t\"\ncontrol = \"none\"\n"
         "[actors]\ninbox = { kind = \"collector\" }\n"
         "log = { kind = \"collector\" }\n"
         + actors + "[bridges]\n" + bridges;
}

// Requests sent from an actor without waiting; their answers (or errors)
// land in `results` by index.
struct sender {
  std::mutex mx;
  std::map<size_t, std::string> results;

  size_t answered() {
    std::lock_guard<std::mutex> guard{mx};
    return results.size();
  }

  std::string at(size_t i) {
    std::lock_guard<std::mutex> guard{mx};
    return results.count(i) ? results[i] : "";
  }

  void send(node_fixture& f, const std::string& to,
            std::vector<std::string> texts, size_t first = 0) {
    auto target = caf::actor_cast<json_actor>(f.node().lookup(to));
    f.node().system().spawn(
      [this, target, texts, first](caf::event_based_actor* self) {
        for (size_t i = 0; i < texts.size(); ++i)
          self->request(target, 30s, json_message::trusted(texts[i]))
            .then(
              [this, i, first](json_message& m) {
                std::lock_guard<std::mutex> guard{mx};
                results[first + i] = m.text;
              },
              [this, i, first](caf::error& e) {
                std::lock_guard<std::mutex> guard{mx};
                results[first + i] = "error: " + render(e);
              });
      });
  }
};

} // namespace

TEST_CASE("redis: PUBLISH from redis-cli reaches `to`, the bridge's publish "
          "reaches redis-cli SUBSCRIBE, with patterns and text") {
  auto sock = shared_redis();
  node_fixture f{conf("r = { kind = \"redis\", address = \"" + sock
                      + "\", subscribe = [\"t1.json\"], psubscribe = "
                        "[\"t1.p.*\"], to = \"inbox\", deliver = \"envelope\", "
                        "events = \"log\" }\n"
                        "r2 = { kind = \"redis\", address = \""
                      + sock
                      + "\", subscribe = [\"t1.text\"], to = \"inbox\", "
                        "format = \"text\", deliver = \"envelope\", events = "
                        "\"log\" }\n"),
                 add_collector};
  REQUIRE(eventually([&] { return status_of(f, "r")["subscribed"] == 2; }));
  REQUIRE(eventually([&] { return status_of(f, "r2")["subscribed"] == 1; }));
  CHECK(redis_cli({"PUBLISH", "t1.json", R"({"a":1})"}).out == "1\n");
  CHECK(redis_cli({"PUBLISH", "t1.p.x", "[1,2]"}).out == "1\n");
  CHECK(redis_cli({"PUBLISH", "t1.text", "plain words"}).out == "1\n");
  REQUIRE(eventually([&] { return on_channel("t1.text").size() == 1; }));
  REQUIRE(eventually([&] { return on_channel("t1.json").size() == 1; }));
  REQUIRE(eventually([&] { return on_channel("t1.p.x").size() == 1; }));
  CHECK(on_channel("t1.json")[0]
        == json{{"channel", "t1.json"},
                {"pattern", nullptr},
                {"payload", {{"a", 1}}}});
  CHECK(
    on_channel("t1.p.x")[0]
    == json{{"channel", "t1.p.x"}, {"pattern", "t1.p.*"}, {"payload", {1, 2}}});
  CHECK(on_channel("t1.text")[0]["payload"] == "plain words");
  {
    // The other way: the bridge publishes, redis-cli is subscribed.
    child sub{{"redis-cli", "-s", sock, "SUBSCRIBE", "t1.out"}};
    REQUIRE(sub.wait_for_stdout("t1.out\n1\n", 5s));
    auto n = f.ask("r", R"({"channel":"t1.out","payload":{"b":2}})");
    REQUIRE(n);
    CHECK(n->text == "1");
    CHECK(sub.wait_for_stdout(R"({"b":2})", 5s));
    // Text payloads go out as their characters, not as JSON strings.
    REQUIRE(f.ask("r2", R"({"channel":"t1.out","payload":"raw text"})"));
    CHECK(sub.wait_for_stdout("\nraw text\n", 5s));
    CHECK(sub.out().find("\"raw text\"") == std::string::npos);
  }
  auto s = status_of(f, "r");
  CHECK(s["received"] == 2);
  CHECK(s["published"] == 1);
  CHECK(s["pubsub"]["state"] == "up");
  f.stop_and_check();
}

TEST_CASE("redis: a Node ioredis publisher and subscriber exchange JSON "
          "with the bridge both ways") {
  auto sock = shared_redis();
  std::string peer = SWITCHBOARD_SOURCE_DIR "/tests/helpers/ioredis_peer.js";
  node_fixture f{conf("r = { kind = \"redis\", address = \"" + sock
                      + "\", subscribe = [\"t10.in\"], to = \"inbox\", "
                        "deliver = \"envelope\" }\n"),
                 add_collector};
  REQUIRE(eventually([&] { return status_of(f, "r")["subscribed"] == 1; }));
  {
    child sub{{"node", peer, sock, "subscribe", "t10.out", "3"}};
    REQUIRE(sub.wait_for_stdout("subscribed\n", 10s));
    for (int i = 0; i < 3; ++i) {
      auto n = f.ask("r", json{{"channel", "t10.out"},
                               {"payload", {{"from", "switchboard"}, {"n", i}}}}
                            .dump());
      REQUIRE(n);
      CHECK(n->text == "1");
    }
    REQUIRE(sub.wait(10s) == 0);
    CHECK(sub.out().find(
            R"({"channel":"t10.out","value":{"from":"switchboard","n":2}})")
          != std::string::npos);
    child pub{{"node", peer, sock, "publish", "t10.in", "5"}};
    REQUIRE(pub.wait(10s) == 0);
  }
  REQUIRE(eventually([&] { return on_channel("t10.in").size() == 5; }));
  for (int i = 0; i < 5; ++i)
    CHECK(on_channel("t10.in")[i]["payload"]
          == json{{"from", "ioredis"}, {"n", i}});
  f.stop_and_check();
}

TEST_CASE("redis: `publish = CHANNEL` publishes every message sent to the "
          "bridge, answered with the number of receivers") {
  auto sock = shared_redis();
  node_fixture f{conf("out = { kind = \"redis\", address = \"" + sock
                      + "\", publish = \"t2.all\" }\n"
                        "in = { kind = \"redis\", address = \""
                      + sock
                      + "\", subscribe = [\"t2.all\"], to = \"inbox\", "
                        "deliver = \"envelope\" }\n"),
                 add_collector};
  REQUIRE(eventually([&] { return status_of(f, "in")["subscribed"] == 1; }));
  auto n = f.ask("out", R"({"any":"thing","args":["not","a","command"]})");
  REQUIRE(n);
  CHECK(n->text == "1");
  REQUIRE(eventually([&] { return on_channel("t2.all").size() == 1; }));
  CHECK(on_channel("t2.all")[0]["payload"]["any"] == "thing");
  f.stop_and_check();
}

namespace {

// `member`: joins its room when asked {"join": true}; says anything else in
// the room; keeps what it hears as {"member", "heard"} in events().
void add_member(kind_registry& kinds) {
  add_collector(kinds);
  kind_spec k;
  k.name = "member";
  k.keys = {{"room", value_type::actor_ref, true, "its room"}};
  k.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto& nd = ctx.node;
    auto room_name = caf::get_or(ctx.args, "room", "");
    return ctx.node.system().spawn(
      [&nd, room_name, name = ctx.name](caf::event_based_actor* self) {
        return caf::behavior{
          [=, &nd](push_atom, json_message& m) {
            std::lock_guard<std::mutex> guard{events().mx};
            events().events.push_back(
              json{{"member", name}, {"heard", json::parse(m.text)}});
          },
          [=, &nd](json_message& m) {
            auto room = nd.lookup(room_name);
            if (json::parse(m.text).value("join", false))
              self->send(room, join_atom::value,
                         caf::actor_cast<sink_actor>(self));
            else
              self->send(room, push_atom::value, m);
            return json_message::trusted("true");
          },
        };
      });
  };
  REQUIRE(!kinds.add(std::move(k)));
}

std::vector<json> heard_by(const std::string& member) {
  std::lock_guard<std::mutex> guard{events().mx};
  std::vector<json> out;
  for (auto& e : events().events)
    if (e.is_object() && e.value("member", "") == member)
      out.push_back(e["heard"]);
  return out;
}

} // namespace

TEST_CASE("redis: with room and publish the bridge is a room member, so two "
          "rooms (two nodes) chat through a channel, without echoes") {
  auto sock = shared_redis();
  auto bridge = [&](const std::string& name, const std::string& room) {
    return name + " = { kind = \"redis\", address = \"" + sock
           + "\", subscribe = [\"t13\"], publish = \"t13\", room = \"" + room
           + "\", events = \"log\" }\n";
  };
  node_fixture f{conf(bridge("ra", "lobby_a") + bridge("rb", "lobby_b"),
                      "lobby_a = { kind = \"room\" }\n"
                      "lobby_b = { kind = \"room\" }\n"
                      "ma = { kind = \"member\", room = \"lobby_a\" }\n"
                      "mb = { kind = \"member\", room = \"lobby_b\" }\n"),
                 add_member};
  REQUIRE(eventually([&] { return status_of(f, "ra")["subscribed"] == 1; }));
  REQUIRE(eventually([&] { return status_of(f, "rb")["subscribed"] == 1; }));
  REQUIRE(f.ask("ma", R"({"join":true})"));
  REQUIRE(f.ask("mb", R"({"join":true})"));
  REQUIRE(f.ask("ma", R"({"text":"hi"})"));
  REQUIRE(eventually([&] { return heard_by("mb").size() == 1; }));
  CHECK(heard_by("mb")[0]["text"] == "hi");
  REQUIRE(f.ask("mb", R"({"text":"yo"})"));
  REQUIRE(eventually([&] { return heard_by("ma").size() == 1; }));
  // "hi" came back to ra before "yo" did: had it been pushed into lobby_a,
  // ma would have heard it first.
  CHECK(heard_by("ma")[0]["text"] == "yo");
  REQUIRE(f.ask("ma", R"({"text":"again"})"));
  REQUIRE(eventually([&] { return heard_by("mb").size() == 2; }));
  CHECK(heard_by("mb")[1]["text"] == "again");
  CHECK(heard_by("ma").size() == 1);
  CHECK(heard_by("mb").size() == 2);
  CHECK(events().count("error") == 0);
  f.stop_and_check();
}

TEST_CASE("redis: commands get Redis's replies as JSON, in order, and error "
          "replies are errors") {
  auto sock = shared_redis();
  node_fixture f{conf("r = { kind = \"redis\", address = \"" + sock
                      + "\", events = \"log\" }\n"),
                 add_collector};
  auto ask = [&](const std::string& text) {
    auto r = f.ask("r", text);
    return r ? r->text : "error: " + render(r.error());
  };
  CHECK(ask(R"({"args":["DEL","t3.s","t3.h","t3.l","t3.n"]})").find("error")
        == std::string::npos);
  CHECK(ask(R"({"args":["SET","t3.s","v"]})") == R"("OK")");
  CHECK(ask(R"({"args":["GET","t3.s"]})") == R"("v")");
  CHECK(ask(R"({"args":["GET","t3.none"]})") == "null");
  CHECK(ask(R"({"args":["HSET","t3.h","f",1.5]})") == "1");
  CHECK(ask(R"({"args":["HGETALL","t3.h"]})") == R"(["f","1.5"])");
  CHECK(ask(R"({"args":["RPUSH","t3.l","a","b"]})") == "2");
  CHECK(ask(R"({"args":["LRANGE","t3.l",0,-1]})") == R"(["a","b"])");
  CHECK(ask(R"({"args":["INCRBY","t3.n",5]})") == "5");
  auto wrongtype = ask(R"({"args":["INCR","t3.s"]})");
  CHECK(wrongtype.find("remote_error") != std::string::npos);
  CHECK(wrongtype.find("ERR value is not an integer") != std::string::npos);
  CHECK(ask(R"({"args":["NOSUCHCOMMAND"]})").find("remote_error")
        != std::string::npos);
  CHECK(f.ask_error("r", "[1,2]").find("bad_message") != std::string::npos);
  CHECK(f.ask_error("r", R"({"args":[]})").find("non-empty")
        != std::string::npos);
  CHECK(f.ask_error("r", R"({"args":["SET",{"a":1},"x"]})")
          .find("strings or numbers")
        != std::string::npos);
  CHECK(f.ask_error("r", R"({"channel":5,"payload":1})").find("bad_message")
        != std::string::npos);
  // What would break one reply per command, or hold the connection.
  CHECK(f.ask_error("r", R"({"args":["subscribe","x"]})")
          .find("subscribe "
                "key")
        != std::string::npos);
  CHECK(f.ask_error("r", R"({"args":["BLPOP","t3.l2",0]})").find("blocking")
        != std::string::npos);
  CHECK(f.ask_error("r", R"({"args":["XREAD","block",0,"STREAMS","s","$"]})")
          .find("blocking")
        != std::string::npos);
  CHECK(ask(R"({"args":["PING"]})") == R"("PONG")");
  // 1,000 INCRs at once: pipelined on one connection (max-pending 1024),
  // each answered with its own count.
  REQUIRE(ask(R"({"args":["DEL","t3.count"]})").find("error")
          == std::string::npos);
  sender s;
  constexpr size_t n = 1000;
  s.send(f, "r",
         std::vector<std::string>(n, R"({"args":["INCR","t3.count"]})"));
  REQUIRE(eventually([&] { return s.answered() == n; }, 20s));
  for (size_t i = 0; i < n; ++i)
    REQUIRE(s.at(i) == std::to_string(i + 1));
  CHECK(ask(R"({"args":["GET","t3.count"]})") == "\"1000\"");
  // A one-way command that fails is reported, not dropped.
  caf::anon_send(caf::actor_cast<json_actor>(f.node().lookup("r")),
                 json_message::trusted(R"({"args":["INCR","t3.s"]})"));
  REQUIRE(eventually([&] { return events().count("error") == 1; }));
  CHECK(
    events().of("error")[0]["reason"].get<std::string>().find("not an integer")
    != std::string::npos);
  f.stop_and_check();
}

TEST_CASE("redis: a payload that is not JSON is an error event with the "
          "channel and the payload cut at 200 bytes, and the subscription goes "
          "on") {
  auto sock = shared_redis();
  node_fixture f{conf("r = { kind = \"redis\", address = \"" + sock
                      + "\", subscribe = [\"t4.in\"], to = \"inbox\", "
                        "deliver = \"envelope\", events = \"log\" }\n"),
                 add_collector};
  REQUIRE(eventually([&] { return status_of(f, "r")["subscribed"] == 1; }));
  CHECK(redis_cli({"PUBLISH", "t4.in", std::string(300, 'x')}).out == "1\n");
  CHECK(redis_cli({"PUBLISH", "t4.in", "{\"ok\":true}"}).out == "1\n");
  REQUIRE(eventually([&] { return on_channel("t4.in").size() == 1; }));
  CHECK(on_channel("t4.in")[0]["payload"]["ok"] == true);
  REQUIRE(events().count("error") == 1);
  auto err = events().of("error")[0];
  CHECK(err["channel"] == "t4.in");
  CHECK(err["payload"] == std::string(200, 'x'));
  CHECK(err["reason"].get<std::string>().find("not JSON") != std::string::npos);
  CHECK(status_of(f, "r")["errors"] == 1);
  f.stop_and_check();
}

TEST_CASE("redis: a reply over max-frame fails its request, and one that "
          "would keep arriving drops the connection, which comes back") {
  auto sock = shared_redis();
  REQUIRE(redis_cli({"SET", "t5.big", std::string(5000, 'b')}).out == "OK\n");
  // 300,000 bytes (zeros, then an h).
  REQUIRE(redis_cli({"DEL", "t5.huge"}).status == 0);
  REQUIRE(redis_cli({"SETRANGE", "t5.huge", "299999", "h"}).out == "300000\n");
  node_fixture f{conf("r = { kind = \"redis\", address = \"" + sock
                      + "\", max-frame = 1000, restart-delay = 10ms, events "
                        "= \"log\" }\n"),
                 add_collector};
  // Whole in one read: refused, and the connection goes on.
  auto err = f.ask_error("r", R"({"args":["GET","t5.big"]})");
  CHECK(err.find("frame_too_large") != std::string::npos);
  CHECK(err.find("5009 bytes, over max-frame") != std::string::npos);
  auto r = f.ask("r", R"({"args":["STRLEN","t5.big"]})");
  REQUIRE(r);
  CHECK(r->text == "5000");
  CHECK(events().count("down") == 0);
  // Still arriving past max-frame: only a new connection skips it.
  err = f.ask_error("r", R"({"args":["GET","t5.huge"]})");
  CHECK(err.find("max-frame") != std::string::npos);
  CHECK(err.find("no_channel") != std::string::npos);
  REQUIRE(eventually([&] {
    auto r = f.ask("r", R"({"args":["STRLEN","t5.huge"]})");
    return r && r->text == "300000";
  }));
  CHECK(events().count("down") == 1);
  f.stop_and_check();
}

TEST_CASE("redis: not there at start, the node starts anyway, commands are "
          "held up to max-held and answered once Redis comes") {
  int port = test::closed_port();
  node_fixture f{
    conf("r = { kind = \"redis\", address = \"127.0.0.1:" + std::to_string(port)
         + "\", max-held = 2, restart-delay = 20ms, "
           "restart-delay-max = 50ms, events = \"log\" }\n"),
    add_collector};
  REQUIRE(eventually([&] { return events().count("restarting") >= 1; }));
  sender s;
  s.send(f, "r",
         {R"({"args":["SET","t6.k","held"]})", R"({"args":["GET","t6.k"]})"});
  REQUIRE(
    eventually([&] { return status_of(f, "r")["commands"]["held"] == 2; }));
  auto full = f.ask_error("r", R"({"args":["PING"]})");
  CHECK(full.find("queue_full") != std::string::npos);
  CHECK(full.find("down") != std::string::npos);
  std::optional<redis_server> srv;
  srv.emplace(std::vector<std::string>{}, port);
  REQUIRE(srv->ready());
  REQUIRE(eventually([&] { return s.answered() == 2; }, 10s));
  CHECK(s.at(0) == R"("OK")");
  CHECK(s.at(1) == R"("held")");
  REQUIRE(events().count("up") == 1);
  CHECK(events().of("up")[0]["down_ms"].get<int64_t>() > 0);
  f.stop_and_check([&] { srv.reset(); });
}

TEST_CASE("redis: killed and started again on the same port, the bridge "
          "reconnects and resubscribes, held publishes are all answered") {
  redis_server srv;
  REQUIRE(srv.ready());
  node_fixture f{conf("r = { kind = \"redis\", address = \"" + srv.address()
                      + "\", subscribe = [\"t7\"], to = \"inbox\", deliver = "
                        "\"envelope\", restart-delay = 20ms, "
                        "restart-delay-max = 100ms, events = \"log\" }\n"),
                 add_collector};
  REQUIRE(eventually([&] { return status_of(f, "r")["subscribed"] == 1; }));
  CHECK(srv.cli({"PUBLISH", "t7", "\"before\""}).out == "1\n");
  REQUIRE(eventually([&] { return on_channel("t7").size() == 1; }));
  srv.kill();
  REQUIRE(eventually([&] { return events().count("down") == 2; }));
  sender s;
  std::vector<std::string> held;
  for (int i = 0; i < 5; ++i)
    held.push_back(R"({"channel":"t7.held","payload":)" + std::to_string(i)
                   + "}");
  s.send(f, "r", held);
  REQUIRE(
    eventually([&] { return status_of(f, "r")["commands"]["held"] == 5; }));
  srv.start();
  REQUIRE(srv.ready());
  REQUIRE(eventually([&] { return s.answered() == 5; }, 10s));
  for (size_t i = 0; i < 5; ++i)
    CHECK(s.at(i) == "0"); // answered by Redis: nobody listens on t7.held
  REQUIRE(
    eventually([&] { return status_of(f, "r")["subscribed"] == 1; }, 10s));
  CHECK(srv.cli({"PUBLISH", "t7", "\"after\""}).out == "1\n");
  REQUIRE(eventually([&] { return on_channel("t7").size() == 2; }));
  CHECK(on_channel("t7")[1]["payload"] == "after");
  auto ups = events().of("up");
  REQUIRE(ups.size() == 4);
  CHECK(ups[3]["down_ms"].get<int64_t>() > 0);
  auto downs = events().of("down");
  CHECK(downs[0]["reason"].get<std::string>().find("closed")
        != std::string::npos);
  f.stop_and_check();
}

TEST_CASE("redis: a frozen Redis is down within down-after, and up again "
          "when it wakes") {
  redis_server srv;
  REQUIRE(srv.ready());
  node_fixture f{conf("r = { kind = \"redis\", address = \"" + srv.address()
                      + "\", down-after = 300ms, restart-delay = 20ms, "
                        "restart-delay-max = 100ms, events = \"log\" }\n"),
                 add_collector};
  REQUIRE(eventually([&] { return events().count("up") == 1; }));
  srv.freeze();
  // An idle link finds out by its own PING.
  REQUIRE(eventually([&] { return events().count("down") == 1; }, 5s));
  CHECK(events().of("down")[0]["reason"].get<std::string>().find(
          "did not answer within down-after")
        != std::string::npos);
  srv.thaw();
  REQUIRE(eventually([&] { return events().count("up") == 2; }, 10s));
  auto r = f.ask("r", R"({"args":["PING"]})");
  REQUIRE(r);
  CHECK(r->text == R"("PONG")");
  f.stop_and_check();
}

TEST_CASE("redis: a Redis that reads nothing costs at most max-pending + "
          "max-held commands, the rest get queue_full at once") {
  redis_server srv;
  REQUIRE(srv.ready());
  node_fixture f{conf("r = { kind = \"redis\", address = \"" + srv.address()
                      + "\", max-pending = 4, max-held = 4, down-after = 5s, "
                        "events = \"log\" }\n"),
                 add_collector};
  REQUIRE(eventually([&] { return events().count("up") == 1; }));
  srv.freeze();
  sender s;
  s.send(f, "r", std::vector<std::string>(20, R"({"args":["PING"]})"));
  auto refused = [&] {
    size_t n = 0;
    for (size_t i = 0; i < 20; ++i)
      n += s.at(i).find("queue_full") != std::string::npos;
    return n;
  };
  // 4 on the wire (one may be the link's own idle PING), 4 held.
  REQUIRE(eventually([&] { return refused() >= 12; }));
  auto st = status_of(f, "r")["commands"];
  CHECK(st["held"] == 4);
  CHECK(st["in_flight"] == 4);
  CHECK(refused() <= 13);
  srv.thaw();
  REQUIRE(eventually([&] { return s.answered() == 20; }, 10s));
  size_t pong = 0;
  for (size_t i = 0; i < 20; ++i)
    pong += s.at(i) == R"("PONG")";
  CHECK(pong + refused() == 20);
  CHECK(events().count("down") == 0);
  f.stop_and_check();
}

TEST_CASE("redis: AUTH and SELECT on connect, a wrong password is reported "
          "and retried") {
  redis_server srv{{"--requirepass", "s3cret"}};
  REQUIRE(srv.ready());
  node_fixture f{conf("r = { kind = \"redis\", address = \"" + srv.address()
                      + "\", password = \"s3cret\", db = 3 }\n"
                        "bad = { kind = \"redis\", address = \""
                      + srv.address()
                      + "\", password = \"nope\", restart-delay = 50ms, "
                        "events = \"log\" }\n"),
                 add_collector};
  auto r = f.ask("r", R"({"args":["SET","t9","in db 3"]})");
  REQUIRE(r);
  CHECK(
    srv.cli({"-a", "s3cret", "--no-auth-warning", "-n", "3", "GET", "t9"}).out
    == "in db 3\n");
  CHECK(srv.cli({"-a", "s3cret", "--no-auth-warning", "GET", "t9"}).out
        == "\n");
  REQUIRE(eventually([&] { return events().count("restarting") >= 2; }));
  CHECK(events().of("restarting")[0]["link"] == "commands");
  CHECK(events().of("restarting")[0]["reason"].get<std::string>().find(
          "AUTH failed")
        != std::string::npos);
  CHECK(status_of(f, "bad")["commands"]["state"] != "up");
  auto clients =
    srv.cli({"-a", "s3cret", "--no-auth-warning", "CLIENT", "LIST"}).out;
  CHECK(clients.find("name=switchboard:r:commands") != std::string::npos);
  f.stop_and_check();
}

TEST_CASE("redis: config mistakes are named at start") {
  auto start_error = [](const std::string& entry) {
    auto cfg = node_config::from_string(conf(entry), "t.conf");
    REQUIRE(cfg);
    switchboard::node n{std::move(*cfg)};
    REQUIRE(!actors::add_builtin_kinds(n.kinds()));
    add_collector(n.kinds());
    auto err = n.start();
    return err ? render(err) : std::string{"started"};
  };
  CHECK(start_error("r = { kind = \"redis\", subscribe = [\"a\"] }\n")
          .find("need to (or room)")
        != std::string::npos);
  CHECK(start_error("r = { kind = \"redis\", to = \"inbox\" }\n")
          .find("nothing is subscribed")
        != std::string::npos);
  CHECK(start_error("r = { kind = \"redis\", address = \"localhost\" }\n")
          .find("neither HOST:PORT nor a socket path")
        != std::string::npos);
  CHECK(start_error("r = { kind = \"redis\", down-after = 5ms }\n")
          .find("at least 100ms")
        != std::string::npos);
  CHECK(
    start_error("r = { kind = \"redis\", format = \"xml\" }\n").find("format")
    != std::string::npos);
}

// -- redis-stream -------------------------------------------------------------

namespace {

// What the `worker` kind saw: each message, by the worker's name.
struct work_log {
  std::mutex mx;
  std::vector<std::pair<std::string, json>> seen;

  size_t size() {
    std::lock_guard<std::mutex> guard{mx};
    return seen.size();
  }

  // How often each "n" was seen.
  std::map<int, int> counts(const std::string& worker = {}) {
    std::lock_guard<std::mutex> guard{mx};
    std::map<int, int> out;
    for (auto& [who, m] : seen)
      if (worker.empty() || who == worker)
        out[m.value("n", -1)]++;
    return out;
  }
};

work_log& work() {
  static work_log log;
  return log;
}

// `worker`: records every request; answers it, or fails it when the
// message says {"fail": true}.
void add_worker(kind_registry& kinds) {
  add_collector(kinds);
  {
    std::lock_guard<std::mutex> guard{work().mx};
    work().seen.clear();
  }
  kind_spec k;
  k.name = "worker";
  k.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(
      ctx.node.system().spawn([name = ctx.name]() -> json_actor::behavior_type {
        return {[name](json_message& m) -> caf::result<json_message> {
          auto j = json::parse(m.text);
          {
            std::lock_guard<std::mutex> guard{work().mx};
            work().seen.emplace_back(name, j);
          }
          if (j.value("fail", false))
            return make_error(errc::bad_message, "told to fail");
          return json_message::trusted("true");
        }};
      }));
  };
  REQUIRE(!kinds.add(std::move(k)));
}

// The number of entries pending in `group` of `stream` (XPENDING's
// summary).
std::string pending(const std::string& stream, const std::string& group,
                    const std::string& sock = shared_redis()) {
  auto out =
    test::run({"redis-cli", "-s", sock, "XPENDING", stream, group}).out;
  return out.substr(0, out.find('\n'));
}

} // namespace

TEST_CASE("redis-stream: a message is XADDed (the reply is its id), and a "
          "consumer's `to` gets each entry once, acknowledged when it "
          "answers") {
  auto sock = shared_redis();
  REQUIRE(redis_cli({"DEL", "s1"}).status == 0);
  node_fixture f{conf("in = { kind = \"redis-stream\", address = \"" + sock
                        + "\", stream = \"s1\", maxlen = 1000 }\n"
                          "out = { kind = \"redis-stream\", address = \""
                        + sock
                        + "\", stream = \"s1\", group = \"g\", to = \"w\", "
                          "events = \"log\" }\n",
                      "w = { kind = \"worker\" }\n"),
                 add_worker};
  for (int i = 0; i < 20; ++i) {
    auto id = f.ask("in", json{{"n", i}}.dump());
    REQUIRE(id);
    auto text = json::parse(id->text).get<std::string>();
    CHECK(text.find('-') != std::string::npos);
  }
  REQUIRE(eventually([&] { return work().size() >= 20; }, 10s));
  REQUIRE(eventually([&] { return pending("s1", "g") == "0"; }));
  auto counts = work().counts();
  CHECK(counts.size() == 20);
  for (auto& [n, times] : counts)
    CHECK(times == 1);
  CHECK(redis_cli({"XLEN", "s1"}).out == "20\n");
  auto s = status_of(f, "out");
  CHECK(s["done"] == 20);
  CHECK(s["failed"] == 0);
  f.stop_and_check();
}

TEST_CASE("redis-stream: an entry whose `to` fails stays pending, is tried "
          "again after claim-after, and after max-attempts goes to the "
          "dead-letter stream with its last error") {
  auto sock = shared_redis();
  REQUIRE(redis_cli({"DEL", "s2", "s2:dead", "s2:g:errors"}).status == 0);
  node_fixture f{conf("s = { kind = \"redis-stream\", address = \"" + sock
                        + "\", stream = \"s2\", group = \"g\", to = \"w\", "
                          "claim-after = 200ms, max-attempts = 3, events = "
                          "\"log\" }\n",
                      "w = { kind = \"worker\" }\n"),
                 add_worker};
  REQUIRE(f.ask("s", R"({"n":1,"fail":true})"));
  REQUIRE(f.ask("s", R"({"n":2})"));
  REQUIRE(eventually([&] { return events().count("dead-letter") == 1; }, 10s));
  REQUIRE(eventually([&] { return pending("s2", "g") == "0"; }));
  auto counts = work().counts();
  CHECK(counts[1] == 3); // three deliveries, then the dead letter
  CHECK(counts[2] == 1);
  auto dead = events().of("dead-letter")[0];
  CHECK(dead["deliveries"] == 3);
  CHECK(dead["error"].get<std::string>().find("told to fail")
        != std::string::npos);
  auto entry = redis_cli({"XRANGE", "s2:dead", "-", "+"}).out;
  CHECK(entry.find("told to fail") != std::string::npos);
  CHECK(entry.find(R"({"n":1,"fail":true})") != std::string::npos);
  CHECK(events().count("failed") == 3);
  CHECK(redis_cli({"HLEN", "s2:g:errors"}).out == "0\n");
  f.stop_and_check();
}

TEST_CASE("redis-stream: a `to` that does not answer within timeout fails "
          "the entry, which ends in the dead-letter stream") {
  auto sock = shared_redis();
  REQUIRE(redis_cli({"DEL", "s6", "s6:dead", "s6:g:errors"}).status == 0);
  node_fixture f{conf("stuck = { kind = \"tcp\", mode = \"client\", connect "
                      "= \"127.0.0.1:"
                      + std::to_string(test::closed_port())
                      + "\", restart-delay = 10s, restart-delay-max = 10s, "
                        "events = \"inbox\" }\n"
                        "s = { kind = \"redis-stream\", address = \""
                      + sock
                      + "\", stream = \"s6\", group = \"g\", to = "
                        "\"stuck\", timeout = 200ms, claim-after = 300ms, "
                        "max-attempts = 2, events = \"log\" }\n"),
                 add_worker};
  REQUIRE(f.ask("s", R"({"n":1})"));
  REQUIRE(eventually([&] { return events().count("dead-letter") == 1; }, 10s));
  auto failed = events().of("failed");
  REQUIRE(failed.size() == 2);
  CHECK(failed[0]["reason"].get<std::string>().find("did not answer within "
                                                    "200 ms")
        != std::string::npos);
  CHECK(
    events().of("dead-letter")[0]["error"].get<std::string>().find("timeout")
    != std::string::npos);
  REQUIRE(eventually([&] { return pending("s6", "g") == "0"; }));
  f.stop_and_check();
}

TEST_CASE("redis-stream: an entry over max-frame goes to the dead-letter "
          "stream by id, and the entries around it are processed") {
  auto sock = shared_redis();
  REQUIRE(redis_cli({"DEL", "s7", "s7:dead", "s7:g:errors"}).status == 0);
  for (int i = 1; i <= 3; ++i) {
    REQUIRE(
      redis_cli({"XADD", "s7", "*", "payload", json{{"n", i}}.dump()}).status
      == 0);
    if (i == 2)
      REQUIRE(
        redis_cli({"XADD", "s7", "*", "payload",
                   json{{"n", 99}, {"pad", std::string(5000, 'p')}}.dump()})
          .status
        == 0);
  }
  node_fixture f{conf("s = { kind = \"redis-stream\", address = \"" + sock
                        + "\", stream = \"s7\", group = \"g\", to = \"w\", "
                          "max-frame = 2000, claim-after = 200ms, "
                          "max-attempts = 2, events = \"log\" }\n",
                      "w = { kind = \"worker\" }\n"),
                 add_worker};
  REQUIRE(eventually([&] { return events().count("dead-letter") == 1; }, 15s));
  REQUIRE(eventually([&] { return pending("s7", "g") == "0"; }));
  auto counts = work().counts();
  CHECK(counts.count(99) == 0);
  CHECK(counts[1] >= 1);
  CHECK(counts[2] >= 1);
  CHECK(counts[3] >= 1);
  auto dead = events().of("dead-letter")[0];
  CHECK(dead["error"].get<std::string>().find("max-frame")
        != std::string::npos);
  auto entry = redis_cli({"XRANGE", "s7:dead", "-", "+"}).out;
  CHECK(entry.find("max-frame") != std::string::npos);
  CHECK(entry.find("pppp") == std::string::npos); // named, not copied
  f.stop_and_check();
}

TEST_CASE("redis-stream: two consumers in a group share the work") {
  auto sock = shared_redis();
  REQUIRE(redis_cli({"DEL", "s3"}).status == 0);
  auto consumer = [&](const std::string& name, const std::string& worker) {
    return name + " = { kind = \"redis-stream\", address = \"" + sock
           + "\", stream = \"s3\", group = \"g\", consumer = \"" + name
           + "\", to = \"" + worker + "\", batch = 5 }\n";
  };
  node_fixture f{
    conf(consumer("c1", "w1") + consumer("c2", "w2")
           + "in = { kind = \"redis-stream\", address = \"" + sock
           + "\", stream = \"s3\" }\n",
         "w1 = { kind = \"worker\" }\nw2 = { kind = \"worker\" }\n"),
    add_worker};
  REQUIRE(eventually([&] {
    return status_of(f, "c1")["consumer_link"]["state"] == "up"
           && status_of(f, "c2")["consumer_link"]["state"] == "up";
  }));
  sender s;
  std::vector<std::string> msgs;
  for (int i = 0; i < 200; ++i)
    msgs.push_back(json{{"n", i}}.dump());
  s.send(f, "in", msgs);
  REQUIRE(eventually([&] { return work().size() >= 200; }, 20s));
  REQUIRE(eventually([&] { return pending("s3", "g") == "0"; }));
  CHECK(work().counts().size() == 200);
  CHECK(work().counts("w1").size() > 0);
  CHECK(work().counts("w2").size() > 0);
  CHECK(work().counts("w1").size() + work().counts("w2").size() == 200);
  f.stop_and_check();
}

TEST_CASE("redis-stream: a consumer node killed mid-batch loses nothing: "
          "another consumer claims its entries after claim-after") {
  auto sock = shared_redis();
  REQUIRE(redis_cli({"DEL", "s4"}).status == 0);
  for (int i = 0; i < 10; ++i)
    REQUIRE(
      redis_cli({"XADD", "s4", "*", "payload", json{{"n", i}}.dump()}).status
      == 0);
  test::temp_dir dir;
  {
    // A node whose `to` never answers: a TCP client that cannot connect
    // holds every request.
    auto conf_a = dir.write(
      "a.conf", "[node]\nname = \"a\"\ncontrol = \"none\"\n[bridges]\n"
                "stuck = { kind = \"tcp\", mode = \"client\", connect = "
                "\"127.0.0.1:"
                  + std::to_string(test::closed_port())
                  + "\", restart-delay = 10s, restart-delay-max = 10s }\n"
                    "s = { kind = \"redis-stream\", address = \""
                  + sock
                  + "\", stream = \"s4\", group = \"g\", consumer = \"a\", "
                    "to = \"stuck\", timeout = 60s }\n");
    child a{{SWITCHBOARD_CLI, "run", conf_a}};
    a.wait_for_stderr("ready", 10s);
    INFO(a.err());
    REQUIRE(eventually([&] { return pending("s4", "g") == "10"; }, 10s));
    a.signal(SIGKILL);
    REQUIRE(a.wait(10s));
  }
  node_fixture f{conf("s = { kind = \"redis-stream\", address = \"" + sock
                        + "\", stream = \"s4\", group = \"g\", consumer = "
                          "\"b\", to = \"w\", claim-after = 300ms }\n",
                      "w = { kind = \"worker\" }\n"),
                 add_worker};
  REQUIRE(eventually([&] { return work().counts().size() == 10; }, 10s));
  REQUIRE(eventually([&] { return pending("s4", "g") == "0"; }));
  CHECK(status_of(f, "s")["claimed"] == 10);
  f.stop_and_check();
}

TEST_CASE("redis-stream: Redis killed and restarted with AOF mid-stream: "
          "every entry is processed at least once") {
  redis_server srv{{"--appendonly", "yes", "--appendfsync", "always"}};
  REQUIRE(srv.ready());
  node_fixture f{conf("s = { kind = \"redis-stream\", address = \""
                        + srv.address()
                        + "\", stream = \"s5\", group = \"g\", to = \"w\", "
                          "claim-after = 300ms, restart-delay = 20ms, "
                          "restart-delay-max = 100ms, events = \"log\" }\n",
                      "w = { kind = \"worker\" }\n"),
                 add_worker};
  sender s;
  std::vector<std::string> first, second;
  for (int i = 0; i < 30; ++i) {
    first.push_back(json{{"n", i}}.dump());
    second.push_back(json{{"n", 30 + i}}.dump());
  }
  s.send(f, "s", first);
  REQUIRE(eventually([&] { return s.answered() == 30; }, 10s));
  srv.kill();
  // Once the bridge knows (what is on the wire when Redis dies gets
  // no_channel), XADDs are held.
  REQUIRE(
    eventually([&] { return status_of(f, "s")["commands"]["state"] != "up"; }));
  s.send(f, "s", second, 30);
  srv.start();
  REQUIRE(srv.ready());
  REQUIRE(eventually([&] { return s.answered() == 60; }, 10s));
  for (size_t i = 0; i < 60; ++i) {
    INFO(s.at(i));
    CHECK(s.at(i).find("error") == std::string::npos);
  }
  REQUIRE(eventually([&] { return work().counts().size() == 60; }, 15s));
  REQUIRE(
    eventually([&] { return pending("s5", "g", srv.socket()) == "0"; }, 10s));
  CHECK(srv.cli({"XLEN", "s5"}).out == "60\n");
  f.stop_and_check();
}

TEST_CASE("redis: TLS with a client certificate, verified against ca-file "
          "and the address, and refused when either does not match") {
  test::temp_dir certs;
  auto tls = test::self_signed_cert(certs);
  int tls_port = test::closed_port();
  redis_server srv{{"--tls-port", std::to_string(tls_port), "--tls-cert-file",
                    tls.cert, "--tls-key-file", tls.key, "--tls-ca-cert-file",
                    tls.cert, "--tls-auth-clients", "yes"}};
  REQUIRE(srv.ready());
  auto bridge = [&](const std::string& name, const std::string& extra) {
    return name + " = { kind = \"redis\", address = \"127.0.0.1:"
           + std::to_string(tls_port) + "\", tls = true, cert-file = \""
           + tls.cert + "\", key-file = \"" + tls.key
           + "\", restart-delay = 50ms, events = \"log\"" + extra + " }\n";
  };
  node_fixture f{conf(bridge("r", ", ca-file = \"" + tls.cert
                                    + "\", subscribe = [\"t11\"], to = "
                                      "\"inbox\", deliver = \"envelope\"")
                      + bridge("system_cas", "")
                      + bridge("wrong_name", ", ca-file = \"" + tls.cert
                                               + "\", server-name = "
                                                 "\"redis.example\"")),
                 add_collector};
  REQUIRE(eventually([&] { return status_of(f, "r")["subscribed"] == 1; }));
  // Larger than a TLS record: arrives in several.
  std::string big(100000, 'z');
  REQUIRE(f.ask("r", json{{"args", {"SET", "t11.big", big}}}.dump()));
  auto back = f.ask("r", R"({"args":["GET","t11.big"]})");
  REQUIRE(back);
  CHECK(back->text == "\"" + big + "\"");
  CHECK(srv.cli({"PUBLISH", "t11", "{\"over\":\"tls\"}"}).out == "1\n");
  REQUIRE(eventually([&] { return on_channel("t11").size() == 1; }));
  CHECK(on_channel("t11")[0]["payload"]["over"] == "tls");
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> guard{events().mx};
    int refused = 0;
    for (auto& e : events().events)
      if (e.value("event", "") == "restarting" && e.value("bridge", "") != "r")
        ++refused;
    return refused >= 4;
  }));
  std::string reasons;
  for (auto& e : events().of("restarting"))
    if (e.contains("reason"))
      reasons += e["reason"].get<std::string>() + "\n";
  INFO(reasons);
  CHECK(reasons.find("certificate verify failed") != std::string::npos);
  CHECK(reasons.find("hostname mismatch") != std::string::npos);
  CHECK(status_of(f, "system_cas")["commands"]["state"] != "up");
  CHECK(status_of(f, "wrong_name")["commands"]["state"] != "up");
  f.stop_and_check();
}

TEST_CASE("redis: a server that does not speak RESP is a clear reason, and "
          "the node goes on") {
  // What a bridge pointed at an HTTP port sees.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  socklen_t len = sizeof(sa);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
  REQUIRE(::listen(lfd, 16) == 0);
  std::atomic<bool> done{false};
  std::thread server{[&] {
    // Answers every connection with an HTTP error, then closes it.
    while (!done) {
      pollfd p{lfd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        continue;
      const char reply[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
      auto n = ::write(c, reply, sizeof(reply) - 1);
      (void)n;
      ::close(c);
    }
  }};
  {
    node_fixture f{conf("r = { kind = \"redis\", address = \"127.0.0.1:"
                        + std::to_string(ntohs(sa.sin_port))
                        + "\", restart-delay = 20ms, max-held = 0, events = "
                          "\"log\" }\n"),
                   add_collector};
    REQUIRE(eventually([&] { return events().count("restarting") >= 2; }));
    auto reason = events().of("restarting")[0]["reason"].get<std::string>();
    INFO(reason);
    CHECK(reason.find("not RESP") != std::string::npos);
    auto err = f.ask_error("r", R"({"args":["PING"]})");
    CHECK(err.find("queue_full") != std::string::npos);
    CHECK(status_of(f, "r")["commands"]["state"] != "up");
    f.stop_and_check([&] {
      done = true;
      server.join();
    });
  }
  ::close(lfd); // counted before the node started
}

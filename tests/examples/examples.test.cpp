// switchboard: an embeddable C++ actor runtime. MIT License.

// The examples as a user runs them: `switchboard up` on each example's own
// topology file (ports moved to free ones with up's overrides), checked end
// to end through the doors the example opens.

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <regex>
#include <thread>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "process.hpp"

using namespace switchboard::test;
using json = nlohmann::json;

namespace {

const std::string cli = SWITCHBOARD_CLI;
const std::string examples = SWITCHBOARD_SOURCE_DIR "/examples";

// A deadline for a hang, not a speed check.
constexpr ms up_deadline{30000};

// Control sockets at their default paths under the test's own directory,
// so nodes are reached by name as a user reaches them.
void own_runtime_dir(const temp_dir& dir) {
  setenv("XDG_RUNTIME_DIR", dir.path().c_str(), 1);
}

std::string addr(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

// A status of `address` on the node `node`, or null.
json status_of(const std::string& node, const std::string& address) {
  auto r = run({cli, "status", "--json", "--node", node, address});
  if (r.status != 0)
    return {};
  auto j = json::parse(r.out, nullptr, false);
  if (!j.is_object() || !j.contains("actors") || j["actors"].empty())
    return {};
  return j["actors"][0]["status"];
}

// `up` on an example's topology with `overrides`, ready.
std::unique_ptr<child> start_up(const std::string& topology,
                                std::vector<std::string> overrides) {
  std::vector<std::string> argv{cli, "up", topology};
  argv.insert(argv.end(), overrides.begin(), overrides.end());
  auto up = std::make_unique<child>(argv);
  INFO(up->out() << up->err());
  REQUIRE(up->wait_for_stdout("Ctrl-C stops them", up_deadline));
  return up;
}

// Stops `up` with Ctrl-C; it must exit 0.
void stop_up(child& up) {
  up.signal(SIGINT);
  auto status = up.wait(up_deadline);
  INFO(up.out() << up.err());
  REQUIRE(status);
  CHECK(*status == 0);
}

} // namespace

TEST_CASE("compute: /calculate on the front node is answered by two worker "
          "nodes, and a worker killed with -9 loses no request") {
  temp_dir dir;
  own_runtime_dir(dir);
  auto topo = "compute" + std::to_string(::getpid());
  auto w1 = addr(closed_port());
  auto w2 = addr(closed_port());
  auto http_port = closed_port();
  auto up = start_up(
    examples + "/compute/topology.conf",
    {"--topology.name=" + topo,
     "--nodes.w1.overrides=[\"--node.listen=" + w1 + "\"]",
     "--nodes.w2.overrides=[\"--node.listen=" + w2 + "\"]",
     "--nodes.front.overrides=[\"--node.peers=[\\\"w1@" + w1 + "\\\",\\\"w2@"
       + w2 + "\\\"]\", \"--bridges.http.listen=" + addr(http_port) + "\"]"});
  INFO(up->out() << up->err());
  // Clients on four threads, each request checked; w1 is killed once a
  // quarter of them are answered.
  constexpr int clients = 4;
  constexpr int per_client = 100;
  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  std::vector<std::string> failures;
  std::mutex failures_mtx;
  auto client = [&](int c) {
    httplib::Client http{"127.0.0.1", http_port};
    http.set_read_timeout(20, 0);
    for (int i = 0; i < per_client; ++i) {
      auto a = c * 1000 + i;
      json req{
        {"type", "calculate"}, {"operation", "add"}, {"operands", {a, 1}}};
      auto res = http.Post("/calculate", req.dump(), "application/json");
      auto body = res ? json::parse(res->body, nullptr, false) : json{};
      if (!res || res->status != 200 || body.value("result", -1) != a + 1) {
        ++wrong;
        std::lock_guard<std::mutex> guard{failures_mtx};
        failures.push_back(res ? std::to_string(res->status) + " " + res->body
                               : std::string{"no response"});
      }
      ++answered;
    }
  };
  auto w1_status = status_of(topo, "w1");
  REQUIRE(w1_status.is_object());
  pid_t w1_pid = w1_status["pid"];
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back(client, c);
  REQUIRE(eventually([&] { return answered >= clients * per_client / 4; },
                     up_deadline));
  REQUIRE(::kill(w1_pid, SIGKILL) == 0);
  for (auto& t : threads)
    t.join();
  {
    INFO((failures.empty() ? std::string{} : failures.front()));
    CHECK(wrong == 0);
  }
  CHECK(answered == clients * per_client);
  // Both workers served.
  auto calc = status_of("front", "calc");
  REQUIRE(calc.is_object());
  CHECK(calc["targets"][0]["answered"] > 0);
  CHECK(calc["targets"][1]["answered"] > 0);
  // up restarted w1, and it serves again.
  REQUIRE(up->wait_for_stdout("killed by SIGKILL", up_deadline));
  REQUIRE(up->wait_for_stdout("(restarted)", up_deadline));
  auto answered_before = calc["targets"][0]["answered"].get<int>();
  httplib::Client http{"127.0.0.1", http_port};
  http.set_read_timeout(20, 0);
  CHECK(eventually(
    [&] {
      auto res = http.Post("/calculate",
                           R"({"type":"calculate","operation":"add",)"
                           R"("operands":[2,2]})",
                           "application/json");
      if (!res || res->status != 200 || res->body != "{\"result\":4}")
        return false;
      auto now = status_of("front", "calc");
      return now.is_object()
             && now["targets"][0]["answered"].get<int>() > answered_before;
    },
    up_deadline));
  stop_up(*up);
}

TEST_CASE("pipeline: a Node.js child, a C++ child node and sed, chained, "
          "each restarts after a crash and the chain answers again") {
  temp_dir dir;
  own_runtime_dir(dir);
  auto topo = "pipeline" + std::to_string(::getpid());
  auto up =
    start_up(examples + "/pipeline/topology.conf", {"--topology.name=" + topo});
  INFO(up->out() << up->err());
  auto ask = [](const std::string& text) {
    return run({cli, "send", "text/stats", json{{"text", text}}.dump()},
               ms{20000});
  };
  auto r = ask("the quick brown fox");
  CHECK(r.status == 0);
  CHECK(r.out == "{\"letters\":16}\n");
  // A stage's error ends the chain and names the stage.
  r = ask("");
  CHECK(r.status == 1);
  CHECK(r.err.find("bad_calculation: stats step 2 (sum): add needs at least")
        != std::string::npos);
  int letters = 16;
  for (auto stage : {"split", "sum", "report"}) {
    INFO(stage);
    auto before = status_of("text", stage);
    REQUIRE(before.is_object());
    pid_t pid = before["pid"];
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    // Sent at once: held while the stage restarts, then answered.
    r = ask("jumps over the lazy dog");
    CHECK(r.status == 0);
    CHECK(r.out == "{\"letters\":19}\n");
    auto after = status_of("text", stage);
    CHECK(after["restarts"] == 1);
    CHECK(after["state"] == "running");
    CHECK(after["pid"] != pid);
    r = ask("the quick brown fox");
    CHECK(r.out == "{\"letters\":" + std::to_string(letters) + "}\n");
  }
  auto chain = status_of("text", "stats");
  REQUIRE(chain.is_object());
  CHECK(chain["answered"] == 7);
  stop_up(*up);
}

namespace {

// `xs` as a config list of strings: ["a","b"].
std::string config_list(const std::vector<std::string>& xs) {
  std::string result = "[";
  for (auto& x : xs) {
    if (result.size() > 1)
      result += ",";
    result += "\"";
    for (char c : x) {
      if (c == '"' || c == '\\')
        result += '\\';
      result += c;
    }
    result += "\"";
  }
  return result + "]";
}

// A WebSocket client (tests/helpers/ws_client.js hold) on `url`, open.
std::unique_ptr<child> ws_client(const std::string& url) {
  auto c = std::make_unique<child>(
    std::vector<std::string>{
      "node", SWITCHBOARD_SOURCE_DIR "/tests/helpers/ws_client.js", "hold",
      url},
    true);
  INFO(c->out() << c->err());
  REQUIRE(c->wait_for_stdout("open", up_deadline));
  return c;
}

// `from` says numbered messages until `to` hears one (the gateways meet
// through Redis once both have subscribed), at most `up_deadline`.
bool heard(child& from, child& to, const std::string& name) {
  auto deadline = std::chrono::steady_clock::now() + up_deadline;
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    json m{{"name", name}, {"text", "hello " + std::to_string(i)}};
    if (!from.write_stdin("send " + m.dump() + "\n"))
      return false;
    if (to.wait_for_stdout("\"name\":\"" + name + "\"", ms{250}))
      return true;
  }
  return false;
}

} // namespace

TEST_CASE("chat: a WebSocket client on one gateway hears what a client on "
          "the other says, through the Redis that up runs") {
  temp_dir dir;
  own_runtime_dir(dir);
  auto topo = "chat" + std::to_string(::getpid());
  auto redis = addr(closed_port());
  auto redis_port = redis.substr(redis.find(':') + 1);
  auto gw1 = addr(closed_port());
  auto gw2 = addr(closed_port());
  auto gateway = [&](const std::string& listen) {
    return config_list(
      {"--bridges.web.listen=" + listen, "--bridges.link.address=" + redis});
  };
  auto up = start_up(
    examples + "/chat/topology.conf",
    {"--topology.name=" + topo,
     "--nodes.redis.overrides="
       + config_list(
         {"--actors.server.command="
          + config_list({"redis-server", "--bind", "127.0.0.1", "--port",
                         redis_port, "--save", "", "--appendonly", "no"})}),
     "--nodes.gw1.overrides=" + gateway(gw1),
     "--nodes.gw2.overrides=" + gateway(gw2)});
  INFO(up->out() << up->err());
  // Each gateway serves the page.
  auto port1 = std::stoi(gw1.substr(gw1.find(':') + 1));
  httplib::Client http{"127.0.0.1", port1};
  auto page = http.Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->body.find("switchboard chat") != std::string::npos);
  auto a = ws_client("ws://" + gw1 + "/chat");
  auto b = ws_client("ws://" + gw2 + "/chat");
  INFO(a->out() << a->err() << b->out() << b->err());
  CHECK(heard(*b, *a, "bea"));
  CHECK(heard(*a, *b, "al"));
  // Nobody hears themselves (the room skips the sender, the redis bridge
  // its own messages): b's would have come back before a's.
  CHECK(b->out().find("\"name\":\"bea\"") == std::string::npos);
  a->close_stdin();
  b->close_stdin();
  stop_up(*up);
}

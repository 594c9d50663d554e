// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/actors/cluster.hpp>

#include <atomic>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include "node_fixture.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using switchboard::json_message;
using switchboard::render;
using switchboard::test::node_fixture;
namespace actors = switchboard::actors;
namespace sb = switchboard;

namespace {

const std::string server_js =
  SWITCHBOARD_SOURCE_DIR "/tests/helpers/cluster_server.js";

std::string cluster_conf(int instances) {
  return "[node]\ncontrol = \"none\"\n[actors]\nweb = { kind = \"cluster\", "
         "instances = "
         + std::to_string(instances)
         + ", listen = \"127.0.0.1:0\", command = [\"node\", \"" + server_js
         + "\"], stdin = \"none\", stdout = \"inherit\" }\n";
}

json status(sb::node& n) {
  json result;
  caf::scoped_actor self{n.system()};
  self->request(n.lookup("web"), 5s, sb::status_atom::value)
    .receive([&](json_message& m) { result = json::parse(m.text); },
             [&](caf::error& e) { FAIL(render(e)); });
  return result;
}

// Waits until every instance runs; returns the status then.
json running(sb::node& n, size_t count) {
  json st;
  switchboard::test::eventually([&] {
    st = status(n);
    if (st["instances"].size() != count)
      return false;
    for (auto& i : st["instances"])
      if (i.value("state", "") != "running")
        return false;
    return true;
  });
  return st;
}

int port_of(const json& st) {
  auto addr = st["listen"].get<std::string>();
  return std::stoi(addr.substr(addr.rfind(':') + 1));
}

// Connects once and reads the answer: the serving instance's pid, or -errno.
long fetch(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    auto err = errno;
    close(fd);
    return -err;
  }
  std::string out;
  char buf[64];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    out.append(buf, static_cast<size_t>(n));
  auto err = n < 0 ? errno : 0;
  close(fd);
  if (out.empty())
    return err != 0 ? -err : -ECONNRESET;
  return std::stol(out);
}

std::set<long> pids_of(const json& st) {
  std::set<long> result;
  for (auto& i : st["instances"])
    result.insert(i["pid"].get<long>());
  return result;
}

} // namespace

TEST_CASE("4 cluster instances accept connections on one port") {
  node_fixture f{cluster_conf(4)};
  auto st = running(f.node(), 4);
  REQUIRE(st["instances"].size() == 4);
  auto pids = pids_of(st);
  REQUIRE(pids.size() == 4);
  for (auto& i : st["instances"]) {
    CHECK(i.contains("rss"));
    CHECK(i.contains("cpu"));
    CHECK(i["restarts"] == 0);
  }
  auto port = port_of(st);
  std::set<long> served;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  for (int i = 0; i < 4000 && served.size() < 4
                  && std::chrono::steady_clock::now() < deadline;
       ++i) {
    auto pid = fetch(port);
    REQUIRE(pid > 0);
    CHECK(pids.count(pid) == 1);
    served.insert(pid);
  }
  CHECK(served == pids);
  // A request to the cluster reaches every instance (these have no
  // message channel: each answers with an error, in its place).
  auto r = f.ask("web", "{}");
  REQUIRE(r);
  auto answers = json::parse(r->text);
  REQUIRE(answers.size() == 4);
  CHECK(answers[0].contains("error"));
  f.stop_and_check();
}

TEST_CASE("a rolling reload refuses no connection") {
  node_fixture f{cluster_conf(2)};
  auto before = running(f.node(), 2);
  auto port = port_of(before);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<long> first_error{0};
  std::thread client{[&] {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    for (int i = 0;
         i < 100000 && !stop && std::chrono::steady_clock::now() < deadline;
         ++i) {
      auto pid = fetch(port);
      if (pid > 0) {
        ++ok;
      } else {
        if (failed++ == 0)
          first_error = pid;
      }
    }
  }};
  // Some traffic before, during and after.
  switchboard::test::eventually([&] { return ok > 50; });
  caf::expected<caf::ok_atom> reloaded = caf::error{};
  {
    caf::scoped_actor self{f.node().system()};
    self->request(f.node().lookup("web"), 60s, actors::reload_atom::value)
      .receive([&](caf::ok_atom x) { reloaded = x; },
               [&](caf::error& e) { reloaded = e; });
  }
  auto seen = ok.load();
  switchboard::test::eventually([&] { return ok > seen + 50; });
  stop = true;
  client.join();
  INFO("first error: " << std::strerror(static_cast<int>(-first_error)));
  REQUIRE(reloaded);
  CHECK(failed == 0);
  CHECK(ok > 100);
  auto after = running(f.node(), 2);
  for (auto pid : pids_of(after))
    CHECK(pids_of(before).count(pid) == 0);
  f.stop_and_check();
}

TEST_CASE("a rolling reload waits for each new instance to say ready") {
  // Each instance prints "ready" 300 ms after it listens: replaced one at
  // a time, two instances take at least 600 ms.
  node_fixture f{
    "[node]\ncontrol = \"none\"\n[actors]\nweb = { kind = \"cluster\", "
    "instances = 2, listen = \"127.0.0.1:0\", command = [\"node\", \""
    + server_js
    + "\"], stdin = \"none\", stdout = \"lines\", ready = \"message\", "
      "env = { READY_AFTER = \"300\" } }\n"};
  auto before = running(f.node(), 2);
  auto t0 = std::chrono::steady_clock::now();
  caf::expected<caf::ok_atom> reloaded = caf::error{};
  {
    caf::scoped_actor self{f.node().system()};
    self->request(f.node().lookup("web"), 60s, actors::reload_atom::value)
      .receive([&](caf::ok_atom x) { reloaded = x; },
               [&](caf::error& e) { reloaded = e; });
  }
  REQUIRE(reloaded);
  CHECK(std::chrono::steady_clock::now() - t0 >= 600ms);
  auto after = running(f.node(), 2);
  for (auto pid : pids_of(after))
    CHECK(pids_of(before).count(pid) == 0);
  // A new instance serves.
  auto pid = fetch(port_of(after));
  REQUIRE(pid > 0);
  CHECK(pids_of(after).count(pid) == 1);
  f.stop_and_check();
}

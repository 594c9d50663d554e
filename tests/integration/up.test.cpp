// switchboard: an embeddable C++ actor runtime. MIT License.

// `switchboard up` as a user runs it: a topology file, real node processes
// under a real supervising process, real signals, and `send` and `status`
// by node name.

#include <csignal>
#include <cstdlib>
#include <regex>

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "process.hpp"

using namespace switchboard::test;
using json = nlohmann::json;

namespace {

const std::string cli = SWITCHBOARD_CLI;

// Long enough for a sanitizer build on a loaded machine; a deadline for a
// hang, not a speed check.
constexpr ms up_deadline{30000};

// Control sockets at their default paths, under the test's own directory,
// so nodes are reached by name as a user reaches them.
void own_runtime_dir(const temp_dir& dir) {
  setenv("XDG_RUNTIME_DIR", dir.path().c_str(), 1);
}

// A topology of two nodes: b (an echo, listening on `port`) and a (a router
// to b's echo, dialling b); b comes first in the file.
std::string pair_topology(const temp_dir& dir, int port,
                          const std::string& name) {
  auto addr = "127.0.0.1:" + std::to_string(port);
  dir.write("b.conf", "[node]\nlisten = \"" + addr
                        + "\"\n[actors]\necho = { kind = \"echo\" }\n");
  dir.write("a.conf", "[node]\npeers = [\"b@" + addr
                        + "\"]\n[actors]\napi = { kind = \"router\", "
                          "routes = { echo = \"b/echo\" } }\n");
  return dir.write("pair.conf", "[topology]\nname = \"" + name
                                  + "\"\n[nodes]\nb = { config = \"b.conf\" }\n"
                                    "a = { config = \"a.conf\", overrides = "
                                    "[\"--node.request-timeout=8s\"] }\n");
}

// The pid `up` printed for `node` when it last started it.
pid_t started_pid(const std::string& out, const std::string& node) {
  std::regex re{"(^|\\n)" + node + " +started \\(pid ([0-9]+)\\)"};
  pid_t pid = 0;
  for (auto i = std::sregex_iterator(out.begin(), out.end(), re);
       i != std::sregex_iterator(); ++i)
    pid = std::stoi((*i)[2]);
  return pid;
}

// The supervisor's status of one node (its child-process entry).
json node_status(const std::string& topology, const std::string& node) {
  auto r = run({cli, "status", "--json", "--node", topology, node});
  if (r.status != 0)
    return {};
  auto j = json::parse(r.out, nullptr, false);
  if (!j.is_object() || !j.contains("actors") || j["actors"].empty())
    return {};
  return j["actors"][0]["status"];
}

bool gone(pid_t pid) {
  return pid > 0 && ::kill(pid, 0) != 0;
}

} // namespace

TEST_CASE("up starts a topology, reaches its nodes by name, restarts a "
          "killed node and stops them in reverse order") {
  temp_dir dir;
  own_runtime_dir(dir);
  auto name = "pair" + std::to_string(::getpid());
  child up{{cli, "up", pair_topology(dir, closed_port(), name)}};
  INFO(up.out() << up.err());
  REQUIRE(up.wait_for_stdout("Ctrl-C stops them", up_deadline));
  // The table names both nodes with their control sockets.
  CHECK(up.out().find(dir.path() + "/switchboard/a.sock") != std::string::npos);
  // a reaches b over BASP; b answers on its own socket, by name.
  auto r = run({cli, "send", "a/api", R"({"type":"echo","n":1})"});
  CHECK(r.status == 0);
  CHECK(r.out == "{\"n\":1,\"type\":\"echo\"}\n");
  r = run({cli, "send", "b/echo", R"({"n":2})"});
  CHECK(r.status == 0);
  CHECK(r.out == "{\"n\":2}\n");
  // The supervisor's status lists each node with its pid.
  auto b = node_status(name, "b");
  REQUIRE(b.is_object());
  CHECK(b["state"] == "running");
  CHECK(b["ready"] == true);
  pid_t b_pid = b["pid"];
  CHECK(b_pid == started_pid(up.out(), "b"));
  pid_t a_pid = started_pid(up.out(), "a");
  REQUIRE(a_pid > 0);
  // kill -9 b: up says so, restarts it, and a reaches it again.
  REQUIRE(::kill(b_pid, SIGKILL) == 0);
  REQUIRE(up.wait_for_stdout("killed by SIGKILL", up_deadline));
  REQUIRE(up.wait_for_stdout("(restarted)", up_deadline));
  auto new_b = started_pid(up.out(), "b");
  CHECK(new_b != b_pid);
  CHECK(node_status(name, "b")["restarts"] == 1);
  r = run({cli, "send", "a/api", R"({"type":"echo","n":3})"}, ms{20000});
  CHECK(r.status == 0);
  CHECK(r.out == "{\"n\":3,\"type\":\"echo\"}\n");
  // Ctrl-C: a (last in the file) stops first, then b; both are gone.
  up.signal(SIGINT);
  auto status = up.wait(up_deadline);
  REQUIRE(status);
  CHECK(*status == 0);
  std::regex stopped_a{"\\na +stopped"};
  std::regex stopped_b{"\\nb +stopped"};
  std::smatch ma;
  std::smatch mb;
  REQUIRE(std::regex_search(up.out(), ma, stopped_a));
  REQUIRE(std::regex_search(up.out(), mb, stopped_b));
  CHECK(ma.position(0) < mb.position(0));
  CHECK(gone(a_pid));
  CHECK(gone(new_b));
  // Each stopped gracefully, on one SIGTERM.
  CHECK(up.err().find("second signal") == std::string::npos);
}

TEST_CASE("up exits 1 with the log tail of a node that cannot start, and "
          "stops the others") {
  temp_dir dir;
  own_runtime_dir(dir);
  // b's listen address is taken.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  auto name = "broken" + std::to_string(::getpid());
  child up{{cli, "up", pair_topology(dir, ntohs(sa.sin_port), name)}};
  auto status = up.wait(up_deadline);
  ::close(fd);
  INFO(up.out() << up.err());
  REQUIRE(status);
  CHECK(*status == 1);
  CHECK(up.err().find("node b did not start: exited with code 1")
        != std::string::npos);
  // The tail shows the node's own reason.
  auto tail = up.err().find("the last lines of its log:");
  REQUIRE(tail != std::string::npos);
  CHECK(up.err().find("cannot listen there", tail) != std::string::npos);
  CHECK(gone(started_pid(up.out(), "a")));
}

TEST_CASE("check reports every problem of a topology and of its nodes' "
          "configs") {
  temp_dir dir;
  dir.write("good.conf", "[actors]\necho = { kind = \"echo\" }\n");
  dir.write("bad.conf", "[actors]\necho = { kind = \"ecoh\" }\n");
  dir.write("l1.conf", "[node]\nlisten = \"127.0.0.1:7999\"\n");
  auto topo = dir.write(
    "t.conf", "[topology]\nname = \"t\"\n"
              "[nodes]\n"
              "n1 = { config = \"good.conf\", confg = 1 }\n"
              "n2 = { config = \"bad.conf\" }\n"
              "n3 = { config = \"missing.conf\" }\n"
              "n4 = { config = \"l1.conf\" }\n"
              "n5 = { config = \"l1.conf\" }\n"
              "n6 = { config = \"good.conf\", overrides = [\"nodot=1\"] }\n");
  auto r = run({cli, "check", topo});
  INFO(r.out << r.err);
  CHECK(r.status == 1);
  CHECK(r.out.find("t.conf:4: nodes.n1.confg: expected one of: config,")
        != std::string::npos);
  // Validation stops at the topology's own keys; fixed, the nodes are read.
  dir.write("t.conf", "[topology]\nname = \"t\"\n"
                      "[nodes]\n"
                      "n2 = { config = \"bad.conf\" }\n"
                      "n3 = { config = \"missing.conf\" }\n"
                      "n4 = { config = \"l1.conf\" }\n"
                      "n5 = { config = \"l1.conf\" }\n"
                      "n6 = { config = \"good.conf\", overrides = "
                      "[\"nodot=1\"] }\n"
                      "t = { config = \"good.conf\" }\n");
  r = run({cli, "check", topo});
  CHECK(r.status == 1);
  CHECK(r.out.find("bad.conf:2: actors.echo.kind: expected one of:")
        != std::string::npos);
  CHECK(r.out.find("nodes.n3.config: expected a node's config file")
        != std::string::npos);
  CHECK(r.out.find("nodes.n5: expected a [node] listen address of its own, "
                   "found '127.0.0.1:7999', where node n4 listens too")
        != std::string::npos);
  CHECK(r.out.find("nodes.n6.overrides: expected overrides of the form")
        != std::string::npos);
  CHECK(r.out.find("nodes.t: expected a node name other than the "
                   "topology's")
        != std::string::npos);
  CHECK(r.out.find("5 errors") != std::string::npos);
  // up refuses it the same way and starts nothing.
  r = run({cli, "up", topo});
  CHECK(r.status == 1);
  CHECK(r.err.find("nothing started") != std::string::npos);
  // A valid one passes.
  dir.write("t.conf", "[nodes]\nn1 = { config = \"good.conf\" }\n");
  r = run({cli, "check", topo});
  CHECK(r.status == 0);
  CHECK(r.out == topo + ": ok\n");
  // A node's config given to up is told apart.
  r = run({cli, "up", dir.path() + "/good.conf"});
  CHECK(r.status == 2);
  CHECK(r.err.find("not a topology") != std::string::npos);
}

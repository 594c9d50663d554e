// switchboard: an embeddable C++ actor runtime. MIT License.

// The `switchboard` command as a user runs it: a real node process, real
// signals, the real control socket.

#include <csignal>
#include <cstdlib>
#include <fstream>

#include <catch2/catch.hpp>

#include "process.hpp"
#include "tcp_client.hpp"

using namespace switchboard::test;

namespace {

const std::string cli = SWITCHBOARD_CLI;

std::string node_conf(const temp_dir& dir) {
  return dir.write("node.conf",
                   "[node]\nname = \"it\"\ncontrol = \"" + dir.path()
                     + "/it.sock\"\n[actors]\necho = { kind = "
                       "\"echo\" }\nlobby = { kind = \"room\" }\n"
                       "api = { kind = \"router\", routes = { echo "
                       "= \"echo\" } }\n");
}

// Starts a node and waits until it is ready.
std::unique_ptr<child> start_node(const std::string& conf) {
  auto c = std::make_unique<child>(std::vector<std::string>{cli, "run", conf});
  INFO(c->err());
  REQUIRE(c->wait_for_stderr("ready", ms{10000}));
  return c;
}

} // namespace

TEST_CASE(
  "run logs what it started, send and status reach it, SIGTERM ends it") {
  temp_dir dir;
  auto conf = node_conf(dir);
  auto node = start_node(conf);
  CHECK(node->err().find("/echo: started (echo)") != std::string::npos);
  CHECK(node->err().find("/api: started (router)") != std::string::npos);
  auto ctl = dir.path() + "/it.sock";
  auto r = run({cli, "send", "--control", ctl, "echo", R"({"a":1})"});
  CHECK(r.status == 0);
  CHECK(r.out == "{\"a\":1}\n");
  r = run({cli, "send", "--config", conf, "api", R"({"type":"echo","b":[1]})"});
  CHECK(r.status == 0);
  CHECK(r.out == "{\"b\":[1],\"type\":\"echo\"}\n");
  r = run({cli, "status", "--json", "--control", ctl});
  CHECK(r.status == 0);
  CHECK(r.out.find("\"name\": \"lobby\"") != std::string::npos);
  r = run({cli, "status", "--json", "--control", ctl, "echo"});
  CHECK(r.status == 0);
  CHECK(r.out.find("\"name\": \"lobby\"") == std::string::npos);
  auto t0 = std::chrono::steady_clock::now();
  node->signal(SIGTERM);
  auto status = node->wait(ms{2000});
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(node->err().find("stopped") != std::string::npos);
}

TEST_CASE("SIGINT stops a node gracefully too") {
  temp_dir dir;
  auto node = start_node(node_conf(dir));
  node->signal(SIGINT);
  // A deadline for a hang, not a speed check (sanitizer builds on a loaded
  // machine are slow to exit).
  auto status = node->wait(ms{10000});
  REQUIRE(status);
  CHECK(*status == 0);
}

TEST_CASE("send reports errors on stderr and exits non-zero") {
  temp_dir dir;
  auto conf = node_conf(dir);
  auto node = start_node(conf);
  auto ctl = dir.path() + "/it.sock";
  auto r = run({cli, "send", "--control", ctl, "ghost", "{}"});
  CHECK(r.status == 1);
  CHECK(r.err.find("no actor named 'ghost'") != std::string::npos);
  r = run({cli, "send", "--control", ctl, "api", R"({"type":"x"})"});
  CHECK(r.status == 1);
  CHECK(r.err.find("no_route") != std::string::npos);
  r = run({cli, "send", "--control", ctl, "echo", "{oops"});
  CHECK(r.status == 1);
  CHECK(r.err.find("not valid JSON") != std::string::npos);
  r = run({cli, "send", "--control", dir.path() + "/nobody.sock", "echo", "1"});
  CHECK(r.status == 1);
  CHECK(r.err.find("cannot reach a node") != std::string::npos);
  node->signal(SIGTERM);
  CHECK(node->wait(ms{2000}) == 0);
}

TEST_CASE("check prints every error with its key and exits 1") {
  temp_dir dir;
  auto bad = dir.write("bad.conf", R"([node]
name = 7
[actors]
a = { kind = "echo", colour = "red" }
r = { kind = "router", routes = { x = "ghost" } }
)");
  auto r = run({cli, "check", bad});
  CHECK(r.status == 1);
  CHECK(r.out.find("bad.conf:2: node.name: expected string")
        != std::string::npos);
  CHECK(r.out.find("bad.conf:4: actors.a.colour") != std::string::npos);
  CHECK(r.out.find("bad.conf:5: actors.r.routes.x") != std::string::npos);
  CHECK(r.out.find("3 errors") != std::string::npos);
}

TEST_CASE("run refuses an invalid config with the errors and exit 1") {
  temp_dir dir;
  auto bad = dir.write("bad.conf", "[actors]\na = { kind = \"nope\" }\n");
  auto r = run({cli, "run", bad});
  CHECK(r.status == 1);
  CHECK(r.err.find("actors.a.kind") != std::string::npos);
  r = run({cli, "run", dir.path() + "/missing.conf"});
  CHECK(r.status == 1);
  CHECK(r.err.find("missing.conf") != std::string::npos);
}

TEST_CASE("check and run refuse an entry named control while the node has "
          "its control socket, which has that name") {
  temp_dir dir;
  auto conf = dir.write("ctl.conf", "[node]\ncontrol = \"" + dir.path()
                                      + "/ctl.sock\"\n[actors]\ncontrol = { "
                                        "kind = \"echo\" }\n");
  auto r = run({cli, "check", conf});
  CHECK(r.status == 1);
  CHECK(r.out.find("ctl.conf:4: actors.control: expected another name")
        != std::string::npos);
  r = run({cli, "run", conf});
  CHECK(r.status == 1);
  CHECK(r.err.find("actors.control") != std::string::npos);
  // Without a control socket the name is free.
  auto free = dir.write("free.conf", "[node]\ncontrol = \"none\"\n[actors]\n"
                                     "control = { kind = \"echo\" }\n");
  r = run({cli, "check", free});
  CHECK(r.status == 0);
}

TEST_CASE("every verb has --help and a wrong verb is a usage error") {
  for (auto verb : {"run", "check", "status", "send", "ctl", "reload"}) {
    auto r = run({cli, verb, "--help"});
    CHECK(r.status == 0);
    CHECK(r.out.find(std::string{"usage: switchboard "} + verb)
          != std::string::npos);
  }
  auto r = run({cli, "--help"});
  CHECK(r.status == 0);
  r = run({cli, "dance"});
  CHECK(r.status == 2);
  CHECK(r.err.find("unknown verb 'dance'") != std::string::npos);
}

TEST_CASE("a second node on the same control socket is refused") {
  temp_dir dir;
  auto conf = node_conf(dir);
  auto first = start_node(conf);
  auto r = run({cli, "run", conf});
  CHECK(r.status == 1);
  CHECK(r.err.find("another node listens") != std::string::npos);
  first->signal(SIGTERM);
  CHECK(first->wait(ms{2000}) == 0);
}

TEST_CASE("a second signal ends a node whose graceful stop hangs") {
  for (int sig : {SIGTERM, SIGINT}) {
    child node{{SWITCHBOARD_STUBBORN_NODE}};
    REQUIRE(node.wait_for_stderr("ready", ms{10000}));
    node.signal(sig);
    REQUIRE(node.wait_for_stderr("stopping on", ms{5000}));
    node.signal(sig);
    auto status = node.wait(ms{2000});
    REQUIRE(status);
    CHECK(*status == 128 + sig);
    CHECK(node.err().find("second signal") != std::string::npos);
  }
}

TEST_CASE("check reports a syntax error as FILE:LINE") {
  temp_dir dir;
  auto bad = dir.write("syntax.conf", "[node]\nname = \"open\n");
  auto r = run({cli, "check", bad});
  CHECK(r.status == 1);
  CHECK(r.out.rfind(bad + ":2: expected valid config syntax", 0) == 0);
  CHECK(r.out.find("1 error") != std::string::npos);
}

TEST_CASE("the default config runs and answers echo and calculations") {
  temp_dir dir;
  auto ctl = dir.path() + "/default.sock";
  child node{
    {cli, "run", std::string{SWITCHBOARD_SOURCE_DIR} + "/conf/default.conf",
     "--node.control=" + ctl,
     // Any free port, so a node the user runs does not collide.
     "--bridges.tcp.listen=127.0.0.1:0", "--bridges.udp.bind=127.0.0.1:0",
     "--bridges.http.listen=127.0.0.1:0", "--bridges.chat.listen=127.0.0.1:0"}};
  REQUIRE(node.wait_for_stderr("ready", ms{10000}));
  CHECK(node.err().find("/calc: started (worker-thread)") != std::string::npos);
  CHECK(node.err().find("/tcp: started (tcp)") != std::string::npos);
  CHECK(node.err().find("/udp: started (udp)") != std::string::npos);
  auto r = run({cli, "send", "--control", ctl, "echo", R"({"a":1})"});
  CHECK(r.out == "{\"a\":1}\n");
  r = run({cli, "send", "--control", ctl, "api",
           R"({"type":"calculate","operation":"add","operands":[1,2]})"});
  CHECK(r.status == 0);
  CHECK(r.out == "{\"result\":3}\n");
  r = run({cli, "send", "--control", ctl, "api",
           R"({"type":"calculate","operation":"divide","operands":[1,0]})"});
  CHECK(r.status == 1);
  CHECK(r.err.find("division by zero") != std::string::npos);
  // The tcp and udp bridges in front of the router, with nc as the client.
  auto port_of = [&](const std::string& bridge, const std::string& key) {
    auto st = run({cli, "status", "--json", "--control", ctl, bridge}).out;
    auto at = st.find("\"" + key + "\": \"127.0.0.1:");
    REQUIRE(at != std::string::npos);
    auto from = st.find(':', at + key.size() + 3) + 1;
    return st.substr(from, st.find('"', from) - from);
  };
  {
    child tcp{{"nc", "127.0.0.1", port_of("tcp", "listen")}, true};
    REQUIRE(tcp.write_stdin(R"({"type":"echo","x":1})"
                            "\n"));
    CHECK(tcp.wait_for_stdout(R"({"type":"echo","x":1})"
                              "\n",
                              ms{10000}));
    child udp{{"nc", "-u", "127.0.0.1", port_of("udp", "bind")}, true};
    REQUIRE(udp.write_stdin(
      R"({"type":"calculate","operation":"add","operands":[2,3]})"));
    CHECK(udp.wait_for_stdout(R"({"result":5})", ms{10000}));
    // The http bridge, with curl.
    auto http =
      run({"curl", "-s", "--max-time", "10", "-d",
           R"({"operation":"add","operands":[3,4]})",
           "http://127.0.0.1:" + port_of("http", "listen") + "/calculate"});
    CHECK(http.out == R"({"result":7})");
    // The websocket bridge's room, with the chat example as the clients.
    auto url = "ws://127.0.0.1:" + port_of("chat", "listen") + "/";
    auto chat_js =
      std::string{SWITCHBOARD_SOURCE_DIR} + "/examples/websocket/chat.js";
    child alice{{"node", chat_js, url, "alice"}, true};
    child bob{{"node", chat_js, url, "bob"}, true};
    REQUIRE(alice.wait_for_stderr("connected", ms{10000}));
    REQUIRE(bob.wait_for_stderr("connected", ms{10000}));
    // Bob joins the room just after his handshake: alice says it until he
    // has heard it.
    bool heard = false;
    for (int i = 0; i < 100 && !heard; ++i) {
      REQUIRE(alice.write_stdin("hello bob\n"));
      heard = bob.wait_for_stdout("alice: hello bob", ms{100});
    }
    CHECK(heard);
    CHECK(alice.out().find("hello bob") == std::string::npos);
  }
  node.signal(SIGTERM);
  CHECK(node.wait(ms{2000}) == 0);
}

namespace {

// Whether process `pid` is gone (or a zombie nobody reaped: dead too).
bool process_gone(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(in, line))
    return true;
  auto rp = line.rfind(')');
  return rp != std::string::npos && rp + 2 < line.size() && line[rp + 2] == 'Z';
}

// Reads the pid the child helper wrote to `path`, waiting for the file.
pid_t read_pid(const std::string& path) {
  pid_t pid = 0;
  switchboard::test::eventually([&] {
    std::ifstream in{path};
    return static_cast<bool>(in >> pid);
  });
  return pid;
}

std::string child_node_conf(const temp_dir& dir) {
  return dir.write("children.conf",
                   "[node]\ncontrol = \"none\"\n[actors]\njob = { kind = "
                   "\"child-process\", command = [\""
                     + std::string{SWITCHBOARD_CHILD_HELPER}
                     + "\", \"pid-file\", \"" + dir.path()
                     + "/child.pid\"] }\n");
}

} // namespace

TEST_CASE("a child does not outlive its node, not even a SIGKILLed one") {
  temp_dir dir;
  auto conf = child_node_conf(dir);
  {
    auto node = start_node(conf);
    auto pid = read_pid(dir.path() + "/child.pid");
    REQUIRE(pid > 0);
    CHECK(!process_gone(pid));
    node->signal(SIGTERM);
    auto status = node->wait(ms{5000});
    REQUIRE(status);
    CHECK(*status == 0);
    CHECK(process_gone(pid));
  }
  unlink((dir.path() + "/child.pid").c_str());
  {
    auto node = start_node(conf);
    auto pid = read_pid(dir.path() + "/child.pid");
    REQUIRE(pid > 0);
    node->signal(SIGKILL);
    REQUIRE(node->wait(ms{5000}));
    CHECK(switchboard::test::eventually([&] { return process_gone(pid); }));
  }
}

TEST_CASE("a Node parent talks to a switchboard node over its IPC channel") {
  temp_dir dir;
  auto conf = dir.write("child-node.conf",
                        "[node]\ncontrol = \"none\"\n[actors]\necho = { kind "
                        "= \"echo\" }\n[bridges]\nparent = { kind = "
                        "\"parent\", to = \"echo\" }\n");
  // TSan builds: a shorter burst (see child_process.test.cpp).
#if defined(__SANITIZE_THREAD__)
  std::string burst = "500";
#else
  std::string burst = "10000";
#endif
  auto r = run({"node", SWITCHBOARD_SOURCE_DIR "/tests/helpers/ipc_parent.js",
                cli, conf, burst},
               ms{60000});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("\"ok\":true") != std::string::npos);
}

TEST_CASE("conf/children.conf runs a Node worker that answers send") {
  temp_dir dir;
  auto sock = dir.path() + "/c.sock";
  // Run from the source tree, as the file's comments say, with a control
  // socket of the test's own.
  auto node = std::make_unique<child>(std::vector<std::string>{
    "/bin/sh", "-c",
    "cd '" SWITCHBOARD_SOURCE_DIR "' && exec '" + cli
      + "' run conf/children.conf --node.control=" + sock});
  INFO(node->err());
  REQUIRE(node->wait_for_stderr("ready", ms{10000}));
  auto r = run({cli, "send", "--control", sock, "worker",
                R"({"type":"calculate","operation":"add","operands":[1,2]})"},
               ms{20000});
  CHECK(r.status == 0);
  CHECK(r.out == "{\"result\":3}\n");
  r = run({cli, "send", "--control", sock, "worker", R"("hi")"}, ms{20000});
  CHECK(r.out == "{\"echo\":\"hi\"}\n");
  node->signal(SIGTERM);
  auto status = node->wait(ms{5000});
  REQUIRE(status);
  CHECK(*status == 0);
}

TEST_CASE("ctl stops, starts, restarts and signals a child") {
  temp_dir dir;
  auto sock = dir.path() + "/c.sock";
  auto pid_file = dir.path() + "/child.pid";
  auto conf =
    dir.write("ctl.conf",
              "[node]\ncontrol = \"" + sock
                + "\"\n[actors]\necho = { kind = \"echo\" }\njob = { kind = "
                  "\"child-process\", command = [\""
                + std::string{SWITCHBOARD_CHILD_HELPER} + "\", \"pid-file\", \""
                + pid_file + "\"], restart-delay = 10ms }\n");
  auto node = start_node(conf);
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {cli, "ctl", "--control", sock});
    return run(args, ms{20000});
  };
  // A pid other than `old` in the pid file.
  auto next_pid = [&](pid_t old) {
    pid_t pid = 0;
    switchboard::test::eventually([&] {
      pid = read_pid(pid_file);
      return pid > 0 && pid != old;
    });
    return pid;
  };
  auto first = next_pid(0);
  REQUIRE(first > 0);
  auto r = ctl({"job", "restart"});
  CHECK(r.status == 0);
  CHECK(r.out == "ok\n");
  auto second = next_pid(first);
  CHECK(second != first);
  CHECK(process_gone(first));
  r = ctl({"job", "stop"});
  CHECK(r.status == 0);
  CHECK(process_gone(second));
  r = run({cli, "status", "--json", "--control", sock, "job"}, ms{20000});
  CHECK(r.out.find("\"stopped\"") != std::string::npos);
  r = ctl({"job", "start"});
  CHECK(r.status == 0);
  auto third = next_pid(second);
  CHECK(third != second);
  // SIGUSR1 ends the helper; restart = on-failure brings a new one.
  r = ctl({"job", "signal", "SIGUSR1"});
  CHECK(r.status == 0);
  CHECK(switchboard::test::eventually([&] { return process_gone(third); }));
  CHECK(next_pid(third) != third);
  // Mistakes are errors that say what is wrong.
  r = ctl({"job", "fly"});
  CHECK(r.status == 1);
  CHECK(r.err.find("unknown command 'fly'") != std::string::npos);
  r = ctl({"job", "signal", "SIGNOPE"});
  CHECK(r.status == 1);
  CHECK(r.err.find("signal") != std::string::npos);
  r = ctl({"echo", "stop"});
  CHECK(r.status == 1);
  CHECK(r.err.find("does not take the stop command") != std::string::npos);
  r = ctl({"nobody", "stop"});
  CHECK(r.status == 1);
  CHECK(r.err.find("no actor named 'nobody'") != std::string::npos);
  node->signal(SIGTERM);
  auto status = node->wait(ms{5000});
  REQUIRE(status);
  CHECK(*status == 0);
}

TEST_CASE("send NODE/ACTOR asks a node, which reaches the other over BASP") {
  temp_dir dir;
  auto port = std::to_string(closed_port());
  // b has no control socket: it is reached only through a.
  auto b_conf = dir.write("b.conf", "[node]\nname = \"b\"\ncontrol = \"none\"\n"
                                    "listen = \"127.0.0.1:"
                                      + port
                                      + "\"\n[actors]\necho = { kind = "
                                        "\"echo\" }\n");
  auto a_conf = dir.write(
    "a.conf", "[node]\nname = \"a\"\ncontrol = \"" + dir.path()
                + "/a.sock\"\npeers = [\"127.0.0.1:" + port
                + "\"]\n[actors]\nfwd = { kind = \"router\", routes = { "
                  "echo = \"b/echo\" } }\n");
  auto b = start_node(b_conf);
  auto a = start_node(a_conf);
  // Config wiring first (nothing has used b/echo yet): a's router sends
  // to b/echo.
  auto r = run({cli, "send", "fwd", "--config", a_conf, R"({"type":"echo"})"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.out == "{\"type\":\"echo\"}\n");
  r = run({cli, "send", "b/echo", "--config", a_conf, R"({"x":1})"});
  CHECK(r.status == 0);
  CHECK(r.out == "{\"x\":1}\n");
  r = run({cli, "status", "--json", "b/echo", "--config", a_conf});
  CHECK(r.status == 0);
  CHECK(r.out.find("\"kind\": \"remote\"") != std::string::npos);
  r = run({cli, "status", "--json", "peers", "--config", a_conf});
  CHECK(r.out.find("\"state\": \"up\"") != std::string::npos);
  CHECK(a->wait_for_stderr("node b is up", ms{5000}));
  // A node outside any topology says why it cannot.
  auto lone = start_node(node_conf(dir));
  r = run({cli, "send", "b/echo", "--control", dir.path() + "/it.sock", "{}"});
  CHECK(r.status == 1);
  CHECK(r.err.find("has no [node] peers or listen") != std::string::npos);
}

namespace {

const std::string child_helper = SWITCHBOARD_CHILD_HELPER;

// A node config for the reload test: `extra` adds actors, `job_env` is the
// env of the children job and job2, `moved` the framing of one tcp bridge,
// `timeout` a [node] key a running node cannot change.
std::string reload_conf(const temp_dir& dir, int keep_port, int moved_port,
                        const std::string& extra, const std::string& job_env,
                        const std::string& moved, const std::string& timeout) {
  return "[node]\nname = \"rl\"\ncontrol = \"" + dir.path()
         + "/rl.sock\"\nrequest-timeout = " + timeout
         + "\n[actors]\necho = { kind = \"echo\" }\njob = { kind = "
           "\"child-process\", command = [\""
         + child_helper + "\", \"echo\"], env = { X = \"" + job_env
         + "\" } }\njob2 = { kind = \"child-process\", command = [\""
         + child_helper + "\", \"echo\"], env = { X = \"" + job_env + "\" } }\n"
         + extra + "[bridges]\nkeep = { kind = \"tcp\", listen = \"127.0.0.1:"
         + std::to_string(keep_port)
         + "\", to = \"echo\" }\nmoved = { kind = \"tcp\", listen = "
           "\"127.0.0.1:"
         + std::to_string(moved_port) + "\", to = \"echo\", framing = \""
         + moved + "\" }\n";
}

// The names of the node's actors and bridges, and a child's pid.
std::string status_json(const std::string& ctl) {
  auto r = run({cli, "status", "--json", "--control", ctl});
  REQUIRE(r.status == 0);
  return r.out;
}

bool has_actor(const std::string& status, const std::string& name) {
  return status.find("\"name\": \"" + name + "\"") != std::string::npos;
}

int64_t pid_in(const std::string& ctl, const std::string& name) {
  auto r = run({cli, "status", "--json", "--control", ctl, name});
  REQUIRE(r.status == 0);
  auto at = r.out.find("\"pid\": ");
  return at == std::string::npos ? -1 : std::atoll(r.out.c_str() + at + 7);
}

} // namespace

TEST_CASE("reload applies a changed config: stops, restarts and starts "
          "entries, leaves the rest and their connections alone") {
  temp_dir dir;
  auto keep_port = closed_port();
  auto moved_port = closed_port();
  while (moved_port == keep_port)
    moved_port = closed_port();
  auto conf = dir.write("rl.conf", reload_conf(dir, keep_port, moved_port,
                                               "gone = { kind = \"echo\" }\n",
                                               "1", "lines", "5s"));
  auto node = start_node(conf);
  auto ctl = dir.path() + "/rl.sock";
  REQUIRE(eventually([&] { return pid_in(ctl, "job") > 0; }));
  auto job_pid = pid_in(ctl, "job");
  // A connection to a bridge the reload leaves alone.
  tcp_client kept{keep_port};
  kept.write_line(R"({"before":1})");
  CHECK(kept.read_line() == R"({"before":1})");
  // The next version drops gone, adds fresh, changes job and moved, and a
  // [node] key that only a restart applies.
  dir.write("rl.conf", reload_conf(dir, keep_port, moved_port,
                                   "fresh = { kind = \"echo\" }\n", "2",
                                   "length-prefixed", "6s"));
  // --dry-run prints the plan and changes nothing.
  auto r = run({cli, "reload", conf, "--dry-run"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("plan (not applied)") != std::string::npos);
  CHECK(r.out.find("- actors.gone (stopped)") != std::string::npos);
  CHECK(r.out.find("+ actors.fresh (started)") != std::string::npos);
  CHECK(r.out.find("~ actors.job (restarted)") != std::string::npos);
  CHECK(r.out.find("~ actors.job2 (restarted)") != std::string::npos);
  CHECK(r.out.find("~ bridges.moved (restarted)") != std::string::npos);
  CHECK(r.out.find("! node.request-timeout changed") != std::string::npos);
  CHECK(r.out.find("2 unchanged") != std::string::npos);
  auto st = status_json(ctl);
  CHECK(has_actor(st, "gone"));
  CHECK(!has_actor(st, "fresh"));
  CHECK(pid_in(ctl, "job") == job_pid);
  // Applied.
  r = run({cli, "reload", conf}, ms{60000});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  st = status_json(ctl);
  CHECK(!has_actor(st, "gone"));
  CHECK(has_actor(st, "fresh"));
  CHECK(run({cli, "send", "--control", ctl, "fresh", "[7]"}).out == "[7]\n");
  auto new_pid = pid_in(ctl, "job");
  CHECK(new_pid > 0);
  CHECK(new_pid != job_pid);
  CHECK(node->wait_for_stderr("rl/gone: stopped (reload)", ms{5000}));
  // The two children restarted one at a time: job was back before job2
  // went.
  REQUIRE(node->wait_for_stderr("reloaded", ms{5000}));
  {
    auto log = node->err();
    auto from = log.find("reloading ");
    REQUIRE(from != std::string::npos);
    auto at = [&](const std::string& needle) { return log.find(needle, from); };
    auto job_down = at("\"child\":\"job\",\"code\"");
    auto job_up = at("rl/job: started");
    auto job2_down = at("\"child\":\"job2\",\"code\"");
    auto job2_up = at("rl/job2: started");
    INFO(log.substr(from));
    REQUIRE(job2_up != std::string::npos);
    CHECK(job_down < job_up);
    CHECK(job_up < job2_down);
    CHECK(job2_down < job2_up);
  }
  // The kept connection stayed open throughout.
  kept.write_line(R"({"after":2})");
  CHECK(kept.read_line() == R"({"after":2})");
  // The restarted bridge speaks its new framing.
  {
    tcp_client moved{moved_port};
    std::string frame = R"({"lp":3})";
    std::string data(4, '\0');
    data[3] = static_cast<char>(frame.size());
    data += frame;
    REQUIRE(::write(moved.fd(), data.data(), data.size())
            == static_cast<ssize_t>(data.size()));
    char buf[64];
    ssize_t got = 0;
    while (got < static_cast<ssize_t>(data.size())) {
      auto n = ::read(moved.fd(), buf + got, sizeof(buf) - got);
      REQUIRE(n > 0);
      got += n;
    }
    CHECK(std::string(buf, static_cast<size_t>(got)) == data);
  }
  // A file that does not pass check changes nothing and says why.
  dir.write("rl.conf",
            reload_conf(dir, keep_port, moved_port,
                        "typo = { kind = \"echo\", colour = \"red\" }\n", "2",
                        "length-prefixed", "6s"));
  r = run({cli, "reload", conf});
  CHECK(r.status == 1);
  CHECK(r.err.find("actors.typo.colour") != std::string::npos);
  st = status_json(ctl);
  CHECK(!has_actor(st, "typo"));
  CHECK(has_actor(st, "fresh"));
  // SIGHUP reloads the node's own file.
  dir.write("rl.conf",
            reload_conf(dir, keep_port, moved_port,
                        "fresh = { kind = \"echo\" }\nlate = { kind = "
                        "\"echo\" }\n",
                        "2", "length-prefixed", "6s"));
  node->signal(SIGHUP);
  CHECK(
    eventually([&] { return has_actor(status_json(ctl), "late"); }, ms{20000}));
  kept.write_line(R"({"still":3})");
  CHECK(kept.read_line() == R"({"still":3})");
  node->signal(SIGTERM);
  CHECK(node->wait(ms{10000}) == 0);
}

TEST_CASE("a Node parent hands connections to a switchboard child, which "
          "serves them and shrugs off fields of the wrong type") {
  temp_dir dir;
  auto conf = dir.write(
    "child.conf",
    "[node]\nname = \"worker\"\ncontrol = \"none\"\n[actors]\necho = { "
    "kind = \"echo\" }\n[bridges]\nparent = { kind = \"parent\", "
    "connections = \"served\" }\nserved = { kind = \"tcp\", listen = "
    "\"parent\", to = \"echo\" }\n");
  auto r = run(
    {"node",
     std::string{SWITCHBOARD_SOURCE_DIR} + "/tests/helpers/handle_parent.js",
     cli, conf, "20"},
    ms{30000});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("{\"served\":20}") != std::string::npos);
}

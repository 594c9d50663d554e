// switchboard: an embeddable C++ actor runtime. MIT License.

// Seeing a node run: `switchboard metrics` (and GET /metrics), `trace` and
// the status table, against a real node process.

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "process.hpp"
#include "tcp_client.hpp"

using namespace switchboard::test;
using json = nlohmann::json;

namespace {

const std::string cli = SWITCHBOARD_CLI;
const std::string promtool = SWITCHBOARD_PROMTOOL;

// Starts a node and waits until it is ready.
std::unique_ptr<child> start_node(const std::string& conf) {
  auto c = std::make_unique<child>(std::vector<std::string>{cli, "run", conf});
  INFO(c->err());
  REQUIRE(c->wait_for_stderr("ready", ms{10000}));
  return c;
}

// One sample per line: `name{labels}` to its value.
std::map<std::string, double> parse_samples(const std::string& text) {
  std::map<std::string, double> result;
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto sp = line.rfind(' ');
    result[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return result;
}

// The value of `family` for actor `actor` (kind `kind`) on node "obs".
double sample(const std::map<std::string, double>& xs,
              const std::string& family, const std::string& actor,
              const std::string& kind, const std::string& extra = {}) {
  auto key = "switchboard_" + family + "{node=\"obs\",actor=\"" + actor
             + "\",kind=\"" + kind + "\"" + extra + "}";
  auto i = xs.find(key);
  if (i == xs.end()) {
    FAIL_CHECK("no sample " << key);
    return -1;
  }
  return i->second;
}

std::string metrics_text(const std::string& ctl) {
  auto r = run({cli, "metrics", "--control", ctl});
  INFO(r.err);
  REQUIRE(r.status == 0);
  return r.out;
}

std::string observed_conf(const temp_dir& dir, int port, int http_port = 0) {
  return dir.write("obs.conf",
                   "[node]\nname = \"obs\"\ncontrol = \"" + dir.path()
                     + "/obs.sock\"\n"
                       "[actors]\n"
                       "echo = { kind = \"echo\" }\n"
                       "calc = { kind = \"worker-thread\", "
                       "behavior = \"calculator\", count = 2 }\n"
                       "[bridges]\n"
                       "tcp = { kind = \"tcp\", mode = \"server\", "
                       "listen = \"127.0.0.1:"
                     + std::to_string(port) + "\", to = \"echo\" }\n"
                     + (http_port == 0
                          ? std::string{}
                          : "http = { kind = \"http\", listen = \"127.0.0.1:"
                              + std::to_string(http_port) + "\" }\n"));
}

} // namespace

TEST_CASE("metrics after a known number of messages are exact, and the text "
          "passes promtool check metrics") {
  temp_dir dir;
  auto port = closed_port();
  auto http_port = closed_port();
  while (http_port == port)
    http_port = closed_port();
  auto node = start_node(observed_conf(dir, port, http_port));
  auto ctl = dir.path() + "/obs.sock";
  for (int i = 0; i < 7; ++i)
    REQUIRE(run({cli, "send", "--control", ctl, "echo", "{\"i\":1}"}).status
            == 0);
  // A pool of two counts as one entry: both workers add to it.
  for (int i = 0; i < 3; ++i)
    REQUIRE(run({cli, "send", "--control", ctl, "calc",
                 R"({"operation":"add","operands":[1,2]})"})
              .status
            == 0);
  for (int i = 0; i < 2; ++i)
    REQUIRE(
      run({cli, "send", "--control", ctl, "calc", R"({"operation":"nope"})"})
        .status
      == 1);
  size_t bytes_in = 0;
  {
    tcp_client c{port};
    for (int i = 0; i < 4; ++i) {
      auto line = "{\"n\":" + std::to_string(i * 100) + "}";
      bytes_in += line.size();
      c.write_line(line);
      CHECK(c.read_line() == line);
    }
    // Garbage gets an error reply, and counts as an error, not a request.
    c.write_line("{not json");
    CHECK(c.read_line().find("invalid_json") != std::string::npos);
    bytes_in += std::string{"{not json"}.size();
    auto xs = parse_samples(metrics_text(ctl));
    CHECK(sample(xs, "connections", "tcp", "tcp") == 1);
    CHECK(sample(xs, "errors_total", "tcp", "tcp") == 1);
  }
  std::map<std::string, double> xs;
  // The close reaches the bridge after the client's close returns.
  CHECK(eventually([&] {
    xs = parse_samples(metrics_text(ctl));
    return sample(xs, "connections", "tcp", "tcp") == 0;
  }));
  // echo: 7 requests from the control socket, 4 from the tcp connection.
  CHECK(sample(xs, "messages_received_total", "echo", "echo") == 11);
  CHECK(sample(xs, "messages_processed_total", "echo", "echo") == 11);
  CHECK(sample(xs, "messages_sent_total", "echo", "echo") == 11);
  CHECK(sample(xs, "errors_total", "echo", "echo") == 0);
  CHECK(sample(xs, "mailbox_depth", "echo", "echo") == 0);
  CHECK(sample(xs, "processing_seconds_count", "echo", "echo") == 11);
  CHECK(sample(xs, "processing_seconds_bucket", "echo", "echo", ",le=\"+Inf\"")
        == 11);
  // calc: 5 requests over two workers, 2 of them answered with an error.
  CHECK(sample(xs, "messages_received_total", "calc", "worker-thread") == 5);
  CHECK(sample(xs, "messages_processed_total", "calc", "worker-thread") == 5);
  CHECK(sample(xs, "errors_total", "calc", "worker-thread") == 2);
  // tcp: 4 frames in, 4 requests to echo, each answered.
  CHECK(sample(xs, "received_bytes_total", "tcp", "tcp")
        == static_cast<double>(bytes_in));
  CHECK(sample(xs, "sent_bytes_total", "tcp", "tcp") >= bytes_in);
  CHECK(sample(xs, "messages_sent_total", "tcp", "tcp") == 4);
  CHECK(sample(xs, "request_duration_seconds_count", "tcp", "tcp") == 4);
  CHECK(sample(xs, "dropped_total", "tcp", "tcp", ",reason=\"overflow\"") == 0);
  // The node itself.
  CHECK(xs["switchboard_node_resident_memory_bytes{node=\"obs\"}"] > 0);
  // No label names a connection.
  auto text = metrics_text(ctl);
  CHECK(text.find("conn") == text.find("connections"));
  // The same text at GET /metrics on the http bridge.
  {
    tcp_client c{http_port};
    auto req = std::string{"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                           "Connection: close\r\n\r\n"};
    REQUIRE(::write(c.fd(), req.data(), req.size())
            == static_cast<ssize_t>(req.size()));
    auto resp = c.read_all();
    CHECK(resp.rfind("HTTP/1.1 200", 0) == 0);
    CHECK(resp.find("text/plain; version=0.0.4") != std::string::npos);
    CHECK(resp.find("switchboard_messages_received_total{node=\"obs\","
                    "actor=\"echo\",kind=\"echo\"} 11\n")
          != std::string::npos);
  }
  // promtool (Debian's prometheus package; scripts/setup.sh unpacks it).
  INFO("promtool: " << promtool);
  REQUIRE(!promtool.empty());
  REQUIRE(access(promtool.c_str(), X_OK) == 0);
  auto file = dir.write("metrics.txt", text);
  auto r = run({"/bin/sh", "-c", promtool + " check metrics < " + file});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  // A broken exposition is what promtool is for: it must notice one.
  auto broken = dir.write("broken.txt", "switchboard_x{node=\"obs\" 1\n");
  CHECK(run({"/bin/sh", "-c", promtool + " check metrics < " + broken}).status
        != 0);
  node->signal(SIGTERM);
  CHECK(node->wait(ms{5000}) == 0);
}

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    result.push_back(line);
  return result;
}

} // namespace

TEST_CASE("trace sees exactly the messages an actor receives and sends, "
          "and stops itself at --count and --rate") {
  temp_dir dir;
  auto node = start_node(observed_conf(dir, closed_port()));
  auto ctl = dir.path() + "/obs.sock";
  auto send = [&](const std::string& to, const std::string& msg) {
    REQUIRE(run({cli, "send", "--control", ctl, to, msg}).status == 0);
  };
  // Nobody traces yet: these are not shown.
  send("echo", R"({"before":1})");
  {
    child tr{{cli, "trace", "--control", ctl, "echo", "--count", "6"}};
    REQUIRE(tr.wait_for_stderr("tracing echo", ms{5000}));
    // Only echo's messages: another actor's are not shown.
    send("calc", R"({"operation":"add","operands":[1,2]})");
    for (int i = 0; i < 3; ++i)
      send("echo", "{\"k\":" + std::to_string(i) + "}");
    auto status = tr.wait(ms{10000});
    REQUIRE(status);
    CHECK(*status == 0);
    CHECK(tr.err().find("6 messages traced (--count)") != std::string::npos);
    auto lines = lines_of(tr.out());
    REQUIRE(lines.size() == 6);
    for (int i = 0; i < 3; ++i) {
      auto msg = "{\"k\":" + std::to_string(i) + "}";
      CHECK_THAT(lines[2 * i],
                 Catch::Matches(".* in   control -> echo  " + std::string{"\\{"}
                                + "\"k\":" + std::to_string(i) + "\\}"));
      CHECK_THAT(lines[2 * i + 1],
                 Catch::EndsWith(" out  echo -> control  " + msg));
    }
  }
  // A second trace of one actor waits until the first is over; a client
  // that leaves ends its trace.
  {
    child first{{cli, "trace", "--control", ctl, "echo", "--json"}};
    REQUIRE(first.wait_for_stderr("tracing echo", ms{5000}));
    auto r = run({cli, "trace", "--control", ctl, "echo"});
    CHECK(r.status == 1);
    CHECK(r.err.find("traced already") != std::string::npos);
    send("echo", R"({"json":true})");
    REQUIRE(first.wait_for_stdout("\"json\\\":true", ms{5000}));
    auto x = json::parse(lines_of(first.out()).front());
    CHECK(x["trace"] == "in");
    CHECK(x["from"] == "control");
    CHECK(x["to"] == "echo");
    CHECK(x["message"] == R"({"json":true})");
    first.signal(SIGINT);
    REQUIRE(first.wait(ms{5000}));
  }
  // The rate limit: more than 3 lines in one second ends the trace. (The
  // previous client's close may still be on its way to the node: until it
  // arrives, echo is traced already.)
  std::unique_ptr<child> tr;
  REQUIRE(eventually([&] {
    tr = std::make_unique<child>(std::vector<std::string>{
      cli, "trace", "--control", ctl, "echo", "--rate", "3"});
    if (tr->wait_for_stderr("tracing echo", ms{2000}))
      return true;
    tr->wait(ms{2000});
    return false;
  }));
  for (int i = 0; i < 10; ++i)
    send("echo", "{\"r\":" + std::to_string(i) + "}");
  auto status = tr->wait(ms{10000});
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK(tr->err().find("messages in one second (--rate)") != std::string::npos);
  CHECK(lines_of(tr->out()).size() <= 3);
  // Bad input: an unknown actor, another node's actor.
  auto r = run({cli, "trace", "--control", ctl, "ghost"});
  CHECK(r.status == 1);
  CHECK(r.err.find("no actor named 'ghost'") != std::string::npos);
  r = run({cli, "trace", "--control", ctl, "b/echo"});
  CHECK(r.status == 1);
  CHECK(r.err.find("this node's own actors") != std::string::npos);
  node->signal(SIGTERM);
  CHECK(node->wait(ms{5000}) == 0);
}

TEST_CASE("status prints a table that fits the terminal: a pool as one row, "
          "a child with its pid, rates that rise with traffic") {
  temp_dir dir;
  auto conf = dir.write(
    "obs.conf", "[node]\nname = \"obs\"\ncontrol = \"" + dir.path()
                  + "/obs.sock\"\n[actors]\necho = { kind = \"echo\" }\n"
                    "calc = { kind = \"worker-thread\", behavior = "
                    "\"calculator\", count = 2 }\n"
                    "napper = { kind = \"child-process\", command = "
                    "[\"sleep\", \"60\"] }\n");
  auto node = start_node(conf);
  auto ctl = dir.path() + "/obs.sock";
  setenv("COLUMNS", "200", 1);
  // A row per entry: NAME KIND STATE MAILBOX IN/S ...
  auto table = [&] {
    auto r = run({cli, "status", "--control", ctl});
    REQUIRE(r.status == 0);
    std::map<std::string, std::vector<std::string>> rows;
    for (auto& line : lines_of(r.out)) {
      std::istringstream in{line};
      std::vector<std::string> cells;
      for (std::string c; in >> c;)
        cells.push_back(c);
      if (cells.size() >= 12)
        rows[cells[0]] = cells;
    }
    return rows;
  };
  auto rows = table();
  REQUIRE(rows.count("NAME") == 1);
  CHECK(rows["NAME"][4] == "IN/S");
  CHECK(rows.count("calc") == 1); // two workers, one row
  CHECK(rows["calc"][1] == "worker-thread");
  REQUIRE(rows.count("napper") == 1);
  CHECK(rows["napper"][2] == "running");
  auto js = run({cli, "status", "--json", "--control", ctl, "napper"});
  auto pid = json::parse(js.out)["actors"][0]["status"]["pid"].get<int64_t>();
  CHECK(rows["napper"][8] == std::to_string(pid));
  CHECK(rows["napper"][9] != "-"); // its memory
  CHECK(rows["echo"][4] == "0");
  // Traffic shows as a rate.
  CHECK(eventually(
    [&] {
      for (int i = 0; i < 5; ++i)
        run({cli, "send", "--control", ctl, "calc",
             R"({"operation":"add","operands":[1,2]})"});
      auto now = table();
      return now["calc"][4] != "0";
    },
    ms{10000}));
  // A narrow terminal: every line fits.
  setenv("COLUMNS", "72", 1);
  auto r = run({cli, "status", "--control", ctl});
  for (auto& line : lines_of(r.out))
    CHECK(line.size() <= 72);
  unsetenv("COLUMNS");
  node->signal(SIGTERM);
  CHECK(node->wait(ms{5000}) == 0);
}

TEST_CASE("the json log format (--log-format json) writes one JSON object per line with time, "
          "level, node and actor") {
  temp_dir dir;
  auto conf =
    dir.write("log.conf", "[node]\nname = \"logs\"\ncontrol = \"" + dir.path()
                            + "/logs.sock\"\n"
                              "[actors]\n"
                              "echo = { kind = \"echo\" }\n");
  child node{{cli, "run", conf, "--log-format", "json"}};
  INFO(node.err());
  REQUIRE(node.wait_for_stderr("\"msg\":\"ready\"", ms{10000}));
  node.signal(SIGTERM);
  REQUIRE(node.wait(ms{10000}) == 0);
  std::istringstream in{node.err()};
  std::string line;
  int lines = 0;
  bool echo_started = false;
  while (std::getline(in, line)) {
    INFO(line);
    auto j = json::parse(line, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(std::regex_match(
      j.value("time", ""),
      std::regex{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"}));
    CHECK(j.value("level", "") == "info");
    CHECK(j.value("node", "") == "logs");
    CHECK(j.contains("msg"));
    if (j.value("actor", "") == "echo"
        && j.value("msg", "").find("started") == 0)
      echo_started = true;
    ++lines;
  }
  CHECK(lines >= 4); // starting, started echo, ready, stopping, stopped
  CHECK(echo_started);
}

TEST_CASE("log-level drops the lines below it, and an event without an "
          "events actor is logged as a warning under its actor") {
  temp_dir dir;
  auto ctl = dir.path() + "/lv.sock";
  auto conf = dir.write(
    "lv.conf",
    "[node]\nname = \"lv\"\ncontrol = \"" + ctl
      + "\"\nlog-level = \"warn\"\n"
        "[actors]\n"
        "kid = { kind = \"child-process\", command = [\"/bin/false\"], "
        "restart = \"never\" }\n");
  child node{{cli, "run", conf}};
  INFO(node.err());
  // The child exits at once: that warning is the first line written.
  REQUIRE(node.wait_for_stderr("\"event\":\"exited\"", ms{10000}));
  node.signal(SIGTERM);
  REQUIRE(node.wait(ms{10000}) == 0);
  std::istringstream in{node.err()};
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    INFO(line);
    // TIME LEVEL NODE/ACTOR: TEXT, nothing below warn.
    std::smatch m;
    REQUIRE(std::regex_match(
      line, m, std::regex{R"((\S+Z) (warn |error) lv(/[a-z]+)?: (.*))"}));
    if (m[4].str().find("\"exited\"") != std::string::npos)
      CHECK(m[3].str() == "/kid");
    ++lines;
  }
  CHECK(lines >= 1);
  CHECK(node.err().find("ready") == std::string::npos);

  // A level that is none is refused before anything starts.
  auto bad = run({cli, "run", conf, "--log-level", "loud"});
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--log-level takes debug, info, warn or error")
        != std::string::npos);
  auto typo = run(
    {cli, "check", dir.write("typo.conf", "[node]\nlog-format = \"yaml\"\n")});
  CHECK(typo.status == 1);
  CHECK((typo.out + typo.err).find("log-format") != std::string::npos);
}

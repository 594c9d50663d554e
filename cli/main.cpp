// switchboard: an embeddable C++ actor runtime. MIT License.

// The `switchboard` command: run a node, check configs, and talk to a running
// node through its control socket.

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <thread>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/bridges/control/bridge.hpp>
#include <switchboard/bridges/process/node_channel.hpp>
#include <switchboard/bridges/process/parent.hpp>
#include <switchboard/config.hpp>
#include <switchboard/defaults.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/kinds.hpp>
#include <switchboard/log.hpp>
#include <switchboard/node.hpp>

#include "control_client.hpp"
#include "status_table.hpp"
#include "up.hpp"

namespace {

using json = nlohmann::json;

// -- constants ----------------------------------------------------------------

constexpr const char* default_config = "conf/default.conf";

constexpr const char* usage_text = R"(usage: switchboard VERB [ARGS]

verbs:
  run [CONFIG] [--section.key=value ...]
                          run one node (default: conf/default.conf)
  check CONFIG...         validate configs (or topologies); exit 1 listing
                          every error
  up TOPOLOGY             start every node of a topology, supervised
  status [ADDRESS]        a table of a running node's actors and bridges
                          (--json, --watch)
  send ADDRESS JSON       send one JSON request and print the reply
  ctl ADDRESS COMMAND     start, stop, restart, reload, eof, or signal SIG:
                          a supervised child or cluster
  metrics                 the node's metrics in Prometheus text
  trace ADDRESS           the messages an actor receives and sends, live
  reload [CONFIG]         apply a changed config file to a running node
                          (--dry-run only shows what would change)

`switchboard VERB --help` describes one verb.
)";

constexpr const char* run_help =
  R"(usage: switchboard run [CONFIG] [--log-format text|json]
                       [--log-level LEVEL] [--section.key=value ...]

Runs one node from CONFIG (default: conf/default.conf) until SIGINT or
SIGTERM; a second signal exits at once. Any config key can be overridden,
e.g. --node.name=gw or --scheduler.max-threads=4. The node listens for
`status` and `send` on its control socket ([node] control).

The log (stderr) has one line per event: TIME LEVEL NODE/ACTOR: TEXT, or
with --log-format json one object per line (time, level, node, actor,
msg). --log-level (debug, info, warn, error) drops lines below it; both are
[node] keys too.
)";

constexpr const char* check_help = R"(usage: switchboard check CONFIG...

Validates each CONFIG against the known sections, kinds and keys and prints
every problem as FILE:LINE: KEY: expected ..., found .... A topology file
(one with [nodes], for `switchboard up`) is checked with every node's config
as the node will run it. Exits 0 when all files are valid, 1 otherwise.
)";

constexpr const char* target_help = R"(
Which node: by default the one named in conf/default.conf's control socket
path ([node] name "main"). Choose another with
  --node NAME       the node's name (its default control socket)
  --control PATH    the control socket itself
  --config FILE     the node's config file (reads [node] name and control)
ADDRESS may be NODE/ACTOR: an actor of node NODE, asked through NODE's own
control socket when it has one at the default path and no node is chosen,
else through the chosen node, which reaches NODE over its peers
(send b/echo --config a.conf asks a, and a asks b).
  --timeout MS      how long to wait for the reply (default: the node's
                    [node] request-timeout)
)";

constexpr const char* status_help =
  R"(usage: switchboard status [ADDRESS] [--json] [--watch [SECONDS]] [options]

Prints a table of the named actors and bridges of a running node: kind,
state, mailbox depth, messages in and out per second (over the last
second), errors, restarts, and for child processes their pid, memory and
CPU; open connections of bridges. A worker pool is one row, its workers
summed. For a topology's supervisor (`switchboard up`) every node follows
with a table of its own. With ADDRESS, only that actor.
  --json             the status as JSON, every field of every kind
  --watch [SECONDS]  print it again every SECONDS (default 2) until Ctrl-C
)";

constexpr const char* ctl_help =
  R"(usage: switchboard ctl ADDRESS COMMAND [SIGNAL] [options]

Gives a lifecycle command to the actor at ADDRESS (a child-process or a
cluster) and waits until it is done:
  start          start a stopped child (or one that gave up)
  stop           SIGTERM, then SIGKILL after kill-timeout; stays stopped
  restart        stop, then start
  reload         a cluster: replace its instances one at a time
  eof            close the child's stdin; its output is still read
  signal SIGNAL  send SIGNAL (SIGHUP, HUP or a number) to the child
Exits 1 with the error on stderr if the actor does not take the command.
)";

constexpr const char* send_help =
  R"(usage: switchboard send ADDRESS JSON [options]

Sends JSON as a request to the actor at ADDRESS and prints its reply. Exits 1
with the error on stderr if the actor replies with an error, does not exist
or does not answer in time.
)";

constexpr const char* metrics_help = R"(usage: switchboard metrics [options]

Prints the metrics of a running node in Prometheus text format: per actor
and bridge (labels node, actor, kind) messages received, processed and
sent, bytes, errors, drops, dead letters, restarts, mailbox depth, open
connections, processing time and request latency; per child process its
pid, uptime, memory and CPU; per peer node up/down and round trip. The same
text is at GET /metrics on an http bridge.
)";

constexpr const char* reload_help =
  R"(usage: switchboard reload [CONFIG] [--dry-run] [options]

Makes a running node take its config file again (or CONFIG, with the node's
command-line overrides): the file is checked first, and one that does not
pass changes nothing and prints why. Otherwise the node stops the entries
the file drops, restarts those it changes (child processes one at a time,
each ready before the next) and starts the new ones; every other entry
keeps running, connections and children included. Keys a running node
cannot change ([node] listen, the scheduler, ...) are listed and take
effect at its next start. SIGHUP does the same with the node's own file.
Without a node chosen, CONFIG's node is asked. Prints the plan:
  - bridges.old (stopped)   ~ actors.job (restarted)   + actors.new (started)
--dry-run prints it without applying it.
)";

constexpr const char* trace_help =
  R"(usage: switchboard trace ADDRESS [--count N] [--rate N] [--json] [options]

Shows the messages the actor at ADDRESS (of the chosen node) receives and
sends, live, one line each: time, in or out, from -> to, and the message
cut to 200 characters. Runs until Ctrl-C, until N messages were shown
(--count), or until more than N come within one second (--rate, default
1000): a trace stops itself rather than flood the node. --json prints the
node's lines as they come. An actor nobody traces pays one memory load
per message for it.
)";

// -- helpers ------------------------------------------------------------------

bool wants_help(const std::vector<std::string>& args) {
  for (auto& a : args)
    if (a == "--help" || a == "-h")
      return true;
  return false;
}

int usage_error(const std::string& what, const char* help) {
  std::fprintf(stderr, "switchboard: %s\n\n%s", what.c_str(), help);
  return 2;
}

void add_kinds(switchboard::kind_registry& kinds) {
  if (auto err = switchboard::actors::add_builtin_kinds(kinds)) {
    std::fprintf(stderr, "switchboard: %s\n", switchboard::render(err).c_str());
    std::exit(1);
  }
}

// -- run ----------------------------------------------------------------------

// `run` registers its control socket as `control`: an actor or bridge of
// that name would start, then keep the socket from opening.
std::vector<switchboard::config_error>
control_name_taken(const switchboard::node_config& cfg) {
  std::vector<switchboard::config_error> result;
  if (cfg.control_path().empty())
    return result;
  for (auto key : {"actors.control", "bridges.control"}) {
    if (caf::get_if(&cfg.content(), key) == nullptr)
      continue;
    switchboard::config_error e;
    e.code = switchboard::errc::config_bad_value;
    e.file = cfg.file();
    e.key = key;
    e.line = cfg.line_of(key);
    e.expected = "another name: the control socket is 'control' (unless "
                 "[node] control = \"none\")";
    e.found = "'control'";
    result.push_back(std::move(e));
  }
  return result;
}

int run(std::vector<std::string> args) {
  if (wants_help(args)) {
    std::fputs(run_help, stdout);
    return 0;
  }
  // A node holds a descriptor per connection: take the whole allowance
  // (the soft limit is often 1,024 of a hard 524,288), as Node.js does.
  if (rlimit lim{};
      getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  std::string file = default_config;
  std::vector<std::string> overrides;
  for (auto& a : args) {
    if (a.compare(0, 2, "--") == 0)
      overrides.push_back(a);
    else if (file == default_config)
      file = a;
    else
      return usage_error("run takes one CONFIG", run_help);
  }
  auto cfg = switchboard::node_config::from_file(file);
  if (!cfg) {
    std::fprintf(stderr, "switchboard: %s\n",
                 switchboard::render(cfg.error()).c_str());
    return 1;
  }
  if (auto err = cfg->apply_overrides(overrides))
    return usage_error(switchboard::render(err), run_help);
  if (auto clash = control_name_taken(*cfg); !clash.empty()) {
    std::fprintf(stderr, "switchboard: cannot start the node:\n%s\n",
                 clash.front().to_string().c_str());
    return 1;
  }
  auto control_path = cfg->control_path();
  switchboard::node n{std::move(*cfg)};
  add_kinds(n.kinds());
  if (auto err = n.start()) {
    std::fprintf(stderr, "switchboard: cannot start the node:\n%s\n",
                 switchboard::render(err).c_str());
    return 1;
  }
  if (auto err = n.handle_signals()) {
    n.log(switchboard::log_level::error, {},
          "cannot handle signals: " + switchboard::render(err));
    n.stop();
    return 1;
  }
  if (!control_path.empty()) {
    auto ctl = switchboard::bridges::control::start(n, control_path);
    if (!ctl) {
      n.log(switchboard::log_level::error, {},
            "cannot open the control socket: "
              + switchboard::render(ctl.error()));
      n.stop();
      return 1;
    }
    n.log("control socket at " + control_path);
  }
  n.log("ready");
  switchboard::bridges::announce_ready(n);
  n.wait_for_stop_request();
  n.stop();
  return 0;
}

// -- check --------------------------------------------------------------------

int check(const std::vector<std::string>& args) {
  if (wants_help(args)) {
    std::fputs(check_help, stdout);
    return 0;
  }
  if (args.empty())
    return usage_error("check needs at least one CONFIG", check_help);
  switchboard::kind_registry kinds;
  add_kinds(kinds);
  size_t total = 0;
  for (auto& file : args) {
    auto cfg = switchboard::node_config::from_file(file);
    if (!cfg) {
      // The context already reads FILE:LINE: ...
      auto& ctx = cfg.error().context();
      std::printf("%s\n", ctx.match_elements<std::string>()
                            ? ctx.get_as<std::string>(0).c_str()
                            : switchboard::render(cfg.error()).c_str());
      ++total;
      continue;
    }
    auto errors = switchboard::cli::is_topology(*cfg)
                    ? switchboard::cli::check_topology(*cfg, kinds)
                    : switchboard::validate(*cfg, kinds);
    if (!switchboard::cli::is_topology(*cfg))
      for (auto& e : control_name_taken(*cfg))
        errors.push_back(std::move(e));
    for (auto& e : errors)
      std::printf("%s\n", e.to_string().c_str());
    if (errors.empty())
      std::printf("%s: ok\n", file.c_str());
    total += errors.size();
  }
  if (total > 0) {
    std::printf("%zu error%s\n", total, total == 1 ? "" : "s");
    return 1;
  }
  return 0;
}

// -- status and send ----------------------------------------------------------

struct target {
  std::string control;
  std::string actor;
  // 0: the node's own [node] request-timeout applies.
  int timeout_ms = 0;
};

// How long the client waits when the node's timeout applies: the node
// answers with its own timeout error well before.
constexpr int client_wait_ms = 10 * 60 * 1000;

// Parses the options shared by status and send; the rest stay in `args`.
std::string parse_target(std::vector<std::string>& args, target& t) {
  std::vector<std::string> rest;
  std::string node_name;
  for (size_t i = 0; i < args.size(); ++i) {
    auto& a = args[i];
    auto value = [&](const char* opt) -> const std::string* {
      if (a != opt)
        return nullptr;
      if (i + 1 >= args.size())
        return nullptr;
      return &args[++i];
    };
    if (auto v = value("--node")) {
      node_name = *v;
    } else if (auto v = value("--control")) {
      t.control = *v;
    } else if (auto v = value("--config")) {
      auto cfg = switchboard::node_config::from_file(*v);
      if (!cfg)
        return switchboard::render(cfg.error());
      t.control = cfg->control_path();
    } else if (auto v = value("--timeout")) {
      t.timeout_ms = std::atoi(v->c_str());
      if (t.timeout_ms <= 0)
        return "--timeout needs a number of milliseconds";
    } else if (a.compare(0, 2, "--") == 0) {
      return "unknown option " + a;
    } else {
      rest.push_back(a);
    }
  }
  args = std::move(rest);
  // The address goes to the node whole: a node is its own NODE and reaches
  // the other nodes of its topology.
  if (!args.empty())
    t.actor = args.front();
  if (t.control.empty() && node_name.empty()) {
    // `b/echo` with no node named: b's own control socket if it has one,
    // else the default node's, which reaches b over BASP.
    if (auto slash = t.actor.find('/'); slash != std::string::npos) {
      auto path = switchboard::default_control_path(t.actor.substr(0, slash));
      if (access(path.c_str(), F_OK) == 0)
        t.control = path;
    }
  }
  if (t.control.empty()) {
    if (node_name.empty()) {
      auto cfg = switchboard::node_config::from_file(default_config);
      t.control =
        cfg
          ? cfg->control_path()
          : switchboard::default_control_path(switchboard::defaults::node_name);
    } else {
      t.control = switchboard::default_control_path(node_name);
    }
  }
  return {};
}

// Sends `req` and returns the parsed reply, or prints the failure.
bool call(const target& t, json req, json& reply) {
  if (t.timeout_ms > 0)
    req["timeout_ms"] = t.timeout_ms;
  std::string line;
  // The client waits a little longer than the node, so the node's own
  // timeout error (which names the actor) arrives first.
  auto wait = t.timeout_ms > 0 ? t.timeout_ms + 1000 : client_wait_ms;
  auto err = switchboard::cli::control_call(t.control, req.dump(), line, wait);
  if (!err.empty()) {
    std::fprintf(stderr, "switchboard: %s\n", err.c_str());
    return false;
  }
  reply = json::parse(line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    std::fprintf(stderr, "switchboard: the node sent an invalid reply: %s\n",
                 line.c_str());
    return false;
  }
  if (!reply.value("ok", false)) {
    std::fprintf(stderr, "switchboard: %s\n",
                 reply.value("error", std::string{"unknown error"}).c_str());
    return false;
  }
  return true;
}

// The terminal's width; else $COLUMNS; else 100.
size_t terminal_width() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  if (auto cols = std::getenv("COLUMNS"))
    if (auto n = std::atoi(cols); n > 0)
      return static_cast<size_t>(n);
  return 100;
}

// One status table (and, for a topology, one per node); false on error.
bool print_status(const target& t, bool as_json) {
  json req{{"op", "status"}};
  if (!t.actor.empty())
    req["address"] = t.actor;
  json reply;
  if (!call(t, req, reply))
    return false;
  reply.erase("ok");
  if (as_json) {
    std::printf("%s\n", reply.dump(2).c_str());
    return true;
  }
  auto width = terminal_width();
  std::printf("node %s\n%s", reply.value("node", std::string{}).c_str(),
              switchboard::cli::status_table(reply, width).c_str());
  for (auto& a : reply["actors"]) {
    if (a.value("kind", std::string{}) != "topology-monitor")
      continue;
    for (auto& n : a["status"]["nodes"]) {
      auto ctl = n.value("control", std::string{});
      if (ctl.empty() || n.value("pid", int64_t{0}) <= 0)
        continue;
      std::string line;
      json one;
      auto err = switchboard::cli::control_call(
        ctl, json{{"op", "status"}}.dump(), line, 5000);
      std::printf("\nnode %s\n", n.value("node", std::string{}).c_str());
      if (!err.empty()
          || (one = json::parse(line, nullptr, false)).is_discarded()
          || !one.value("ok", false)) {
        std::printf("  (no status: %s)\n",
                    err.empty() ? line.c_str() : err.c_str());
        continue;
      }
      std::printf("%s", switchboard::cli::status_table(one, width).c_str());
    }
  }
  return true;
}

int status(std::vector<std::string> args) {
  if (wants_help(args)) {
    std::printf("%s%s", status_help, target_help);
    return 0;
  }
  bool as_json = false;
  int watch_s = 0;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--json") {
      as_json = true;
    } else if (args[i] == "--watch") {
      watch_s = 2;
      if (i + 1 < args.size() && !args[i + 1].empty()
          && std::isdigit(static_cast<unsigned char>(args[i + 1][0]))) {
        watch_s = std::atoi(args[++i].c_str());
        if (watch_s <= 0)
          return usage_error("--watch needs a positive number of seconds",
                             status_help);
      }
    } else {
      rest.push_back(args[i]);
    }
  }
  target t;
  if (auto err = parse_target(rest, t); !err.empty())
    return usage_error(err, status_help);
  if (rest.size() > 1)
    return usage_error("status takes at most one ADDRESS", status_help);
  if (watch_s == 0)
    return print_status(t, as_json) ? 0 : 1;
  for (;;) {
    // Clear the screen and start at the top, as watch(1) does.
    if (!as_json)
      std::printf("\x1b[H\x1b[2J");
    auto now = std::time(nullptr);
    char when[32];
    std::strftime(when, sizeof(when), "%H:%M:%S", std::localtime(&now));
    std::printf("every %ds, %s (Ctrl-C ends it)\n", watch_s, when);
    if (!print_status(t, as_json))
      return 1;
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(watch_s));
  }
}

int send(std::vector<std::string> args) {
  if (wants_help(args)) {
    std::printf("%s%s", send_help, target_help);
    return 0;
  }
  target t;
  if (auto err = parse_target(args, t); !err.empty())
    return usage_error(err, send_help);
  if (args.size() != 2)
    return usage_error("send takes ADDRESS and JSON", send_help);
  auto msg = json::parse(args[1], nullptr, false);
  if (msg.is_discarded()) {
    std::fprintf(stderr, "switchboard: invalid_json: %s is not valid JSON\n",
                 args[1].c_str());
    return 1;
  }
  json reply;
  if (!call(t, json{{"op", "send"}, {"to", t.actor}, {"message", msg}}, reply))
    return 1;
  std::printf("%s\n", reply["reply"].dump().c_str());
  return 0;
}

int metrics(std::vector<std::string> args) {
  if (wants_help(args)) {
    std::printf("%s%s", metrics_help, target_help);
    return 0;
  }
  target t;
  if (auto err = parse_target(args, t); !err.empty())
    return usage_error(err, metrics_help);
  if (!args.empty())
    return usage_error("metrics takes no ADDRESS", metrics_help);
  json reply;
  if (!call(t, json{{"op", "metrics"}}, reply))
    return 1;
  if (!reply.value("enabled", true))
    std::fprintf(stderr, "switchboard: the node counts nothing "
                         "([node] metrics = false)\n");
  std::fputs(reply.value("text", std::string{}).c_str(), stdout);
  return 0;
}

int reload(std::vector<std::string> args) {
  if (wants_help(args)) {
    std::printf("%s%s", reload_help, target_help);
    return 0;
  }
  bool dry_run = false;
  bool node_chosen = false;
  std::vector<std::string> rest;
  for (auto& a : args) {
    if (a == "--dry-run")
      dry_run = true;
    else
      rest.push_back(a);
    if (a == "--node" || a == "--control" || a == "--config")
      node_chosen = true;
  }
  target t;
  if (auto err = parse_target(rest, t); !err.empty())
    return usage_error(err, reload_help);
  if (rest.size() > 1)
    return usage_error("reload takes one CONFIG at most", reload_help);
  json req{{"op", "reload"}, {"dry_run", dry_run}};
  if (!rest.empty()) {
    auto file = rest.front();
    char resolved[PATH_MAX];
    if (realpath(file.c_str(), resolved) == nullptr) {
      std::fprintf(stderr, "switchboard: %s: %s\n", file.c_str(),
                   std::strerror(errno));
      return 1;
    }
    req["file"] = std::string{resolved};
    if (!node_chosen) {
      auto cfg = switchboard::node_config::from_file(file);
      if (cfg)
        t.control = cfg->control_path();
    }
  }
  json reply;
  if (!call(t, req, reply))
    return 1;
  if (dry_run)
    std::printf("plan (not applied):\n");
  std::fputs(reply.value("text", std::string{}).c_str(), stdout);
  return reply["plan"]["failed"].empty() ? 0 : 1;
}

int trace(std::vector<std::string> args) {
  if (wants_help(args)) {
    std::printf("%s%s", trace_help, target_help);
    return 0;
  }
  json req{{"op", "trace"}};
  bool raw = false;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    auto& a = args[i];
    if (a == "--json") {
      raw = true;
    } else if (a == "--count" || a == "--rate") {
      long n = i + 1 < args.size() ? std::atol(args[i + 1].c_str()) : 0;
      if (n <= 0)
        return usage_error(a + " needs a positive number", trace_help);
      req[a.substr(2)] = n;
      ++i;
    } else {
      rest.push_back(a);
    }
  }
  target t;
  if (auto err = parse_target(rest, t); !err.empty())
    return usage_error(err, trace_help);
  if (rest.size() != 1)
    return usage_error("trace takes one ADDRESS", trace_help);
  req["address"] = t.actor;
  bool ok = true;
  std::string done;
  auto err = switchboard::cli::control_stream(
    t.control, req.dump(),
    [&](std::string& line) {
      auto x = json::parse(line, nullptr, false);
      if (x.is_discarded() || !x.is_object()) {
        std::fprintf(stderr, "switchboard: the node sent an invalid line: %s\n",
                     line.c_str());
        ok = false;
        return false;
      }
      if (x.contains("ok")) { // the last line
        ok = x.value("ok", false);
        done = ok ? x.value("done", std::string{})
                  : x.value("error", std::string{"unknown error"});
        return false;
      }
      if (x.contains("tracing")) {
        std::fprintf(stderr, "tracing %s (Ctrl-C ends it)\n",
                     x["tracing"].get<std::string>().c_str());
        return true;
      }
      if (raw) {
        std::printf("%s\n", line.c_str());
      } else {
        auto us = x.value("t_us", int64_t{0});
        time_t secs = static_cast<time_t>(us / 1'000'000);
        tm parts{};
        localtime_r(&secs, &parts);
        char when[32];
        std::strftime(when, sizeof(when), "%H:%M:%S", &parts);
        std::printf("%s.%06lld  %-3s  %s -> %s  %s\n", when,
                    static_cast<long long>(us % 1'000'000),
                    x.value("trace", std::string{}).c_str(),
                    x.value("from", std::string{}).c_str(),
                    x.value("to", std::string{}).c_str(),
                    x.value("message", std::string{}).c_str());
      }
      std::fflush(stdout);
      return true;
    },
    0);
  if (!err.empty()) {
    std::fprintf(stderr, "switchboard: %s\n", err.c_str());
    return 1;
  }
  if (!ok) {
    std::fprintf(stderr, "switchboard: %s\n", done.c_str());
    return 1;
  }
  std::fprintf(stderr, "trace ended: %s\n", done.c_str());
  return 0;
}

int ctl(std::vector<std::string> args) {
  if (wants_help(args)) {
    std::printf("%s%s", ctl_help, target_help);
    return 0;
  }
  target t;
  if (auto err = parse_target(args, t); !err.empty())
    return usage_error(err, ctl_help);
  bool is_signal = args.size() >= 2 && args[1] == "signal";
  if (args.size() != (is_signal ? 3u : 2u))
    return usage_error("ctl takes ADDRESS and COMMAND (signal takes SIGNAL)",
                       ctl_help);
  json req{{"op", "command"}, {"to", t.actor}, {"command", args[1]}};
  if (is_signal) {
    char* end = nullptr;
    auto n = std::strtol(args[2].c_str(), &end, 10);
    if (end != args[2].c_str() && *end == '\0')
      req["signal"] = n;
    else
      req["signal"] = args[2];
  }
  json reply;
  if (!call(t, req, reply))
    return 1;
  std::printf("ok\n");
  return 0;
}

} // namespace

// -- log flags ----------------------------------------------------------------

// `--log-format json` and `--log-level warn` (or with '=') are the config
// overrides --node.log-format=json and --node.log-level=warn; an unknown
// value is a usage error here rather than a node that will not start.
std::optional<std::string> log_flags(std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    auto& a = args[i];
    std::string key;
    std::string value;
    for (auto k : {"log-format", "log-level"}) {
      auto flag = std::string{"--"} + k;
      if (a == flag && i + 1 < args.size()) {
        key = k;
        value = args[++i];
      } else if (a.rfind(flag + "=", 0) == 0) {
        key = k;
        value = a.substr(flag.size() + 1);
      } else if (a == flag) {
        return flag + " takes a value";
      }
    }
    if (key.empty()) {
      out.push_back(std::move(a));
      continue;
    }
    auto ok = key == "log-format"
                ? value == "text" || value == "json"
                : switchboard::parse_log_level(value).has_value();
    if (!ok)
      return "--" + key + " takes "
             + (key == "log-format" ? "text or json"
                                    : "debug, info, warn or error")
             + ", not '" + value + "'";
    out.push_back("--node." + key + "=" + value);
  }
  args = std::move(out);
  return std::nullopt;
}

// -- main ---------------------------------------------------------------------

int main(int argc, char** argv) {
  // A parent's IPC channel (NODE_CHANNEL_FD or SWITCHBOARD_CHANNEL_FD) is
  // taken while this is the only thread, and kept from the node's own
  // children.
  switchboard::bridges::take_parent_channel();
  if (argc < 2) {
    std::fputs(usage_text, stderr);
    return 2;
  }
  std::string verb = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (verb == "--help" || verb == "-h" || verb == "help") {
    std::fputs(usage_text, stdout);
    return 0;
  }
  if (verb == "run" || verb == "up") {
    if (auto err = log_flags(args))
      return usage_error(*err,
                         verb == "run" ? run_help : switchboard::cli::up_help);
  }
  if (verb == "run")
    return run(std::move(args));
  if (verb == "check")
    return check(args);
  if (verb == "up")
    return switchboard::cli::up(args, add_kinds);
  if (verb == "status")
    return status(std::move(args));
  if (verb == "send")
    return send(std::move(args));
  if (verb == "ctl")
    return ctl(std::move(args));
  if (verb == "metrics")
    return metrics(std::move(args));
  if (verb == "reload")
    return reload(std::move(args));
  if (verb == "trace")
    return trace(std::move(args));
  std::fprintf(stderr, "switchboard: unknown verb '%s'\n\n%s", verb.c_str(),
               usage_text);
  return 2;
}

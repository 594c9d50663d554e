// switchboard: an embeddable C++ actor runtime. MIT License.

#include "up.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/bridges/control/bridge.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/json_message.hpp>
#include <switchboard/kinds.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/log.hpp>
#include <switchboard/node.hpp>

namespace switchboard::cli {

const char* const up_help =
  R"(usage: switchboard up TOPOLOGY [--log-format text|json]
                         [--log-level LEVEL] [--section.key=value ...]

Starts every node of the topology file TOPOLOGY as a supervised child
process (`switchboard run` with the node's config and overrides), waits
until each is ready, and prints a table of the nodes. A node that dies is
restarted (per its restart keys; by default always, 100 ms doubling to
10 s). Ctrl-C (SIGINT) or SIGTERM stops the nodes in the reverse order of
the file, each with SIGTERM and then SIGKILL after its kill-timeout. A node
that does not come up (it exits, or is not ready within its ready-timeout)
stops the others: the exit status is 1, with the last lines of its log.

A node's PATH starts with this program's directory, so `switchboard` in its
own child-process commands is this switchboard. Each node keeps its own
control socket, so `switchboard status --node NAME`
and `switchboard send NAME/ACTOR JSON` reach it by name; the supervising
process has one named after the topology ([topology] name), whose status
lists every node with its pid, state and restarts.

TOPOLOGY is validated as `switchboard check TOPOLOGY` does. Its keys can be
overridden as `run` overrides a node's, e.g. --topology.name=staging or
--nodes.w1.overrides='["--node.listen=127.0.0.1:7711"]'. --log-format and
--log-level (as on `run`) apply to every node and to this process.
)";

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

// The supervising node's actor that hears every node's events and log.
constexpr const char* monitor_name = "topology";

// How many of a node's last log lines are kept for a failure report.
constexpr size_t tail_size = 20;

constexpr auto default_ready_timeout = std::chrono::seconds(30);
constexpr auto default_kill_timeout = std::chrono::seconds(5);

// -- the topology file --------------------------------------------------------

struct topology_node {
  std::string name;
  // Its [nodes] entry.
  caf::settings entry;
  // Its config file, absolute.
  std::string config;
  // What `switchboard run` gets after the config.
  std::vector<std::string> overrides;
  // [node] listen as it will run, or empty.
  std::string listen;
  // Its control socket, or empty for none.
  std::string control;
};

struct topology {
  std::string file;
  std::string dir;
  std::string name;
  std::string control;
  caf::timespan ready_timeout{default_ready_timeout};
  // In the order of the file.
  std::vector<topology_node> nodes;
};

// An entry name not used in `cfg`'s [actors] or [bridges].
bool name_free(const node_config& cfg, const std::string& name) {
  for (auto section : {"actors.", "bridges."})
    if (caf::get_if(&cfg.content(), section + name) != nullptr)
      return false;
  return true;
}

// The override that gives the node a `parent` bridge, so it says "ready" to
// the supervisor and stops when the supervisor goes; none when its config
// has one already.
std::string parent_override(const node_config& cfg) {
  if (auto xs = caf::get_if<caf::settings>(&cfg.content(), "bridges"))
    for (auto& kvp : *xs)
      if (auto entry = caf::get_if<caf::settings>(&kvp.second))
        if (caf::get_or(*entry, "kind", "") == "parent")
          return {};
  auto name = name_free(cfg, "parent") ? "parent" : "topology-parent";
  return std::string{"--bridges."} + name + ".kind=parent";
}

// Reads the topology and each node's config; every problem goes to `errors`.
topology load(const node_config& cfg, const kind_registry& kinds,
              std::vector<config_error>& errors) {
  auto& content = cfg.content();
  topology t;
  t.file = cfg.file();
  t.dir = fs::absolute(fs::path{t.file}).parent_path().lexically_normal();
  t.name =
    caf::get_or(content, "topology.name", fs::path{t.file}.stem().string());
  t.control = caf::get_or(content, "topology.control", "");
  t.ready_timeout =
    caf::get_or(content, "topology.ready-timeout", t.ready_timeout);
  errors = validate_topology(cfg);
  auto error = [&](std::string key, std::string expected, std::string found) {
    errors.push_back(config_error{errc::config_bad_value, cfg.file(), key,
                                  cfg.line_of(key), std::move(expected),
                                  std::move(found)});
  };
  if (!valid_name(t.name))
    error("topology.name",
          "a name of letters, digits, '_' and '-' (set [topology] name when "
          "the file's name is not one)",
          "'" + t.name + "'");
  if (!errors.empty())
    return t; // the entries may not have the shape read below
  std::vector<std::string> names;
  for (auto& [name, entry] : caf::get<caf::settings>(content, "nodes"))
    names.push_back(name);
  std::stable_sort(names.begin(), names.end(),
                   [&](const std::string& x, const std::string& y) {
                     return cfg.line_of("nodes." + x)
                            < cfg.line_of("nodes." + y);
                   });
  // A node runs in the topology's directory: its config's relative paths
  // (a static directory, a child's script) are checked from there too.
  std::error_code ec;
  auto cwd = fs::current_path(ec);
  fs::current_path(t.dir, ec);
  std::map<std::string, std::string> listens;
  std::map<std::string, std::string> controls;
  for (auto& name : names) {
    auto key = "nodes." + name;
    if (name == monitor_name || name == t.name) {
      error(key,
            "a node name other than the topology's ('" + t.name + "') and '"
              + monitor_name + "' (both name the supervising process)",
            "'" + name + "'");
      continue;
    }
    topology_node n;
    n.name = name;
    n.entry = caf::get<caf::settings>(content, key);
    fs::path file = caf::get<std::string>(n.entry, "config");
    if (file.is_relative())
      file = fs::path{t.dir} / file;
    n.config = file.lexically_normal();
    auto node_cfg = node_config::from_file(n.config);
    if (!node_cfg) {
      error(key + ".config", "a node's config file", render(node_cfg.error()));
      continue;
    }
    n.overrides.push_back("--node.name=" + name);
    if (auto xs = caf::get_if<std::vector<std::string>>(&n.entry, "overrides"))
      n.overrides.insert(n.overrides.end(), xs->begin(), xs->end());
    if (auto err = node_cfg->apply_overrides(n.overrides)) {
      error(key + ".overrides", "overrides of the form --section.key=value",
            render(err));
      continue;
    }
    for (auto& e : validate(*node_cfg, kinds))
      errors.push_back(e);
    n.listen = caf::get_or(node_cfg->content(), "node.listen", "");
    n.control = node_cfg->control_path();
    if (!n.listen.empty() && n.listen.size() > 2
        && n.listen.compare(n.listen.size() - 2, 2, ":0") != 0) {
      if (auto [i, added] = listens.emplace(n.listen, name); !added)
        error(key, "a [node] listen address of its own",
              "'" + n.listen + "', where node " + i->second + " listens too");
    }
    if (!n.control.empty()) {
      if (auto [i, added] = controls.emplace(n.control, name); !added)
        error(key, "a control socket of its own",
              "'" + n.control + "', node " + i->second + "'s too");
    }
    if (auto parent = parent_override(*node_cfg); !parent.empty())
      n.overrides.push_back(parent);
    t.nodes.push_back(std::move(n));
  }
  if (!cwd.empty())
    fs::current_path(cwd, ec);
  std::stable_sort(errors.begin(), errors.end(),
                   [](const config_error& x, const config_error& y) {
                     return x.file == y.file && x.line < y.line;
                   });
  return t;
}

// -- what the supervisor sees -------------------------------------------------

struct node_view {
  std::string name;
  // Its control socket, or empty for none.
  std::string control;
  int64_t pid = 0;
  bool ready = false;
  bool ever_ready = false;
  int restarts = 0;
  // Why it did not come up, if it did not.
  std::string failure;
  std::deque<std::string> tail;
  clock_type::time_point started;
};

// Shared by the monitor actor and the main thread.
struct up_state {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<node_view> nodes;
  size_t width = 4;
  bool stopping = false;

  node_view* find(const std::string& name) {
    for (auto& v : nodes)
      if (v.name == name)
        return &v;
    return nullptr;
  }

  // One line of progress on stdout (call with `mtx` held).
  void say(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    va_list args;
    va_start(args, fmt);
    std::vfprintf(stdout, fmt, args);
    va_end(args);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
};

std::string describe_exit(const json& ev) {
  if (auto e = ev.find("error"); e != ev.end() && e->is_string())
    return "could not run: " + e->get<std::string>();
  if (auto s = ev.find("signal"); s != ev.end() && s->is_string())
    return "killed by " + s->get<std::string>();
  if (auto c = ev.find("code"); c != ev.end() && c->is_number())
    return "exited with code " + std::to_string(c->get<int>());
  return "exited";
}

class monitor_actor : public caf::event_based_actor {
public:
  monitor_actor(caf::actor_config& cfg, std::shared_ptr<up_state> st)
      : caf::event_based_actor(cfg), st_(std::move(st)) {}

  caf::behavior make_behavior() override {
    return {
      [this](json_message& m) -> json_message {
        on_message(m.text);
        return json_message::trusted("null");
      },
      [this](status_atom) {
        std::lock_guard<std::mutex> guard{st_->mtx};
        json nodes = json::array();
        for (auto& v : st_->nodes)
          nodes.push_back({{"node", v.name},
                           {"pid", v.pid},
                           {"ready", v.ready},
                           {"restarts", v.restarts},
                           {"control", v.control}});
        return json_message::trusted(
          json{{"kind", "topology-monitor"}, {"nodes", nodes}}.dump());
      },
    };
  }

private:
  void on_message(const std::string& text) {
    auto j = json::parse(text, nullptr, false);
    if (!j.is_object())
      return;
    auto child = j.value("child", std::string{});
    std::lock_guard<std::mutex> guard{st_->mtx};
    auto v = st_->find(child);
    if (v == nullptr) {
      st_->say("%s", text.c_str());
      return;
    }
    if (auto line = j.find("stderr"); line != j.end() && line->is_string()) {
      // A node's log line already names the node.
      std::fprintf(stderr, "%s\n", line->get_ref<const std::string&>().c_str());
      v->tail.push_back(line->get<std::string>());
      if (v->tail.size() > tail_size)
        v->tail.pop_front();
      return;
    }
    auto event = j.value("event", std::string{});
    auto w = static_cast<int>(st_->width);
    auto name = v->name.c_str();
    if (event == "started") {
      if (v->ever_ready)
        ++v->restarts;
      v->pid = j.value("pid", int64_t{0});
      v->started = clock_type::now();
      st_->say("%-*s  started (pid %lld)", w, name,
               static_cast<long long>(v->pid));
    } else if (event == "ready") {
      v->ready = true;
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  clock_type::now() - v->started)
                  .count();
      st_->say("%-*s  ready in %lld ms%s", w, name, static_cast<long long>(ms),
               v->ever_ready ? " (restarted)" : "");
      v->ever_ready = true;
    } else if (event == "exited") {
      v->ready = false;
      v->pid = 0;
      auto what = describe_exit(j);
      if (!v->ever_ready && v->failure.empty())
        v->failure = what;
      if (!st_->stopping)
        st_->say("%-*s  %s", w, name, what.c_str());
    } else if (event == "error" || event == "gave-up") {
      auto reason = j.value("reason", std::string{"?"});
      if (!v->ever_ready && v->failure.empty())
        v->failure = reason;
      st_->say("%-*s  %s: %s", w, name, event.c_str(), reason.c_str());
    } else if (event == "restarting") {
      if (!st_->stopping)
        st_->say("%-*s  restarting in %lld ms (attempt %lld)", w, name,
                 static_cast<long long>(j.value("delay_ms", int64_t{0})),
                 static_cast<long long>(j.value("attempt", int64_t{0})));
    } else {
      st_->say("%-*s  %s", w, name, text.c_str());
    }
    st_->cv.notify_all();
  }

  std::shared_ptr<up_state> st_;
};

kind_spec monitor_kind(std::shared_ptr<up_state> st) {
  kind_spec result;
  result.name = "topology-monitor";
  result.doc = "the supervisor's view of a topology's nodes";
  result.factory = [st](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return ctx.node.system().spawn<monitor_actor>(st);
  };
  return result;
}

// -- the supervising node -----------------------------------------------------

std::string self_exe() {
  std::error_code ec;
  auto path = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string{"switchboard"} : path.string();
}

// The supervising node's config: the monitor and one child-process per node.
node_config supervisor_config(const topology& t) {
  auto cfg = node_config::from_string("", t.file);
  auto& c = cfg->content();
  caf::put(c, "node.name", t.name);
  caf::put(c, "node.control", t.control);
  // `ctl NODE restart` on the supervisor waits for the node to be ready.
  caf::timespan longest = t.ready_timeout;
  for (auto& n : t.nodes)
    longest =
      std::max(longest, caf::get_or(n.entry, "ready-timeout", t.ready_timeout));
  caf::put(c, "node.request-timeout",
           longest + caf::timespan{default_kill_timeout});
  caf::settings monitor;
  monitor["kind"] = "topology-monitor";
  caf::put(c, std::string{"actors."} + monitor_name, monitor);
  auto exe = self_exe();
  for (auto& n : t.nodes) {
    caf::settings a;
    a["kind"] = "child-process";
    std::vector<std::string> command{exe, "run", n.config};
    command.insert(command.end(), n.overrides.begin(), n.overrides.end());
    a["command"] = command;
    a["cwd"] = t.dir;
    a["ipc"] = "json";
    a["ready"] = "message";
    a["ready-timeout"] = caf::get_or(n.entry, "ready-timeout", t.ready_timeout);
    a["kill-timeout"] =
      caf::get_or(n.entry, "kill-timeout", caf::timespan{default_kill_timeout});
    a["stdout"] = "inherit";
    a["stderr"] = "lines";
    a["to"] = monitor_name;
    a["events"] = monitor_name;
    a["restart"] = "always";
    for (auto& [key, value] : n.entry)
      if (key.compare(0, 7, "restart") == 0 || key == "max-restarts")
        a[key] = value;
    // `switchboard` in a node's own child-process commands is this program.
    caf::settings env;
    if (auto xs = caf::get_if<caf::settings>(&n.entry, "env"))
      env = *xs;
    if (env.count("PATH") == 0) {
      auto path = std::getenv("PATH");
      env["PATH"] = fs::path{exe}.parent_path().string() + ":"
                    + (path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
    }
    a["env"] = std::move(env);
    caf::put(c, "actors." + n.name, std::move(a));
  }
  return std::move(*cfg);
}

// Stops the nodes in the reverse order of the file, each before the next.
void stop_all(node& n, const topology& t, up_state& st) {
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    st.stopping = true;
  }
  caf::scoped_actor self{n.system()};
  auto w = static_cast<int>(st.width);
  for (auto i = t.nodes.rbegin(); i != t.nodes.rend(); ++i) {
    auto h = n.lookup(i->name);
    if (!h)
      continue;
    auto timeout =
      caf::get_or(i->entry, "kill-timeout", caf::timespan{default_kill_timeout})
      + std::chrono::seconds(5);
    std::string result;
    self->request(h, timeout, stop_atom::value)
      .receive([&](caf::ok_atom) { result = "stopped"; },
               [&](caf::error& err) { result = render(err); });
    std::lock_guard<std::mutex> guard{st.mtx};
    st.say("%-*s  %s", w, i->name.c_str(), result.c_str());
  }
}

void print_table(const topology& t, up_state& st) {
  std::lock_guard<std::mutex> guard{st.mtx};
  auto w = static_cast<int>(st.width);
  size_t lw = 6;
  for (auto& n : t.nodes)
    lw = std::max(lw, n.listen.size());
  auto l = static_cast<int>(lw);
  std::printf("\n%-*s  %-8s  %-*s  %s\n", w, "NODE", "PID", l, "LISTEN",
              "CONTROL");
  for (auto& n : t.nodes) {
    auto v = st.find(n.name);
    std::printf("%-*s  %-8lld  %-*s  %s\n", w, n.name.c_str(),
                static_cast<long long>(v ? v->pid : 0), l,
                n.listen.empty() ? "-" : n.listen.c_str(),
                n.control.empty() ? "none" : n.control.c_str());
  }
  std::printf("\n");
  std::fflush(stdout);
}

} // namespace

bool is_topology(const node_config& cfg) {
  return cfg.content().count("nodes") > 0
         || cfg.content().count("topology") > 0;
}

std::vector<config_error> check_topology(const node_config& cfg,
                                         const kind_registry& kinds) {
  std::vector<config_error> errors;
  load(cfg, kinds, errors);
  return errors;
}

int up(const std::vector<std::string>& args,
       void (*add_kinds)(kind_registry&)) {
  for (auto& a : args)
    if (a == "--help" || a == "-h") {
      std::fputs(up_help, stdout);
      return 0;
    }
  std::string file;
  std::vector<std::string> overrides;
  // --node.log-format and --node.log-level (from --log-format and
  // --log-level) go to every node and to the supervising process.
  std::vector<std::string> log_overrides;
  for (auto& a : args) {
    if (a.rfind("--node.log-", 0) == 0) {
      log_overrides.push_back(a);
    } else if (a.compare(0, 2, "--") == 0) {
      overrides.push_back(a);
    } else if (file.empty()) {
      file = a;
    } else {
      file.clear();
      break;
    }
  }
  if (file.empty()) {
    std::fprintf(stderr, "switchboard: up takes one TOPOLOGY\n\n%s", up_help);
    return 2;
  }
  auto cfg = node_config::from_file(file);
  if (!cfg) {
    std::fprintf(stderr, "switchboard: %s\n", render(cfg.error()).c_str());
    return 1;
  }
  if (auto err = cfg->apply_overrides(overrides)) {
    std::fprintf(stderr, "switchboard: %s\n\n%s", render(err).c_str(), up_help);
    return 2;
  }
  if (!is_topology(*cfg)) {
    std::fprintf(stderr,
                 "switchboard: %s is one node's config, not a topology (it "
                 "has no [nodes]); run it with `switchboard run %s`\n",
                 file.c_str(), file.c_str());
    return 2;
  }
  kind_registry kinds;
  add_kinds(kinds);
  std::vector<config_error> errors;
  auto t = load(*cfg, kinds, errors);
  if (!errors.empty()) {
    for (auto& e : errors)
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "switchboard: %zu error%s; nothing started\n",
                 errors.size(), errors.size() == 1 ? "" : "s");
    return 1;
  }
  auto st = std::make_shared<up_state>();
  for (auto& n : t.nodes) {
    node_view v;
    v.name = n.name;
    v.control = n.control;
    st->nodes.push_back(std::move(v));
    st->width = std::max(st->width, n.name.size());
  }
  for (auto& tn : t.nodes)
    tn.overrides.insert(tn.overrides.end(), log_overrides.begin(),
                        log_overrides.end());
  auto sup_cfg = supervisor_config(t);
  if (auto err = sup_cfg.apply_overrides(log_overrides)) {
    std::fprintf(stderr, "switchboard: %s\n", render(err).c_str());
    return 2;
  }
  auto control = sup_cfg.control_path();
  node n{std::move(sup_cfg)};
  add_kinds(n.kinds());
  if (auto err = n.kinds().add(monitor_kind(st))) {
    std::fprintf(stderr, "switchboard: %s\n", render(err).c_str());
    return 1;
  }
  auto t0 = clock_type::now();
  {
    std::lock_guard<std::mutex> guard{st->mtx};
    st->say("topology %s: starting %zu node%s from %s", t.name.c_str(),
            t.nodes.size(), t.nodes.size() == 1 ? "" : "s", t.file.c_str());
  }
  if (auto err = n.start()) {
    std::fprintf(stderr, "switchboard: cannot start the topology:\n%s\n",
                 render(err).c_str());
    return 1;
  }
  if (auto err = n.handle_signals()) {
    n.log(switchboard::log_level::error, {},
          "cannot handle signals: " + render(err));
    n.stop();
    return 1;
  }
  if (!control.empty()) {
    if (auto ctl = bridges::control::start(n, control); !ctl)
      n.log(switchboard::log_level::error, {},
            "cannot open the control socket: " + render(ctl.error()));
  }
  // Until every node is ready, one fails, or a signal asks to stop.
  std::string failed;
  bool interrupted = false;
  for (;;) {
    {
      std::unique_lock<std::mutex> guard{st->mtx};
      st->cv.wait_for(guard, std::chrono::milliseconds(50));
      auto all_ready = std::all_of(st->nodes.begin(), st->nodes.end(),
                                   [](auto& v) { return v.ever_ready; });
      if (all_ready)
        break;
      for (auto& v : st->nodes)
        if (!v.ever_ready && !v.failure.empty()) {
          failed = v.name;
          break;
        }
      if (!failed.empty())
        break;
    }
    if (n.wait_for_stop_request(std::chrono::milliseconds(0))) {
      interrupted = true;
      break;
    }
  }
  if (!failed.empty()) {
    {
      std::lock_guard<std::mutex> guard{st->mtx};
      auto v = st->find(failed);
      std::fprintf(stderr,
                   "switchboard: node %s did not start: %s\n"
                   "the last lines of its log:\n",
                   failed.c_str(), v->failure.c_str());
      for (auto& line : v->tail)
        std::fprintf(stderr, "  %s\n", line.c_str());
      if (v->tail.empty())
        std::fprintf(stderr, "  (nothing)\n");
    }
    stop_all(n, t, *st);
    n.stop();
    return 1;
  }
  if (!interrupted) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                clock_type::now() - t0)
                .count();
    print_table(t, *st);
    std::lock_guard<std::mutex> guard{st->mtx};
    st->say("topology %s: %zu node%s ready in %lld ms; the supervisor's "
            "status: switchboard status --node %s; Ctrl-C stops them",
            t.name.c_str(), t.nodes.size(), t.nodes.size() == 1 ? "" : "s",
            static_cast<long long>(ms), t.name.c_str());
  }
  n.wait_for_stop_request();
  {
    std::lock_guard<std::mutex> guard{st->mtx};
    st->say("topology %s: stopping", t.name.c_str());
  }
  stop_all(n, t, *st);
  n.stop();
  return 0;
}

} // namespace switchboard::cli

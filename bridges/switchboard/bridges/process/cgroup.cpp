// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/process/cgroup.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <switchboard/errc.hpp>

namespace switchboard::bridges {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `text` to the control file `path` in one write, as the kernel
// wants; errno's text on failure.
std::string write_file(const std::string& path, const std::string& text) {
  auto fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return std::strerror(errno);
  auto n = ::write(fd, text.data(), text.size());
  auto err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size()))
    return std::strerror(n < 0 ? err : EIO);
  return {};
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in{text};
  std::vector<std::string> out;
  for (std::string w; in >> w;)
    out.push_back(w);
  return out;
}

bool has(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

// Where cgroup v2 is mounted (the mount that holds the node's cgroup), and
// the node's cgroup in it; empty with the reason in `why` if there is none.
std::string own_cgroup(std::string& why, std::string& mount) {
  std::string rel;
  {
    std::ifstream in{"/proc/self/cgroup"};
    for (std::string line; std::getline(in, line);)
      if (line.rfind("0::", 0) == 0)
        rel = line.substr(3);
  }
  if (rel.empty()) {
    why = "this process is in no cgroup v2 hierarchy (no \"0::\" line in "
          "/proc/self/cgroup)";
    return {};
  }
  std::ifstream in{"/proc/self/mountinfo"};
  for (std::string line; std::getline(in, line);) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPER
    auto dash = line.find(" - ");
    if (dash == std::string::npos)
      continue;
    auto tail = words(line.substr(dash + 3));
    if (tail.empty() || tail[0] != "cgroup2")
      continue;
    auto head = words(line.substr(0, dash));
    if (head.size() < 5)
      continue;
    mount = head[4];
    return rel == "/" ? mount : mount + rel;
  }
  why = "cgroup v2 is not mounted (no cgroup2 in /proc/self/mountinfo)";
  return {};
}

// The node's cgroup, prepared once per process for the controllers asked
// for so far.
struct node_cgroup {
  std::mutex mtx;
  bool looked = false;
  std::string mount;
  std::string base;
  std::string why; // set when cgroup v2 cannot be used at all
};

node_cgroup& the_node_cgroup() {
  static node_cgroup x;
  return x;
}

// The parent of process `pid`, or 0.
pid_t parent_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("PPid:", 0) == 0)
      return static_cast<pid_t>(std::atol(line.c_str() + 5));
  return 0;
}

// Whether `pid` is this process or one it started (its children without
// limits run in the node's cgroup until the node moves them).
bool ours(pid_t pid) {
  auto me = ::getpid();
  for (int depth = 0; pid > 1 && depth < 64; ++depth) {
    if (pid == me)
      return true;
    pid = parent_of(pid);
  }
  return false;
}

// Makes `controllers` available to cgroups beside the node's own leaf.
std::string enable(node_cgroup& ng, const std::vector<std::string>& want) {
  auto available = words(read_file(ng.base + "/cgroup.controllers"));
  std::string missing;
  for (auto& c : want)
    if (!has(available, c))
      missing += (missing.empty() ? "" : ", ") + c;
  if (!missing.empty()) {
    std::string offered;
    for (auto& c : available)
      offered += (offered.empty() ? "" : " ") + c;
    return "the node's cgroup v2 (" + ng.base + ") offers no " + missing
           + " controller (it offers: "
           + (offered.empty() ? std::string{"none"} : offered)
           + "); where cgroup v1 holds it, or the service manager did not "
             "delegate it, the kernel cannot apply the limit";
  }
  auto enabled = words(read_file(ng.base + "/cgroup.subtree_control"));
  std::string add;
  for (auto& c : want)
    if (!has(enabled, c))
      add += (add.empty() ? "+" : " +") + c;
  if (add.empty())
    return {};
  // A cgroup with processes of its own cannot pass controllers on (but the
  // root): the node moves into a leaf first.
  if (ng.base != ng.mount) {
    auto procs = words(read_file(ng.base + "/cgroup.procs"));
    if (!procs.empty()) {
      auto leaf = ng.base + "/node";
      if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST)
        return "cannot make " + leaf + ": " + std::strerror(errno);
      // The node and what it started (children without limits) move
      // together; anything else in the cgroup is not the node's to move.
      for (auto& p : procs) {
        auto pid = static_cast<pid_t>(std::atol(p.c_str()));
        if (!ours(pid))
          return ng.base + " holds processes that are not the node's (pid " + p
                 + "): give the node a cgroup of its own (systemd: "
                   "Delegate=yes)";
      }
      for (auto& p : procs)
        if (auto err = write_file(leaf + "/cgroup.procs", p); !err.empty())
          return "cannot move process " + p + " into " + leaf + ": " + err;
    }
  }
  if (auto err = write_file(ng.base + "/cgroup.subtree_control", add);
      !err.empty())
    return "cannot enable " + add + " in " + ng.base
           + "/cgroup.subtree_control: " + err;
  return {};
}

} // namespace

std::string cpu_max_text(double cpus) {
  constexpr long period = 100000;
  auto quota = std::max(1000L, std::lround(cpus * period));
  return std::to_string(quota) + " " + std::to_string(period);
}

caf::expected<std::shared_ptr<child_cgroup>>
child_cgroup::make(const std::string& name, const cgroup_limits& limits) {
  auto& ng = the_node_cgroup();
  std::lock_guard<std::mutex> guard{ng.mtx};
  auto fail = [](const std::string& why) {
    return make_error(errc::io_error, why);
  };
  if (!ng.looked) {
    ng.looked = true;
    ng.base = own_cgroup(ng.why, ng.mount);
    if (ng.why.empty() && ::access(ng.base.c_str(), W_OK) != 0)
      ng.why = "the node's cgroup v2 (" + ng.base
               + ") is not writable: " + std::strerror(errno);
  }
  if (!ng.why.empty())
    return fail(ng.why);
  std::vector<std::string> want;
  if (limits.cpus > 0)
    want.push_back("cpu");
  if (limits.memory_max > 0)
    want.push_back("memory");
  if (limits.pids_max > 0)
    want.push_back("pids");
  if (auto why = enable(ng, want); !why.empty())
    return fail(why);
  // One per make: an entry restarted by a reload (or a cluster's rolling
  // reload) gets a cgroup of its own while the old one still empties.
  static uint64_t made = 0;
  auto dir = ng.base + "/switchboard-" + std::to_string(::getpid()) + "-" + name
             + "-" + std::to_string(++made);
  if (::mkdir(dir.c_str(), 0755) != 0)
    return fail("cannot make " + dir + ": " + std::strerror(errno));
  std::shared_ptr<child_cgroup> result{new child_cgroup(dir)};
  auto set = [&](const char* file, const std::string& value) {
    auto err = write_file(dir + "/" + file, value);
    return err.empty() ? std::string{}
                       : std::string{"cannot write "} + value + " to " + dir
                           + "/" + file + ": " + err;
  };
  std::string err;
  if (limits.cpus > 0 && err.empty())
    err = set("cpu.max", cpu_max_text(limits.cpus));
  if (limits.memory_max > 0 && err.empty()) {
    err = set("memory.max", std::to_string(limits.memory_max));
    // Without this a child over memory.max would swap rather than be
    // stopped; a kernel without swap accounting has no such file.
    if (err.empty() && ::access((dir + "/memory.swap.max").c_str(), F_OK) == 0)
      set("memory.swap.max", "0");
  }
  if (limits.pids_max > 0 && err.empty())
    err = set("pids.max", std::to_string(limits.pids_max));
  if (!err.empty())
    return fail(err);
  return result;
}

child_cgroup::~child_cgroup() {
  // Fails while a process is still in it (a child that outlived its
  // actor): the kernel keeps it then.
  ::rmdir(path_.c_str());
}

uint64_t child_cgroup::oom_kills() const {
  std::istringstream in{read_file(path_ + "/memory.events")};
  std::string key;
  uint64_t n = 0;
  while (in >> key >> n)
    if (key == "oom_kill")
      return n;
  return 0;
}

} // namespace switchboard::bridges

// switchboard: an embeddable C++ actor runtime. MIT License.

// Starting a child process: argv exec'd directly (never through a shell),
// with a chosen set of file descriptors, in a process group of its own, and
// tied to the thread that started it: if that thread (the node's io loop)
// dies, even by SIGKILL, the kernel kills the child (PR_SET_PDEATHSIG).
//
// Usage:
// ~~~
// spawn_spec spec;
// spec.argv = {"node", "worker.js"};
// spec.fds = {in_fd, out_fd, fd_inherit, ipc_fd};   // child's 0, 1, 2, 3
// auto child = spawn_process(spec);  // pid and a pidfd, or the exec error
// ~~~

#pragma once

#include <string>
#include <vector>

#include <sys/types.h>

#include <caf/expected.hpp>

namespace switchboard::bridges {

/// The child's fd `i` is the parent's fd `fds[i]`, or one of these.
inline constexpr int fd_inherit = -1; // the parent's own fd i
inline constexpr int fd_null = -2;    // /dev/null
inline constexpr int fd_closed = -3;  // not open in the child

/// What to start, and how.
struct spawn_spec {
  /// The program and its arguments; a program without a '/' is looked up
  /// in the PATH of `env` (or of the node, when `env` has none).
  std::vector<std::string> argv;
  /// The child's whole environment as KEY=VALUE.
  std::vector<std::string> env;
  /// The working directory; empty: the node's.
  std::string cwd;
  /// The child's fds 0, 1, 2, 3, ... in order.
  std::vector<int> fds = {fd_null, fd_inherit, fd_inherit};
  /// Kill the child (SIGKILL) when the thread that spawned it dies.
  bool die_with_parent = true;
  /// Set LISTEN_PID to the child's pid (systemd's socket convention).
  bool listen_pid = false;
  /// A cgroup v2 directory the child joins before it execs (cgroup.hpp);
  /// empty: the node's own.
  std::string cgroup;
};

/// A started child.
struct spawned {
  pid_t pid = -1;
  /// A pidfd: readable once the child exited (reap it with waitpid).
  int pidfd = -1;
};

/// Starts `spec`. Fails with `errc::io_error` naming the cause when the
/// program cannot be found or exec'd (nothing is left running then).
caf::expected<spawned> spawn_process(const spawn_spec& spec);

/// The node's own environment as KEY=VALUE, less the variables in `drop`.
std::vector<std::string>
current_environment(const std::vector<std::string>& drop = {});

/// Sets KEY=VALUE in `env`, replacing an earlier value of KEY.
void set_env(std::vector<std::string>& env, const std::string& key,
             const std::string& value);

} // namespace switchboard::bridges

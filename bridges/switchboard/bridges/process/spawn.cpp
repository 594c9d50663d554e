// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/process/spawn.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <switchboard/errc.hpp>

extern char** environ;

namespace switchboard::bridges {

namespace {

// Finds `name` in the colon-separated `path`, as execvp would.
std::string resolve(const std::string& name, const std::string& path) {
  if (name.find('/') != std::string::npos)
    return name;
  size_t start = 0;
  for (;;) {
    auto end = path.find(':', start);
    auto dir = path.substr(start, end - start);
    auto candidate = (dir.empty() ? std::string{"."} : dir) + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)
        && access(candidate.c_str(), X_OK) == 0)
      return candidate;
    if (end == std::string::npos)
      return {};
    start = end + 1;
  }
}

std::string env_value(const std::vector<std::string>& env,
                      const std::string& key) {
  for (auto& kv : env)
    if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0
        && kv[key.size()] == '=')
      return kv.substr(key.size() + 1);
  return {};
}

// Writes errno to the error pipe and ends the child. Only async-signal-safe
// calls from here on.
[[noreturn]] void fail(int err_fd, int code) {
  auto n = write(err_fd, &code, sizeof(code));
  (void)n;
  _exit(127);
}

} // namespace

std::vector<std::string>
current_environment(const std::vector<std::string>& drop) {
  std::vector<std::string> result;
  for (auto p = environ; p != nullptr && *p != nullptr; ++p) {
    std::string kv = *p;
    auto eq = kv.find('=');
    auto key = kv.substr(0, eq);
    bool dropped = false;
    for (auto& d : drop)
      dropped = dropped || d == key;
    if (!dropped)
      result.push_back(std::move(kv));
  }
  return result;
}

void set_env(std::vector<std::string>& env, const std::string& key,
             const std::string& value) {
  for (auto& kv : env)
    if (kv.size() > key.size() && kv.compare(0, key.size(), key) == 0
        && kv[key.size()] == '=') {
      kv = key + "=" + value;
      return;
    }
  env.push_back(key + "=" + value);
}

caf::expected<spawned> spawn_process(const spawn_spec& spec) {
  if (spec.argv.empty())
    return make_error(errc::io_error, "spawn: an empty command");
  auto path_var = env_value(spec.env, "PATH");
  if (path_var.empty())
    if (auto p = getenv("PATH"))
      path_var = p;
  auto program = resolve(spec.argv[0], path_var);
  if (program.empty())
    return make_error(errc::io_error,
                      spec.argv[0] + ": command not found in PATH");
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> argv;
  for (auto& a : spec.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : spec.env)
    envp.push_back(const_cast<char*>(e.c_str()));
  // LISTEN_PID: room for the digits, written by the child after the fork.
  std::string listen_pid = "LISTEN_PID=" + std::string(20, '\0');
  std::string cgroup_procs =
    spec.cgroup.empty() ? std::string{} : spec.cgroup + "/cgroup.procs";
  if (spec.listen_pid)
    envp.push_back(listen_pid.data());
  envp.push_back(nullptr);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0)
    return make_error(errc::io_error,
                      std::string{"spawn: pipe: "} + std::strerror(errno));
  auto parent = getpid();
  auto nfds = static_cast<int>(spec.fds.size());
  auto pid = fork();
  if (pid < 0) {
    auto err = errno;
    close(err_pipe[0]);
    close(err_pipe[1]);
    return make_error(errc::io_error,
                      std::string{"spawn: fork: "} + std::strerror(err));
  }
  if (pid == 0) {
    // The child.
    if (spec.die_with_parent) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        fail(err_pipe[1], errno);
      // The parent may have died before the line above.
      if (getppid() != parent)
        _exit(127);
    }
    setpgid(0, 0);
    if (!cgroup_procs.empty()) {
      // "0" moves the writer: the child is in its cgroup before it runs
      // anything of its own.
      auto fd = open(cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1)
        fail(err_pipe[1], errno);
      close(fd);
    }
    if (spec.listen_pid) {
      char digits[20];
      int k = 0;
      for (auto p = getpid(); p > 0 && k < 20; p /= 10)
        digits[k++] = static_cast<char>('0' + p % 10);
      auto out = listen_pid.data() + 11; // after "LISTEN_PID="
      while (k > 0)
        *out++ = digits[--k];
      *out = '\0';
    }
    // Signals: default handlers, nothing blocked (the node blocks some).
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig)
      if (sig != SIGKILL && sig != SIGSTOP)
        signal(sig, SIG_DFL);
    // Move every source fd above the targets first, so that no dup2 below
    // overwrites a source still needed.
    int high[64];
    int base = std::max(nfds, err_pipe[1] + 1);
    for (int i = 0; i < nfds && i < 64; ++i) {
      high[i] = -1;
      auto src = spec.fds[i];
      if (src == fd_inherit)
        src = i;
      if (src == fd_null) {
        src = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (src < 0)
          fail(err_pipe[1], errno);
      }
      if (src == fd_closed)
        continue;
      high[i] = fcntl(src, F_DUPFD_CLOEXEC, base);
      if (high[i] < 0)
        fail(err_pipe[1], errno);
    }
    for (int i = 0; i < nfds && i < 64; ++i) {
      if (high[i] < 0) {
        close(i);
        continue;
      }
      if (dup2(high[i], i) < 0) // dup2 clears close-on-exec
        fail(err_pipe[1], errno);
    }
    // Nothing else of the node's leaks into the child.
    syscall(SYS_close_range, static_cast<unsigned>(nfds), ~0U,
            /* CLOSE_RANGE_CLOEXEC */ 1U << 2);
    if (!spec.cwd.empty() && chdir(spec.cwd.c_str()) != 0)
      fail(err_pipe[1], errno);
    execve(program.c_str(), argv.data(), envp.data());
    fail(err_pipe[1], errno);
  }
  // The parent. The child's own process group, set on both sides so that a
  // signal to the group right after this finds it.
  setpgid(pid, pid);
  // An exec error comes through the pipe; a successful exec closes it
  // (close-on-exec) without a word.
  close(err_pipe[1]);
  int code = 0;
  ssize_t n;
  do
    n = read(err_pipe[0], &code, sizeof(code));
  while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n == sizeof(code)) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::string what = spec.cwd.empty() || code != ENOENT
                         ? spec.argv[0]
                         : spec.argv[0] + " (in " + spec.cwd + ")";
    return make_error(errc::io_error, what + ": " + std::strerror(code));
  }
  spawned result;
  result.pid = pid;
  result.pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (result.pidfd < 0) {
    auto err = errno;
    kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return make_error(errc::io_error,
                      std::string{"spawn: pidfd_open: "} + std::strerror(err));
  }
  fcntl(result.pidfd, F_SETFD, FD_CLOEXEC);
  return result;
}

} // namespace switchboard::bridges

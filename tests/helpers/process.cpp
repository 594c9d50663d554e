// switchboard: an embeddable C++ actor runtime. MIT License.

#include "process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace switchboard::test {

namespace {

int pidfd_open(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

} // namespace

child::child(const std::vector<std::string>& argv, bool piped_stdin) {
  int in[2] = {-1, -1};
  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0
      || (piped_stdin && pipe2(in, O_CLOEXEC) != 0))
    throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (piped_stdin)
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  if (piped_stdin) {
    close(in[0]);
    in_fd_ = in[1];
  }
  out_fd_ = out[0];
  err_fd_ = err[0];
  if (rc != 0)
    throw std::runtime_error("posix_spawnp " + argv[0] + ": " + strerror(rc));
  pidfd_ = pidfd_open(pid_);
  if (pidfd_ < 0)
    throw std::runtime_error("pidfd_open failed");
}

child::~child() {
  if (!status_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  for (int fd : {pidfd_, in_fd_, out_fd_, err_fd_})
    if (fd >= 0)
      close(fd);
}

bool child::pump(ms timeout) {
  pollfd fds[3];
  int n = 0;
  if (out_fd_ >= 0)
    fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0)
    fds[n++] = {err_fd_, POLLIN, 0};
  if (!status_)
    fds[n++] = {pidfd_, POLLIN, 0};
  if (n == 0)
    return false;
  auto rc = poll(fds, n, static_cast<int>(timeout.count()));
  if (rc <= 0)
    return false;
  char buf[4096];
  for (int i = 0; i < n; ++i) {
    if (fds[i].revents == 0)
      continue;
    if (fds[i].fd == pidfd_) {
      // Exited; the pipes may still hold output, read on.
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_)
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      continue;
    }
    auto got = read(fds[i].fd, buf, sizeof(buf));
    if (got <= 0) {
      close(fds[i].fd);
      (fds[i].fd == out_fd_ ? out_fd_ : err_fd_) = -1;
      continue;
    }
    (fds[i].fd == out_fd_ ? out_ : err_).append(buf, static_cast<size_t>(got));
  }
  return true;
}

bool child::wait_for_stderr(const std::string& needle, ms timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (err_.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<ms>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || (!pump(left) && err_fd_ < 0))
      return err_.find(needle) != std::string::npos;
  }
  return true;
}

bool child::wait_for_stdout(const std::string& needle, ms timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out_.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<ms>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || (!pump(left) && out_fd_ < 0))
      return out_.find(needle) != std::string::npos;
  }
  return true;
}

bool child::write_stdin(const std::string& data) {
  // A child that exited must fail the write, not kill the test.
  ::signal(SIGPIPE, SIG_IGN);
  size_t off = 0;
  while (in_fd_ >= 0 && off < data.size()) {
    auto n = ::write(in_fd_, data.data() + off, data.size() - off);
    if (n <= 0)
      return false;
    off += static_cast<size_t>(n);
  }
  return in_fd_ >= 0;
}

void child::close_stdin() {
  if (in_fd_ >= 0)
    close(in_fd_);
  in_fd_ = -1;
}

std::optional<int> child::wait(ms timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!status_ || out_fd_ >= 0 || err_fd_ >= 0) {
    auto left = std::chrono::duration_cast<ms>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    pump(left);
  }
  return status_;
}

void child::signal(int sig) {
  if (!status_)
    kill(pid_, sig);
}

run_result run(const std::vector<std::string>& argv, ms timeout) {
  child c{argv};
  run_result result;
  if (auto st = c.wait(timeout))
    result.status = *st;
  result.out = c.out();
  result.err = c.err();
  return result;
}

int open_fds() {
  int n = 0;
  if (auto dir = opendir("/proc/self/fd")) {
    while (readdir(dir) != nullptr)
      ++n;
    closedir(dir);
  }
  return n - 3; // ".", ".." and the directory's own descriptor
}

int thread_count() {
  int n = 0;
  if (auto dir = opendir("/proc/self/task")) {
    while (readdir(dir) != nullptr)
      ++n;
    closedir(dir);
  }
  return n - 2; // "." and ".."
}

temp_dir::temp_dir() {
  auto base = std::getenv("TMPDIR");
  std::string pattern =
    std::string{base && *base ? base : "/tmp"} + "/switchboard-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string temp_dir::write(const std::string& name,
                            const std::string& text) const {
  auto full = path_ + "/" + name;
  std::ofstream{full} << text;
  return full;
}

int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    throw std::runtime_error("closed_port: bind failed");
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

cert_files self_signed_cert(const temp_dir& dir) {
  cert_files result{dir.path() + "/cert.pem", dir.path() + "/key.pem"};
  auto cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
             "/CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
             "-keyout "
             + result.key + " -out " + result.cert + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("self_signed_cert: openssl failed");
  return result;
}

} // namespace switchboard::test

// switchboard: an embeddable C++ actor runtime. MIT License.

// Runs child processes for tests: argv only (no shell), stdout and stderr on
// pipes, every wait bounded by a deadline and driven by poll(2) on the pipes
// and on a pidfd, never by sleeping.

#pragma once

#include <cstdint>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace switchboard::test {

using ms = std::chrono::milliseconds;

/// A running child process. Its destructor kills (SIGKILL) and reaps it if
/// it still runs.
class child {
public:
  /// Starts `argv[0]` with `argv`. With `piped_stdin` its stdin is a pipe
  /// that `write_stdin` feeds; otherwise it inherits the test's.
  explicit child(const std::vector<std::string>& argv,
                 bool piped_stdin = false);
  ~child();

  child(const child&) = delete;
  child& operator=(const child&) = delete;

  pid_t pid() const noexcept {
    return pid_;
  }

  /// Reads stderr until it contains `needle` or `timeout` passes; returns
  /// whether it was seen. All stderr read so far is in `err()`.
  bool wait_for_stderr(const std::string& needle, ms timeout);

  /// Reads stdout until it contains `needle` or `timeout` passes; returns
  /// whether it was seen. All stdout read so far is in `out()`.
  bool wait_for_stdout(const std::string& needle, ms timeout);

  /// Writes `data` to the child's stdin (`piped_stdin` only); returns
  /// whether all of it was written.
  bool write_stdin(const std::string& data);

  /// Closes the child's stdin: it reads EOF.
  void close_stdin();

  /// Waits for the exit; returns the exit status (or 128 + signal), or
  /// nothing on timeout. Drains both pipes meanwhile.
  std::optional<int> wait(ms timeout);

  /// Sends `sig` to the child.
  void signal(int sig);

  const std::string& out() const noexcept {
    return out_;
  }

  const std::string& err() const noexcept {
    return err_;
  }

private:
  // Polls the pipes (and the pidfd) once, up to `timeout`; returns false
  // when nothing happened in time.
  bool pump(ms timeout);

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int in_fd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::optional<int> status_;
  std::string out_;
  std::string err_;
};

/// What `run` returns.
struct run_result {
  /// Exit status, or -1 if the command did not finish in time (it was
  /// killed then).
  int status = -1;
  std::string out;
  std::string err;
};

/// Runs `argv` to completion, at most `timeout`.
run_result run(const std::vector<std::string>& argv, ms timeout = ms{10000});

/// The number of open file descriptors of this process.
int open_fds();

/// How many messages a burst test sends: 10,000, or 500 under TSan, which
/// cannot see into Debian's libcaf_core, takes each message hand-off in it
/// for a race and spends milliseconds on every (suppressed) report.
#if defined(__SANITIZE_THREAD__)
inline constexpr int32_t burst_size = 500;
#else
inline constexpr int32_t burst_size = 10000;
#endif

/// The number of threads of this process.
int thread_count();

/// Polls `pred` until it holds or `timeout` passes; returns its last value.
template<class Pred>
bool eventually(Pred pred, ms timeout = ms{5000}) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

/// A fresh directory under $TMPDIR (or /tmp), removed with its content.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();

  const std::string& path() const noexcept {
    return path_;
  }

  /// Writes `text` to `name` inside the directory; returns the full path.
  std::string write(const std::string& name, const std::string& text) const;

private:
  std::string path_;
};

/// A port of 127.0.0.1 that nothing listens on (bound, then let go): for a
/// config written before its server starts, or a connection to be refused.
int closed_port();

/// A self-signed certificate for localhost and 127.0.0.1 and its key, made
/// by the openssl command in `dir`.
struct cert_files {
  std::string cert;
  std::string key;
};
cert_files self_signed_cert(const temp_dir& dir);

} // namespace switchboard::test

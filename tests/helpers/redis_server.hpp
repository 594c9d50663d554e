// switchboard: an embeddable C++ actor runtime. MIT License.

// A real redis-server for tests: its own directory, a free TCP port on
// 127.0.0.1 and a Unix socket, started and stopped by pid. It can be
// stopped, frozen (SIGSTOP) and started again on the same port and socket,
// which is how the reconnect tests take Redis away.
//
// Tests that only need a Redis use the one the CTest fixture `redis`
// starts (tests/helpers/redis_fixture.sh); run by hand without it,
// `shared_redis()` starts one.

#pragma once

#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "process.hpp"

namespace switchboard::test {

class redis_server {
public:
  /// Starts redis-server with `extra` arguments (e.g. {"--appendonly",
  /// "yes"}) on `port` (0: a free one) and waits until it accepts
  /// connections.
  explicit redis_server(std::vector<std::string> extra = {}, int port = 0)
      : port_(port != 0 ? port : closed_port()), extra_(std::move(extra)) {
    start();
    // A free port may be taken by a test running beside this one before
    // Redis binds it: a port of its own choosing is chosen again.
    for (int attempt = 0; !ready_ && port == 0 && attempt < 5; ++attempt) {
      kill();
      port_ = closed_port();
      start();
    }
  }

  ~redis_server() {
    if (proc_)
      proc_->signal(SIGCONT);
  }

  /// Starts it again (after `stop` or `kill`) on the same port and socket.
  void start() {
    std::vector<std::string> argv{"redis-server",
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--unixsocket",
                                  socket(),
                                  "--dir",
                                  dir_.path(),
                                  "--save",
                                  "",
                                  "--daemonize",
                                  "no"};
    bool aof = false;
    for (auto& x : extra_)
      aof = aof || x == "--appendonly";
    if (!aof)
      argv.insert(argv.end(), {"--appendonly", "no"});
    argv.insert(argv.end(), extra_.begin(), extra_.end());
    proc_ = std::make_unique<child>(argv);
    ready_ = proc_->wait_for_stdout("Ready to accept connections",
                                    std::chrono::seconds(10));
  }

  /// Whether the last start reached "Ready to accept connections".
  bool ready() const noexcept {
    return ready_;
  }

  /// SIGTERM (Redis writes its AOF) and waits for the exit.
  void stop() {
    proc_->signal(SIGTERM);
    proc_->wait(std::chrono::seconds(10));
    proc_.reset();
  }

  /// SIGKILL: gone without a word.
  void kill() {
    proc_->signal(SIGKILL);
    proc_->wait(std::chrono::seconds(10));
    proc_.reset();
  }

  /// Freezes it (SIGSTOP): connections stay open, nothing answers.
  void freeze() {
    proc_->signal(SIGSTOP);
  }

  void thaw() {
    proc_->signal(SIGCONT);
  }

  int port() const noexcept {
    return port_;
  }

  std::string address() const {
    return "127.0.0.1:" + std::to_string(port_);
  }

  std::string socket() const {
    return dir_.path() + "/redis.sock";
  }

  const std::string& dir() const noexcept {
    return dir_.path();
  }

  /// Runs `redis-cli` with `args` against this server.
  run_result cli(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"redis-cli", "-s", socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

private:
  temp_dir dir_;
  int port_;
  std::vector<std::string> extra_;
  std::unique_ptr<child> proc_;
  bool ready_ = false;
};

/// The Unix socket of the Redis every plain test shares: the CTest
/// fixture's (SWITCHBOARD_TEST_REDIS_SOCKET, or $SWITCHBOARD_TEST_REDIS), or
/// one started for this process when that is not running.
inline std::string shared_redis() {
  if (auto env = std::getenv("SWITCHBOARD_TEST_REDIS"); env && *env)
    return env;
#ifdef SWITCHBOARD_TEST_REDIS_SOCKET
  if (::access(SWITCHBOARD_TEST_REDIS_SOCKET, F_OK) == 0)
    return SWITCHBOARD_TEST_REDIS_SOCKET;
#endif
  static redis_server own;
  return own.socket();
}

/// `redis-cli` against the shared Redis.
inline run_result redis_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"redis-cli", "-s", shared_redis()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

} // namespace switchboard::test

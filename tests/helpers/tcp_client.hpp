// switchboard: an embeddable C++ actor runtime. MIT License.

// A blocking TCP client for tests: writes lines to a bridge on 127.0.0.1,
// reads lines back, each read bounded by a 10 s deadline.

#pragma once

#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace switchboard::test {

/// A blocking TCP client for one bridge: writes lines, reads lines.
class tcp_client {
public:
  explicit tcp_client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  ~tcp_client() {
    ::close(fd_);
  }

  int fd() const {
    return fd_;
  }

  void write_line(const std::string& x) {
    auto data = x + "\n";
    REQUIRE(::write(fd_, data.data(), data.size())
            == static_cast<ssize_t>(data.size()));
  }

  // Everything until the peer closes.
  std::string read_all() {
    std::string result = std::move(buf_);
    char tmp[4096];
    for (ssize_t n; (n = ::read(fd_, tmp, sizeof(tmp))) > 0;)
      result.append(tmp, static_cast<size_t>(n));
    return result;
  }

  std::string read_line() {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        auto line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char tmp[4096];
      auto n = ::read(fd_, tmp, sizeof(tmp));
      REQUIRE(n > 0);
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

private:
  int fd_ = -1;
  std::string buf_;
};

} // namespace switchboard::test

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "control_client.hpp"

#include <cerrno>
#include <chrono>
#include <functional>
#include <cstring>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace switchboard::cli {

namespace {

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0)
      close(fd);
  }
};

} // namespace

std::string control_stream(const std::string& path, const std::string& request,
                           const std::function<bool(std::string&)>& on_line,
                           int timeout_ms) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::milliseconds{timeout_ms};
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    return path + ": path too long for a Unix socket";
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, path.size());
  fd_guard sock{socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0)
    return std::string{"socket: "} + std::strerror(errno);
  if (connect(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return "cannot reach a node at " + path + ": " + std::strerror(errno)
           + " (is it running? see --node, --control, --config)";
  auto line = request + "\n";
  for (size_t off = 0; off < line.size();) {
    auto n =
      ::send(sock.fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return std::string{"write: "} + std::strerror(errno);
    }
    off += static_cast<size_t>(n);
  }
  std::string pending;
  char buf[4096];
  for (;;) {
    int wait = -1;
    if (timeout_ms > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - clock::now())
                    .count();
      if (left <= 0)
        return "no reply from the node within " + std::to_string(timeout_ms)
               + " ms";
      wait = static_cast<int>(left);
    }
    pollfd p{sock.fd, POLLIN, 0};
    auto rc = poll(&p, 1, wait);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc < 0)
      return std::string{"poll: "} + std::strerror(errno);
    if (rc == 0)
      continue;
    auto n = read(sock.fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return "the node closed the connection without a reply";
    pending.append(buf, static_cast<size_t>(n));
    for (auto nl = pending.find('\n'); nl != std::string::npos;
         nl = pending.find('\n')) {
      auto one = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!on_line(one))
        return {};
    }
  }
}

std::string control_call(const std::string& path, const std::string& request,
                         std::string& reply, int timeout_ms) {
  return control_stream(
    path, request,
    [&reply](std::string& line) {
      reply = std::move(line);
      return false;
    },
    timeout_ms);
}

} // namespace switchboard::cli

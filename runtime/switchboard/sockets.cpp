// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/sockets.hpp"

#include <cerrno>
#include <cstring>
#include <memory>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "switchboard/channel.hpp"
#include "switchboard/errc.hpp"

namespace switchboard {

namespace {

caf::error os_error(const std::string& what) {
  return make_error(errc::io_error, what + ": " + std::strerror(errno));
}

// A sockaddr_un for `path`; `@name` is an abstract name.
caf::expected<std::pair<sockaddr_un, socklen_t>>
unix_address(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  bool abstract = !path.empty() && path[0] == '@';
  if (path.empty() || path.size() >= sizeof(sa.sun_path))
    return make_error(errc::config_bad_value,
                      "a Unix socket path must have 1 to "
                        + std::to_string(sizeof(sa.sun_path) - 1) + " bytes: '"
                        + path + "'");
  std::memcpy(sa.sun_path, path.data(), path.size());
  if (abstract)
    sa.sun_path[0] = '\0';
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path)
                                    + path.size() + (abstract ? 0 : 1));
  return std::make_pair(sa, len);
}

} // namespace

caf::expected<host_port> parse_host_port(const std::string& text) {
  host_port result;
  result.host = "127.0.0.1";
  std::string port = text;
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    result.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (result.host.size() >= 2 && result.host.front() == '['
        && result.host.back() == ']')
      result.host = result.host.substr(1, result.host.size() - 2);
    if (result.host.empty())
      result.host = "127.0.0.1";
  }
  char* end = nullptr;
  auto p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535)
    return make_error(errc::config_bad_value,
                      "expected HOST:PORT with a port from 0 to 65535, found '"
                        + text + "'");
  result.port = static_cast<uint16_t>(p);
  return result;
}

std::optional<sockaddr_storage> numeric_address(const host_port& where) {
  sockaddr_storage ss{};
  auto v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, where.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(where.port);
  } else if (inet_pton(AF_INET6, where.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(where.port);
  } else {
    return std::nullopt;
  }
  return ss;
}

caf::expected<sockaddr_storage> parse_tcp_address(const std::string& text) {
  auto where = parse_host_port(text);
  if (!where)
    return std::move(where.error());
  if (where->host == "localhost")
    where->host = "127.0.0.1";
  if (auto ss = numeric_address(*where))
    return *ss;
  return make_error(errc::config_bad_value,
                    "expected a numeric IPv4 or IPv6 host (or localhost), "
                    "found '"
                      + where->host + "'");
}

namespace {

struct resolve_request {
  uv_getaddrinfo_t req;
  std::string host;
  resolved_fn done;
};

} // namespace

void resolve_tcp(uv_loop_s* loop, const std::string& host, uint16_t port,
                 resolved_fn done) {
  auto r = new resolve_request;
  r->host = host;
  r->done = std::move(done);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  auto service = std::to_string(port);
  auto rc = uv_getaddrinfo(
    loop, &r->req,
    [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
      std::unique_ptr<resolve_request> r{
        reinterpret_cast<resolve_request*>(req)};
      std::vector<sockaddr_storage> found;
      for (auto ai = status == 0 ? res : nullptr; ai != nullptr;
           ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(sockaddr_storage))
          continue;
        sockaddr_storage ss{};
        std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        found.push_back(ss);
      }
      uv_freeaddrinfo(res);
      if (found.empty())
        r->done(
          make_error(errc::io_error,
                     "cannot resolve " + r->host + ": "
                       + (status != 0 ? uv_strerror(status) : "no address")));
      else
        r->done(std::move(found));
    },
    host.c_str(), service.c_str(), &hints);
  if (rc != 0) {
    auto fail = std::move(r->done);
    delete r;
    fail(make_error(errc::io_error,
                    "cannot resolve " + host + ": " + uv_strerror(rc)));
  }
}

std::string to_string(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    auto a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    return std::string{"["} + host + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  auto a = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
  return std::string{host} + ":" + std::to_string(ntohs(a->sin_port));
}

caf::expected<int> listen_tcp(const sockaddr_storage& addr, int backlog,
                              std::chrono::seconds keepalive) {
  int fd =
    ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return os_error("socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (addr.ss_family == AF_INET6)
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  socklen_t len =
    addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    auto err = os_error("bind " + to_string(addr));
    ::close(fd);
    return err;
  }
  if (::listen(fd, backlog) != 0) {
    auto err = os_error("listen " + to_string(addr));
    ::close(fd);
    return err;
  }
  // Set once here rather than on every accepted socket: five system calls
  // less per connection.
  if (!set_tcp_options(fd, keepalive)) {
    auto err = os_error("setsockopt " + to_string(addr));
    ::close(fd);
    return err;
  }
  return fd;
}

caf::expected<int> listen_unix(const std::string& path, unsigned file_mode,
                               int backlog) {
  auto sa = unix_address(path);
  if (!sa)
    return std::move(sa.error());
  bool abstract = path[0] == '@';
  if (!abstract) {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return make_error(errc::io_error,
                          path + " exists and is not a socket; not replaced");
      // A socket file: replaced only if nobody accepts on it.
      auto probe = connect_unix(path);
      if (probe) {
        ::close(*probe);
        return make_error(errc::io_error,
                          path
                            + " is a live socket (another process listens "
                              "on it); not replaced");
      }
      ::unlink(path.c_str());
    }
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return os_error("socket");
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa->first), sa->second)
      != 0) {
    auto err = os_error("bind " + path);
    ::close(fd);
    return err;
  }
  if (!abstract && ::chmod(path.c_str(), file_mode) != 0) {
    auto err = os_error("chmod " + path);
    ::close(fd);
    ::unlink(path.c_str());
    return err;
  }
  if (::listen(fd, backlog) != 0) {
    auto err = os_error("listen " + path);
    ::close(fd);
    if (!abstract)
      ::unlink(path.c_str());
    return err;
  }
  return fd;
}

void unlink_unix(const std::string& path, int fd) {
  if (path.empty() || path[0] == '@')
    return;
  struct stat mine, theirs;
  if (::fstat(fd, &mine) != 0 || ::stat(path.c_str(), &theirs) != 0)
    return;
  // The file may have been replaced by another process's socket since.
  sockaddr_un sa{};
  socklen_t len = sizeof(sa);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0
      && S_ISSOCK(theirs.st_mode)
      && std::strncmp(sa.sun_path, path.c_str(), sizeof(sa.sun_path)) == 0)
    ::unlink(path.c_str());
}

caf::expected<int> connect_unix(const std::string& path) {
  auto sa = unix_address(path);
  if (!sa)
    return std::move(sa.error());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return os_error("socket");
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa->first), sa->second)
      != 0) {
    auto err = os_error("connect " + path);
    ::close(fd);
    return err;
  }
  return fd;
}

} // namespace switchboard

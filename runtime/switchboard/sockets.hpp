// switchboard: an embeddable C++ actor runtime. MIT License.

// Socket calls the network bridges share: parse an address, look a name
// up, bind a listener, connect a Unix socket.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include <sys/socket.h>

struct uv_loop_s;

namespace switchboard {

/// A TCP address as written: a host (a name, or an IPv4 or IPv6 address
/// without brackets) and a port.
struct host_port {
  std::string host;
  uint16_t port = 0;
};

/// Parses `HOST:PORT`, `[V6]:PORT` or a bare `PORT` (127.0.0.1); the host
/// may be a name.
caf::expected<host_port> parse_host_port(const std::string& text);

/// The address of a numeric host, or none for a name.
std::optional<sockaddr_storage> numeric_address(const host_port& where);

/// Parses `HOST:PORT`, `[V6]:PORT` or a bare `PORT` (127.0.0.1) with a
/// numeric host. `localhost` is 127.0.0.1.
caf::expected<sockaddr_storage> parse_tcp_address(const std::string& text);

/// What `resolve_tcp` found: every address, in the resolver's order.
using resolved_fn =
  std::function<void(caf::expected<std::vector<sockaddr_storage>>)>;

/// Looks `host` up for a TCP connection to `port` on libuv's thread pool
/// (getaddrinfo blocks; the loop must not). `done` runs once on the loop's
/// thread, or at once when the lookup cannot start; an error names the
/// host. Whoever `done` stands for may be gone by then: it checks.
void resolve_tcp(uv_loop_s* loop, const std::string& host, uint16_t port,
                 resolved_fn done);

/// `HOST:PORT` of a socket address (`[::1]:PORT` for IPv6).
std::string to_string(const sockaddr_storage& addr);

/// A listening TCP socket (non-blocking, close-on-exec, SO_REUSEADDR) with
/// TCP_NODELAY and `keepalive` set (`set_tcp_options`), which the sockets it
/// accepts inherit.
caf::expected<int> listen_tcp(const sockaddr_storage& addr, int backlog,
                              std::chrono::seconds keepalive);

/// A listening Unix socket at `path` (`@name`: Linux's abstract names).
/// A file already at `path` is replaced only if it is a socket nobody
/// listens on. The file gets `file_mode`.
caf::expected<int> listen_unix(const std::string& path, unsigned file_mode,
                               int backlog);

/// Removes the socket file at `path` if it is still the one `fd` bound
/// (an abstract name has none).
void unlink_unix(const std::string& path, int fd);

/// A connected, non-blocking Unix stream socket (a Unix connect finishes
/// at once or fails).
caf::expected<int> connect_unix(const std::string& path);

} // namespace switchboard

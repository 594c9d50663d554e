// switchboard: an embeddable C++ actor runtime. MIT License.

// Socket calls the network bridges share: parse an address, bind a
// listener, connect a Unix socket.

#pragma once

#include <chrono>
#include <string>

#include <caf/expected.hpp>

#include <sys/socket.h>

namespace switchboard {

/// Parses `HOST:PORT`, `[V6]:PORT` or a bare `PORT` (127.0.0.1).
/// `localhost` is 127.0.0.1.
caf::expected<sockaddr_storage> parse_tcp_address(const std::string& text);

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

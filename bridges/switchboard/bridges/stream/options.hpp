// switchboard: an embeddable C++ actor runtime. MIT License.

// The keys of the `tcp` and `uds` bridge kinds, read once into
// `stream_options`, and the socket calls both kinds share (parse an
// address, bind a listener, connect a Unix socket).

#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/settings.hpp>
#include <caf/timespan.hpp>

#include <switchboard/framing.hpp>
#include <switchboard/kinds.hpp>
#include <switchboard/restart_policy.hpp>
#include <switchboard/sockets.hpp>

namespace switchboard::bridges::stream {

/// What a connection does when its outbound queue passes `max-queued`.
enum class overflow_policy : uint8_t {
  /// Stop reading the connection's input until its queue drains; pushes
  /// from others that would pass the mark are dropped and counted.
  pause,
  /// Drop the message, counted.
  drop,
  /// Close the connection (reason "overflow").
  disconnect,
};

/// One `tcp` or `uds` bridge's settings.
struct stream_options {
  std::string name;
  /// `uds` (a Unix socket path or `@abstract` name) rather than `tcp`.
  bool unix_socket = false;
  /// `mode = "server"` (listen) or `"client"` (connect).
  bool server = true;
  /// The address: `listen` for a server, `connect` for a client.
  std::string address;
  framing how = framing::lines;
  /// `format = "text"`: frames are strings, not JSON.
  bool text = false;
  size_t max_frame = 1 << 20;
  std::string to;
  std::string room;
  std::string events;
  int64_t max_connections = 10000;
  int backlog = 511;
  /// 0: off.
  caf::timespan idle_timeout{0};
  caf::timespan frame_timeout{std::chrono::seconds(30)};
  caf::timespan request_timeout{std::chrono::seconds(5)};
  size_t max_queued = 1 << 20;
  overflow_policy overflow = overflow_policy::pause;
  /// Requests in flight per connection before reading pauses.
  size_t max_pending = 1024;
  /// TCP keepalive probes after this much silence; 0: off.
  caf::timespan keepalive{std::chrono::seconds(60)};
  /// `keepalive` in whole seconds, at least 1 unless off (0).
  std::chrono::seconds keepalive_seconds() const {
    if (keepalive.count() <= 0)
      return std::chrono::seconds{0};
    return std::max(std::chrono::seconds{1},
                    std::chrono::ceil<std::chrono::seconds>(keepalive));
  }
  /// Server: hand each accepted connection to one of these child-process
  /// actors (over their IPC channels) instead of serving it here.
  std::vector<std::string> hand_to;
  /// Server, with `hand_to`: the same client address always goes to the
  /// same child (`dispatch = "sticky"`) rather than round robin.
  bool sticky = false;
  /// Server: `listen = "parent"`, connections come from the parent node
  /// (handed over its IPC channel) instead of a listener of its own.
  bool from_parent = false;
  /// Unix socket file permissions.
  unsigned file_mode = 0600;
  /// Client: messages held while disconnected.
  size_t max_held = 1000;
  /// Client: reconnecting. At these delays (0.1s doubling to 5s) a client
  /// makes fewer than 20 attempts a minute, so it never gives up unless
  /// told to.
  restart_policy restart = [] {
    restart_policy p;
    p.max_delay = std::chrono::seconds(5);
    p.max_restarts = 100;
    return p;
  }();
};

/// The keys of the `tcp` (`unix_socket` false) or `uds` kind.
std::vector<key_spec> stream_keys(bool unix_socket);

/// Reads and checks a `tcp` or `uds` entry.
caf::expected<stream_options> read_stream_options(const caf::settings& args,
                                                  std::string name,
                                                  bool unix_socket,
                                                  caf::timespan timeout);

} // namespace switchboard::bridges::stream

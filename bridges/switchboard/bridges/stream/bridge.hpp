// switchboard: an embeddable C++ actor runtime. MIT License.

// The `tcp` and `uds` bridge kinds: Node's net.createServer / net.connect
// as actors. One implementation serves both; they differ in the address
// (HOST:PORT, or a Unix socket path or @abstract name).
//
// Usage (config):
// ~~~
// [bridges]
// echo-server = { kind = "tcp", listen = "127.0.0.1:7000", to = "echo" }
// chat        = { kind = "uds", listen = "/run/app/chat.sock",
//                 room = "lobby", framing = "json-stream" }
// upstream    = { kind = "tcp", mode = "client",
//                 connect = "127.0.0.1:7001", to = "handler" }
//   datagrams   = { kind = "udp", bind = "127.0.0.1:7002", to = "echo" }
// ~~~

#pragma once

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include <switchboard/kinds.hpp>

#include "switchboard/bridges/stream/options.hpp"

namespace switchboard::bridges::stream {

/// The `tcp` kind.
kind_spec tcp_kind();

/// The `uds` kind.
kind_spec uds_kind();

/// The `udp` kind (udp.cpp): one socket, each datagram a message.
kind_spec udp_kind();

/// Binds `opts.address` (on the calling thread, so a bind error is the
/// spawn's error) and spawns the server on the node's loop.
caf::expected<caf::actor> spawn_server(switchboard::node& owner,
                                       stream_options opts);

/// Spawns a client on the node's loop; it connects (and reconnects) by
/// itself, so a server that is not there yet is no error.
caf::expected<caf::actor> spawn_client(switchboard::node& owner,
                                       stream_options opts);

} // namespace switchboard::bridges::stream

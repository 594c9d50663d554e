// switchboard: an embeddable C++ actor runtime. MIT License.

// The `cluster` kind: N copies of one command behind one listening socket,
// the twin of Node's cluster module (and of PM2's cluster mode).
//
// The node binds `listen` once and hands the socket to every instance as
// an inherited fd, by systemd's convention (fd 3, LISTEN_FDS=1,
// LISTEN_PID), so a server in any language accepts on it; the kernel
// spreads connections over the instances. Each instance is a
// `child-process` (supervised, with the same keys). A JSON request to the
// cluster goes to every instance; the reply is the array of their answers.
// `reload_atom` replaces the instances one at a time: the next one only
// after its replacement has started, so the socket always has a server and
// no connection is refused. `status_atom` answers pid, state, uptime, RSS,
// CPU% and restarts per instance.
//
// A Node server on the inherited socket:
// ~~~
// require('net').createServer(onConnection).listen({ fd: 3 });
// // or: require('http').createServer(handler).listen({ fd: 3 });
// ~~~

#pragma once

#include <switchboard/kinds.hpp>
#include <switchboard/messages.hpp>

namespace switchboard::actors {

using switchboard::reload_atom;

/// The `cluster` kind.
kind_spec cluster_kind();

} // namespace switchboard::actors

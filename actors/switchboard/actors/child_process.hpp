// switchboard: an embeddable C++ actor runtime. MIT License.

// Child processes as actors: the `child-process` kind.
//
// The actor starts `command` (argv, exec'd directly) and owns its stdio and
// ipc bridges (bridges/process/). A JSON message sent to it is written to
// the child (its ipc channel if it has one, else its stdin); a request is
// answered by the child's next message, or with `correlate = "id"` by the
// message whose `id` matches. Other messages from the child go to the actor
// named by `to`; lifecycle events (started, exited, restarting, gave-up,
// error) to the one named by `events`. The actor supervises the child:
// restart policy, exponential backoff, a restart limit per window, an
// optional memory limit. A child never outlives its node: it is killed when
// the node stops, and by the kernel if the node dies.
//
// Commands (C++, or `switchboard ctl`): `signal_atom, int` sends a signal;
// `stop_atom` stops the child (SIGTERM, then SIGKILL after `kill-timeout`) and
// keeps it stopped; `start_atom` starts a stopped child; `restart_atom` stops
// and starts it; `eof_atom` closes its stdin while its output is still read.
// Each answers `ok_atom` or an error. `status_atom` answers a JSON status.
//
// Usage:
// ~~~
// [actors]
// job = { kind = "child-process", command = ["node", "worker.js"],
//         ipc = "json", restart = "on-failure", to = "collector" }
// ~~~

#pragma once

#include <switchboard/kinds.hpp>
#include <switchboard/messages.hpp>

namespace switchboard::actors {

// The commands (runtime/switchboard/messages.hpp).
using switchboard::eof_atom;
using switchboard::restart_atom;
using switchboard::signal_atom;
using switchboard::start_atom;
using switchboard::stop_atom;

/// The `child-process` kind.
kind_spec child_process_kind();

} // namespace switchboard::actors

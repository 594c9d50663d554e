// switchboard: an embeddable C++ actor runtime. MIT License.

// The message vocabulary every kind and bridge shares: atoms and the typed
// mailbox interfaces built from them. Kinds extend these interfaces with
// `extend<...>`; a typed handle converts to any interface it contains.

#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "switchboard/json_message.hpp"

namespace switchboard {

// -- atoms --------------------------------------------------------------------

/// Adds an actor to a group (a room's members).
using join_atom = caf::atom_constant<caf::atom("join")>;

/// Removes an actor from a group.
using leave_atom = caf::atom_constant<caf::atom("leave")>;

/// A one-way delivery that expects no reply (events, broadcasts).
using push_atom = caf::atom_constant<caf::atom("push")>;

/// Asks an actor to describe itself; the reply is a JSON object.
using status_atom = caf::atom_constant<caf::atom("status")>;

// Lifecycle commands, taken by supervising actors (child-process, cluster)
// from C++ and from `switchboard ctl`; each answers `ok_atom` or an error.

/// `signal_atom, int32_t`: sends a signal to what the actor supervises.
using signal_atom = caf::atom_constant<caf::atom("signal")>;

/// Stops what the actor supervises and keeps it stopped.
using stop_atom = caf::atom_constant<caf::atom("stop")>;

/// Starts it again after a stop (or after it gave up).
using start_atom = caf::atom_constant<caf::atom("start")>;

/// Stops and starts it.
using restart_atom = caf::atom_constant<caf::atom("restart")>;

/// Closes a child's stdin (EOF) while its output is still read.
using eof_atom = caf::atom_constant<caf::atom("eof")>;

/// Replaces a cluster's instances one at a time.
using reload_atom = caf::atom_constant<caf::atom("reload")>;

// -- interfaces ---------------------------------------------------------------

/// Answers a JSON request with a JSON reply (or an error).
using json_actor =
  caf::typed_actor<caf::replies_to<json_message>::with<json_message>>;

/// Takes one-way JSON deliveries.
using sink_actor = caf::typed_actor<caf::reacts_to<push_atom, json_message>>;

/// Describes itself for `switchboard status`: a JSON object.
using status_actor =
  caf::typed_actor<caf::replies_to<status_atom>::with<json_message>>;

} // namespace switchboard

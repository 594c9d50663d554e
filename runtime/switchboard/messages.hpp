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

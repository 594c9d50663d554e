// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <switchboard/kinds.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/metered.hpp>

namespace switchboard::actors {

/// Replies to every JSON request with the request itself.
using echo_actor = json_actor::extend_with<status_actor>;

/// The behaviour of an `echo_actor` (metered, metered.hpp).
echo_actor::behavior_type echo(metered<echo_actor::base>* self);

/// The `echo` kind. Keys: none.
kind_spec echo_kind();

} // namespace switchboard::actors

// switchboard: an embeddable C++ actor runtime. MIT License.

// The keys the `redis` and `redis-stream` kinds share: where Redis is, how
// to log in, and how a link copes with a Redis that goes away.

#pragma once

#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/settings.hpp>

#include <switchboard/kinds.hpp>

#include "switchboard/bridges/redis/link.hpp"

namespace switchboard::bridges::redis {

/// address, user, password, db, down-after, max-frame, max-pending,
/// max-held, events, format and the restart policy's keys.
std::vector<key_spec> common_keys();

/// The options of one link (role left empty) from `args`.
caf::expected<link_options> read_link_options(const caf::settings& args,
                                              const std::string& name);

} // namespace switchboard::bridges::redis

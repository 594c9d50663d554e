// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/timespan.hpp>

#include "switchboard/json_message.hpp"
#include "switchboard/metrics.hpp"
#include "switchboard/registry.hpp"

namespace switchboard {

/// Builds an actor's reply to `status_atom`: `{"kind": ..., "mailbox": N}`
/// plus the given extra fields (name and JSON text each). Call it from the
/// actor's own behaviour: the mailbox size may only be read there.
json_message
status_reply(caf::scheduled_actor* self, const char* kind,
             std::vector<std::pair<std::string, std::string>> fields);

/// Asks every actor in `entries` for its status (on behalf of `self`, which
/// may be one of them) and calls `done` with
/// `{"node": NAME, "actors": [{"name", "kind", "section", "id", "status"}]}`
/// sorted by name, once all have answered or `timeout` has passed (an actor
/// that did not answer shows `"status": {"error": ...}`). What the control
/// socket's `status` and the http bridge's `/status` print.
/// With `metrics`, each row also has `"metrics"`: the entry's counters
/// (in, out, handled, errors, mailbox, restarts, connections,
/// dropped, in_per_s, out_per_s), for actors that count.
void collect_status(caf::event_based_actor* self, const std::string& node_name,
                    std::vector<registry_entry> entries, caf::timespan timeout,
                    std::function<void(std::string)> done,
                    const metrics_registry* metrics = nullptr);

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/duration.hpp>
#include <caf/fwd.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>
#include <caf/response_handle.hpp>
#include <caf/scheduled_actor.hpp>
#include <caf/timespan.hpp>

#include "switchboard/json_message.hpp"
#include "switchboard/metrics.hpp"
#include "switchboard/registry.hpp"

namespace switchboard {

/// Sends `msg` to `dest` as an urgent request (ahead of the receiver's
/// queue; neither counted nor traced by the metrics, metered.hpp) and
/// returns the handle to set the reply's handlers on, as `request` does.
/// The runtime's own queries (status) go this way. (`request<high>` of the
/// CAF 0.17 that Debian ships keeps the normal category in the request id,
/// so the id is made here.)
template<class Self>
auto urgent_request(Self* self, const caf::actor& dest, caf::timespan timeout,
                    caf::message msg) {
  auto mid =
    self->new_request_id(caf::message_priority::normal).with_high_priority();
  dest->enqueue(
    caf::make_mailbox_element(self->ctrl(), mid, {}, std::move(msg)),
    self->context());
  self->request_response_timeout(caf::duration{timeout}, mid);
  return caf::response_handle<Self, caf::message, false>{mid.response_id(),
                                                         self};
}

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

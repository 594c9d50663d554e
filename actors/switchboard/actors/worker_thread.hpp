// switchboard: an embeddable C++ actor runtime. MIT License.

// Worker threads: the C++ twin of Node's worker_threads.
//
// A `worker-thread` instance is a pool of `count` workers behind one name.
// Each worker is a CAF actor on an OS thread of its own (thread_actor.hpp:
// it polls for `spin` before it sleeps, and may have a set stack size) that
// runs a named behaviour, a plain function from a JSON request to a JSON
// reply. The pool
// dispatches in the sender's context (no extra hop, unless `timeout` puts
// an actor in front): `round-robin`,
// `least-loaded` (fewest requests in flight) or `broadcast` (every worker
// gets the request; the reply is an array of their replies, in the order
// they came). A supervisor per pool restarts a worker whose behaviour threw
// (`restart = "on-failure"`, the default), with a delay that doubles per
// consecutive failure; the other workers serve meanwhile.
//
// Usage (embedding):
// ~~~
// auto behaviors = actors::builtin_behaviors();   // "calculator"
// behaviors.add("shout", [](const json_message& m, worker_context&) {
//   return caf::expected<json_message>{m};
// });
// actors::add_builtin_kinds(n.kinds(), behaviors);
// // [actors] calc = { kind = "worker-thread", behavior = "calculator", count =
// 4 }
// ~~~

#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <switchboard/json_message.hpp>
#include <switchboard/kinds.hpp>

#include "switchboard/actors/buffers.hpp"
#include "switchboard/actors/shared_buffer.hpp"

namespace switchboard::actors {

/// What a behaviour knows about the worker that runs it.
struct worker_context {
  /// The pool's name.
  std::string pool;
  /// The worker's index in the pool, from 0.
  size_t index = 0;
  /// How many times the worker at this index has been restarted.
  unsigned restarts = 0;
  /// The shared buffers the pool's `buffers` key lists, by name. They
  /// outlive restarts: a restarted worker gets the same blocks.
  std::map<std::string, shared_buffer> buffers;
};

/// A worker behaviour: answers one request, on the worker's own thread. An
/// exception it throws becomes an `errc::worker_failed` error reply, and
/// the worker restarts per the pool's `restart` policy.
using worker_behavior = std::function<caf::expected<json_message>(
  const json_message& request, worker_context& ctx)>;

/// Named worker behaviours. Not thread-safe: fill it, then hand it over.
class behavior_registry {
public:
  /// Adds `fn` as `name`; returns `errc::name_taken` if the name is taken.
  caf::error add(const std::string& name, worker_behavior fn);

  /// The behaviour named `name`, or null.
  const worker_behavior* find(const std::string& name) const;

  /// Every name, sorted.
  std::vector<std::string> names() const;

private:
  std::map<std::string, worker_behavior> behaviors_;
};

/// The behaviours switchboard ships: "calculator" (calculator.hpp).
behavior_registry builtin_behaviors();

/// The `worker-thread` kind, running the behaviours in `behaviors`.
/// Keys: `behavior` (required), `count` (default 1), `dispatch`, `restart`,
/// `restart-delay`, `restart-delay-max`, `timeout`, `buffers`, `spin`,
/// `stack-size`.
kind_spec worker_thread_kind(behavior_registry behaviors);

} // namespace switchboard::actors

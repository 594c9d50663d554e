// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/settings.hpp>

#include "switchboard/config.hpp"
#include "switchboard/fwd.hpp"
#include "switchboard/kinds.hpp"
#include "switchboard/registry.hpp"
#include "switchboard/reload.hpp"

namespace switchboard {

/// One switchboard process: a CAF actor system, one io loop thread, a
/// registry of named actors and the config they came from.
///
/// Usage (embedding):
/// ~~~
/// auto cfg = node_config::from_file("conf/default.conf");
/// switchboard::node n{std::move(*cfg)};
/// switchboard::actors::add_builtin_kinds(n.kinds());
/// if (auto err = n.start()) { ... }         // spawns what the config names
/// auto echo = n.lookup("echo");             // a caf::actor
/// n.spawn("echo2", "echo");                 // more, by kind name
/// n.stop();                                 // drains and shuts down
/// ~~~
class node {
public:
  /// Prepares a node; nothing runs until `start`.
  explicit node(node_config cfg);

  /// Stops the node if it still runs.
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // -- lifecycle --------------------------------------------------------------

  /// Validates the config against the registered kinds, starts the actor
  /// system and the io loop and spawns every actor and bridge the config
  /// names. Returns `errc::config_*` listing every config problem, or the
  /// first spawn error (after stopping what had started).
  caf::error start();

  /// Stops gracefully: bridges get their exit first, then every named actor;
  /// an exit queues behind the mailbox, so each drains first. Actors that
  /// have not exited by `[node] stop-timeout` are killed (an urgent exit
  /// ahead of their mailbox). Then the io loop ends its remaining loop
  /// actors and closes its handles, and the actor system shuts down, waiting
  /// for every actor, including one stuck in a computation. Release your own
  /// `scoped_actor`s before. Thread-safe and idempotent; every caller
  /// returns once the node has stopped.
  void stop();

  /// Asks the thread in `wait_for_stop_request` to stop the node. Thread-safe.
  void request_stop();

  /// Blocks until `request_stop` is called (or a signal arrives, see
  /// `handle_signals`).
  void wait_for_stop_request();

  /// Waits at most `timeout` for `request_stop`; returns whether it came.
  bool wait_for_stop_request(std::chrono::milliseconds timeout);

  /// Turns the first SIGINT or SIGTERM into `request_stop` and the second
  /// into an immediate exit with status 128 + signal number, and SIGHUP
  /// into a reload of the config file (`reload_in_background`). Call after
  /// `start`, from any thread but the loop's; returns once the handlers are
  /// installed. For one node per process.
  caf::error handle_signals();

  /// Whether `start` succeeded and `stop` has not begun.
  bool running() const noexcept;

  // -- reloading the config ---------------------------------------------------

  /// Reads `file` (empty: the file the node runs, with the same
  /// command-line overrides), checks it as `start` would, and compares its
  /// entries with the running ones. With `apply` it then stops the entries
  /// the file drops, restarts those it changes (one at a time; a child
  /// process or cluster is ready before the next goes) and starts the new
  /// ones, in start order, leaving every other entry, its connections and
  /// its children alone; the node then runs the new config. One reload at a
  /// time. Blocks; not for the io loop's thread.
  /// @returns the plan, as applied (`failed` lists what could not start), or
  ///          `errc::config_*` listing every problem of the file (nothing
  ///          changed), or `errc::reload_busy`.
  caf::expected<reload_plan> reload(const std::string& file, bool apply);

  /// `reload` in a thread of the node's own, which calls `done` with the
  /// result. What SIGHUP and `switchboard reload` do. Thread-safe.
  void
  reload_in_background(std::string file, bool apply,
                       std::function<void(caf::expected<reload_plan>)> done);

  // -- actors -----------------------------------------------------------------

  /// Spawns an instance of `kind` named `name`. `args` are its config keys
  /// (as in `[actors] name = { kind = "...", ... }`); they are validated
  /// like a config entry.
  caf::expected<caf::actor> spawn(const std::string& name,
                                  const std::string& kind,
                                  caf::settings args = {});

  /// Registers an actor the embedding service (or a bridge) spawned itself,
  /// so configs, routers and `switchboard send` can reach it by name. It
  /// leaves the registry when it exits.
  caf::error add(const std::string& name, caf::actor handle,
                 std::string kind = "custom",
                 kind_section section = kind_section::actors,
                 bool accepts_json = true);

  /// The actor named `name`, or an invalid handle. `NODE/ACTOR` names an
  /// actor of another node of the topology (`[node] peers`, `listen`): the
  /// handle is a local stand-in that forwards to it, holds messages while
  /// that node is down and answers requests with `node_down` when it goes.
  /// Cast it to the remote actor's typed interface as needed.
  caf::actor lookup(const std::string& name) const;

  /// The registry entry `name` stands for (as `lookup`), if any.
  std::optional<registry_entry> entry(const std::string& name) const;

  /// `lookup` for a hot path: the actor in `cache` while it lives, else
  /// looked up again (and kept in `cache`). An empty name is no actor.
  caf::actor lookup(const std::string& name, caf::actor& cache) const;

  /// Sends `text` (one JSON object) without a sender to the actor named
  /// `events` (looked up through `cache`), as the kinds with an `events` key
  /// report what happens; false if there is no such actor (the caller then
  /// logs what matters).
  bool send_event(const std::string& events, caf::actor& cache,
                  std::string text) const;

  // -- properties -------------------------------------------------------------

  /// The kinds this node can spawn. Add your own before `start`.
  kind_registry& kinds() noexcept;

  /// The named actors.
  switchboard::registry& registry() noexcept;

  /// The config the node runs: the one it was built from, or the last
  /// one a reload applied. The reference stays valid until the node is
  /// destroyed.
  const node_config& config() const noexcept;

  /// The node's metric blocks (metrics.hpp); valid from construction to
  /// destruction. Empty when `[node] metrics = false`.
  metrics_registry& metrics() noexcept;

  /// Whether the node counts (`[node] metrics`, on by default).
  bool metrics_enabled() const noexcept;

  /// `[node] name`.
  const std::string& name() const noexcept;

  /// The CAF actor system. Valid between `start` and `stop`.
  caf::actor_system& system();

  /// The io loop. Valid between `start` and `stop`.
  io_loop& loop();

  /// How long requests from outside (control endpoint) wait for a reply.
  std::chrono::milliseconds request_timeout() const;

  /// Writes one line about the node itself to its log (stderr) at level
  /// info. Thread-safe.
  void log(const std::string& line) const;

  /// Writes one line about `actor` (a bridge's or actor's name; empty for
  /// the node) at `level`, if the config's `log-level` lets it through.
  /// Thread-safe.
  void log(log_level level, const std::string& actor,
           const std::string& text) const;

  /// The log: its level, and the last lines for a tail.
  const node_log& logs() const noexcept;

  /// State a library keeps once per node (the named shared buffers, say),
  /// made by `make()` on first use and kept until the node is destroyed.
  /// Thread-safe.
  template<class T, class F>
  std::shared_ptr<T> shared_state(const std::string& key, F make) {
    return std::static_pointer_cast<T>(
      shared_state_impl(key, [&] { return std::shared_ptr<void>{make()}; }));
  }

  class impl;

private:
  std::shared_ptr<void>
  shared_state_impl(const std::string& key,
                    const std::function<std::shared_ptr<void>()>& make);

  caf::expected<caf::actor> spawn_entry(const std::string& name,
                                        const std::string& kind,
                                        caf::settings args, bool validate_args);

  std::unique_ptr<impl> impl_;
};

} // namespace switchboard

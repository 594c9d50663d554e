// switchboard: an embeddable C++ actor runtime. MIT License.

// What reloading a node's config changes: the entries of [actors] and
// [bridges] that are new, gone or different, compared key by key. A node
// applies such a plan to itself (`node::reload`): it stops what is gone,
// restarts what changed (one at a time, so a pool of children keeps
// serving) and starts what is new, and leaves every other entry, its
// connections and its children alone. What a running node cannot change
// (its name, listen address, scheduler) is listed, not applied.

#pragma once

#include <string>
#include <vector>

#include <caf/settings.hpp>

namespace switchboard {

class kind_registry;

/// The difference between a running config and the next one.
struct reload_plan {
  /// Entries the next config adds (or that are not running): started.
  /// Each is `SECTION.NAME`, e.g. `actors.calc`.
  std::vector<std::string> added;
  /// Entries the next config drops: stopped.
  std::vector<std::string> removed;
  /// Entries whose keys changed: stopped, then started with the new keys.
  std::vector<std::string> changed;
  /// Entries that stay as they are.
  std::vector<std::string> unchanged;
  /// Keys the next config changes that take effect only when the node
  /// starts again (`node.listen`, `scheduler.max-threads`, a buffer that
  /// changed size, ...).
  std::vector<std::string> needs_restart;
  /// After it was applied: entries that could not start (or stop), each
  /// `SECTION.NAME: reason`; the rest of the plan was applied.
  std::vector<std::string> failed;

  /// Whether the plan changes no entry.
  bool empty() const noexcept {
    return added.empty() && removed.empty() && changed.empty();
  }

  /// `{"added": [...], "removed": [...], "changed": [...], "unchanged":
  /// [...], "needs_restart": [...], "failed": [...]}`.
  std::string to_json() const;

  /// A few lines for people: `+ actors.calc`, `- bridges.old`, `~
  /// actors.job`, and what needs a restart.
  std::string to_text() const;
};

/// Compares the config `now` (whose entries named in `running` run; others
/// count as added) with `next`. Entries are compared by their whole value,
/// so any key that changed restarts the entry.
reload_plan plan_reload(const caf::settings& now, const caf::settings& next,
                        const std::vector<std::string>& running);

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>

#include "switchboard/kinds.hpp"

namespace switchboard {

/// One named actor of a node.
struct registry_entry {
  /// The name other actors, configs and `switchboard send` use.
  std::string name;
  /// The kind it was built from (`"custom"` for actors added in C++).
  std::string kind;
  /// `[actors]` or `[bridges]`.
  kind_section section = kind_section::actors;
  /// Whether it answers `json_message` requests.
  bool accepts_json = true;
  /// The actor.
  caf::actor handle;
};

/// The named actors of a node. Thread-safe: any thread may look up names
/// while others add and remove them. An actor that has exited is gone from
/// every lookup even before its entry is erased.
class registry {
public:
  /// Adds `entry`; returns `errc::name_taken` if the name is in use.
  caf::error put(registry_entry entry);

  /// Returns the actor named `name`, or an invalid handle.
  caf::actor lookup(const std::string& name) const;

  /// Returns the entry named `name`, if any.
  std::optional<registry_entry> find(const std::string& name) const;

  /// Removes `name` if it still refers to the actor with address `addr`.
  void erase_if(const std::string& name, const caf::actor_addr& addr);

  /// All entries, sorted by name.
  std::vector<registry_entry> list() const;

  /// Removes every entry.
  void clear();

private:
  mutable std::shared_mutex mtx_;
  std::map<std::string, registry_entry> entries_;
};

} // namespace switchboard

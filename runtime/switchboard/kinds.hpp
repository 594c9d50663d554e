// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <functional>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/settings.hpp>

#include "switchboard/fwd.hpp"

namespace switchboard {

/// The type a config key must have.
enum class value_type {
  /// A quoted string.
  string,
  /// A whole number.
  integer,
  /// `true` or `false`.
  boolean,
  /// A number, whole or not.
  real,
  /// A duration with a unit: `250ms`, `2s`.
  timespan,
  /// A list of strings.
  string_list,
  /// A list of anything.
  list,
  /// A `{ ... }` map.
  map,
  /// The name of an actor or bridge of this node, or `node/actor`.
  actor_ref,
  /// A list of `actor_ref`.
  actor_ref_list,
  /// A map whose values are `actor_ref`s (e.g. a router's routes).
  actor_ref_map,
  /// Anything.
  any,
};

/// Names `x` for people, e.g. "string" or "list of strings".
const char* to_string(value_type x);

/// One key an actor kind, bridge kind or section accepts.
struct key_spec {
  /// The key, kebab-case.
  std::string name;
  /// The type its value must have.
  value_type type = value_type::string;
  /// Whether the key must be present.
  bool required = false;
  /// One line for people (`switchboard check`, conf/README.md).
  std::string doc;
  /// For strings: the allowed values, if only some are.
  std::vector<std::string> one_of = {};
  /// For integers: the smallest allowed value, if there is one.
  std::optional<int64_t> minimum = std::nullopt;
  /// For strings and string lists: the section whose entries the values
  /// must name (e.g. "buffers"), if any.
  std::string refers_to = {};
};

/// A section of named entries that a library adds to the config, such as
/// `[buffers]`: each entry is a map checked against `keys`.
struct section_spec {
  /// The section's name, e.g. "buffers".
  std::string name;
  /// One line for people.
  std::string doc;
  /// The keys of each entry.
  std::vector<key_spec> keys;
  /// Optional: checks an entry beyond its keys' types (keys that need each
  /// other), as `kind_spec::check` does for instances.
  std::function<caf::error(const std::string& name, const caf::settings& args)>
    check = {};
};

/// Where a kind's instances are declared in a config file.
enum class kind_section {
  /// `[actors]`
  actors,
  /// `[bridges]`
  bridges,
};

/// What a factory gets to build one instance of a kind.
struct spawn_context {
  /// The node that spawns the instance.
  switchboard::node& node;
  /// The instance's name in the registry.
  std::string name;
  /// The instance's entry from the config, `kind` included.
  caf::settings args;
  /// The block the instance counts into (metrics.hpp), or null when the
  /// node counts nothing. The node attaches it to the actor the factory
  /// returns; a kind hands it to the actors it spawns itself (connections,
  /// workers) so that they count into the same entry.
  actor_metrics* metrics = nullptr;
};

/// Builds one instance of a kind. Runs on the thread that calls
/// `node::start` or `node::spawn`.
using kind_factory =
  std::function<caf::expected<caf::actor>(const spawn_context&)>;

/// A named actor kind: its keys and its factory.
struct kind_spec {
  /// The name configs use in `kind = "..."`.
  std::string name;
  /// One line for people.
  std::string doc;
  /// `[actors]` or `[bridges]`.
  kind_section section = kind_section::actors;
  /// Every key an instance may have besides `kind`.
  std::vector<key_spec> keys;
  /// Builds an instance.
  kind_factory factory;
  /// Optional: checks an entry beyond its keys' types, as the factory would
  /// (a port out of range, keys that need each other), without side
  /// effects. `switchboard check` runs it on entries whose keys passed, so
  /// what `run` would refuse, `check` refuses first. `name` is the entry's.
  std::function<caf::error(const std::string& name, const caf::settings& args)>
    check = {};
  /// Whether instances answer `json_message` requests (`switchboard send`).
  bool accepts_json = true;
  /// Whether instances pass requests on to the actors their keys name (a
  /// router does). A cycle of such actors would pass a request around
  /// forever, so validation refuses one.
  bool forwards = false;
};

/// The `run-on` key of kinds that can run on either thread: `"scheduler"`
/// (CAF's threads, the default) or `"loop"` (the node's io loop, beside
/// the bridges: a bridge's request then reaches it with no thread hop, and
/// it shares the loop's one thread with them).
key_spec run_on_key();

/// Whether `args` say `run-on = "loop"`.
bool runs_on_loop(const caf::settings& args);

/// The kinds a node can instantiate, by name. Built-ins and the kinds an
/// embedding service adds are registered the same way, before the node
/// starts. Not thread-safe: fill it, then only read it.
class kind_registry {
public:
  /// Adds `spec`; returns `errc::name_taken` if its name is taken.
  caf::error add(kind_spec spec);

  /// Returns the kind named `name`, or null.
  const kind_spec* find(const std::string& name) const;

  /// All kinds, sorted by name.
  const std::map<std::string, kind_spec>& all() const noexcept {
    return kinds_;
  }

  /// Adds a section of named entries; returns `errc::name_taken` if a
  /// section of that name exists.
  caf::error add_section(section_spec spec);

  /// The sections added with `add_section`, by name.
  const std::map<std::string, section_spec>& sections() const noexcept {
    return sections_;
  }

  /// Adds a step that runs on the CAF config before the node's actor
  /// system starts, e.g. `cfg.add_message_type<T>("T")` for the messages a
  /// kind sends.
  void configure_system(std::function<void(caf::actor_system_config&)> fn) {
    system_hooks_.push_back(std::move(fn));
  }

  /// The steps added with `configure_system`, in order.
  const std::vector<std::function<void(caf::actor_system_config&)>>&
  system_hooks() const noexcept {
    return system_hooks_;
  }

private:
  std::map<std::string, kind_spec> kinds_;
  std::map<std::string, section_spec> sections_;
  std::vector<std::function<void(caf::actor_system_config&)>> system_hooks_;
};

} // namespace switchboard

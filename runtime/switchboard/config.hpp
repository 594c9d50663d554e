// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <map>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/settings.hpp>

#include "switchboard/errc.hpp"
#include "switchboard/fwd.hpp"

namespace switchboard {

/// One problem in a config: where it is, what was expected, what was found.
struct config_error {
  /// What kind of problem this is.
  errc code = errc::config_syntax;
  /// The file, or `<string>` for configs built in memory.
  std::string file;
  /// The dotted key, e.g. `actors.calc.count`; empty for syntax errors.
  std::string key;
  /// The line in `file`, or 0 where unknown.
  int line = 0;
  /// What was expected, e.g. `integer`.
  std::string expected;
  /// What was found, e.g. `string "four"`.
  std::string found;

  /// One line for people: `conf/x.conf:12: actors.calc.count: expected
  /// integer, found string "four"`.
  std::string to_string() const;
};

/// A node's configuration: CAF's INI dialect parsed into `caf::settings`,
/// plus where it came from (for error messages).
///
/// The file holds switchboard's sections (`[node]`, `[actors]`, `[bridges]`)
/// and CAF's own (`[scheduler]`, `[work-stealing]`, `[logger]`,
/// `[middleman]`, ...). Nothing is type-checked while loading: `validate`
/// does that and reports every problem, where CAF would silently drop a
/// wrongly typed value.
class node_config {
public:
  node_config() = default;

  /// Reads and parses the file at `path`.
  /// @returns `errc::config_syntax` naming the file, line and column, or
  ///          `errc::io_error` if the file cannot be read.
  static caf::expected<node_config> from_file(const std::string& path);

  /// Parses `text` as if it were a file named `name`.
  static caf::expected<node_config> from_string(std::string text,
                                                std::string name = "<string>");

  /// Applies command-line overrides of the form `--section.key=value` (or
  /// without the dashes). The value is parsed as a config value; a value that
  /// does not parse is taken as a string, so `--node.name=gw` works.
  caf::error apply_overrides(const std::vector<std::string>& args);

  /// The overrides applied so far, in order (a reload applies them again).
  const std::vector<std::string>& overrides() const noexcept {
    return overrides_;
  }

  // -- properties -------------------------------------------------------------

  const caf::settings& content() const noexcept {
    return content_;
  }

  caf::settings& content() noexcept {
    return content_;
  }

  const std::string& file() const noexcept {
    return file_;
  }

  /// The line a dotted key was written on, or 0.
  int line_of(const std::string& dotted_key) const;

  /// Keys the file defines more than once (CAF keeps only the last), with the
  /// line of each repetition.
  const std::vector<std::pair<std::string, int>>& duplicates() const noexcept {
    return duplicates_;
  }

  /// `[node] name`, or the default.
  std::string node_name() const;

  /// Where the control endpoint listens: `[node] control`, or a path under
  /// `$XDG_RUNTIME_DIR` (or `/tmp/switchboard-UID`) named after the node.
  /// Empty when the config sets `control = "none"`.
  std::string control_path() const;

private:
  std::string file_ = "<string>";
  caf::settings content_;
  std::map<std::string, int> lines_;
  std::vector<std::pair<std::string, int>> duplicates_;
  std::vector<std::string> overrides_;
};

/// The keys of the `[node]` section.
const std::vector<key_spec>& node_section_keys();

/// Checks `cfg` against the sections switchboard knows, the kinds in `kinds`
/// and CAF's own options; returns every problem found (empty when valid).
/// Names in `known_names` count as defined when entries wire to them.
std::vector<config_error>
validate(const node_config& cfg, const kind_registry& kinds,
         const std::vector<std::string>& known_names = {});

/// Whether `name` can name a node or an entry: letters, digits, `_` and
/// `-`, at least one.
bool valid_name(const std::string& name);

/// The keys of a topology file's `[topology]` section (`switchboard up`).
const std::vector<key_spec>& topology_section_keys();

/// The keys of each entry of a topology file's `[nodes]` section.
const std::vector<key_spec>& topology_node_keys();

/// Checks a topology file: only `[topology]` and `[nodes]`, each node's
/// keys, at least one node. The nodes' own configs are not read here.
std::vector<config_error> validate_topology(const node_config& cfg);

/// The default control socket path for a node named `node_name`.
std::string default_control_path(const std::string& node_name);

} // namespace switchboard

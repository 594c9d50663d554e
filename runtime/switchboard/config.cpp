// switchboard: an embeddable C++ actor runtime. MIT License.

// Loading and validating a node's config.
//
// CAF parses the INI dialect into `caf::settings` but, given declared options,
// silently drops values of the wrong type, accepts unknown keys and keeps only
// the last of two equal keys. So the file is parsed without declared options
// (every value keeps its parsed type) and checked here against switchboard's
// sections, the registered kinds and CAF's own option set. A small scanner
// walks the raw text once to learn the line of every key and to find keys
// written twice, which the parsed settings can no longer show.

#include "switchboard/config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <unistd.h>

#include <caf/actor_system_config.hpp>
#include <caf/config_option_set.hpp>
#include <caf/config_value.hpp>
#include <caf/io/middleman.hpp>

#include "switchboard/defaults.hpp"
#include "switchboard/kinds.hpp"
#include "switchboard/remote.hpp"
#include "switchboard/restart_policy.hpp"

namespace switchboard {

namespace {

// -- scanning the raw text ----------------------------------------------------

// Records the line of every key path (`section.key.sub`, list elements as
// `key[0]`) and every path that appears twice. It does not validate: CAF's
// parser has done that, and the scanner only runs on text that parsed.
class key_scanner {
public:
  explicit key_scanner(const std::string& text) : text_(text) {}

  void run(std::map<std::string, int>& lines,
           std::vector<std::pair<std::string, int>>& duplicates) {
    std::string section;
    while (pos_ < text_.size()) {
      skip_blank(true);
      if (pos_ >= text_.size())
        break;
      char c = text_[pos_];
      if (c == '[') {
        ++pos_;
        auto start = pos_;
        while (pos_ < text_.size() && text_[pos_] != ']' && text_[pos_] != '\n')
          ++pos_;
        section = text_.substr(start, pos_ - start);
        // A section may be opened again (CAF merges); its keys may not repeat.
        lines.emplace(section, line_);
        ++pos_;
        continue;
      }
      if (!scan_entry(section, lines, duplicates))
        return;
    }
  }

private:
  void note(const std::string& path, std::map<std::string, int>& lines,
            std::vector<std::pair<std::string, int>>& duplicates) {
    if (lines.emplace(path, line_).second)
      return;
    // Inside a repeated entry every key repeats too: report the entry only.
    for (auto& [dup, line] : duplicates)
      if (path.compare(0, dup.size(), dup) == 0
          && (path[dup.size()] == '.' || path[dup.size()] == '['))
        return;
    duplicates.emplace_back(path, line_);
  }

  // Skips spaces, comments and, if `newlines`, line breaks and commas.
  void skip_blank(bool newlines) {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ';') {
        while (pos_ < text_.size() && text_[pos_] != '\n')
          ++pos_;
      } else if (c == '\n') {
        if (!newlines)
          return;
        ++line_;
        ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == ',')) {
        ++pos_;
      } else {
        return;
      }
    }
  }

  static bool is_key_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'
           || c == '.';
  }

  // Reads `key = value` inside a map whose path is `prefix`.
  bool scan_entry(const std::string& prefix, std::map<std::string, int>& lines,
                  std::vector<std::pair<std::string, int>>& duplicates) {
    auto start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '"') {
      skip_string();
    } else {
      while (pos_ < text_.size() && is_key_char(text_[pos_]))
        ++pos_;
    }
    if (pos_ == start)
      return false;
    auto key = text_.substr(start, pos_ - start);
    if (key.front() == '"')
      key = key.substr(1, key.size() - 2);
    auto path = prefix.empty() ? key : prefix + "." + key;
    note(path, lines, duplicates);
    skip_blank(false);
    if (pos_ >= text_.size() || text_[pos_] != '=')
      return false;
    ++pos_;
    skip_blank(true);
    return scan_value(path, lines, duplicates);
  }

  bool scan_value(const std::string& path, std::map<std::string, int>& lines,
                  std::vector<std::pair<std::string, int>>& duplicates) {
    if (pos_ >= text_.size())
      return false;
    char c = text_[pos_];
    if (c == '{') {
      ++pos_;
      for (;;) {
        skip_blank(true);
        if (pos_ >= text_.size())
          return false;
        if (text_[pos_] == '}') {
          ++pos_;
          return true;
        }
        if (!scan_entry(path, lines, duplicates))
          return false;
      }
    }
    if (c == '[') {
      ++pos_;
      size_t index = 0;
      for (;;) {
        skip_blank(true);
        if (pos_ >= text_.size())
          return false;
        if (text_[pos_] == ']') {
          ++pos_;
          return true;
        }
        auto elem = path + "[" + std::to_string(index++) + "]";
        note(elem, lines, duplicates);
        if (!scan_value(elem, lines, duplicates))
          return false;
      }
    }
    if (c == '"' || c == '\'') {
      skip_string();
      return true;
    }
    // A number, boolean, duration or bare word: up to a delimiter. No
    // value at all is text the scanner does not follow: it stops (lines
    // are then missing from messages, nothing worse).
    auto start = pos_;
    while (pos_ < text_.size()) {
      c = text_[pos_];
      if (c == ',' || c == '\n' || c == '}' || c == ']' || c == ';')
        break;
      ++pos_;
    }
    return pos_ > start;
  }

  void skip_string() {
    char quote = text_[pos_++];
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\')
        ++pos_;
      else if (text_[pos_] == '\n')
        ++line_;
      ++pos_;
    }
    ++pos_;
  }

  const std::string& text_;
  size_t pos_ = 0;
  int line_ = 1;
};

// -- describing values --------------------------------------------------------

std::string describe(const caf::config_value& x) {
  std::string result = x.type_name();
  if (result == "dictionary")
    result = "map";
  auto str = caf::to_string(x);
  if (str.size() > 40)
    str = str.substr(0, 37) + "...";
  if (!caf::holds_alternative<caf::config_value::dictionary>(x)
      && !caf::holds_alternative<caf::config_value::list>(x))
    result += " " + str;
  return result;
}

bool is_string(const caf::config_value& x) {
  return caf::holds_alternative<std::string>(x);
}

bool is_string_list(const caf::config_value& x) {
  auto xs = caf::get_if<caf::config_value::list>(&x);
  return xs != nullptr && std::all_of(xs->begin(), xs->end(), is_string);
}

bool has_type(const caf::config_value& x, value_type t) {
  using cv = caf::config_value;
  switch (t) {
    case value_type::string:
    case value_type::actor_ref: return is_string(x);
    case value_type::integer: return caf::holds_alternative<cv::integer>(x);
    case value_type::boolean: return caf::holds_alternative<cv::boolean>(x);
    case value_type::real:
      return caf::holds_alternative<cv::real>(x)
             || caf::holds_alternative<cv::integer>(x);
    case value_type::timespan: return caf::holds_alternative<cv::timespan>(x);
    case value_type::string_list:
    case value_type::actor_ref_list: return is_string_list(x);
    case value_type::list: return caf::holds_alternative<cv::list>(x);
    case value_type::map: return caf::holds_alternative<cv::dictionary>(x);
    case value_type::actor_ref_map: {
      auto xs = caf::get_if<cv::dictionary>(&x);
      return xs != nullptr
             && std::all_of(xs->begin(), xs->end(),
                            [](auto& kvp) { return is_string(kvp.second); });
    }
    case value_type::any: return true;
  }
  return false;
}

// Levenshtein distance, for "did you mean" hints on misspelled keys.
size_t distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min(
        {row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggest(const std::string& key,
                    const std::vector<std::string>& known) {
  std::string best;
  size_t best_dist = 3; // Suggest only near misses.
  for (auto& k : known) {
    auto d = distance(key, k);
    if (d < best_dist) {
      best = k;
      best_dist = d;
    }
  }
  return best;
}

std::string join(const std::vector<std::string>& xs) {
  std::string result;
  for (auto& x : xs) {
    if (!result.empty())
      result += ", ";
    result += x;
  }
  return result;
}

// Gives access to CAF's declared options (the set is protected).
struct caf_options : caf::actor_system_config {
  caf_options() {
    load<caf::io::middleman>();
  }
  const caf::config_option_set& options() const {
    return custom_options_;
  }
};

// Collects errors for one config.
class validator {
public:
  validator(const node_config& cfg, const kind_registry& kinds,
            const std::vector<std::string>& known_names)
      : cfg_(cfg), kinds_(kinds),
        names_(known_names.begin(), known_names.end()) {}

  std::vector<config_error> run() {
    for (auto& [key, line] : cfg_.duplicates())
      add(errc::config_duplicate_name, key, "each name once",
          "a second definition", line);
    collect_names();
    for (auto& [section, value] : cfg_.content()) {
      if (section == "node") {
        check_map(section, value, node_section_keys());
        check_topology();
      } else if (section == "actors")
        check_instances(section, value, kind_section::actors);
      else if (section == "bridges")
        check_instances(section, value, kind_section::bridges);
      else if (auto extra = kinds_.sections().find(section);
               extra != kinds_.sections().end())
        check_entries(section, value, extra->second);
      else
        check_caf_section(section, value);
    }
    check_cycles();
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const config_error& x, const config_error& y) {
                       return x.line < y.line;
                     });
    return std::move(errors_);
  }

  // A topology file (`switchboard up`): [topology] and [nodes] only.
  std::vector<config_error> run_topology() {
    for (auto& [key, line] : cfg_.duplicates())
      add(errc::config_duplicate_name, key, "each name once",
          "a second definition", line);
    const std::vector<std::string> sections{"nodes", "topology"};
    size_t nodes = 0;
    for (auto& [section, value] : cfg_.content()) {
      if (section == "topology") {
        check_map(section, value, topology_section_keys());
      } else if (section == "nodes") {
        check_entries(section, value,
                      section_spec{"nodes", "", topology_node_keys()});
        if (auto xs = caf::get_if<caf::settings>(&value))
          nodes = xs->size();
      } else {
        auto hint = suggest(section, sections);
        add(errc::config_unknown_key, section,
            "a section: one of " + join(sections),
            "[" + section + "]"
              + (hint.empty() ? "" : " (did you mean [" + hint + "]?)"));
      }
    }
    if (nodes == 0)
      add(errc::config_missing_key, "nodes",
          "a [nodes] section with at least one node", "none");
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const config_error& x, const config_error& y) {
                       return x.line < y.line;
                     });
    return std::move(errors_);
  }

private:
  void add(errc code, std::string key, std::string expected, std::string found,
           int line = 0) {
    if (line == 0)
      line = cfg_.line_of(key);
    errors_.push_back(config_error{code, cfg_.file(), std::move(key), line,
                                   std::move(expected), std::move(found)});
  }

  void collect_names() {
    for (auto section : {"actors", "bridges"}) {
      auto xs =
        caf::get_if<caf::settings>(&cfg_.content(), std::string{section});
      if (!xs)
        continue;
      for (auto& [name, entry] : *xs) {
        if (!names_.insert(name).second)
          add(errc::config_duplicate_name, std::string{section} + "." + name,
              "a name unique across [actors] and [bridges]",
              "'" + name + "' defined twice");
      }
    }
  }

  void check_map(const std::string& prefix, const caf::config_value& value,
                 const std::vector<key_spec>& keys,
                 const std::string& skip = "") {
    auto xs = caf::get_if<caf::settings>(&value);
    if (!xs) {
      add(errc::config_wrong_type, prefix, "map", describe(value));
      return;
    }
    std::vector<std::string> known;
    for (auto& k : keys)
      known.push_back(k.name);
    for (auto& [key, val] : *xs) {
      if (key == skip)
        continue;
      auto path = prefix + "." + key;
      auto i =
        std::find_if(keys.begin(), keys.end(),
                     [&key = key](const key_spec& k) { return k.name == key; });
      if (i == keys.end()) {
        auto hint = suggest(key, known);
        add(errc::config_unknown_key, path,
            known.empty() ? "no keys" : "one of: " + join(known),
            "'" + key + "'"
              + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
        continue;
      }
      check_value(path, val, *i);
    }
    for (auto& k : keys)
      if (k.required && xs->count(k.name) == 0)
        add(errc::config_missing_key, prefix + "." + k.name,
            "a " + std::string{to_string(k.type)} + " (required)", "nothing",
            cfg_.line_of(prefix));
  }

  void check_value(const std::string& path, const caf::config_value& val,
                   const key_spec& spec) {
    if (!has_type(val, spec.type)) {
      add(errc::config_wrong_type, path, to_string(spec.type), describe(val));
      return;
    }
    if (!spec.one_of.empty()) {
      auto str = caf::get_if<std::string>(&val);
      if (str
          && std::find(spec.one_of.begin(), spec.one_of.end(), *str)
               == spec.one_of.end())
        add(errc::config_bad_value, path, "one of: " + join(spec.one_of),
            "\"" + *str + "\"");
    }
    if (spec.minimum) {
      auto x = caf::get_if<int64_t>(&val);
      if (x && *x < *spec.minimum)
        add(errc::config_bad_value, path,
            "at least " + std::to_string(*spec.minimum), std::to_string(*x));
    }
    if (!spec.refers_to.empty()) {
      if (auto str = caf::get_if<std::string>(&val))
        check_entry_ref(path, *str, spec.refers_to);
      else if (auto xs = caf::get_if<caf::config_value::list>(&val))
        for (size_t i = 0; i < xs->size(); ++i)
          check_entry_ref(path + "[" + std::to_string(i) + "]",
                          caf::get<std::string>((*xs)[i]), spec.refers_to);
    }
    switch (spec.type) {
      case value_type::actor_ref:
        check_ref(path, caf::get<std::string>(val));
        break;
      case value_type::actor_ref_list: {
        auto& xs = caf::get<caf::config_value::list>(val);
        for (size_t i = 0; i < xs.size(); ++i)
          check_ref(path + "[" + std::to_string(i) + "]",
                    caf::get<std::string>(xs[i]));
        break;
      }
      case value_type::actor_ref_map:
        for (auto& [k, v] : caf::get<caf::config_value::dictionary>(val))
          check_ref(path + "." + k, caf::get<std::string>(v));
        break;
      default: break;
    }
  }

  // A value that must name an entry of another section, e.g. [buffers].
  void check_entry_ref(const std::string& path, const std::string& name,
                       const std::string& section) {
    auto xs = caf::get_if<caf::settings>(&cfg_.content(), section);
    if (!xs || xs->count(name) == 0)
      add(errc::config_unknown_actor, path,
          "the name of an entry of [" + section + "]",
          "'" + name + "', which is not defined");
  }

  // A section of named entries that a library added, e.g. [buffers].
  void check_entries(const std::string& section, const caf::config_value& value,
                     const section_spec& spec) {
    auto xs = caf::get_if<caf::settings>(&value);
    if (!xs) {
      add(errc::config_wrong_type, section, "a section of named entries",
          describe(value));
      return;
    }
    for (auto& [name, entry] : *xs) {
      auto path = section + "." + name;
      if (!valid_name(name))
        add(errc::config_bad_value, path,
            "a name of letters, digits, '_' and '-'", "'" + name + "'");
      auto before = errors_.size();
      check_map(path, entry, spec.keys);
      auto dict = caf::get_if<caf::settings>(&entry);
      if (spec.check && dict && errors_.size() == before)
        if (auto err = spec.check(name, *dict))
          add(errc::config_bad_value, path, "an entry of [" + section + "]",
              reason_of(err), cfg_.line_of(path));
    }
  }

  // Collects where a forwarding entry (a router) passes requests on.
  void note_edges(const std::string& name, const std::string& prefix,
                  const caf::settings& entry, const kind_spec& spec) {
    for (auto& key : spec.keys) {
      auto val = caf::get_if(&entry, key.name);
      if (!val || !has_type(*val, key.type))
        continue;
      auto path = prefix + "." + key.name;
      if (key.type == value_type::actor_ref)
        edges_[name].emplace_back(caf::get<std::string>(*val), path);
      else if (key.type == value_type::actor_ref_list)
        for (auto& x : caf::get<caf::config_value::list>(*val))
          edges_[name].emplace_back(caf::get<std::string>(x), path);
      else if (key.type == value_type::actor_ref_map)
        for (auto& [k, v] : caf::get<caf::config_value::dictionary>(*val))
          edges_[name].emplace_back(caf::get<std::string>(v), path + "." + k);
    }
  }

  // A request that enters a cycle of forwarding actors never comes out.
  void check_cycles() {
    std::map<std::string, int> state; // 1: on the current path, 2: done
    std::vector<std::string> trail;
    std::function<void(const std::string&)> visit = [&](const std::string& n) {
      state[n] = 1;
      trail.push_back(n);
      for (auto& [to, path] : edges_[n]) {
        if (state[to] == 1) {
          std::string cycle;
          auto start = std::find(trail.begin(), trail.end(), to);
          for (auto i = start; i != trail.end(); ++i)
            cycle += *i + " -> ";
          add(errc::config_bad_value, path,
              "routes that end at an actor that answers",
              "a cycle: " + cycle + to);
        } else if (state[to] == 0 && edges_.count(to) > 0) {
          visit(to);
        }
      }
      trail.pop_back();
      state[n] = 2;
    };
    for (auto& kvp : edges_)
      if (state[kvp.first] == 0)
        visit(kvp.first);
  }

  // [node] listen and peers: HOST:PORT each; the peer manager's name is
  // taken while either is set.
  void check_topology() {
    auto check_address = [this](const std::string& key,
                                const std::string& text) {
      std::string host;
      uint16_t port = 0;
      std::string expected;
      if (!remote::split_host_port(text, host, port, expected))
        add(errc::config_bad_value, key, expected, "'" + text + "'");
    };
    if (auto x = caf::get_if<std::string>(&cfg_.content(), "node.listen");
        x && !x->empty())
      check_address("node.listen", *x);
    if (auto xs =
          caf::get_if<std::vector<std::string>>(&cfg_.content(), "node.peers"))
      for (size_t i = 0; i < xs->size(); ++i) {
        auto key = "node.peers[" + std::to_string(i) + "]";
        std::string name;
        std::string address;
        std::string host;
        uint16_t port = 0;
        std::string expected;
        if (!remote::split_peer((*xs)[i], name, address, host, port, expected))
          add(errc::config_bad_value, key, expected, "'" + (*xs)[i] + "'");
        if ((*xs)[i].size() > 2 && (*xs)[i].substr((*xs)[i].size() - 2) == ":0")
          add(errc::config_bad_value, key, "the port a peer listens on",
              "port 0");
      }
    if (auto x = caf::get_if<caf::timespan>(&cfg_.content(), "node.down-after");
        x && x->count() <= 0)
      add(errc::config_bad_value, "node.down-after", "a duration above 0",
          std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(*x).count())
            + "ms");
    if (caf::get_or(cfg_.content(), "node.tls", false))
      for (auto key : {"cert-file", "key-file", "ca-file"})
        if (!caf::get_if<std::string>(&cfg_.content(),
                                      std::string{"node."} + key))
          add(errc::config_missing_key, std::string{"node."} + key,
              "a file (tls = true needs cert-file, key-file and ca-file)",
              "nothing");
    // The name is the NODE of NODE/ACTOR and part of a socket path.
    if (auto x = caf::get_if<std::string>(&cfg_.content(), "node.name");
        x && !valid_name(*x))
      add(errc::config_bad_value, "node.name",
          "a name of letters, digits, '_' and '-'", "'" + *x + "'");
    if (remote::enabled(cfg_.content()) && names_.count(remote::manager_name))
      add(errc::config_duplicate_name,
          std::string{"actors."} + remote::manager_name,
          "another name: a node with [node] listen or peers has an actor "
          "named '"
            + std::string{remote::manager_name} + "' of its own",
          "'" + std::string{remote::manager_name} + "'");
  }

  void check_ref(const std::string& path, const std::string& name) {
    if (auto slash = name.find('/'); slash != std::string::npos) {
      auto node_name = name.substr(0, slash);
      auto actor_name = name.substr(slash + 1);
      if (node_name.empty() || actor_name.empty()
          || actor_name.find('/') != std::string::npos)
        add(errc::config_unknown_actor, path, "NAME or NODE/NAME",
            "'" + name + "'");
      else if (node_name == cfg_.node_name())
        check_ref(path, actor_name);
      else if (!remote::enabled(cfg_.content()))
        add(errc::config_unknown_actor, path,
            "the name of an actor or bridge of this node (NODE/ACTOR needs "
            "[node] peers or listen)",
            "'" + name + "'");
      return;
    }
    if (names_.count(name) == 0)
      add(errc::config_unknown_actor, path,
          "the name of an actor or bridge of this node",
          "'" + name + "', which is not defined");
  }

  void check_instances(const std::string& section,
                       const caf::config_value& value, kind_section where) {
    auto xs = caf::get_if<caf::settings>(&value);
    if (!xs) {
      add(errc::config_wrong_type, section, "a section of named entries",
          describe(value));
      return;
    }
    std::vector<std::string> kind_names;
    for (auto& [name, spec] : kinds_.all())
      if (spec.section == where)
        kind_names.push_back(name);
    for (auto& [name, entry] : *xs) {
      auto path = section + "." + name;
      if (!valid_name(name))
        add(errc::config_bad_value, path,
            "a name of letters, digits, '_' and '-'", "'" + name + "'");
      auto dict = caf::get_if<caf::settings>(&entry);
      if (!dict) {
        add(errc::config_wrong_type, path, "{ kind = \"...\", ... }",
            describe(entry));
        continue;
      }
      auto kind = caf::get_if<std::string>(dict, "kind");
      if (!kind) {
        auto raw = caf::get_if(dict, "kind");
        add(raw ? errc::config_wrong_type : errc::config_missing_key,
            path + ".kind", "a kind name (one of: " + join(kind_names) + ")",
            raw ? describe(*raw) : "nothing", cfg_.line_of(path));
        continue;
      }
      auto spec = kinds_.find(*kind);
      if (!spec || spec->section != where) {
        auto hint = suggest(*kind, kind_names);
        std::string found = "\"" + *kind + "\"";
        if (spec)
          found +=
            " (a kind for ["
            + std::string{spec->section == kind_section::actors ? "actors"
                                                                : "bridges"}
            + "])";
        else if (!hint.empty())
          found += " (did you mean \"" + hint + "\"?)";
        add(errc::config_unknown_kind, path + ".kind",
            "one of: " + join(kind_names), found);
        continue;
      }
      auto before = errors_.size();
      check_map(path, entry, spec->keys, "kind");
      if (spec->check && errors_.size() == before) {
        if (auto err = spec->check(name, *dict)) {
          // The kind's reason, without the "NAME: " the factory adds.
          auto why = reason_of(err);
          if (why.compare(0, name.size() + 2, name + ": ") == 0)
            why.erase(0, name.size() + 2);
          add(errc::config_bad_value, path, "an entry its kind can start", why,
              cfg_.line_of(path));
        }
      }
      if (spec->forwards)
        note_edges(name, path, *dict, *spec);
    }
  }

  void check_caf_section(const std::string& section,
                         const caf::config_value& value) {
    auto& opts = caf_.options();
    bool known_section = std::any_of(opts.begin(), opts.end(), [&](auto& o) {
      return o.category() == section;
    });
    if (!known_section) {
      std::set<std::string> sections{"node", "actors", "bridges"};
      for (auto& kvp : kinds_.sections())
        sections.insert(kvp.first);
      for (auto& o : opts)
        if (o.category() != "global")
          sections.emplace(o.category().begin(), o.category().end());
      std::vector<std::string> names(sections.begin(), sections.end());
      auto hint = suggest(section, names);
      add(errc::config_unknown_key, section, "a section: one of " + join(names),
          "[" + section + "]"
            + (hint.empty() ? "" : " (did you mean [" + hint + "]?)"));
      return;
    }
    auto xs = caf::get_if<caf::settings>(&value);
    if (!xs)
      return;
    for (auto& [key, val] : *xs) {
      auto path = section + "." + key;
      auto opt = opts.qualified_name_lookup(section, key);
      if (!opt) {
        std::vector<std::string> known;
        for (auto& o : opts)
          if (o.category() == section)
            known.emplace_back(o.long_name().begin(), o.long_name().end());
        auto hint = suggest(key, known);
        add(errc::config_unknown_key, path, "one of: " + join(known),
            "'" + key + "'"
              + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
        continue;
      }
      if (auto err = opt->check(val))
        add(errc::config_wrong_type, path,
            std::string(opt->type_name().begin(), opt->type_name().end()),
            describe(val));
    }
  }

  const node_config& cfg_;
  const kind_registry& kinds_;
  caf_options caf_;
  std::set<std::string> names_;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>>
    edges_;
  std::vector<config_error> errors_;
};

// Turns CAF's parser error into a line and column where it has them.
config_error syntax_error(const std::string& file, const caf::error& err) {
  config_error result;
  result.code = errc::config_syntax;
  result.file = file;
  result.expected = "valid config syntax";
  auto ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<caf::config_value::dictionary>(0)) {
    auto& dict = ctx.get_as<caf::config_value::dictionary>(0);
    result.line = static_cast<int>(caf::get_or(dict, "line", int64_t{0}));
    auto column = caf::get_or(dict, "column", int64_t{0});
    auto code = static_cast<caf::pec>(err.code());
    if (code == caf::pec::unexpected_newline && column <= 1) {
      // CAF reports the start of the next line once it has read the break.
      result.line -= 1;
      result.found = "a line break inside a value (a string left open?)";
    } else {
      result.found =
        caf::to_string(code) + " at column " + std::to_string(column);
    }
  } else {
    result.found = caf::actor_system_config::render(err);
  }
  if (result.found.find("trailing_character") == 0)
    result.found += " (comments start with ';', not '#')";
  return result;
}

} // namespace

// -- config_error -------------------------------------------------------------

std::string config_error::to_string() const {
  std::string result = file;
  if (line > 0)
    result += ":" + std::to_string(line);
  result += ": ";
  if (!key.empty())
    result += key + ": ";
  result += "expected " + expected + ", found " + found;
  return result;
}

// -- node_config --------------------------------------------------------------

caf::expected<node_config> node_config::from_file(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(errc::io_error, path + ": cannot open the config file");
  std::stringstream buf;
  buf << in.rdbuf();
  return from_string(buf.str(), path);
}

caf::expected<node_config> node_config::from_string(std::string text,
                                                    std::string name) {
  node_config result;
  result.file_ = std::move(name);
  // CAF's parser stops at a NUL byte as if the file ended there, and would
  // pass whatever follows unread.
  if (auto nul = text.find('\0'); nul != std::string::npos) {
    config_error err;
    err.file = result.file_;
    err.line =
      1 + static_cast<int>(std::count(text.begin(), text.begin() + nul, '\n'));
    err.expected = "text";
    err.found = "a NUL byte (is this a config file?)";
    return make_error(errc::config_syntax, err.to_string());
  }
  std::istringstream in{text};
  auto parsed = caf::actor_system_config::parse_config(in);
  if (!parsed)
    return make_error(errc::config_syntax,
                      syntax_error(result.file_, parsed.error()).to_string());
  result.content_ = std::move(*parsed);
  key_scanner{text}.run(result.lines_, result.duplicates_);
  return result;
}

caf::error node_config::apply_overrides(const std::vector<std::string>& args) {
  for (auto arg : args) {
    if (arg.compare(0, 2, "--") == 0)
      arg.erase(0, 2);
    auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0 || arg.find('.') > eq)
      return make_error(errc::config_syntax,
                        "override '" + arg
                          + "' is not of the form --section.key=value");
    auto key = arg.substr(0, eq);
    auto text = arg.substr(eq + 1);
    auto value = caf::config_value::parse(text);
    // A bare word such as `gw` does not parse as a value: take it as text.
    if (value)
      caf::put(content_, key, std::move(*value));
    else
      caf::put(content_, key, text);
    overrides_.push_back("--" + arg);
  }
  return caf::none;
}

int node_config::line_of(const std::string& dotted_key) const {
  auto i = lines_.find(dotted_key);
  return i == lines_.end() ? 0 : i->second;
}

std::string node_config::node_name() const {
  return caf::get_or(content_, "node.name", std::string{defaults::node_name});
}

std::string node_config::control_path() const {
  auto path = caf::get_or(content_, "node.control", "");
  if (path == "none")
    return {};
  if (path.empty())
    return default_control_path(node_name());
  return path;
}

std::string default_control_path(const std::string& node_name) {
  std::string dir;
  if (auto xdg = getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg != '\0')
    dir = std::string{xdg} + "/switchboard";
  else
    dir = "/tmp/switchboard-" + std::to_string(getuid());
  return dir + "/" + node_name + ".sock";
}

const std::vector<key_spec>& node_section_keys() {
  static const std::vector<key_spec> keys{
    {"name", value_type::string, false,
     "the node's name in the topology and in its control socket path"},
    {"control", value_type::string, false,
     "the control socket path; empty picks a default, \"none\" disables it"},
    {"stop-timeout", value_type::timespan, false,
     "how long a stopping node lets mailboxes drain"},
    {"request-timeout", value_type::timespan, false,
     "how long `switchboard send` and the control endpoint wait for a reply"},
    {"io-spin", value_type::timespan, false,
     "how long the io loop polls for more work before it sleeps"},
    {"listen", value_type::string, false,
     "HOST:PORT where peer nodes reach this one (BASP); port 0 picks one"},
    {"peers", value_type::string_list, false,
     "HOST:PORT (or NAME@HOST:PORT, the node expected there) of the nodes "
     "this one dials, and dials again after a loss"},
    {"down-after", value_type::timespan, false,
     "how long a silent peer node takes to be declared down"},
    {"max-held",
     value_type::integer,
     false,
     "messages a NODE/ACTOR address holds while its node is down",
     {},
     0},
    {"events", value_type::actor_ref, false,
     "the actor told of node-up, node-down and peer restarts"},
    {"tls", value_type::boolean, false,
     "peers talk TLS (CAF's openssl module): cert-file, key-file and "
     "ca-file are then required"},
    {"cert-file", value_type::string, false,
     "this node's certificate (PEM) for TLS between nodes"},
    {"key-file", value_type::string, false, "the certificate's private key"},
    {"ca-file", value_type::string, false,
     "the CA certificates (PEM) a peer's certificate must chain to"},
    {"cookie", value_type::string, false,
     "a secret every node of the topology shares; a node without it is "
     "refused"},
    {"metrics", value_type::boolean, false,
     "count messages, bytes, latency and restarts per actor (default true; "
     "`switchboard metrics`, /metrics)"},
    {"log-level",
     value_type::string,
     false,
     "the least a log line must be to be written: debug, info (default), "
     "warn or error",
     {"debug", "info", "warn", "error"}},
    {"log-format",
     value_type::string,
     false,
     "text (default: TIME LEVEL NODE/ACTOR: TEXT) or json (one object per "
     "line: time, level, node, actor, msg); --log-format on the command line",
     {"text", "json"}},
  };
  return keys;
}

bool valid_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

const std::vector<key_spec>& topology_section_keys() {
  static const std::vector<key_spec> keys{
    {"name", value_type::string, false,
     "the topology's name: the supervising process's control socket and "
     "log (default: the file's name without .conf)"},
    {"control", value_type::string, false,
     "the supervising process's control socket; empty picks a default, "
     "\"none\" disables it"},
    {"ready-timeout", value_type::timespan, false,
     "how long each node may take to be ready (default 30s)"},
  };
  return keys;
}

const std::vector<key_spec>& topology_node_keys() {
  static const std::vector<key_spec> keys = [] {
    std::vector<key_spec> result{
      {"config", value_type::string, true,
       "the node's config file, relative to the topology file"},
      {"overrides", value_type::string_list, false,
       "config overrides as on `switchboard run`'s command line, e.g. "
       "\"--node.listen=127.0.0.1:7001\""},
      {"env", value_type::map, false,
       "environment variables added to the node's"},
      {"ready-timeout", value_type::timespan, false,
       "how long this node may take to be ready (default: [topology] "
       "ready-timeout)"},
      {"kill-timeout", value_type::timespan, false,
       "a stop sends SIGTERM, then SIGKILL after this (default 5s)"},
    };
    restart_policy defaults;
    defaults.mode = restart_mode::always;
    for (auto& k : restart_policy::keys("the node", defaults))
      result.push_back(k);
    return result;
  }();
  return keys;
}

std::vector<config_error> validate_topology(const node_config& cfg) {
  kind_registry none;
  return validator{cfg, none, {}}.run_topology();
}

std::vector<config_error>
validate(const node_config& cfg, const kind_registry& kinds,
         const std::vector<std::string>& known_names) {
  return validator{cfg, kinds, known_names}.run();
}

} // namespace switchboard

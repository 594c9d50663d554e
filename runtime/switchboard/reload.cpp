// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/reload.hpp"

#include <algorithm>
#include <set>

#include <caf/config_value.hpp>

#include <nlohmann/json.hpp>

namespace switchboard {

namespace {

// The sections whose entries a reload starts, stops and restarts.
constexpr const char* entry_sections[] = {"actors", "bridges"};

bool is_entry_section(const std::string& name) {
  return name == "actors" || name == "bridges";
}

std::string text_of(const caf::config_value* x) {
  return x != nullptr ? caf::to_string(*x) : std::string{"(none)"};
}

// Adds `prefix.KEY` to `out` for every key of `a` or `b` whose values
// differ (one level down: a changed `[node] listen`, `[buffers] x`).
void differing_keys(const std::string& prefix, const caf::config_value* a,
                    const caf::config_value* b, std::vector<std::string>& out) {
  auto xs = a != nullptr ? caf::get_if<caf::settings>(a) : nullptr;
  auto ys = b != nullptr ? caf::get_if<caf::settings>(b) : nullptr;
  if (xs == nullptr || ys == nullptr) {
    if (text_of(a) != text_of(b))
      out.push_back(prefix);
    return;
  }
  std::set<std::string> keys;
  for (auto& kvp : *xs)
    keys.insert(kvp.first);
  for (auto& kvp : *ys)
    keys.insert(kvp.first);
  for (auto& k : keys) {
    auto i = xs->find(k);
    auto j = ys->find(k);
    auto x = i != xs->end() ? &i->second : nullptr;
    auto y = j != ys->end() ? &j->second : nullptr;
    if (text_of(x) != text_of(y))
      out.push_back(prefix + "." + k);
  }
}

} // namespace

reload_plan plan_reload(const caf::settings& now, const caf::settings& next,
                        const std::vector<std::string>& running) {
  reload_plan plan;
  std::set<std::string> live(running.begin(), running.end());
  for (auto section : entry_sections) {
    auto xs = caf::get_if<caf::settings>(&now, std::string{section});
    auto ys = caf::get_if<caf::settings>(&next, std::string{section});
    caf::settings none;
    auto& before = xs ? *xs : none;
    auto& after = ys ? *ys : none;
    for (auto& [name, value] : before)
      if (after.count(name) == 0)
        plan.removed.push_back(std::string{section} + "." + name);
    for (auto& [name, value] : after) {
      auto key = std::string{section} + "." + name;
      auto i = before.find(name);
      if (i == before.end() || live.count(name) == 0)
        plan.added.push_back(key);
      else if (caf::to_string(i->second) != caf::to_string(value))
        plan.changed.push_back(key);
      else
        plan.unchanged.push_back(key);
    }
  }
  // Everything else takes effect at the next start, but for buffers that
  // are new: those are made on first use, so entries may list them now.
  std::set<std::string> sections;
  for (auto& kvp : now)
    sections.insert(kvp.first);
  for (auto& kvp : next)
    sections.insert(kvp.first);
  for (auto& s : sections) {
    if (is_entry_section(s))
      continue;
    auto i = now.find(s);
    auto j = next.find(s);
    auto a = i != now.end() ? &i->second : nullptr;
    auto b = j != next.end() ? &j->second : nullptr;
    std::vector<std::string> keys;
    differing_keys(s, a, b, keys);
    for (auto& k : keys) {
      auto before = a != nullptr ? caf::get_if<caf::settings>(a) : nullptr;
      bool new_buffer =
        s == "buffers" && k.size() > 8
        && (before == nullptr || before->count(k.substr(8)) == 0);
      if (!new_buffer)
        plan.needs_restart.push_back(k);
    }
  }
  return plan;
}

std::string reload_plan::to_json() const {
  nlohmann::json j{{"added", added},
                   {"removed", removed},
                   {"changed", changed},
                   {"unchanged", unchanged},
                   {"needs_restart", needs_restart},
                   {"failed", failed}};
  return j.dump();
}

std::string reload_plan::to_text() const {
  std::string out;
  for (auto& x : removed)
    out += "- " + x + " (stopped)\n";
  for (auto& x : changed)
    out += "~ " + x + " (restarted)\n";
  for (auto& x : added)
    out += "+ " + x + " (started)\n";
  if (empty())
    out += "no entry changes\n";
  out += std::to_string(unchanged.size()) + " unchanged\n";
  for (auto& x : needs_restart)
    out += "! " + x + " changed: takes effect when the node starts again\n";
  for (auto& x : failed)
    out += "x " + x + "\n";
  return out;
}

} // namespace switchboard

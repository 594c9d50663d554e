// switchboard: an embeddable C++ actor runtime. MIT License.

// What the stream bridges' tests share: the events a bridge reports, kept
// by a `collector` actor, and a bridge's status.

#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <switchboard/status.hpp>

#include "node_fixture.hpp"

namespace switchboard::test {

struct event_log {
  std::mutex mx;
  std::vector<nlohmann::json> events;

  /// The events of one kind, oldest first.
  std::vector<nlohmann::json> of(const std::string& kind) {
    std::lock_guard<std::mutex> guard{mx};
    std::vector<nlohmann::json> out;
    for (auto& e : events)
      if (e.value("event", "") == kind)
        out.push_back(e);
    return out;
  }

  size_t count(const std::string& kind) {
    return of(kind).size();
  }
};

inline event_log& events() {
  static event_log log;
  return log;
}

/// Adds the `collector` kind, which keeps every message in `events()`
/// (emptied here).
inline void add_collector(kind_registry& kinds) {
  {
    std::lock_guard<std::mutex> guard{events().mx};
    events().events.clear();
  }
  REQUIRE(!kinds.add(
    reply_kind("collector", [](const json_message& m, const std::string&,
                               const caf::settings&) {
      std::lock_guard<std::mutex> guard{events().mx};
      events().events.push_back(nlohmann::json::parse(m.text));
      return json_message::trusted("null");
    })));
}

} // namespace switchboard::test

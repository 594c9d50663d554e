// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/status.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include <caf/event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include "switchboard/errc.hpp"
#include "switchboard/messages.hpp"

namespace switchboard {

json_message
status_reply(caf::scheduled_actor* self, const char* kind,
             std::vector<std::pair<std::string, std::string>> fields) {
  std::string text = "{\"kind\":" + nlohmann::json(kind).dump()
                     + ",\"mailbox\":" + std::to_string(self->mailbox().size());
  for (auto& [key, value] : fields)
    text += "," + nlohmann::json(key).dump() + ":" + value;
  text += "}";
  return json_message::trusted(std::move(text));
}

namespace {

// The counters a status row shows.
nlohmann::json metrics_of(const actor_metrics& m) {
  auto [in_rate, out_rate] = m.rates();
  auto tenths = [](double x) { return std::round(x * 10) / 10; };
  return {{"in", m.received.load(std::memory_order_relaxed)},
          {"out", m.sent.load(std::memory_order_relaxed)},
          {"handled", m.processed()},
          {"errors", m.errors.load(std::memory_order_relaxed)},
          {"mailbox", m.mailbox_depth()},
          {"restarts", m.restarts.load(std::memory_order_relaxed)},
          {"connections", m.connections.load(std::memory_order_relaxed)},
          {"dropped", m.dropped_total()},
          {"in_per_s", tenths(in_rate)},
          {"out_per_s", tenths(out_rate)}};
}

} // namespace

void collect_status(caf::event_based_actor* self, const std::string& node_name,
                    std::vector<registry_entry> entries, caf::timespan timeout,
                    std::function<void(std::string)> done,
                    const metrics_registry* metrics) {
  using json = nlohmann::json;
  struct pending {
    json actors = json::array();
    size_t left = 0;
    std::string node;
    std::function<void(std::string)> done;
  };
  auto p = std::make_shared<pending>();
  p->left = entries.size();
  p->node = node_name;
  p->done = std::move(done);
  auto finish = [p] {
    if (p->left > 0 && --p->left > 0)
      return;
    auto& xs = p->actors;
    std::sort(xs.begin(), xs.end(), [](const json& x, const json& y) {
      return x["name"].get<std::string>() < y["name"].get<std::string>();
    });
    p->done(json{{"node", p->node}, {"actors", std::move(xs)}}.dump(
      -1, ' ', false, json::error_handler_t::replace));
  };
  if (entries.empty()) {
    finish();
    return;
  }
  for (auto& e : entries) {
    json row{
      {"name", e.name},
      {"kind", e.kind},
      {"section", e.section == kind_section::actors ? "actors" : "bridges"},
      {"id", e.handle.id()}};
    if (metrics != nullptr)
      if (auto m = metrics->find(e.name);
          m != nullptr && m->attached.load(std::memory_order_relaxed))
        row["metrics"] = metrics_of(*m);
    urgent_request(self, e.handle, timeout,
                   caf::make_message(status_atom::value))
      .then(
        [p, row, finish](json_message& st) mutable {
          auto parsed = json::parse(st.text, nullptr, false);
          if (parsed.is_discarded())
            parsed = {{"error", "status is not JSON"}, {"text", st.text}};
          row["status"] = std::move(parsed);
          p->actors.push_back(std::move(row));
          finish();
        },
        [p, row, finish](caf::error& err) mutable {
          row["status"] = {{"error", render(err)}};
          p->actors.push_back(std::move(row));
          finish();
        });
  }
}

} // namespace switchboard

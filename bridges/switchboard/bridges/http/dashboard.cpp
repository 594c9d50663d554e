// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/http/dashboard.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <set>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/errc.hpp>
#include <switchboard/io_loop.hpp>
#include <switchboard/json_message.hpp>
#include <switchboard/kinds.hpp>
#include <switchboard/log.hpp>
#include <switchboard/metered.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/metrics.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>
#include <switchboard/wiring.hpp>

namespace switchboard::bridges::http {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A page's requests in flight, and its replies not written yet, at most.
constexpr size_t max_pending = 64;

} // namespace

caf::expected<std::string> find_dashboard_dir(const std::string& configured) {
  std::vector<fs::path> places;
  if (!configured.empty()) {
    places.emplace_back(configured);
  } else {
    std::error_code ec;
    auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec)
      places.push_back(exe.parent_path().parent_path() / "share" / "switchboard"
                       / "dashboard");
#ifdef SWITCHBOARD_DASHBOARD_BUILD_DIR
    places.emplace_back(SWITCHBOARD_DASHBOARD_BUILD_DIR);
#endif
#ifdef SWITCHBOARD_DASHBOARD_INSTALL_DIR
    places.emplace_back(SWITCHBOARD_DASHBOARD_INSTALL_DIR);
#endif
  }
  std::string looked;
  for (auto& p : places) {
    std::error_code ec;
    if (fs::is_regular_file(p / "index.html", ec))
      return fs::canonical(p, ec).string();
    looked += (looked.empty() ? "" : ", ") + p.string();
  }
  return make_error(errc::config_bad_value,
                    "dashboard: no page files (index.html) in " + looked
                      + "; build the switchboard_dashboard target, or set "
                        "dashboard-dir");
}

struct dashboard_client {
  lws* wsi = nullptr;
  // Names this connection for the replies to its requests (an `lws*` may
  // be reused by the next connection).
  uint64_t id = 0;
  // Requests sent for this page and not answered yet.
  size_t in_flight = 0;
  // Replies to the page's messages, waiting to be written (LWS_PRE bytes,
  // then the text).
  std::deque<std::string> replies;
  // A snapshot is due: the latest is written at the next chance (a slow
  // page skips snapshots, never log lines: those go by sequence number).
  bool want_snapshot = false;
  // The last log line this page has.
  uint64_t log_seq = 0;
  // A message arriving in pieces.
  std::string rx;
};

struct dashboard_live::impl {
  impl(node& n, caf::event_based_actor* s, caf::timespan t)
      : owner(n), self(s), metered_self(dynamic_cast<metered_base*>(s)),
        timeout(t) {
    wiring = wiring_of(n);
  }

  node& owner;
  caf::event_based_actor* self;
  // The bridge, counted as the sender of what a page sends.
  metered_base* metered_self;
  caf::timespan timeout;
  std::unordered_set<dashboard_client*> clients;
  uint64_t next_id = 1;
  uv_timer_t* timer = nullptr;
  bool collecting = false;
  // The latest snapshot without its log lines and closing brace.
  std::string latest;
  json wiring;

  // Edges the config draws: the values of each entry's keys that name
  // actors (per its kind's key types: `to`, `room`, `events`, a router's
  // `routes`, ...; and `to` in a list of maps, as an http bridge's routes),
  // including NODE/ACTOR addresses.
  static json wiring_of(node& n) {
    auto& content = n.config().content();
    std::set<std::pair<std::string, std::string>> seen;
    json result = json::array();
    auto edge = [&](const std::string& from, const std::string& to) {
      if (!to.empty() && to != from && seen.emplace(from, to).second)
        result.push_back(json{{"from", from}, {"to", to}});
    };
    for (auto section : {"actors", "bridges"}) {
      auto entries = caf::get_if<caf::settings>(&content, std::string{section});
      if (!entries)
        continue;
      for (auto& [from, value] : *entries) {
        auto entry = caf::get_if<caf::settings>(&value);
        auto kind = entry ? caf::get_if<std::string>(entry, "kind") : nullptr;
        auto spec = kind ? n.kinds().find(*kind) : nullptr;
        if (spec == nullptr)
          continue;
        for (auto& to : wired_names(*spec, *entry))
          edge(from, to);
        // And `to` in a list of maps (an http bridge's routes).
        for (auto& key : spec->keys) {
          if (key.type == value_type::list) {
            if (auto xs = caf::get_if<caf::config_value::list>(entry, key.name))
              for (auto& x : *xs)
                if (auto m = caf::get_if<caf::settings>(&x))
                  if (auto to = caf::get_if<std::string>(m, "to"))
                    edge(from, *to);
          }
        }
      }
    }
    return result;
  }

  void start_timer() {
    if (timer != nullptr)
      return;
    timer = new uv_timer_t;
    uv_timer_init(owner.loop().native(), timer);
    timer->data = this;
    uv_timer_start(
      timer, [](uv_timer_t* t) { static_cast<impl*>(t->data)->tick(); }, 0,
      1000);
  }

  void stop_timer() {
    if (timer == nullptr)
      return;
    uv_timer_stop(timer);
    uv_close(reinterpret_cast<uv_handle_t*>(timer),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer = nullptr;
  }

  void tick() {
    if (collecting || clients.empty())
      return;
    collecting = true;
    collect_status(
      self, owner.name(), owner.registry().list(), timeout,
      [this](std::string text) {
        collecting = false;
        snapshot(std::move(text));
      },
      owner.metrics_enabled() ? &owner.metrics() : nullptr);
  }

  void snapshot(std::string status_text) {
    json snap;
    snap["type"] = "snapshot";
    snap["node"] = owner.name();
    snap["time_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    snap["metrics"] = owner.metrics_enabled();
    auto status = json::parse(status_text, nullptr, false);
    snap["status"] = status.is_discarded() ? json::object() : status;
    json edges = json::array();
    if (owner.metrics_enabled())
      for (auto& e : owner.metrics().edges())
        edges.push_back(
          json{{"from", e.from}, {"to", e.to}, {"messages", e.messages}});
    snap["edges"] = std::move(edges);
    snap["wiring"] = wiring;
    auto self_stats = read_process(0);
    snap["process"] = json{{"rss_bytes", self_stats.rss_bytes},
                           {"cpu_seconds", self_stats.cpu_seconds}};
    latest = dump(snap);
    latest.pop_back(); // '}': each page's log lines follow
    for (auto c : clients) {
      c->want_snapshot = true;
      lws_callback_on_writable(c->wsi);
    }
  }

  std::string snapshot_for(dashboard_client& c) {
    // At most the node_log::kept lines the log keeps: a page that has just
    // connected gets all of them.
    auto lines = owner.logs().since(c.log_seq);
    json log = json::array();
    for (auto& r : lines) {
      log.push_back(json{{"seq", r.seq},
                         {"time_ms", r.time_ns / 1'000'000},
                         {"level", to_string(r.level)},
                         {"actor", r.actor},
                         {"text", r.text}});
      c.log_seq = r.seq;
    }
    std::string text(LWS_PRE, '\0');
    text += latest;
    text += ",\"log\":";
    text += dump(log);
    text += '}';
    return text;
  }

  void reply(dashboard_client& c, json body) {
    std::string text(LWS_PRE, '\0');
    text += dump(body);
    c.replies.push_back(std::move(text));
    lws_callback_on_writable(c.wsi);
  }

  void on_message(dashboard_client& c, const std::string& text) {
    auto req = json::parse(text, nullptr, false);
    auto id = req.is_object() && req.contains("id") ? req["id"] : json{};
    auto fail = [&](const std::string& why) {
      reply(c,
            json{{"type", "reply"}, {"id", id}, {"ok", false}, {"error", why}});
    };
    if (req.is_discarded() || !req.is_object()) {
      fail("a message is one JSON object");
      return;
    }
    if (c.in_flight >= max_pending) {
      fail("too many requests in flight (" + std::to_string(max_pending)
           + " at most)");
      return;
    }
    if (req.value("type", "") != "send") {
      fail("unknown type (expected \"send\")");
      return;
    }
    auto to = req.contains("to") && req["to"].is_string()
                ? req["to"].get<std::string>()
                : std::string{};
    auto entry = owner.entry(to);
    if (!entry) {
      fail("no actor named '" + to + "'");
      return;
    }
    if (!entry->accepts_json) {
      fail("'" + to + "' (" + entry->kind + ") does not take JSON requests");
      return;
    }
    if (!req.contains("message")) {
      fail("no \"message\" to send");
      return;
    }
    auto msg = json_message::trusted(dump(req["message"]));
    auto who = c.id;
    ++c.in_flight;
    metered_base::acting_as as_bridge{metered_self, self->ctrl()};
    self
      ->request(caf::actor_cast<json_actor>(entry->handle), timeout,
                std::move(msg))
      .then(
        [this, who, id](json_message& r) {
          if (auto c = find(who)) {
            --c->in_flight;
            auto body = json::parse(r.text, nullptr, false);
            if (body.is_discarded())
              reply(*c, json{{"type", "reply"},
                             {"id", id},
                             {"ok", false},
                             {"error", "the reply is not JSON"}});
            else
              reply(*c, json{{"type", "reply"},
                             {"id", id},
                             {"ok", true},
                             {"reply", std::move(body)}});
          }
        },
        [this, who, id](caf::error& err) {
          if (auto c = find(who)) {
            --c->in_flight;
            reply(*c, json{{"type", "reply"},
                           {"id", id},
                           {"ok", false},
                           {"error", render(err)}});
          }
        });
  }

  dashboard_client* find(uint64_t id) {
    for (auto c : clients)
      if (c->id == id)
        return c;
    return nullptr;
  }

  int write_one(dashboard_client& c) {
    if (lws_partial_buffered(c.wsi)) {
      lws_callback_on_writable(c.wsi);
      return 0;
    }
    std::string text;
    if (!c.replies.empty()) {
      text = std::move(c.replies.front());
      c.replies.pop_front();
    } else if (c.want_snapshot && !latest.empty()) {
      c.want_snapshot = false;
      text = snapshot_for(c);
    } else {
      return 0;
    }
    auto n = text.size() - LWS_PRE;
    if (lws_write(c.wsi,
                  reinterpret_cast<unsigned char*>(text.data()) + LWS_PRE, n,
                  LWS_WRITE_TEXT)
        < 0)
      return -1;
    if (!c.replies.empty() || c.want_snapshot)
      lws_callback_on_writable(c.wsi);
    return 0;
  }
};

dashboard_live::dashboard_live(node& owner, caf::event_based_actor* self,
                               caf::timespan timeout)
    : impl_(std::make_unique<impl>(owner, self, timeout)) {}

dashboard_live::~dashboard_live() {
  impl_->stop_timer();
  // The connections may outlive the bridge's actor (lws closes them with
  // its context); they forget their state then, and nothing reaches here.
  for (auto c : impl_->clients)
    delete c;
}

size_t dashboard_live::clients() const noexcept {
  return impl_->clients.size();
}

void dashboard_live::forget(dashboard_client*& slot) {
  if (slot == nullptr)
    return;
  impl_->clients.erase(slot);
  delete slot;
  slot = nullptr;
  if (impl_->clients.empty())
    impl_->stop_timer();
}

int dashboard_live::on_callback(lws* wsi, lws_callback_reasons reason,
                                dashboard_client*& slot, void* in, size_t len) {
  auto& d = *impl_;
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
      slot = new dashboard_client;
      slot->wsi = wsi;
      slot->id = d.next_id++;
      d.clients.insert(slot);
      d.start_timer();
      // The first snapshot goes out at once if one is at hand.
      if (!d.latest.empty()) {
        slot->want_snapshot = true;
        lws_callback_on_writable(wsi);
      }
      return 0;
    }
    case LWS_CALLBACK_RECEIVE: {
      if (slot == nullptr)
        return -1;
      auto data = static_cast<const char*>(in);
      if (slot->rx.size() + len > max_message) {
        static const char why[] = "a dashboard message is 64 KiB at most";
        lws_close_reason(
          wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
          reinterpret_cast<unsigned char*>(const_cast<char*>(why)),
          sizeof(why) - 1);
        return -1;
      }
      slot->rx.append(data, len);
      if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
        return 0;
      if (slot->replies.size() >= max_pending) {
        // A page that sends and never reads would grow its reply queue
        // without end.
        static const char why[] = "the page reads none of its replies";
        lws_close_reason(
          wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
          reinterpret_cast<unsigned char*>(const_cast<char*>(why)),
          sizeof(why) - 1);
        return -1;
      }
      std::string text;
      text.swap(slot->rx);
      d.on_message(*slot, text);
      return 0;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return slot != nullptr ? d.write_one(*slot) : -1;
    case LWS_CALLBACK_CLOSED: forget(slot); return 0;
    default: return 0;
  }
}

} // namespace switchboard::bridges::http

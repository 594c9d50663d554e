// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/metered.hpp"

#include <iterator>
#include <mutex>
#include <unordered_map>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/error.hpp>
#include <caf/type_erased_tuple.hpp>

#include "switchboard/json_message.hpp"

namespace switchboard {

namespace {

// The requests metered actors sent and wait for: (actor, request id) to
// the time it was sent. Sharded, so that actors on different threads
// rarely meet on a lock.
struct asked_key {
  const void* self;
  uint64_t id;
  bool operator==(const asked_key& other) const noexcept {
    return self == other.self && id == other.id;
  }
};

struct asked_hash {
  size_t operator()(const asked_key& k) const noexcept {
    auto x = reinterpret_cast<uintptr_t>(k.self) ^ (k.id * 0x9E3779B97F4A7C15u);
    return static_cast<size_t>(x ^ (x >> 29));
  }
};

struct asked_shard {
  std::mutex mtx;
  std::unordered_map<asked_key, int64_t, asked_hash> sent;
};

constexpr size_t asked_shards = 64;

// A request that is never answered (sent without a timeout to an actor
// that drops it) leaves the table once a full shard looks for room.
constexpr size_t max_asked_per_shard = 4096;
constexpr int64_t asked_expiry_ns = 60'000'000'000;

asked_shard& shard_of(const asked_key& k) {
  static asked_shard shards[asked_shards];
  return shards[asked_hash{}(k) % asked_shards];
}

// Trace lines show this much of a message.
constexpr size_t payload_cut = 200;

std::string payload_of(const caf::type_erased_tuple& msg) {
  std::string text;
  if (msg.match_elements<json_message>())
    text = msg.get_as<json_message>(0).text;
  else
    text = msg.stringify();
  if (text.size() > payload_cut) {
    text.resize(payload_cut);
    text += "...";
  }
  return text;
}

} // namespace

thread_local metered_base* metered_base::current_ = nullptr;

void metered_base::on_send(actor_metrics& m, caf::mailbox_element& x) noexcept {
  m.sent.fetch_add(1, std::memory_order_relaxed);
  if (x.mid.is_request()) {
    asked_key key{this,
                  x.mid.integer_value() & caf::message_id::request_id_mask};
    auto& shard = shard_of(key);
    auto now = now_ns();
    std::lock_guard<std::mutex> guard{shard.mtx};
    if (shard.sent.size() >= max_asked_per_shard)
      for (auto i = shard.sent.begin(); i != shard.sent.end();)
        i = now - i->second > asked_expiry_ns ? shard.sent.erase(i)
                                              : std::next(i);
    if (shard.sent.size() < max_asked_per_shard)
      shard.sent.insert_or_assign(key, now);
  } else if (x.mid.is_response() && x.content().match_elements<caf::error>()) {
    m.errors.fetch_add(1, std::memory_order_relaxed);
  }
}

void metered_base::on_answer(actor_metrics& m, uint64_t mid) noexcept {
  asked_key key{this, mid & caf::message_id::request_id_mask};
  auto& shard = shard_of(key);
  int64_t sent = 0;
  {
    std::lock_guard<std::mutex> guard{shard.mtx};
    auto i = shard.sent.find(key);
    if (i == shard.sent.end())
      return;
    sent = i->second;
    shard.sent.erase(i);
  }
  m.requests.observe(static_cast<uint64_t>(now_ns() - sent));
}

void metered_base::trace(caf::mailbox_element& x, actor_metrics* m,
                         actor_metrics* fm, caf::actor_id receiver) noexcept {
  try {
    auto from = fm != nullptr ? fm->name
                : x.sender    ? "actor#" + std::to_string(x.sender->id())
                              : std::string{"-"};
    auto to = m != nullptr ? m->name : "actor#" + std::to_string(receiver);
    auto payload = payload_of(x.content());
    if (m != nullptr && m->traced.load(std::memory_order_relaxed))
      if (auto sink = m->tracer_load())
        sink->emit("in", from, to, payload);
    if (fm != nullptr && fm != m && fm->traced.load(std::memory_order_relaxed))
      if (auto sink = fm->tracer_load())
        sink->emit("out", from, to, std::move(payload));
  } catch (...) {
    // A trace line is not worth failing a send for (out of memory).
  }
}

bool attach_metrics(const caf::actor& handle, actor_metrics* m) {
  if (!handle || m == nullptr)
    return false;
  auto ptr = caf::actor_cast<caf::abstract_actor*>(handle);
  auto metered = dynamic_cast<metered_base*>(ptr);
  if (metered == nullptr)
    return false;
  metered->attach_metrics(m);
  return true;
}

} // namespace switchboard

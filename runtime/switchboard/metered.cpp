// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/metered.hpp"

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/error.hpp>
#include <caf/type_erased_tuple.hpp>

#include "switchboard/json_message.hpp"

namespace switchboard {

namespace {

// The requests metered actors sent and wait for: a fixed table of slots,
// (actor, request id) hashed to one, holding the time it was sent. No lock
// and no allocation on a message's path; two requests in flight that hash
// to one slot lose one sample (rare with 16,384 slots), and a request never
// answered is overwritten in time.
struct asked_slot {
  std::atomic<uint64_t> key{0};
  std::atomic<int64_t> sent{0};
};

constexpr size_t asked_slots = 16384;

asked_slot asked_table[asked_slots];

uint64_t asked_key(const void* self, uint64_t id) {
  auto x = reinterpret_cast<uintptr_t>(self) ^ (id * 0x9E3779B97F4A7C15u);
  x ^= x >> 29;
  return x == 0 ? 1 : x; // 0 marks a free slot
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

thread_local metered_base::running_actor metered_base::current_;
thread_local metered_base::batch metered_base::batch_;

void metered_base::on_send(actor_metrics& m, caf::message_id mid,
                           bool error) noexcept {
  add_count(m.sent, 1, m.alone());
  if (mid.is_request()) {
    auto key =
      asked_key(this, mid.integer_value() & caf::message_id::request_id_mask);
    auto& slot = asked_table[key % asked_slots];
    slot.sent.store(static_cast<int64_t>(fast_stamp()),
                    std::memory_order_relaxed);
    slot.key.store(key, std::memory_order_release);
  } else if (error) {
    m.errors.fetch_add(1, std::memory_order_relaxed);
  }
}

void metered_base::on_answer(actor_metrics& m, uint64_t mid,
                             uint64_t at) noexcept {
  auto key = asked_key(this, mid & caf::message_id::request_id_mask);
  auto& slot = asked_table[key % asked_slots];
  auto expected = key;
  if (slot.key.load(std::memory_order_acquire) != key)
    return;
  auto sent = slot.sent.load(std::memory_order_relaxed);
  if (!slot.key.compare_exchange_strong(expected, 0, std::memory_order_acq_rel))
    return;
  m.requests.observe(static_cast<uint64_t>(sent), at, m.alone());
}

void metered_base::trace(caf::mailbox_element& x, actor_metrics* m,
                         actor_metrics* fm,
                         const caf::abstract_actor* receiver) noexcept {
  try {
    auto from = fm != nullptr ? fm->name
                : x.sender    ? "actor#" + std::to_string(x.sender->id())
                              : std::string{"-"};
    auto to =
      m != nullptr ? m->name : "actor#" + std::to_string(receiver->id());
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

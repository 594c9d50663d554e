// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/http/websocket.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <sys/socket.h>

#include <caf/actor_storage.hpp>
#include <caf/actor_storage.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/conn_command.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/fifo.hpp>
#include <switchboard/log.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/metrics.hpp>
#include <switchboard/node.hpp>
#include <switchboard/sockets.hpp>
#include <switchboard/status.hpp>

namespace switchboard::bridges::http {

namespace {

using json = nlohmann::json;

/// Closes a connection (1000, once its queue is written).
using ws_close_atom = caf::atom_constant<caf::atom("wsclose")>;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

uint64_t ms(caf::timespan x) {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(x).count());
}

std::string truncated(const std::string& s, size_t n = 200) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

std::string error_text(const caf::error& err) {
  return dump(json{{"error", render(err)}});
}

constexpr unsigned char op_text = 0x1;
constexpr unsigned char op_binary = 0x2;
constexpr unsigned char op_close = 0x8;

// A server's frame (final, not masked) in front of its payload.
void append_frame(std::string& out, unsigned char opcode,
                  const std::string& payload) {
  unsigned char h[10];
  size_t n;
  auto len = payload.size();
  h[0] = static_cast<unsigned char>(0x80 | opcode);
  if (len < 126) {
    h[1] = static_cast<unsigned char>(len);
    n = 2;
  } else if (len < 65536) {
    h[1] = 126;
    h[2] = static_cast<unsigned char>(len >> 8);
    h[3] = static_cast<unsigned char>(len);
    n = 4;
  } else {
    h[1] = 127;
    for (int i = 0; i < 8; ++i)
      h[2 + i] = static_cast<unsigned char>(len >> (56 - 8 * i));
    n = 10;
  }
  out.append(reinterpret_cast<const char*>(h), n);
  out += payload;
}

// Each send() may carry this much; lws copies what a send leaves over.
constexpr size_t write_chunk = 64 * 1024;

} // namespace

std::string encode_base64(const std::string& bytes) {
  std::string out(bytes.size() * 4 / 3 + 8, '\0');
  auto n = lws_b64_encode_string(bytes.data(), static_cast<int>(bytes.size()),
                                 out.data(), static_cast<int>(out.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

caf::expected<std::string> decode_base64(const std::string& text) {
  // lws skips what is not base64 rather than failing: check first.
  auto n = text.size();
  while (n > 0 && text[n - 1] == '=' && text.size() - n < 2)
    --n;
  bool ok = n % 4 != 1 && (n == text.size() || text.size() % 4 == 0);
  for (size_t i = 0; ok && i < n; ++i) {
    auto ch = static_cast<unsigned char>(text[i]);
    ok = std::isalnum(ch) || ch == '+' || ch == '/';
  }
  if (!ok)
    return make_error(errc::bad_message, "not base64: " + truncated(text));
  std::string out(text.size() * 3 / 4 + 4, '\0');
  auto len = lws_b64_decode_string_len(
    text.data(), static_cast<int>(n), out.data(), static_cast<int>(out.size()));
  out.resize(len > 0 ? static_cast<size_t>(len) : 0);
  return out;
}

// -- one connection -----------------------------------------------------------

class ws_conn final : public loop_actor<caf::event_based_actor> {
public:
  // (lws is an incomplete type, which CAF's spawn cannot forward.)
  struct wsi_ref {
    lws* wsi;
  };

  ws_conn(caf::actor_config& cfg, io_loop& loop, ws_service* svc, wsi_ref w,
          uint64_t id)
      : loop_actor(cfg, loop), id(id), svc_(svc), wsi_(w.wsi) {
    opened_ = uv_now(loop.native());
    valid_at_ = opened_;
    // Counts into the bridge's block, as one of its connections.
    if (svc_->node().metrics_enabled())
      if (auto m = svc_->node().metrics().find(svc_->opt().name)) {
        attach_metrics(m);
        m->connections.fetch_add(1, std::memory_order_relaxed);
      }
  }

  uint64_t id;
  // Waits in the service's list of connections to write.
  bool dirty = false;

  caf::behavior make_behavior() override {
    if (svc_ == nullptr) {
      // The bridge went away before this connection first ran.
      quit();
      return {};
    }
    auto& o = svc_->opt();
    if (!o.room.empty()) {
      if (auto room = svc_->node().lookup(o.room, svc_->room_cache))
        send(room, join_atom::value, caf::actor_cast<sink_actor>(this));
      else
        svc_->node().log(log_level::warn, o.name,
                         "no room named '" + o.room + "'");
    }
    if (has_events()) {
      json ev{{"event", "opened"}, {"peer", peer()}};
      if (auto p = protocol())
        ev["protocol"] = p;
      event(std::move(ev));
    }
    set_exit_handler([this](caf::exit_msg& msg) {
      if (wsi_ != nullptr && !closing_)
        close(1001,
              msg.reason == caf::exit_reason::user_shutdown
                ? "the node is stopping"
                : render(msg.reason),
              false);
      quit(msg.reason);
    });
    return shared_behavior();
  }

  // Every connection runs one behaviour, made once: one of its own would
  // cost each connection (most of them idle) an allocation. Its handlers
  // find their connection in `handling_`, which `consume` sets.
  static caf::behavior shared_behavior() {
    static const caf::behavior all{
      [](push_atom, json_message& m) {
        auto self = handling_;
        if (self->svc_ != nullptr)
          self->write_message(m, false);
      },
      [](ws_close_atom) {
        auto self = handling_;
        if (self->svc_ != nullptr)
          self->close(1000, "closed by command", false);
      },
      [](status_atom) {
        auto self = handling_;
        return status_reply(self, "websocket-connection",
                            {{"conn", std::to_string(self->id)},
                             {"peer", dump(self->peer())},
                             {"queued", std::to_string(self->queued())},
                             {"in", std::to_string(self->in_)},
                             {"out", std::to_string(self->out_count_)}});
      },
    };
    return all;
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    auto prev = std::exchange(handling_, this);
    auto result = loop_actor::consume(x);
    handling_ = prev;
    return result;
  }

  // -- what the service and its commands see ------------------------------

  // Asked of the socket each time: most connections never need it.
  std::string peer() {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (wsi_ != nullptr
        && ::getpeername(lws_get_socket_fd(wsi_),
                         reinterpret_cast<sockaddr*>(&ss), &len)
             == 0)
      return to_string(ss);
    return {};
  }

  size_t queued() const {
    return out_.size() + (more_ != nullptr ? more_->lws_queued : 0);
  }

  json describe(uint64_t now) {
    json x{{"conn", id}, {"peer", peer()},    {"queued", queued()},
           {"in", in_},  {"out", out_count_}, {"age_ms", now - opened_}};
    if (auto p = protocol())
      x["protocol"] = p;
    return x;
  }

  // Writes under the overflow policy. A reply to the connection's own
  // message always queues (its reading pauses instead); a push past the
  // mark is what the policy is for.
  void write_message(const json_message& m, bool is_reply) {
    auto& o = svc_->opt();
    std::string payload;
    bool binary = false;
    if (o.format == ws_format::json) {
      payload = m.text;
    } else {
      auto parsed = json::parse(m.text, nullptr, false);
      if (!parsed.is_string()) {
        ++svc_->stats().errors;
        auto why = std::string{"format = \""}
                   + (o.format == ws_format::text ? "text" : "binary")
                   + "\" takes JSON strings, got " + truncated(m.text);
        if (is_reply)
          write_frame(dump(json{{"error", why}}), false, true);
        else
          svc_->node().log(log_level::warn, o.name,
                           "conn " + std::to_string(id) + ": " + why);
        return;
      }
      payload = parsed.get<std::string>();
      if (o.format == ws_format::binary) {
        auto bytes = decode_base64(payload);
        if (!bytes) {
          ++svc_->stats().errors;
          if (is_reply)
            write_frame(error_text(bytes.error()), false, true);
          return;
        }
        payload = std::move(*bytes);
        binary = true;
      }
    }
    write_frame(payload, binary, is_reply);
  }

  void write_frame(const std::string& payload, bool binary, bool is_reply) {
    if (wsi_ == nullptr || closing_)
      return;
    auto& o = svc_->opt();
    if (queued() >= o.max_queued && !is_reply) {
      if (o.disconnect) {
        ++svc_->stats().errors;
        close(1008,
              "overflow: " + std::to_string(queued())
                + " bytes queued (max-queued)",
              true);
      } else {
        ++svc_->stats().drops;
        if (auto m = metrics())
          m->drop(drop_reason::overflow);
      }
      return;
    }
    if (auto m = metrics())
      m->bytes_out.fetch_add(payload.size(), std::memory_order_relaxed);
    if (o.compress) {
      std::string f(LWS_PRE, '\0');
      f += payload;
      more().lws_queued += payload.size();
      more().frames.push_back({std::move(f), binary});
      lws_callback_on_writable(wsi_);
    } else {
      append_frame(out_, binary ? op_binary : op_text, payload);
      svc_->mark_dirty(this);
    }
    ++out_count_;
    ++svc_->stats().out;
    if (is_reply && !paused_for_queue_ && queued() >= o.max_queued) {
      paused_for_queue_ = true;
      update_rx();
    }
  }

  // Closes with `code`: after the queue is written (`abort` false), or at
  // once (the peer does not read: nothing more would reach it).
  // An abort also cuts a connection already closing gracefully (its peer
  // does not read its close); the first reason stays.
  void close(int code, std::string reason, bool abort) {
    if (wsi_ == nullptr || (closing_ && !abort))
      return;
    if (!closing_) {
      closing_ = true;
      more().close_code = code;
      more().close_reason = std::move(reason);
    }
    if (abort) {
      out_.clear();
      more().frames.clear();
      more().lws_queued = 0;
      // lws sees the end at its next poll and closes; no callback here.
      ::shutdown(lws_get_socket_fd(wsi_), SHUT_RDWR);
      return;
    }
    lws_callback_on_writable(wsi_);
  }

  // -- lws callbacks ------------------------------------------------------

  int on_receive(const void* in, size_t len) {
    if (closing_)
      return 0;
    auto& o = svc_->opt();
    auto data = static_cast<const char*>(in);
    size_t held = more_ != nullptr ? more_->rx.size() : 0;
    if (held + len > o.max_message) {
      ++svc_->stats().errors;
      auto why = "max-message: a message of more than "
                 + std::to_string(o.max_message) + " bytes";
      closing_ = true;
      more().close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
      more().close_reason = why;
      lws_close_reason(wsi_, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                       reinterpret_cast<unsigned char*>(why.data()),
                       std::min<size_t>(why.size(), 120));
      return -1;
    }
    bool complete =
      lws_is_final_fragment(wsi_) && lws_remaining_packet_payload(wsi_) == 0;
    if (complete && held == 0) {
      // Most messages come in one piece: no copy to gather them.
      on_message(std::string{data, len});
      return 0;
    }
    more().rx.append(data, len);
    if (!complete) {
      // lws 4.1 inflates a compressed message a piece per turn of its
      // service, but its libuv glue forces one more turn only after a
      // socket event: a writeable callback is one (nothing is written).
      if (o.compress)
        lws_callback_on_writable(wsi_);
      return 0;
    }
    std::string msg;
    msg.swap(more_->rx);
    on_message(std::move(msg));
    return 0;
  }

  int on_writeable() {
    if (wsi_ == nullptr)
      return -1;
    if (svc_->opt().compress && more_ != nullptr) {
      auto& frames = more_->frames;
      if (!frames.empty()) {
        auto& f = frames.front();
        auto n = f.data.size() - LWS_PRE;
        auto data = reinterpret_cast<unsigned char*>(f.data.data()) + LWS_PRE;
        if (lws_write(wsi_, data, n,
                      f.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT)
            < 0)
          return -1;
        more_->lws_queued -= n;
        frames.pop_front();
      }
      if (!frames.empty()) {
        lws_callback_on_writable(wsi_);
        return 0;
      }
    } else if (flush() < 0) {
      return -1;
    }
    drained();
    if (closing_ && !close_sent_ && queued() == 0
        && !lws_partial_buffered(wsi_))
      return send_close();
    return 0;
  }

  // The close frame, once the queue is out. lws sends one by itself only
  // when a receive callback fails; a failed writeable callback drops the
  // socket. The peer's answering close ends the connection (see
  // `on_peer_close`), or lws's timer does.
  int send_close() {
    close_sent_ = true;
    std::string payload;
    auto code = more().close_code;
    payload += static_cast<char>((code >> 8) & 0xff);
    payload += static_cast<char>(code & 0xff);
    // A control frame carries 125 bytes at most.
    payload += more_->close_reason.substr(0, 123);
    // Built here and written raw (lws has no public way to write a close),
    // between whole frames, so compression state is not touched.
    std::string frame;
    append_frame(frame, op_close, payload);
    if (lws_write(wsi_, reinterpret_cast<unsigned char*>(frame.data()),
                  frame.size(), LWS_WRITE_HTTP)
        < 0)
      return -1;
    lws_set_timeout(wsi_, PENDING_TIMEOUT_CLOSE_ACK, 5);
    return 0;
  }

  // Writes what is queued (as much as the socket takes); -1: the
  // connection failed.
  int flush() {
    if (wsi_ == nullptr || out_.empty())
      return 0;
    if (lws_partial_buffered(wsi_)) {
      lws_callback_on_writable(wsi_);
      return 0;
    }
    auto n = std::min(out_.size(), write_chunk);
    // Raw bytes: the frames are built already. lws keeps what the socket
    // does not take and sends it before anything else.
    if (lws_write(wsi_, reinterpret_cast<unsigned char*>(out_.data()), n,
                  LWS_WRITE_HTTP)
        < 0) {
      close(1006, "write failed", true);
      return -1;
    }
    out_.erase(0, n);
    if (out_.capacity() > 4 * write_chunk && out_.size() < write_chunk)
      out_.shrink_to_fit();
    if (!out_.empty() || lws_partial_buffered(wsi_))
      lws_callback_on_writable(wsi_);
    drained();
    return 0;
  }

  void on_pong() {
    valid_at_ = uv_now(loop().native());
  }

  // Returns what the callback returns: -1 ends the connection without the
  // answering close lws would send (this side sent its close first).
  int on_peer_close(const void* in, size_t len) {
    if (close_sent_)
      return -1;
    auto p = static_cast<const unsigned char*>(in);
    more().peer_code = len >= 2 ? (p[0] << 8) | p[1] : 1005;
    if (len > 2)
      more_->peer_reason.assign(reinterpret_cast<const char*>(p) + 2, len - 2);
    peer_closed_ = true;
    return 0;
  }

  // The wsi is gone: the actor ends.
  void on_closed() {
    if (wsi_ == nullptr)
      return;
    wsi_ = nullptr;
    auto now = uv_now(loop().native());
    auto& o = svc_->opt();
    std::string reason;
    int code = 1006;
    if (peer_closed_) {
      code = more_->peer_code;
      auto& why = more_->peer_reason;
      reason = "the peer closed the connection (" + std::to_string(code)
               + (why.empty() ? "" : " " + why) + ")";
    } else if (closing_) {
      code = more_->close_code;
      reason = more_->close_reason;
    } else if (o.ping_interval.count() > 0
               && now - valid_at_ + 500
                    >= ms(o.ping_interval) + ms(o.ping_timeout)) {
      ++svc_->stats().errors;
      reason =
        "ping-timeout: no pong for " + std::to_string(now - valid_at_) + " ms";
    } else {
      reason = "the connection was lost";
    }
    out_ = std::string{};
    more_.reset();
    // Without an events actor only what went wrong is logged; a client
    // that just goes away (a closed tab) is not that.
    bool normal = reason == "the node is stopping"
                  || reason == "closed by command" || peer_closed_
                  || reason == "the connection was lost";
    if (has_events() || !normal)
      event(json{{"event", "closed"}, {"code", code}, {"reason", reason}});
    send_exit(this, caf::exit_reason::normal);
  }

  // The service is going away: mail still queued for this actor (a room's
  // push, an actor's reply) finds it detached.
  void detach_service() {
    wsi_ = nullptr;
    svc_ = nullptr;
    send_exit(this, caf::exit_reason::user_shutdown);
  }

  // Answers the request that has waited longer than `timeout`.
  void check_timeouts(uint64_t now) {
    auto t = ms(svc_->opt().timeout);
    while (t > 0 && !slots_.empty() && !slots_.front().done
           && now - slots_.front().sent >= t) {
      ++svc_->stats().errors;
      auto& s = slots_.front();
      s.done = true;
      s.reply = json_message::trusted(error_text(
        make_error(errc::timeout, svc_->opt().to + " did not answer within "
                                    + std::to_string(t) + " ms (timeout)")));
      s.is_error = true;
      flush_slots();
    }
  }

private:
  // The connection whose message this thread handles (`consume`).
  static inline thread_local ws_conn* handling_ = nullptr;

  void on_message(std::string data) {
    acting_as self{this};
    ++in_;
    ++svc_->stats().in;
    if (auto m = metrics())
      m->bytes_in.fetch_add(data.size(), std::memory_order_relaxed);
    auto& o = svc_->opt();
    caf::expected<json_message> m{caf::error{}};
    switch (o.format) {
      case ws_format::json:
        if (is_json(data))
          m = json_message::trusted(std::move(data));
        else
          m = make_error(errc::invalid_json,
                         std::string{"not JSON: "} + truncated(data));
        break;
      case ws_format::text:
        m = json_message::trusted(dump(json(std::move(data))));
        break;
      case ws_format::binary:
        m = json_message::trusted(dump(json(encode_base64(data))));
        break;
    }
    if (!m) {
      ++svc_->stats().errors;
      if (!o.to.empty()) {
        // An answer in its place, so later replies stay in order.
        ++next_seq_;
        slots_.push_back(
          {true, true, json_message::trusted(error_text(m.error())), 0});
        flush_slots();
      } else {
        write_frame(error_text(m.error()), false, true);
      }
      return;
    }
    if (!o.room.empty()) {
      if (auto room = svc_->node().lookup(o.room, svc_->room_cache))
        send(room, push_atom::value, std::move(*m));
      return;
    }
    auto to = svc_->node().lookup(o.to, svc_->to_cache);
    if (!to) {
      ++svc_->stats().errors;
      // In its place, after the replies still due.
      ++next_seq_;
      slots_.push_back(
        {true, true,
         json_message::trusted(error_text(
           make_error(errc::unknown_actor, "no actor named '" + o.to + "'"))),
         0});
      flush_slots();
      return;
    }
    auto seq = next_seq_++;
    slots_.push_back({false, false, {}, uv_now(loop().native())});
    // No CAF timeout: the service's timer answers a request that takes too
    // long (CAF's would wake its clock thread for every message).
    request(caf::actor_cast<json_actor>(to), caf::infinite, std::move(*m))
      .then([this, seq](json_message& reply) { fill(seq, reply, false); },
            [this, seq](caf::error& err) {
              fill(seq, json_message::trusted(error_text(err)), true);
            });
    if (slots_.size() >= o.max_pending && !paused_for_pending_) {
      paused_for_pending_ = true;
      update_rx();
    }
  }

  struct slot {
    bool done;
    bool is_error;
    json_message reply;
    uint64_t sent; // loop time (ms) of the request
  };

  void fill(uint64_t seq, const json_message& reply, bool is_error) {
    if (svc_ == nullptr)
      return;
    // Slots leave from the front; the front's sequence number is
    // `next_seq_ - slots_.size()` counting only request slots, so errors
    // in place take sequence numbers too.
    auto first = next_seq_ - slots_.size();
    if (slots_.empty() || seq < first)
      return; // answered by the timeout already
    auto& s = slots_[seq - first];
    if (s.done)
      return;
    s.done = true;
    s.is_error = is_error;
    s.reply = reply;
    flush_slots();
  }

  void flush_slots() {
    while (!slots_.empty() && slots_.front().done) {
      auto s = std::move(slots_.front());
      slots_.pop_front();
      if (s.is_error)
        write_frame(s.reply.text, false, true);
      else
        write_message(s.reply, true);
    }
    auto& o = svc_->opt();
    if (paused_for_pending_ && slots_.size() < o.max_pending / 2 + 1) {
      paused_for_pending_ = false;
      update_rx();
    }
  }

  void drained() {
    if (paused_for_queue_ && queued() < svc_->opt().max_queued / 2 + 1) {
      paused_for_queue_ = false;
      update_rx();
    }
  }

  void update_rx() {
    if (wsi_ != nullptr)
      lws_rx_flow_control(wsi_,
                          paused_for_pending_ || paused_for_queue_ ? 0 : 1);
  }

  void on_exit() override {
    // Killed while lws still has the connection: it closes at the next
    // writeable callback.
    if (wsi_ != nullptr && !closing_)
      close(1001, "the connection's actor ended", false);
    if (auto m = metrics())
      m->connections.fetch_sub(1, std::memory_order_relaxed);
    loop_actor::on_exit();
  }

  bool has_events() {
    return svc_->node().lookup(svc_->opt().events, svc_->events_cache)
           != nullptr;
  }

  void event(json ev) {
    ev["bridge"] = svc_->opt().name;
    ev["conn"] = id;
    svc_->event(dump(ev));
  }

  // What few connections need: allocated on first use, so that an idle
  // connection is small (its actor fits jemalloc's 1280-byte class).
  struct rare {
    // A message that came in pieces.
    std::string rx;
    // Messages for lws to frame (compression).
    struct frame {
      std::string data; // LWS_PRE bytes, then the payload
      bool binary;
    };
    fifo<frame> frames;
    size_t lws_queued = 0;
    int close_code = 1000;
    std::string close_reason;
    int peer_code = 1005;
    std::string peer_reason;
  };

  // The subprotocol the client chose, if any (asked of lws, so that an idle
  // connection keeps no copy).
  const char* protocol() const {
    if (wsi_ == nullptr)
      return nullptr;
    auto p = lws_get_protocol(wsi_);
    return p != nullptr && p->name != nullptr
               && std::strcmp(p->name, "http") != 0
             ? p->name
             : nullptr;
  }

  rare& more() {
    if (more_ == nullptr)
      more_ = std::make_unique<rare>();
    return *more_;
  }

  ws_service* svc_;
  lws* wsi_;
  uint64_t opened_ = 0;
  // Loop time of the last proof of life (open, pong).
  uint64_t valid_at_ = 0;
  // Frames ready to send (built here: no compression).
  std::string out_;
  std::unique_ptr<rare> more_;
  // Requests in flight, oldest first; sequence numbers run on.
  fifo<slot> slots_;
  uint64_t next_seq_ = 0;
  uint64_t in_ = 0;
  uint64_t out_count_ = 0;
  bool paused_for_pending_ = false;
  bool paused_for_queue_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  bool peer_closed_ = false;
};

// An idle connection is mostly its actor: past jemalloc's 1280-byte class
// it would cost 256 bytes more each (bench/websocket.js, idle).
static_assert(sizeof(caf::actor_storage<ws_conn>) <= 1280,
              "a websocket connection actor outgrew its allocation class");

// -- the service
// ----------------------------------------------------------------

ws_service::ws_service(switchboard::node& owner,
                       std::shared_ptr<const ws_options> opts,
                       std::string token)
    : node_(owner), opt_(std::move(opts)), token_(std::move(token)) {
  auto uv = node_.loop().native();
  check_ = new uv_check_t;
  uv_check_init(uv, check_);
  check_->data = this;
  if (auto t = ms(opt_->timeout); t > 0) {
    sweep_ = new uv_timer_t;
    uv_timer_init(uv, sweep_);
    sweep_->data = this;
    // A time-out is seen within a quarter of itself (at most a second
    // late).
    auto period = std::clamp<uint64_t>(t / 4, 10, 1000);
    uv_timer_start(
      sweep_, [](uv_timer_t* h) { static_cast<ws_service*>(h->data)->sweep(); },
      period, period);
  }
}

ws_service::~ws_service() {
  for (auto& [id, e] : conns_)
    e.c->detach_service();
  conns_.clear();
  dirty_.clear();
  auto close_handle = [](auto*& h) {
    if (h == nullptr)
      return;
    uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) {
      delete reinterpret_cast<std::remove_reference_t<decltype(h)>>(x);
    });
    h = nullptr;
  };
  close_handle(check_);
  close_handle(sweep_);
  close_handle(stop_timer_);
}

int ws_service::check_upgrade(lws* wsi, const std::string& path,
                              std::string& why) {
  auto& o = *opt_;
  auto refuse = [&](int status, std::string text) {
    ++stats_.refused;
    why = std::move(text);
    return status;
  };
  if (stopping_)
    return refuse(503, "the node is stopping");
  bool prefix =
    o.path.size() >= 2 && o.path.compare(o.path.size() - 2, 2, "/*") == 0;
  auto base = prefix ? o.path.substr(0, o.path.size() - 1) : o.path;
  if (prefix ? path.compare(0, base.size(), base) != 0 && path + "/" != base
             : path != o.path)
    return refuse(404, "no WebSocket at " + path + " (path is " + o.path + ")");
  if (!o.origins.empty()) {
    auto n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
    if (n > 0) {
      std::string origin(static_cast<size_t>(n) + 1, '\0');
      lws_hdr_copy(wsi, origin.data(), n + 1, WSI_TOKEN_ORIGIN);
      origin.resize(static_cast<size_t>(n));
      if (std::find(o.origins.begin(), o.origins.end(), origin)
          == o.origins.end())
        return refuse(403, "origin " + origin + " is not allowed");
    }
  }
  if (!token_.empty()) {
    std::string given;
    char buf[512];
    auto n = lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION);
    static const char prefix_text[] = "Bearer ";
    if (n > 7 && strncasecmp(buf, prefix_text, 7) == 0)
      given.assign(buf + 7, static_cast<size_t>(n - 7));
    else if (auto v = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf)))
      given = v;
    unsigned char diff = given.size() == token_.size() ? 0 : 1;
    for (size_t i = 0; i < token_.size() && i < given.size(); ++i)
      diff |= static_cast<unsigned char>(given[i] ^ token_[i]);
    if (diff != 0)
      return refuse(401, "a bearer token is required (Authorization: Bearer "
                         "TOKEN, or ?token=TOKEN)");
  }
  return 0;
}

int ws_service::on_callback(lws* wsi, lws_callback_reasons reason,
                            ws_conn*& slot, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED: {
      if (stopping_)
        return -1;
      auto id = next_id_++;
      auto handle = spawn_on_loop<ws_conn>(node_.system(), node_.loop(), this,
                                           ws_conn::wsi_ref{wsi}, id);
      auto c =
        static_cast<ws_conn*>(caf::actor_cast<caf::abstract_actor*>(handle));
      slot = c;
      conns_.emplace(id, entry{caf::actor_cast<caf::actor>(handle), c});
      ++stats_.accepted;
      return 0;
    }
    case LWS_CALLBACK_RECEIVE:
      return slot != nullptr ? slot->on_receive(in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return slot != nullptr ? slot->on_writeable() : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
      if (slot != nullptr)
        slot->on_pong();
      return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      return slot != nullptr ? slot->on_peer_close(in, len) : 0;
    case LWS_CALLBACK_CLOSED: forget(slot); return 0;
    default: return 0;
  }
}

void ws_service::forget(ws_conn*& slot) {
  if (slot == nullptr)
    return;
  auto c = slot;
  slot = nullptr;
  closed(c);
}

void ws_service::closed(ws_conn* c) {
  auto i = conns_.find(c->id);
  if (i == conns_.end())
    return;
  // Holds the actor until its exit message is queued.
  auto handle = std::move(i->second.handle);
  conns_.erase(i);
  if (c->dirty) {
    c->dirty = false;
    dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end());
  }
  ++stats_.closed;
  c->on_closed();
  if (stopping_ && conns_.empty())
    finish_stop();
}

void ws_service::mark_dirty(ws_conn* c) {
  if (c->dirty)
    return;
  c->dirty = true;
  dirty_.push_back(c);
  if (!check_on_) {
    check_on_ = true;
    uv_check_start(check_, [](uv_check_t* h) {
      static_cast<ws_service*>(h->data)->flush_dirty();
    });
  }
}

void ws_service::flush_dirty() {
  // By id: a connection that closes meanwhile is no longer in `conns_`
  // (and its object may be gone).
  auto& ids = flushing_;
  ids.clear();
  for (auto c : dirty_) {
    c->dirty = false;
    ids.push_back(c->id);
  }
  dirty_.clear();
  for (auto id : ids)
    if (auto i = conns_.find(id); i != conns_.end())
      i->second.c->flush();
  if (dirty_.empty()) {
    check_on_ = false;
    uv_check_stop(check_);
  }
}

void ws_service::sweep() {
  auto now = uv_now(node_.loop().native());
  for (auto& [id, e] : conns_)
    e.c->check_timeouts(now);
}

caf::expected<json_message> ws_service::command(const json_message& m) {
  auto cmd = parse_conn_command(m, opt_->name);
  if (!cmd)
    return std::move(cmd.error());
  using op = conn_command::op_type;
  auto conn = [&]() -> ws_conn* {
    auto i = conns_.find(cmd->conn);
    return i != conns_.end() ? i->second.c : nullptr;
  };
  switch (cmd->op) {
    case op::list: {
      auto now = uv_now(node_.loop().native());
      std::vector<ws_conn*> cs;
      for (auto& [id, e] : conns_)
        cs.push_back(e.c);
      std::sort(cs.begin(), cs.end(),
                [](ws_conn* x, ws_conn* y) { return x->id < y->id; });
      json xs = json::array();
      for (auto c : cs)
        xs.push_back(c->describe(now));
      return json_message::trusted(dump(json{{"connections", xs}}));
    }
    case op::close: {
      auto c = conn();
      if (c == nullptr)
        return no_connection(opt_->name, cmd->conn);
      c->close(1000, "closed by command", false);
      return json_message::trusted("{\"closed\":1}");
    }
    default: break;
  }
  // send, broadcast: the data must suit the format.
  if (opt_->format != ws_format::json) {
    auto d = json::parse(cmd->data.text, nullptr, false);
    if (!d.is_string())
      return bad_conn_command(
        opt_->name,
        "format = \""
          + std::string{opt_->format == ws_format::text ? "text" : "binary"}
          + "\" sends JSON strings");
    if (opt_->format == ws_format::binary)
      if (auto bytes = decode_base64(d.get<std::string>()); !bytes)
        return bad_conn_command(opt_->name, render(bytes.error()));
  }
  if (cmd->op == op::send) {
    auto c = conn();
    if (c == nullptr)
      return no_connection(opt_->name, cmd->conn);
    c->write_message(cmd->data, false);
    return json_message::trusted("{\"sent\":1}");
  }
  // A write may close a connection (overflow), which erases it: collect
  // first.
  std::vector<ws_conn*> xs;
  xs.reserve(conns_.size());
  for (auto& [id, e] : conns_)
    if (id != cmd->except)
      xs.push_back(e.c);
  for (auto c : xs)
    c->write_message(cmd->data, false);
  return json_message::trusted("{\"sent\":" + std::to_string(xs.size()) + "}");
}

std::string ws_service::status_json() const {
  size_t queued = 0;
  for (auto& [id, e] : conns_)
    queued += e.c->queued();
  return dump(json{{"path", opt_->path},
                   {"connections", conns_.size()},
                   {"accepted", stats_.accepted},
                   {"refused", stats_.refused},
                   {"closed", stats_.closed},
                   {"in", stats_.in},
                   {"out", stats_.out},
                   {"queued", queued},
                   {"drops", stats_.drops},
                   {"errors", stats_.errors}});
}

void ws_service::stop(std::function<void()> done) {
  if (stopping_)
    return;
  stopping_ = true;
  stopped_ = std::move(done);
  if (conns_.empty()) {
    finish_stop();
    return;
  }
  std::vector<ws_conn*> xs;
  for (auto& [id, e] : conns_)
    xs.push_back(e.c);
  for (auto c : xs)
    c->close(1001, "the node is stopping", false);
  // A peer that does not read cannot hold the stop: after a while its
  // connection is cut, and after a while more the bridge goes on anyway.
  stop_timer_ = new uv_timer_t;
  uv_timer_init(node_.loop().native(), stop_timer_);
  stop_timer_->data = this;
  uv_timer_start(
    stop_timer_,
    [](uv_timer_t* t) {
      auto self = static_cast<ws_service*>(t->data);
      if (++self->stop_ticks_ == 1) {
        std::vector<ws_conn*> xs;
        for (auto& [id, e] : self->conns_)
          xs.push_back(e.c);
        for (auto c : xs)
          c->close(1001, "the node is stopping", true);
      } else {
        self->finish_stop();
      }
    },
    250, 250);
}

void ws_service::finish_stop() {
  if (stop_timer_ != nullptr)
    uv_timer_stop(stop_timer_);
  if (auto f = std::move(stopped_)) {
    stopped_ = nullptr;
    f();
  }
}

void ws_service::event(const std::string& text) {
  if (node_.send_event(opt_->events, events_cache, text))
    return;
  auto ev = json::parse(text, nullptr, false);
  node_.log(event_level(ev.is_object() ? ev.value("event", "") : ""),
            opt_->name, text);
}

// -- config
// ---------------------------------------------------------------------

const lws_extension* ws_extensions() {
  static const lws_extension exts[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_no_context_takeover; "
     "client_max_window_bits"},
    {nullptr, nullptr, nullptr},
  };
  return exts;
}

std::vector<key_spec> ws_keys() {
  return {
    {"path", value_type::string, false,
     "where WebSocket clients connect (default \"/\"; \"/chat/*\" takes "
     "/chat and every path under it)"},
    {"protocols", value_type::string_list, false,
     "subprotocols a client may ask for (Sec-WebSocket-Protocol)"},
    {"to", value_type::actor_ref, false,
     "each message is a request to this actor; the reply goes back on the "
     "connection, in order"},
    {"room", value_type::actor_ref, false,
     "each connection joins this room; a message goes to every other "
     "member"},
    {"format",
     value_type::string,
     false,
     "\"json\" (default), \"text\" (messages are JSON strings) or "
     "\"binary\" (base64 strings; binary frames)",
     {"json", "text", "binary"}},
    {"max-message",
     value_type::integer,
     false,
     "the largest inbound message, in bytes (default 1 MiB); more closes "
     "with 1009",
     {},
     1},
    {"max-queued",
     value_type::integer,
     false,
     "bytes waiting for a slow client before `overflow` applies (default 1 "
     "MiB)",
     {},
     1},
    {"overflow",
     value_type::string,
     false,
     "past max-queued: \"drop\" the message (default, counted) or "
     "\"disconnect\" the client (1008)",
     {"drop", "disconnect"}},
    {"max-pending",
     value_type::integer,
     false,
     "requests in flight per connection before its reading pauses "
     "(default 1024)",
     {},
     1},
    {"origins", value_type::string_list, false,
     "browser origins allowed to connect (default: any); a request "
     "without Origin is not a browser's and passes"},
    {"ping-interval", value_type::timespan, false,
     "a ping this long after the last pong (default 30s; 0s: no pings)"},
    {"ping-timeout", value_type::timespan, false,
     "no pong this long after the ping closes the connection (default "
     "10s)"},
    {"compress", value_type::boolean, false,
     "permessage-deflate when the client offers it (default false)"},
  };
}

caf::error ws_common::read(const caf::settings& args, const std::string& name) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, name + ": " + why);
  };
  auto fmt = caf::get_or(args, "format", std::string{"json"});
  if (fmt == "text")
    format = ws_format::text;
  else if (fmt == "binary")
    format = ws_format::binary;
  else if (fmt != "json")
    return bad("format must be \"json\", \"text\" or \"binary\"");
  protocols = caf::get_or(args, "protocols", std::vector<std::string>{});
  for (auto& p : protocols)
    // ("http" names the server's own protocol entry.)
    if (p.empty() || p == "http"
        || p.find_first_of(" ,;\t\"") != std::string::npos)
      return bad("protocols: '" + p + "' is not a subprotocol name");
  for (auto [key, x] : {std::pair{"max-message", &max_message},
                        std::pair{"max-queued", &max_queued}}) {
    auto v = caf::get_or(args, std::string{key}, static_cast<int64_t>(*x));
    if (v < 1)
      return bad(std::string{key} + " must be at least 1");
    *x = static_cast<size_t>(v);
  }
  ping_interval = caf::get_or(args, "ping-interval", ping_interval);
  ping_timeout = caf::get_or(args, "ping-timeout", ping_timeout);
  if (ping_interval.count() < 0 || ping_timeout.count() < 0)
    return bad("ping-interval and ping-timeout must not be negative");
  if (ping_interval.count() > 0
      && (ping_interval < std::chrono::seconds(1)
          || ping_timeout < std::chrono::seconds(1)))
    return bad("ping-interval and ping-timeout are whole seconds, at least "
               "1s (0s turns pings off)");
  if (ping_interval + ping_timeout > std::chrono::seconds(65535))
    return bad("ping-interval plus ping-timeout must stay under 18 hours");
  return {};
}

lws_retry_bo_t ws_common::retry_policy() const {
  lws_retry_bo_t r{};
  auto secs = [](caf::timespan t) {
    return static_cast<uint16_t>(
      std::chrono::duration_cast<std::chrono::seconds>(t).count());
  };
  if (ping_interval.count() > 0) {
    r.secs_since_valid_ping = secs(ping_interval);
    r.secs_since_valid_hangup = secs(ping_interval + ping_timeout);
  }
  return r;
}

caf::expected<ws_options> read_ws_options(const caf::settings& args,
                                          const std::string& name,
                                          caf::timespan timeout) {
  ws_options o;
  o.name = name;
  o.timeout = caf::get_or(args, "timeout", timeout);
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, name + ": " + why);
  };
  if (auto err = o.read(args, name))
    return err;
  o.path = caf::get_or(args, "path", o.path);
  if (o.path.empty() || o.path[0] != '/')
    return bad("path must start with '/'");
  o.to = caf::get_or(args, "to", std::string{});
  o.room = caf::get_or(args, "room", std::string{});
  if (o.to.empty() == o.room.empty())
    return bad("a websocket bridge needs either `to` or `room`");
  o.events = caf::get_or(args, "events", std::string{});
  auto pending =
    caf::get_or(args, "max-pending", static_cast<int64_t>(o.max_pending));
  if (pending < 1)
    return bad("max-pending must be at least 1");
  o.max_pending = static_cast<size_t>(pending);
  auto overflow = caf::get_or(args, "overflow", std::string{"drop"});
  if (overflow == "disconnect")
    o.disconnect = true;
  else if (overflow != "drop")
    return bad("overflow must be \"drop\" or \"disconnect\"");
  o.origins = caf::get_or(args, "origins", std::vector<std::string>{});
  o.compress = caf::get_or(args, "compress", false);
  return o;
}

} // namespace switchboard::bridges::http

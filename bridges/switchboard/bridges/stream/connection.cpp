// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/stream/connection.hpp"

#include <algorithm>

#include <caf/actor_storage.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/channel.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/fifo.hpp>
#include <switchboard/log.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

namespace switchboard::bridges::stream {

namespace {

using json = nlohmann::json;

std::string truncated(const std::string& s, size_t n = 200) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

std::string error_frame(const caf::error& err) {
  return json{{"error", render(err)}}.dump(-1, ' ', false,
                                           json::error_handler_t::replace);
}

uint64_t ms(caf::timespan x) {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(x).count());
}

class connection final : public loop_actor<caf::event_based_actor>,
                         public channel_handler,
                         public conn_state {
public:
  connection(caf::actor_config& cfg, io_loop& loop,
             std::shared_ptr<conn_shared> shared, channel* ch, uint64_t id)
      : loop_actor(cfg, loop), shared_(std::move(shared)), ch_(ch) {
    attach_metrics(shared_->metrics);
    if (shared_->metrics != nullptr)
      shared_->metrics->connections.fetch_add(1, std::memory_order_relaxed);
    conn = id;
    opened = uv_now(loop.native());
  }

  caf::behavior make_behavior() override {
    ch_->set_handler(this);
    ch_->resume_reading();
    if (!shared_->opt->room.empty()) {
      if (auto room = shared_->node.lookup(shared_->opt->room))
        send(room, join_atom::value, caf::actor_cast<sink_actor>(this));
      else
        shared_->node.log(log_level::warn, shared_->opt->name,
                          "no room named '" + shared_->opt->room + "'");
    }
    if (has_events())
      event(json{{"event", "opened"}, {"peer", peer()}});
    set_exit_handler([this](caf::exit_msg& msg) {
      // The node is stopping: what the peer's socket takes now is
      // written, the rest dropped, so a peer that does not read cannot
      // hold up the stop.
      finish(msg.reason == caf::exit_reason::user_shutdown
               ? "the node is stopping"
               : render(msg.reason),
             false);
      quit(msg.reason);
    });
    return {
      [this](push_atom, json_message& m) {
        write_message(std::move(m), false);
      },
      [this](close_atom) { finish("closed by command", true); },
      [this](status_atom) {
        return status_reply(this, "connection",
                            {{"conn", std::to_string(conn)},
                             {"peer", json(peer()).dump()},
                             {"queued", std::to_string(queued())},
                             {"in", std::to_string(frames_in)},
                             {"out", std::to_string(frames_out)}});
      },
    };
  }

  const std::string& peer() override {
    if (peer_.empty() && ch_ != nullptr)
      peer_ = ch_->peer();
    return peer_;
  }

  size_t queued() const override {
    return ch_ != nullptr ? ch_->queued_bytes() : 0;
  }

  void check_timeouts(uint64_t now) override {
    if (closing_ || ch_ == nullptr)
      return;
    if (auto t = ms(shared_->opt->frame_timeout);
        t > 0 && ch_->partial_since() != 0 && now - ch_->partial_since() >= t) {
      shared_->count_error();
      finish("frame-timeout: a frame stayed incomplete for "
               + std::to_string(now - ch_->partial_since()) + " ms",
             false);
      return;
    }
    if (auto t = ms(shared_->opt->idle_timeout);
        t > 0 && now - ch_->last_read() >= t && slots_.empty()) {
      finish("idle-timeout: nothing received for "
               + std::to_string(now - ch_->last_read()) + " ms",
             true);
      return;
    }
    auto t = ms(shared_->opt->request_timeout);
    while (t > 0 && !closing_ && !slots_.empty() && !slots_.front().done
           && now - slots_.front().sent >= t) {
      shared_->count_error();
      auto& s = slots_.front();
      s.done = true;
      s.frame = error_frame(make_error(
        errc::timeout, shared_->opt->to + " did not answer within "
                         + std::to_string(t) + " ms (request-timeout)"));
      flush_slots();
    }
  }

private:
  // -- inbound ----------------------------------------------------------------

  void on_frame(std::string frame) override {
    acting_as self{this};
    ++frames_in;
    shared_->count_frame(true, frame.size());
    auto m = frame_to_message(std::move(frame), shared_->opt->text);
    if (!m) {
      shared_->count_error();
      if (!shared_->opt->to.empty()) {
        // An answer in its place, so later replies stay in order.
        slots_.push_back({next_seq_++, true, error_frame(m.error()), 0});
        flush_slots();
      } else {
        write_frame(error_frame(m.error()), true);
      }
      return;
    }
    if (!shared_->opt->room.empty()) {
      if (auto room = shared_->node.lookup(shared_->opt->room, shared_->room))
        send(room, push_atom::value, std::move(*m));
      return;
    }
    auto to = shared_->node.lookup(shared_->opt->to, shared_->to);
    if (!to) {
      shared_->count_error();
      write_frame(
        error_frame(make_error(errc::unknown_actor,
                               "no actor named '" + shared_->opt->to + "'")),
        true);
      return;
    }
    auto seq = next_seq_++;
    slots_.push_back({seq, false, {}, uv_now(loop().native())});
    // No CAF timeout: it would wake CAF's clock thread twice per request.
    // The connection's own timer answers a request that takes too long.
    request(caf::actor_cast<json_actor>(to), caf::infinite, std::move(*m))
      .then(
        [this, seq](json_message& reply) {
          auto text = message_to_frame(std::move(reply), shared_->opt->text,
                                       shared_->opt->how);
          fill(seq, text ? std::move(*text) : error_frame(text.error()));
        },
        [this, seq](caf::error& err) { fill(seq, error_frame(err)); });
    if (slots_.size() >= shared_->opt->max_pending && !paused_for_pending_
        && !closing_) {
      paused_for_pending_ = true;
      ch_->pause_reading();
    }
  }

  // Reading stopped: the replies still due go out first, then the peer
  // learns why (if it still listens) and the connection closes.
  void on_error(caf::error err) override {
    shared_->count_error();
    ended_ = true;
    end_error_ = err;
    if (!shared_->opt->to.empty()) {
      slots_.push_back({next_seq_++, true, error_frame(err), 0});
      flush_slots();
      return;
    }
    write_frame(error_frame(err), true);
    finish(end_reason(), true);
  }

  void on_eof() override {
    ended_ = true;
    if (slots_.empty())
      finish(end_reason(), true);
  }

  void on_write_error(caf::error err) override {
    finish("write failed: " + render(err), false);
  }

  // Why the connection ends once its replies are out.
  std::string end_reason() const {
    return end_error_ ? render(end_error_) : "the peer closed the connection";
  }

  // -- replies, in order ------------------------------------------------------

  struct slot {
    uint64_t seq;
    bool done;
    std::string frame;
    uint64_t sent; // loop time (ms) of the request
  };

  void fill(uint64_t seq, std::string frame) {
    if (slots_.empty() || seq < slots_.front().seq)
      return; // answered by the timeout already
    auto& s = slots_[seq - slots_.front().seq];
    if (s.done)
      return;
    s.done = true;
    s.frame = std::move(frame);
    flush_slots();
  }

  void flush_slots() {
    while (!slots_.empty() && slots_.front().done && !closing_) {
      write_frame(std::move(slots_.front().frame), true);
      slots_.pop_front();
    }
    if (closing_)
      return;
    if (paused_for_pending_
        && slots_.size() < shared_->opt->max_pending / 2 + 1) {
      paused_for_pending_ = false;
      if (!paused_for_queue_)
        ch_->resume_reading();
    }
    if (ended_ && slots_.empty())
      finish(end_reason(), true);
  }

  // -- outbound ---------------------------------------------------------------

  void write_message(json_message m, bool is_reply) {
    auto frame =
      message_to_frame(std::move(m), shared_->opt->text, shared_->opt->how);
    if (!frame) {
      shared_->node.log(log_level::warn, shared_->opt->name,
                        "conn " + std::to_string(conn) + ": "
                          + render(frame.error()));
      shared_->count_error();
      return;
    }
    write_frame(std::move(*frame), is_reply);
  }

  // Writes under the overflow policy. A reply to the connection's own
  // request always queues (its reading pauses instead); a push past the
  // mark is what the policy is for.
  void write_frame(std::string frame, bool is_reply) {
    if (ch_ == nullptr || closing_)
      return;
    if (ch_->queued_bytes() >= shared_->opt->max_queued) {
      switch (shared_->opt->overflow) {
        case overflow_policy::disconnect:
          shared_->count_error();
          finish("overflow: " + std::to_string(ch_->queued_bytes())
                   + " bytes queued (max-queued)",
                 false);
          return;
        case overflow_policy::drop: shared_->count_drop(); return;
        case overflow_policy::pause:
          if (!is_reply) {
            shared_->count_drop();
            return;
          }
          break;
      }
    }
    if (!ch_->write(frame)) {
      shared_->count_error();
      shared_->node.log(log_level::warn, shared_->opt->name,
                        "conn " + std::to_string(conn) + ": a frame of "
                          + std::to_string(frame.size())
                          + " bytes does not fit the framing");
      return;
    }
    ++frames_out;
    shared_->count_frame(false, frame.size());
    if (shared_->opt->overflow == overflow_policy::pause && !paused_for_queue_
        && ch_->queued_bytes() >= shared_->opt->max_queued) {
      paused_for_queue_ = true;
      ch_->pause_reading();
    }
  }

  void on_drain() override {
    if (closing_)
      return;
    if (paused_for_queue_
        && ch_->queued_bytes() < shared_->opt->max_queued / 2 + 1) {
      paused_for_queue_ = false;
      if (!paused_for_pending_)
        ch_->resume_reading();
    }
  }

  // -- closing ----------------------------------------------------------------

  // An actor ended without `finish` (killed) still lets go of its handles.
  void on_exit() override {
    release(false);
    loop_actor::on_exit();
  }

  void release(bool graceful) {
    if (ch_ != nullptr) {
      ch_->set_handler(nullptr);
      if (graceful) {
        ch_->close_when_flushed();
      } else {
        // What the peer's socket takes now still reaches it.
        ch_->write_now();
        ch_->close();
      }
      ch_ = nullptr;
    }
    // The server lets go of the actor once it knows.
    if (!told_server_) {
      told_server_ = true;
      if (auto server = caf::actor_cast<caf::actor>(shared_->server))
        caf::anon_send(server, closed_atom::value, conn);
    }
  }

  void finish(const std::string& reason, bool graceful) {
    if (closing_)
      return;
    closing_ = true;
    release(graceful);
    ++shared_->stats.closed;
    if (shared_->metrics != nullptr)
      shared_->metrics->connections.fetch_sub(1, std::memory_order_relaxed);
    // Without an events actor, only what went wrong goes to the log.
    if (has_events()
        || (reason != "the peer closed the connection"
            && reason != "the node is stopping"
            && reason != "closed by command"))
      event(json{{"event", "closed"}, {"reason", reason}});
    // `finish` runs in channel callbacks too, outside the behaviour, where
    // quitting would not take effect until the next message: this is it
    // (the exit handler quits).
    send_exit(this, caf::exit_reason::normal);
  }

  bool has_events() {
    return shared_->node.lookup(shared_->opt->events, shared_->events)
           != nullptr;
  }

  void event(json ev) {
    ev["bridge"] = shared_->opt->name;
    ev["conn"] = conn;
    auto text = ev.dump(-1, ' ', false, json::error_handler_t::replace);
    if (!shared_->node.send_event(shared_->opt->events, shared_->events, text))
      shared_->node.log(event_level(ev.value("event", "")), shared_->opt->name,
                        text);
  }

  // An idle connection is mostly this object: with CAF's actor (1,088
  // bytes with its control block) it fits jemalloc's 1280-byte class.
  std::shared_ptr<conn_shared> shared_;
  channel* ch_;
  std::string peer_;
  // The requests in flight, oldest first.
  fifo<slot> slots_;
  uint64_t next_seq_ = 0;
  // Why reading ended (none: the peer closed); the connection ends once
  // its replies are out.
  caf::error end_error_;
  bool ended_ = false;
  bool paused_for_pending_ = false;
  bool paused_for_queue_ = false;
  bool closing_ = false;
  bool told_server_ = false;
};

// An idle connection is mostly its actor: past jemalloc's 1280-byte class
// it would cost 256 bytes more each (`bench_sockets idle`). It is 1,272.
static_assert(sizeof(caf::actor_storage<connection>) <= 1280,
              "a connection actor outgrew its allocation class");

} // namespace

caf::actor spawn_connection(std::shared_ptr<conn_shared> shared, channel* ch,
                            uint64_t id, conn_state*& state) {
  auto& owner = shared->node;
  auto handle = spawn_on_loop<connection>(owner.system(), owner.loop(),
                                          std::move(shared), ch, id);
  state =
    static_cast<connection*>(caf::actor_cast<caf::abstract_actor*>(handle));
  return caf::actor_cast<caf::actor>(std::move(handle));
}

uint64_t timeout_period(const stream_options& opt) {
  uint64_t period = 0;
  for (auto t : {opt.idle_timeout, opt.frame_timeout, opt.request_timeout})
    if (auto x = ms(t); x > 0)
      period = period == 0 ? x : std::min(period, x);
  // A time-out is seen within a quarter of itself (at most a second late).
  return period == 0 ? 0 : std::clamp<uint64_t>(period / 4, 10, 1000);
}

caf::expected<json_message> frame_to_message(std::string frame, bool text) {
  if (text)
    return json_message::trusted(
      json(std::move(frame))
        .dump(-1, ' ', false, json::error_handler_t::replace));
  if (!is_json(frame))
    return make_error(errc::invalid_json, "not JSON: " + truncated(frame));
  return json_message::trusted(std::move(frame));
}

caf::expected<std::string> message_to_frame(json_message m, bool text,
                                            framing how) {
  if (text) {
    auto parsed = json::parse(m.text, nullptr, false);
    if (!parsed.is_string())
      return make_error(errc::bad_message,
                        "format = \"text\" takes JSON strings, got "
                          + truncated(m.text));
    auto s = parsed.get<std::string>();
    if (how == framing::lines && s.find('\n') != std::string::npos)
      return make_error(errc::bad_message,
                        "a text line may not hold a newline");
    return s;
  }
  // Valid JSON holds a raw newline only as whitespace between tokens.
  if (how == framing::lines || how == framing::json_stream)
    std::replace(m.text.begin(), m.text.end(), '\n', ' ');
  return std::move(m.text);
}

} // namespace switchboard::bridges::stream

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/stream/connection.hpp"

#include <algorithm>

#include <caf/event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/channel.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/fifo.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

namespace switchboard::bridges::stream {

namespace {

using json = nlohmann::json;
using done_atom = caf::atom_constant<caf::atom("done")>;

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

// Channel callbacks outlive the actor by a little (a channel closes
// asynchronously); they reach the actor through this, which the actor
// clears when it goes.
template<class T>
struct guard {
  T* self;
};

class connection : public loop_actor<caf::event_based_actor> {
public:
  connection(caf::actor_config& cfg, io_loop& loop,
             std::shared_ptr<conn_shared> shared, channel* ch,
             std::shared_ptr<conn_entry> entry, caf::actor server)
      : loop_actor(cfg, loop), shared_(std::move(shared)), ch_(ch),
        entry_(std::move(entry)), server_(std::move(server)) {}

  caf::behavior make_behavior() override {
    guard_ = std::make_shared<guard<connection>>(guard<connection>{this});
    auto g = guard_;
    channel_callbacks cb;
    cb.on_frame = [g](std::string frame) {
      if (g->self != nullptr)
        g->self->on_frame(std::move(frame));
    };
    cb.on_error = [g](caf::error err) {
      if (g->self != nullptr)
        g->self->on_read_error(std::move(err));
    };
    cb.on_eof = [g] {
      if (g->self != nullptr)
        g->self->on_eof();
    };
    cb.on_drain = [g] {
      if (g->self != nullptr)
        g->self->on_drain();
    };
    cb.on_write_error = [g](caf::error err) {
      if (g->self != nullptr)
        g->self->finish("write failed: " + render(err), false);
    };
    ch_->set_callbacks(std::move(cb));
    ch_->resume_reading();
    if (!shared_->opt->room.empty()) {
      if (auto room = shared_->node.lookup(shared_->opt->room))
        send(room, join_atom::value, caf::actor_cast<sink_actor>(this));
      else
        shared_->node.log(shared_->opt->name + ": no room named '"
                          + shared_->opt->room + "'");
    }
    event(json{{"event", "opened"}, {"peer", entry_->peer}});
    start_timer();
    set_exit_handler([this](caf::exit_msg& msg) {
      finish(msg.reason == caf::exit_reason::user_shutdown
               ? "the node is stopping"
               : render(msg.reason),
             true);
      quit(msg.reason);
    });
    return {
      // `finish` runs in channel callbacks too, outside the behaviour,
      // where quitting would not take effect until the next message.
      [this](done_atom) { quit(); },
      [this](push_atom, json_message& m) {
        write_message(std::move(m), false);
      },
      [this](close_atom) { finish("closed by command", true); },
      [this](status_atom) {
        return status_reply(
          this, "connection",
          {{"conn", std::to_string(entry_->id)},
           {"peer", json(entry_->peer).dump()},
           {"queued", std::to_string(ch_ != nullptr ? ch_->queued_bytes() : 0)},
           {"in", std::to_string(entry_->frames_in)},
           {"out", std::to_string(entry_->frames_out)}});
      },
    };
  }

private:
  // -- inbound ----------------------------------------------------------------

  void on_frame(std::string frame) {
    ++entry_->frames_in;
    ++shared_->stats.frames_in;
    auto m = frame_to_message(std::move(frame), shared_->opt->text);
    if (!m) {
      ++shared_->stats.errors;
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
      ++shared_->stats.errors;
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
  void on_read_error(caf::error err) {
    ++shared_->stats.errors;
    end_reason_ = render(err);
    if (!shared_->opt->to.empty()) {
      slots_.push_back({next_seq_++, true, error_frame(err), 0});
      flush_slots();
      return;
    }
    write_frame(error_frame(err), true);
    finish(end_reason_, true);
  }

  void on_eof() {
    if (end_reason_.empty())
      end_reason_ = "the peer closed the connection";
    if (slots_.empty())
      finish(end_reason_, true);
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
    if (!end_reason_.empty() && slots_.empty())
      finish(end_reason_, true);
  }

  // -- outbound ---------------------------------------------------------------

  void write_message(json_message m, bool is_reply) {
    auto frame =
      message_to_frame(std::move(m), shared_->opt->text, shared_->opt->how);
    if (!frame) {
      shared_->node.log(shared_->opt->name + ": conn "
                        + std::to_string(entry_->id) + ": "
                        + render(frame.error()));
      ++shared_->stats.errors;
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
          ++shared_->stats.errors;
          finish("overflow: " + std::to_string(ch_->queued_bytes())
                   + " bytes queued (max-queued)",
                 false);
          return;
        case overflow_policy::drop: ++shared_->stats.drops; return;
        case overflow_policy::pause:
          if (!is_reply) {
            ++shared_->stats.drops;
            return;
          }
          break;
      }
    }
    if (!ch_->write(frame)) {
      ++shared_->stats.errors;
      shared_->node.log(shared_->opt->name + ": conn "
                        + std::to_string(entry_->id) + ": a frame of "
                        + std::to_string(frame.size())
                        + " bytes does not fit the framing");
      return;
    }
    ++entry_->frames_out;
    ++shared_->stats.frames_out;
    entry_->queued = ch_->queued_bytes();
    if (shared_->opt->overflow == overflow_policy::pause && !paused_for_queue_
        && ch_->queued_bytes() >= shared_->opt->max_queued) {
      paused_for_queue_ = true;
      ch_->pause_reading();
    }
  }

  void on_drain() {
    if (closing_)
      return;
    entry_->queued = ch_->queued_bytes();
    if (paused_for_queue_
        && ch_->queued_bytes() < shared_->opt->max_queued / 2 + 1) {
      paused_for_queue_ = false;
      if (!paused_for_pending_)
        ch_->resume_reading();
    }
  }

  // -- timeouts ---------------------------------------------------------------

  void start_timer() {
    uint64_t period = 0;
    for (auto t : {shared_->opt->idle_timeout, shared_->opt->frame_timeout})
      if (auto x = ms(t); x > 0)
        period = period == 0 ? x : std::min(period, x);
    if (auto x = ms(shared_->opt->request_timeout); x > 0)
      period = period == 0 ? x : std::min(period, x);
    if (period == 0)
      return;
    period = std::clamp<uint64_t>(period / 4, 10, 1000);
    timer_ = new uv_timer_t;
    uv_timer_init(loop().native(), timer_);
    timer_->data = guard_.get();
    // The guard outlives the timer: the close callback frees only the timer.
    uv_timer_start(
      timer_,
      [](uv_timer_t* t) {
        auto g = static_cast<guard<connection>*>(t->data);
        if (g->self != nullptr)
          g->self->check_timeouts();
      },
      period, period);
  }

  void check_timeouts() {
    if (closing_)
      return;
    auto now = uv_now(loop().native());
    if (auto t = ms(shared_->opt->frame_timeout);
        t > 0 && ch_->partial_since() != 0 && now - ch_->partial_since() >= t) {
      ++shared_->stats.errors;
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
      ++shared_->stats.errors;
      auto& s = slots_.front();
      s.done = true;
      s.frame = error_frame(make_error(
        errc::timeout, shared_->opt->to + " did not answer within "
                         + std::to_string(t) + " ms (request-timeout)"));
      flush_slots();
    }
  }

  // -- closing ----------------------------------------------------------------

  // An actor ended without `finish` (killed) still lets go of its handles.
  void on_exit() override {
    release(false);
    loop_actor::on_exit();
  }

  void release(bool graceful) {
    if (guard_ != nullptr)
      guard_->self = nullptr;
    if (ch_ != nullptr) {
      if (graceful)
        ch_->close_when_flushed();
      else
        ch_->close();
      ch_ = nullptr;
    }
    if (timer_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(timer_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer_ = nullptr;
    }
  }

  void finish(const std::string& reason, bool graceful) {
    if (closing_)
      return;
    closing_ = true;
    release(graceful);
    ++shared_->stats.closed;
    event(json{{"event", "closed"}, {"reason", reason}});
    send(server_, closed_atom::value, entry_->id);
    send(this, done_atom::value);
  }

  void event(json ev) {
    ev["bridge"] = shared_->opt->name;
    ev["conn"] = entry_->id;
    auto text = ev.dump(-1, ' ', false, json::error_handler_t::replace);
    if (shared_->node.send_event(shared_->opt->events, shared_->events, text))
      return;
    // Without an events actor, only what went wrong goes to the log.
    auto kind = ev.value("event", "");
    auto reason = ev.value("reason", "");
    if (kind == "closed" && reason != "the peer closed the connection"
        && reason != "the node is stopping" && reason != "closed by command")
      shared_->node.log(shared_->opt->name + ": " + text);
  }

  std::shared_ptr<conn_shared> shared_;
  channel* ch_;
  std::shared_ptr<conn_entry> entry_;
  caf::actor server_;
  std::shared_ptr<guard<connection>> guard_;
  uv_timer_t* timer_ = nullptr;
  // The requests in flight, oldest first.
  fifo<slot> slots_;
  uint64_t next_seq_ = 0;
  bool paused_for_pending_ = false;
  bool paused_for_queue_ = false;
  // Why the connection ends once its replies are out (EOF, a read error).
  std::string end_reason_;
  bool closing_ = false;
};

} // namespace

caf::actor spawn_connection(std::shared_ptr<conn_shared> shared, channel* ch,
                            std::shared_ptr<conn_entry> entry,
                            caf::actor server) {
  auto& owner = shared->node;
  return caf::actor_cast<caf::actor>(
    spawn_on_loop<connection>(owner.system(), owner.loop(), std::move(shared),
                              ch, std::move(entry), std::move(server)));
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

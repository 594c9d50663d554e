// switchboard: an embeddable C++ actor runtime. MIT License.

// The connecting side of a `tcp` or `uds` bridge: one loop actor that owns
// one connection and keeps it up under the restart policy. A message sent
// to it is written to the server (held while the connection is down, up to
// max-held); a request is answered by the server's next frame, in order.

#include "switchboard/bridges/stream/bridge.hpp"

#include <chrono>
#include <deque>

#include <caf/event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/channel.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/log.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

#include "switchboard/bridges/stream/connection.hpp"

namespace switchboard::bridges::stream {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t ms_since(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t)
    .count();
}

class client : public loop_actor<caf::event_based_actor> {
public:
  client(caf::actor_config& cfg, io_loop& loop, switchboard::node& owner,
         stream_options opts)
      : loop_actor(cfg, loop), node_(owner), opt_(std::move(opts)),
        tracker_(opt_.restart) {}

  caf::behavior make_behavior() override {
    down_since_ = clock::now();
    connect();
    set_exit_handler([this](caf::exit_msg& msg) {
      release();
      fail_all(make_error(errc::not_running, opt_.name + " is stopping"));
      quit(msg.reason);
    });
    return {
      [this](json_message& m) -> caf::result<json_message> {
        return on_message(std::move(m));
      },
      [this](reconnect_atom, uint64_t gen) {
        if (gen == generation_ && state_ == state::waiting)
          connect();
      },
      [this](status_atom) {
        return status_reply(
          this, opt_.unix_socket ? "uds" : "tcp",
          {{"mode", "\"client\""},
           {"connect", dump(opt_.address)},
           {"state", dump(state_name())},
           {"framing", dump(to_string(opt_.how))},
           {"held", std::to_string(held_.size())},
           {"waiting", std::to_string(fifo_.size())},
           {"queued", std::to_string(ch_ ? ch_->queued_bytes() : 0)},
           {"in", std::to_string(in_)},
           {"out", std::to_string(out_)},
           {"drops", std::to_string(drops_)},
           {"restarts", std::to_string(tracker_.restarts())}});
      },
    };
  }

  void on_exit() override {
    release();
    loop_actor::on_exit();
  }

private:
  enum class state { connecting, up, waiting, gave_up };

  const char* state_name() const {
    switch (state_) {
      case state::connecting: return "connecting";
      case state::up: return "up";
      case state::waiting: return "restarting";
      default: return "gave-up";
    }
  }

  struct guard {
    client* self;
  };

  struct held {
    std::string frame;
    bool is_request = false;
    caf::typed_response_promise<json_message> rp;
  };

  // -- connecting -------------------------------------------------------------

  // What the connection's channel reports, to this client while it waits
  // for that connection.
  channel_callbacks callbacks() {
    auto g = guard_;
    channel_callbacks cb;
    cb.on_frame = [g](std::string f) {
      if (g->self)
        g->self->on_frame(std::move(f));
    };
    cb.on_error = [g](caf::error e) {
      if (g->self)
        g->self->lost(render(e));
    };
    cb.on_eof = [g] {
      if (g->self)
        g->self->lost("the server closed the connection");
    };
    cb.on_drain = [g] {
      if (g->self)
        g->self->flush_held();
    };
    cb.on_write_error = [g](caf::error e) {
      if (g->self)
        g->self->lost(render(e));
    };
    return cb;
  }

  void connect() {
    state_ = state::connecting;
    guard_ = std::make_shared<guard>(guard{this});
    auto g = guard_;
    if (opt_.unix_socket) {
      auto fd = connect_unix(opt_.address);
      if (!fd) {
        lost(render(fd.error()));
        return;
      }
      ch_ = channel::open(loop().native(), *fd, opt_.how, opt_.max_frame,
                          callbacks());
      if (ch_ == nullptr) {
        lost("cannot open the socket");
        return;
      }
      connected();
      return;
    }
    // Checked when the options were read.
    auto where = *parse_host_port(opt_.address);
    addresses_.clear();
    next_address_ = 0;
    if (auto addr = numeric_address(where)) {
      addresses_.push_back(*addr);
      dial_next();
      return;
    }
    // A name: looked up off the loop, then each address in turn.
    resolve_tcp(loop().native(), where.host, where.port,
                [g](caf::expected<std::vector<sockaddr_storage>> found) {
                  if (g->self == nullptr)
                    return;
                  if (!found) {
                    g->self->lost(reason_of(found.error()));
                    return;
                  }
                  g->self->addresses_ = std::move(*found);
                  g->self->dial_next();
                });
  }

  // Connects to the next address of `addresses_`; a refusal tries the one
  // after (localhost may be ::1 and 127.0.0.1, a server on one of them).
  void dial_next() {
    auto g = guard_;
    auto& addr = addresses_[next_address_++];
    ch_ = channel::connect(loop().native(),
                           reinterpret_cast<const sockaddr*>(&addr), opt_.how,
                           opt_.max_frame, callbacks(), [g](caf::error err) {
                             auto self = g->self;
                             if (self == nullptr)
                               return;
                             if (!err) {
                               self->connected();
                               return;
                             }
                             self->ch_ = nullptr; // closes itself
                             if (self->next_address_ < self->addresses_.size())
                               self->dial_next();
                             else
                               self->lost(render(err));
                           });
  }

  void connected() {
    state_ = state::up;
    if (auto secs = opt_.keepalive_seconds(); secs.count() > 0)
      ch_->keepalive(secs);
    up_since_ = clock::now();
    event(json{{"event", "up"}, {"down_ms", ms_since(down_since_)}});
    flush_held();
  }

  void lost(const std::string& reason) {
    if (state_ != state::up && state_ != state::connecting)
      return;
    bool was_up = state_ == state::up;
    release();
    fail_waiting(make_error(errc::no_channel,
                            opt_.name + ": the connection was lost (" + reason
                              + ") before the server answered"));
    if (was_up) {
      down_since_ = clock::now();
      event(json{{"event", "down"}, {"reason", reason}});
    }
    auto uptime = was_up ? clock::now() - up_since_ : clock::duration{0};
    auto d = tracker_.next(
      true, std::chrono::duration_cast<caf::timespan>(uptime), reason);
    if (d.action == restart_decision::restart) {
      state_ = state::waiting;
      event(json::parse(d.event()));
      delayed_send(this, d.delay, reconnect_atom::value, ++generation_);
      return;
    }
    state_ = state::gave_up;
    if (d.action == restart_decision::give_up)
      event(json::parse(d.event()));
    else
      event(
        json{{"event", "gave-up"}, {"reason", "restart = never; " + reason}});
    fail_held(make_error(errc::no_channel, opt_.name + " gave up connecting to "
                                             + opt_.address + " (" + reason
                                             + ")"));
  }

  void release() {
    if (guard_)
      guard_->self = nullptr;
    if (ch_ != nullptr) {
      ch_->close();
      ch_ = nullptr;
    }
  }

  // -- messages
  // -----------------------------------------------------------------

  caf::result<json_message> on_message(json_message m) {
    bool is_request = current_message_id().is_request();
    auto frame = message_to_frame(std::move(m), opt_.text, opt_.how);
    if (!frame)
      return make_error(errc::bad_message,
                        opt_.name + ": " + render(frame.error()));
    if (state_ == state::gave_up)
      return make_error(errc::no_channel,
                        opt_.name + " gave up connecting to " + opt_.address);
    bool over = ch_ != nullptr && ch_->queued_bytes() >= opt_.max_queued;
    if (state_ == state::up && over) {
      if (opt_.overflow == overflow_policy::drop) {
        ++drops_;
        return make_error(errc::queue_full,
                          opt_.name + ": " + std::to_string(ch_->queued_bytes())
                            + " bytes queued (max-queued); dropped");
      }
      if (opt_.overflow == overflow_policy::disconnect) {
        lost("overflow: " + std::to_string(ch_->queued_bytes())
             + " bytes queued (max-queued)");
        over = false; // now down: held below
      }
    }
    if (state_ != state::up || over || !held_.empty()) {
      if (held_.size() >= opt_.max_held)
        return make_error(errc::queue_full,
                          opt_.name + " holds " + std::to_string(held_.size())
                            + " messages already (max-held) while "
                            + (state_ == state::up ? "the server reads slowly"
                                                   : "disconnected"));
      held h;
      h.frame = std::move(*frame);
      h.is_request = is_request;
      if (is_request) {
        h.rp = make_response_promise<json_message>();
        auto rp = h.rp;
        held_.push_back(std::move(h));
        return rp;
      }
      held_.push_back(std::move(h));
      return caf::delegated<json_message>{};
    }
    if (!ch_->write(*frame))
      return make_error(errc::bad_message,
                        opt_.name + ": the message does not fit the framing");
    ++out_;
    if (!is_request)
      return caf::delegated<json_message>{};
    auto rp = make_response_promise<json_message>();
    fifo_.push_back(rp);
    return rp;
  }

  void flush_held() {
    while (!held_.empty() && state_ == state::up
           && ch_->queued_bytes() < opt_.max_queued) {
      auto h = std::move(held_.front());
      held_.pop_front();
      if (!ch_->write(h.frame)) {
        if (h.is_request)
          h.rp.deliver(make_error(errc::bad_message, opt_.name
                                                       + ": the message does "
                                                         "not fit the "
                                                         "framing"));
        continue;
      }
      ++out_;
      if (h.is_request)
        fifo_.push_back(std::move(h.rp));
    }
  }

  void on_frame(std::string frame) {
    acting_as self{this};
    ++in_;
    auto m = frame_to_message(std::move(frame), opt_.text);
    if (!fifo_.empty()) {
      auto rp = std::move(fifo_.front());
      fifo_.pop_front();
      if (m)
        rp.deliver(std::move(*m));
      else
        rp.deliver(
          make_error(errc::invalid_json, opt_.name + ": " + render(m.error())));
      return;
    }
    if (!m) {
      node_.log(log_level::warn, opt_.name, render(m.error()));
      return;
    }
    if (auto room = node_.lookup(opt_.room, room_)) {
      send(room, push_atom::value, std::move(*m));
      return;
    }
    if (auto to = node_.lookup(opt_.to, to_)) {
      // Sent without a sender: the answer goes nowhere, not to the server.
      caf::anon_send(caf::actor_cast<json_actor>(to), std::move(*m));
      return;
    }
    node_.log(log_level::warn, opt_.name,
              "a frame nobody asked for (no \"to\"): "
                + m->text.substr(0, 200));
  }

  void fail_waiting(const caf::error& err) {
    for (auto& rp : fifo_)
      rp.deliver(err);
    fifo_.clear();
  }

  void fail_held(const caf::error& err) {
    for (auto& h : held_)
      if (h.is_request)
        h.rp.deliver(err);
    held_.clear();
  }

  void fail_all(const caf::error& err) {
    fail_waiting(err);
    fail_held(err);
  }

  void event(json ev) {
    ev["bridge"] = opt_.name;
    auto text = dump(ev);
    if (!node_.send_event(opt_.events, events_, text))
      node_.log(event_level(ev.value("event", "")), opt_.name, text);
  }

  switchboard::node& node_;
  stream_options opt_;
  restart_tracker tracker_;
  std::shared_ptr<guard> guard_;
  channel* ch_ = nullptr;
  state state_ = state::connecting;
  uint64_t generation_ = 0;
  clock::time_point down_since_;
  clock::time_point up_since_;
  // Where a TCP client connects: a numeric address, or what its name
  // resolved to.
  std::vector<sockaddr_storage> addresses_;
  size_t next_address_ = 0;
  std::deque<held> held_;
  std::deque<caf::typed_response_promise<json_message>> fifo_;
  uint64_t in_ = 0;
  uint64_t out_ = 0;
  uint64_t drops_ = 0;
  caf::actor to_;
  caf::actor room_;
  caf::actor events_;
};

} // namespace

caf::expected<caf::actor> spawn_client(switchboard::node& owner,
                                       stream_options opts) {
  return caf::actor_cast<caf::actor>(spawn_on_loop<client>(
    owner.system(), owner.loop(), owner, std::move(opts)));
}

} // namespace switchboard::bridges::stream

// switchboard: an embeddable C++ actor runtime. MIT License.

// The listening side of a `tcp` or `uds` bridge: a loop actor that owns the
// listener, spawns one connection actor per accepted connection and takes
// commands (send, broadcast, close, list) as JSON. With `hand-to` it serves
// nothing itself: each accepted connection goes to a child process, socket
// and all (round robin, or sticky by client address). With `listen =
// "parent"` it has no listener: it serves the connections its node's
// parent hands over.

#include "switchboard/bridges/stream/bridge.hpp"

#include <functional>
#include <map>
#include <memory>

#include <unistd.h>

#include <caf/event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/channel.hpp>
#include <switchboard/conn_command.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/handoff.hpp>
#include <switchboard/log.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

#include "switchboard/bridges/stream/connection.hpp"

namespace switchboard::bridges::stream {

namespace {

using json = nlohmann::json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

class server : public loop_actor<caf::event_based_actor> {
public:
  server(caf::actor_config& cfg, io_loop& loop, switchboard::node& owner,
         std::shared_ptr<const stream_options> opts, int fd, std::string bound)
      : loop_actor(cfg, loop), node_(owner), opt_(std::move(opts)), fd_(fd),
        bound_(std::move(bound)),
        shared_(std::make_shared<conn_shared>(owner, opt_)) {
    shared_->server = this->address();
  }

  caf::behavior make_behavior() override {
    auto uv = loop().native();
    if (fd_ >= 0)
      start_listener();
    if (auto period = timeout_period(*opt_); period > 0) {
      sweep_ = new uv_timer_t;
      uv_timer_init(uv, sweep_);
      sweep_->data = this;
      uv_timer_start(
        sweep_,
        [](uv_timer_t* t) { static_cast<server*>(t->data)->check_timeouts(); },
        period, period);
    }
    set_exit_handler([this](caf::exit_msg& msg) {
      shut_down();
      quit(msg.reason);
    });
    return {
      [this](json_message& m) -> caf::result<json_message> {
        return command(m);
      },
      [this](closed_atom, uint64_t id) { conns_.erase(id); },
      // A connection the parent node handed over (listen = "parent").
      [this](hand_atom, handed_connection& c) -> caf::result<caf::ok_atom> {
        caf::error err;
        auto ch = channel::adopt(loop().native(), c.duplicate(), opt_->how,
                                 opt_->max_frame, &err);
        if (ch == nullptr)
          return err;
        if (!serve(ch))
          return make_error(errc::queue_full,
                            opt_->name + ": max-connections are open");
        return caf::ok_atom::value;
      },
      [this](status_atom) {
        size_t queued = 0;
        for (auto& kvp : conns_)
          queued += kvp.second.state->queued();
        auto& s = shared_->stats;
        std::vector<std::pair<std::string, std::string>> fields{
          {"mode", "\"server\""},
          {"listen", dump(bound_)},
          {"framing", dump(to_string(opt_->how))},
          {"connections", std::to_string(conns_.size())},
          {"accepted", std::to_string(s.accepted)},
          {"refused", std::to_string(s.refused)},
          {"closed", std::to_string(s.closed)},
          {"in", std::to_string(s.frames_in)},
          {"out", std::to_string(s.frames_out)},
          {"queued", std::to_string(queued)},
          {"drops", std::to_string(s.drops)},
          {"errors", std::to_string(s.errors)}};
        if (!opt_->hand_to.empty()) {
          json handed = json::object();
          for (size_t i = 0; i < opt_->hand_to.size(); ++i)
            handed[opt_->hand_to[i]] = targets_[i].handed;
          fields.emplace_back("handed", dump(handed));
          fields.emplace_back("dispatch",
                              opt_->sticky ? "\"sticky\"" : "\"round-robin\"");
        }
        return status_reply(this, opt_->unix_socket ? "uds" : "tcp",
                            std::move(fields));
      },
    };
  }

  void on_exit() override {
    shut_down();
    loop_actor::on_exit();
  }

private:
  struct listener {
    union {
      uv_handle_t handle;
      uv_stream_t stream;
      uv_pipe_t pipe;
      uv_tcp_t tcp;
    } h;
    server* self;
  };

  void start_listener() {
    listener_ = new listener;
    listener_->self = this;
    auto uv = loop().native();
    int rc;
    if (opt_->unix_socket) {
      uv_pipe_init(uv, &listener_->h.pipe, 0);
      rc = uv_pipe_open(&listener_->h.pipe, fd_);
    } else {
      uv_tcp_init(uv, &listener_->h.tcp);
      rc = uv_tcp_open(&listener_->h.tcp, fd_);
    }
    listener_->h.handle.data = listener_;
    if (rc == 0)
      rc = uv_listen(&listener_->h.stream, opt_->backlog,
                     [](uv_stream_t* s, int status) {
                       auto l = static_cast<listener*>(s->data);
                       if (l->self != nullptr)
                         l->self->on_connection(status);
                     });
    if (rc != 0)
      node_.log(log_level::error, opt_->name,
                std::string{"listen: "} + uv_strerror(rc));
  }

  void on_connection(int status) {
    if (status < 0) {
      node_.log(log_level::warn, opt_->name,
                std::string{"accept: "} + uv_strerror(status));
      return;
    }
    caf::error err;
    auto ch =
      channel::accept(&listener_->h.stream, opt_->how, opt_->max_frame, &err);
    if (ch == nullptr) {
      node_.log(log_level::warn, opt_->name, render(err));
      return;
    }
    if (!opt_->hand_to.empty()) {
      hand_off(ch);
      return;
    }
    serve(ch);
  }

  // Serves `ch` here: a connection actor of its own, or refused when
  // max-connections are open (then false).
  bool serve(channel* ch) {
    if (static_cast<int64_t>(conns_.size()) >= opt_->max_connections) {
      auto peer = ch->peer();
      ++shared_->stats.refused;
      if (auto m = metrics())
        m->errors.fetch_add(1, std::memory_order_relaxed);
      auto why = "refused: " + std::to_string(conns_.size())
                 + " connections open (max-connections)";
      ch->write(dump(json{{"error", why}}));
      ch->close_when_flushed();
      event(json{{"event", "refused"}, {"peer", peer}, {"reason", why}});
      return false;
    }
    ++shared_->stats.accepted;
    shared_->metrics = metrics();
    auto id = next_id_++;
    conn_ref ref;
    ref.handle = spawn_connection(shared_, ch, id, ref.state);
    conns_.emplace(id, std::move(ref));
    return true;
  }

  // -- handing connections to children ----------------------------------------

  struct target {
    caf::actor handle;
    uint64_t handed = 0;
  };

  // Hands the accepted `ch` to a child of `hand-to`: the socket leaves
  // with the request, and this node's copy closes once the child has its
  // own (or nobody took it).
  void hand_off(channel* ch) {
    auto peer = ch->peer();
    auto fd = ch->duplicate_fd();
    ch->close();
    if (fd < 0) {
      node_.log(log_level::warn, opt_->name,
                "cannot hand over a connection from " + peer);
      return;
    }
    ++shared_->stats.accepted;
    auto n = opt_->hand_to.size();
    size_t first;
    if (opt_->sticky) {
      // By the client's address without its port, which changes with
      // every connection.
      auto host = peer.substr(0, peer.rfind(':'));
      first = std::hash<std::string>{}(host) % n;
    } else {
      first = next_target_++ % n;
    }
    try_hand(handed_connection::take(fd, peer, opt_->name), first, 0, {});
  }

  // Offers `c` to the target at `index`; one that cannot take it (not
  // running, no IPC channel) passes it to the next, up to every target.
  // Any other failure (a time-out) may come after the socket reached the
  // child: the connection is not offered twice.
  void try_hand(handed_connection c, size_t index, size_t tried,
                std::string why) {
    auto n = opt_->hand_to.size();
    if (tried == n) {
      ++shared_->stats.refused;
      if (auto m = metrics())
        m->errors.fetch_add(1, std::memory_order_relaxed);
      event(json{{"event", "refused"},
                 {"peer", c.peer},
                 {"reason", "no child took the connection: " + why}});
      return; // the last copy of `c` closes the socket
    }
    auto& t = targets_[index];
    auto handle = node_.lookup(opt_->hand_to[index], t.handle);
    if (!handle) {
      try_hand(std::move(c), (index + 1) % n, tried + 1,
               "no actor named '" + opt_->hand_to[index] + "'");
      return;
    }
    request(handle, opt_->request_timeout, hand_atom::value, c)
      .then([this, index](caf::ok_atom) { ++targets_[index].handed; },
            [this, c, index, tried](caf::error& err) mutable {
              auto why = opt_->hand_to[index] + ": " + render(err);
              bool untouched = is(err, errc::no_channel)
                               || err == caf::sec::request_receiver_down;
              try_hand(std::move(c), (index + 1) % opt_->hand_to.size(),
                       untouched ? tried + 1 : opt_->hand_to.size(), why);
            });
  }

  void check_timeouts() {
    auto now = uv_now(loop().native());
    // A connection that times out tells the server by a message: erasing
    // waits until then, so the iteration is safe.
    for (auto& kvp : conns_)
      kvp.second.state->check_timeouts(now);
  }

  caf::result<json_message> command(const json_message& m) {
    auto cmd = parse_conn_command(m, opt_->name);
    if (!cmd)
      return std::move(cmd.error());
    using op = conn_command::op_type;
    auto conn = [&]() -> conn_ref* {
      auto i = conns_.find(cmd->conn);
      return i != conns_.end() ? &i->second : nullptr;
    };
    switch (cmd->op) {
      case op::list: {
        auto now = uv_now(loop().native());
        json xs = json::array();
        for (auto& [id, c] : conns_)
          xs.push_back({{"conn", id},
                        {"peer", c.state->peer()},
                        {"queued", c.state->queued()},
                        {"in", c.state->frames_in},
                        {"out", c.state->frames_out},
                        {"age_ms", now - c.state->opened}});
        return json_message::trusted(dump(json{{"connections", xs}}));
      }
      case op::send: {
        auto e = conn();
        if (e == nullptr)
          return no_connection(opt_->name, cmd->conn);
        send(e->handle, push_atom::value, std::move(cmd->data));
        return json_message::trusted("{\"sent\":1}");
      }
      case op::broadcast: {
        size_t n = 0;
        for (auto& [id, c] : conns_)
          if (id != cmd->except) {
            send(c.handle, push_atom::value, cmd->data);
            ++n;
          }
        return json_message::trusted("{\"sent\":" + std::to_string(n) + "}");
      }
      case op::close: {
        auto e = conn();
        if (e == nullptr)
          return no_connection(opt_->name, cmd->conn);
        send(e->handle, close_atom::value);
        return json_message::trusted("{\"closed\":1}");
      }
    }
    return json_message::trusted("null");
  }

  void shut_down() {
    if (stopped_)
      return;
    stopped_ = true;
    if (listener_ != nullptr) {
      listener_->self = nullptr;
      unlink_unix(opt_->unix_socket ? opt_->address : "", fd_);
      uv_close(&listener_->h.handle,
               [](uv_handle_t* h) { delete static_cast<listener*>(h->data); });
      listener_ = nullptr;
    }
    if (sweep_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(sweep_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      sweep_ = nullptr;
    }
    for (auto& kvp : conns_)
      send_exit(kvp.second.handle, caf::exit_reason::user_shutdown);
    conns_.clear();
  }

  void event(json ev) {
    ev["bridge"] = opt_->name;
    auto text = dump(ev);
    if (!node_.send_event(opt_->events, events_, text))
      node_.log(event_level(ev.value("event", "")), opt_->name, text);
  }

  switchboard::node& node_;
  std::shared_ptr<const stream_options> opt_;
  int fd_;
  std::string bound_;
  std::shared_ptr<conn_shared> shared_;
  listener* listener_ = nullptr;
  // Checks every connection's time-outs.
  uv_timer_t* sweep_ = nullptr;
  struct conn_ref {
    caf::actor handle;
    // Valid while `handle` holds the actor.
    conn_state* state = nullptr;
  };
  std::map<uint64_t, conn_ref> conns_;
  uint64_t next_id_ = 1;
  // hand-to's children, in order, and the next for round robin.
  std::vector<target> targets_ = std::vector<target>(opt_->hand_to.size());
  size_t next_target_ = 0;
  bool stopped_ = false;
  caf::actor events_;
};

} // namespace

caf::expected<caf::actor> spawn_server(switchboard::node& owner,
                                       stream_options opts) {
  int fd = -1;
  std::string bound;
  if (opts.from_parent) {
    bound = "parent";
  } else if (opts.unix_socket) {
    auto l = listen_unix(opts.address, opts.file_mode, opts.backlog);
    if (!l)
      return make_error(errc::io_error, opts.name + ": " + render(l.error()));
    fd = *l;
    bound = opts.address;
  } else {
    auto addr = parse_tcp_address(opts.address);
    if (!addr)
      return make_error(errc::config_bad_value,
                        opts.name + ": " + render(addr.error()));
    auto l = listen_tcp(*addr, opts.backlog, opts.keepalive_seconds());
    if (!l)
      return make_error(errc::io_error, opts.name + ": " + render(l.error()));
    fd = *l;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    bound = to_string(ss);
  }
  return caf::actor_cast<caf::actor>(spawn_on_loop<server>(
    owner.system(), owner.loop(), owner,
    std::make_shared<const stream_options>(std::move(opts)), fd,
    std::move(bound)));
}

} // namespace switchboard::bridges::stream

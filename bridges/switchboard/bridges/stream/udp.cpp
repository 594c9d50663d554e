// switchboard: an embeddable C++ actor runtime. MIT License.

// The `udp` bridge: Node's dgram socket as one loop actor. Each datagram
// is one message; there is no stream to frame, so the framing layer is not
// involved, only the payload's format (JSON or text).
//
// In: a datagram from PEER is a request to `to` and the reply goes back to
// PEER as one datagram (`deliver = "envelope"` hands `to` {peer, data}
// instead of the bare payload). A datagram from a peer that a request to
// the bridge is waiting on answers that request instead.
//
// Out: a message sent to the bridge goes to the default `peer`;
// {"peer": "HOST:PORT", "data": ...} (those two keys, nothing else) goes
// to that address. A request is answered by the addressee's next datagram,
// or `timeout` after request-timeout (UDP loses datagrams; nothing waits
// forever).
//
// Datagrams over max-frame are dropped and counted (status `oversize`),
// and reported to `events` (or the log) at most once a second.

#include "switchboard/bridges/stream/bridge.hpp"

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <optional>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <uv.h>

#include <nlohmann/json.hpp>

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
using expire_atom = caf::atom_constant<caf::atom("expire")>;

/// The largest UDP payload over IPv4 (65,535 less the IP and UDP headers).
constexpr int64_t max_datagram = 65507;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string error_payload(const caf::error& err) {
  return dump(json{{"error", render(err)}});
}

struct udp_options {
  std::string name;
  /// As given, and parsed; with no `bind`, the wildcard address of the
  /// peer's family on a port the system picks.
  std::string bind;
  sockaddr_storage bind_addr{};
  std::string peer;
  std::optional<sockaddr_storage> peer_addr;
  bool text = false;
  bool envelope = false;
  size_t max_frame = max_datagram;
  std::string to;
  std::string events;
  caf::timespan request_timeout{std::chrono::seconds(5)};
  size_t max_queued = 1 << 20;
};

std::vector<key_spec> udp_keys() {
  return {
    {"bind", value_type::string, false,
     "HOST:PORT to receive on (port 0 picks a free one; default: any "
     "address of the peer's family, a free port)"},
    {"peer", value_type::string, false,
     "HOST:PORT that messages sent to the bridge go to (unless a message "
     "names its own {peer, data})"},
    {"format",
     value_type::string,
     false,
     "payloads are \"json\" (default) or \"text\" (JSON strings)",
     {"json", "text"}},
    {"deliver",
     value_type::string,
     false,
     "what `to` gets: the \"payload\" (default) or an \"envelope\" {peer, "
     "data}",
     {"payload", "envelope"}},
    {"max-frame",
     value_type::integer,
     false,
     "the largest datagram, in or out (default and at most 65507); larger "
     "ones are dropped and counted",
     {},
     1},
    {"to", value_type::actor_ref, false,
     "each datagram is a request to it; the reply goes back to the sender "
     "as one datagram"},
    {"events", value_type::actor_ref, false,
     "where drop reports go (at most one a second); default: the node's "
     "log"},
    {"request-timeout", value_type::timespan, false,
     "how long `to` may take to answer, and how long a request to the "
     "bridge waits for the peer's datagram (default: [node] "
     "request-timeout)"},
    {"max-queued",
     value_type::integer,
     false,
     "outbound bytes the socket may queue before sends are refused with "
     "queue_full (default 1 MiB)",
     {},
     1},
  };
}

caf::expected<udp_options> read_udp_options(const caf::settings& a,
                                            std::string name,
                                            caf::timespan timeout) {
  udp_options o;
  o.name = std::move(name);
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, o.name + ": " + why);
  };
  o.bind = caf::get_or(a, "bind", "");
  o.peer = caf::get_or(a, "peer", "");
  if (o.bind.empty() && o.peer.empty())
    return bad("a udp bridge needs bind (to receive), peer (to send), or "
               "both");
  if (!o.peer.empty()) {
    auto p = parse_tcp_address(o.peer);
    if (!p)
      return bad("peer: " + reason_of(p.error()));
    o.peer_addr = *p;
  }
  if (!o.bind.empty()) {
    auto b = parse_tcp_address(o.bind);
    if (!b)
      return bad("bind: " + reason_of(b.error()));
    o.bind_addr = *b;
  } else {
    o.bind_addr.ss_family = o.peer_addr->ss_family;
    o.bind = o.bind_addr.ss_family == AF_INET6 ? "[::]:0" : "0.0.0.0:0";
  }
  if (o.peer_addr && o.peer_addr->ss_family != o.bind_addr.ss_family)
    return bad("bind " + o.bind + " and peer " + o.peer
               + " are of different address families");
  o.text = caf::get_or(a, "format", "json") == "text";
  o.envelope = caf::get_or(a, "deliver", "payload") == "envelope";
  auto max_frame = caf::get_or(a, "max-frame", max_datagram);
  if (max_frame > max_datagram)
    return bad("max-frame " + std::to_string(max_frame)
               + " is more than a UDP datagram holds ("
               + std::to_string(max_datagram) + ")");
  o.max_frame = static_cast<size_t>(max_frame);
  o.to = caf::get_or(a, "to", "");
  o.events = caf::get_or(a, "events", "");
  o.request_timeout = caf::get_or(a, "request-timeout", timeout);
  o.max_queued = static_cast<size_t>(
    caf::get_or(a, "max-queued", static_cast<int64_t>(o.max_queued)));
  return o;
}

socklen_t length_of(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

class udp_bridge : public loop_actor<caf::event_based_actor> {
public:
  udp_bridge(caf::actor_config& cfg, io_loop& loop, switchboard::node& owner,
             udp_options opts, int fd, std::string bound)
      : loop_actor(cfg, loop), node_(owner), opt_(std::move(opts)), fd_(fd),
        bound_(std::move(bound)), buf_(opt_.max_frame + 1) {}

  caf::behavior make_behavior() override {
    sock_ = new socket_handle;
    sock_->self = this;
    uv_udp_init(loop().native(), &sock_->udp);
    sock_->udp.data = sock_;
    int rc = uv_udp_open(&sock_->udp, fd_);
    if (rc == 0)
      rc = uv_udp_recv_start(
        &sock_->udp,
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto s = static_cast<socket_handle*>(h->data);
          if (s->self == nullptr) {
            *b = uv_buf_init(nullptr, 0);
            return;
          }
          auto& buf = s->self->buf_;
          *b = uv_buf_init(buf.data(), static_cast<unsigned>(buf.size()));
        },
        [](uv_udp_t* h, ssize_t n, const uv_buf_t* b, const sockaddr* from,
           unsigned flags) {
          auto s = static_cast<socket_handle*>(h->data);
          if (s->self != nullptr)
            s->self->on_datagram(n, b, from, flags);
        });
    if (rc != 0)
      node_.log(log_level::error, opt_.name,
                std::string{"receive: "} + uv_strerror(rc));
    set_exit_handler([this](caf::exit_msg& msg) {
      shut_down();
      quit(msg.reason);
    });
    return {
      [this](json_message& m) -> caf::result<json_message> {
        return on_message(std::move(m));
      },
      [this](expire_atom, uint64_t id) { expire(id); },
      [this](status_atom) {
        return status_reply(
          this, "udp",
          {{"bind", dump(bound_)},
           {"peer", opt_.peer.empty() ? "null" : dump(opt_.peer)},
           {"in", std::to_string(in_)},
           {"out", std::to_string(out_)},
           {"oversize", std::to_string(oversize_)},
           {"drops", std::to_string(drops_)},
           {"errors", std::to_string(errors_)},
           {"queued", std::to_string(
                        sock_ ? uv_udp_get_send_queue_size(&sock_->udp) : 0)},
           {"waiting", std::to_string(waiting_count_)}});
      },
    };
  }

  void on_exit() override {
    shut_down();
    loop_actor::on_exit();
  }

private:
  struct socket_handle {
    uv_udp_t udp;
    udp_bridge* self;
  };

  struct send_req {
    uv_udp_send_t req;
    std::string payload;
  };

  struct waiter {
    uint64_t id;
    caf::typed_response_promise<json_message> rp;
  };

  // -- in ---------------------------------------------------------------------

  void on_datagram(ssize_t n, const uv_buf_t* b, const sockaddr* from,
                   unsigned flags) {
    if (n == 0 && from == nullptr)
      return; // the socket has nothing more to read
    acting_as self{this};
    if (n < 0) {
      ++errors_;
      node_.log(log_level::warn, opt_.name,
                std::string{"receive: "} + uv_strerror(static_cast<int>(n)));
      return;
    }
    sockaddr_storage peer{};
    std::memcpy(&peer, from,
                from->sa_family == AF_INET6 ? sizeof(sockaddr_in6)
                                            : sizeof(sockaddr_in));
    auto who = to_string(peer);
    if ((flags & UV_UDP_PARTIAL) != 0
        || static_cast<size_t>(n) > opt_.max_frame) {
      ++oversize_;
      if (auto m = metrics())
        m->drop(drop_reason::oversize);
      report("dropped a datagram from " + who + " over max-frame ("
             + std::to_string(opt_.max_frame) + " bytes)");
      return;
    }
    ++in_;
    std::string payload(b->base, static_cast<size_t>(n));
    if (auto w = waiting_.find(who); w != waiting_.end()) {
      auto rp = std::move(w->second.front().rp);
      w->second.pop_front();
      if (w->second.empty())
        waiting_.erase(w);
      --waiting_count_;
      auto m = frame_to_message(std::move(payload), opt_.text);
      if (m)
        rp.deliver(std::move(*m));
      else
        rp.deliver(make_error(errc::invalid_json,
                              opt_.name + ": " + reason_of(m.error())));
      return;
    }
    auto m = frame_to_message(std::move(payload), opt_.text);
    if (!m) {
      ++errors_;
      if (!opt_.to.empty())
        send_to(peer, error_payload(m.error()));
      else
        report("from " + who + ": " + render(m.error()));
      return;
    }
    auto to = node_.lookup(opt_.to, to_);
    if (!to) {
      ++errors_;
      report(opt_.to.empty()
               ? "a datagram from " + who + " nobody asked for (no \"to\")"
               : "no actor named '" + opt_.to + "' for a datagram from " + who);
      return;
    }
    if (opt_.envelope) {
      auto data = json::parse(m->text, nullptr, false);
      *m = json_message::trusted(dump(json{{"peer", who}, {"data", data}}));
    }
    request(caf::actor_cast<json_actor>(to), opt_.request_timeout,
            std::move(*m))
      .then(
        [this, peer](json_message& reply) {
          auto p = message_to_frame(std::move(reply), opt_.text, framing::raw);
          send_to(peer, p ? std::move(*p) : error_payload(p.error()));
        },
        [this, peer](caf::error& err) {
          ++errors_;
          send_to(peer, error_payload(err));
        });
  }

  // -- out --------------------------------------------------------------------

  caf::result<json_message> on_message(json_message m) {
    bool is_request = current_message_id().is_request();
    auto bad = [&](const std::string& why) {
      return make_error(errc::bad_message, opt_.name + ": " + why);
    };
    sockaddr_storage dest{};
    auto doc = json::parse(m.text, nullptr, false);
    if (doc.is_object() && doc.size() == 2 && doc.contains("peer")
        && doc.contains("data")) {
      if (!doc["peer"].is_string())
        return bad("\"peer\" must be \"HOST:PORT\"");
      auto addr = parse_tcp_address(doc["peer"].get<std::string>());
      if (!addr)
        return bad(reason_of(addr.error()));
      dest = *addr;
      m = json_message::trusted(dump(doc["data"]));
    } else if (opt_.peer_addr) {
      dest = *opt_.peer_addr;
    } else {
      return bad("no peer to send to: set `peer`, or send {\"peer\": "
                 "\"HOST:PORT\", \"data\": ...}");
    }
    if (dest.ss_family != opt_.bind_addr.ss_family)
      return bad("cannot send to " + to_string(dest) + " from " + bound_
                 + " (another address family)");
    auto payload = message_to_frame(std::move(m), opt_.text, framing::raw);
    if (!payload)
      return bad(reason_of(payload.error()));
    if (payload->size() > opt_.max_frame)
      return make_error(errc::frame_too_large,
                        opt_.name + ": a datagram of "
                          + std::to_string(payload->size())
                          + " bytes is over max-frame ("
                          + std::to_string(opt_.max_frame) + ")");
    if (auto err = send_to(dest, std::move(*payload)))
      return err;
    if (!is_request)
      return caf::delegated<json_message>{};
    auto rp = make_response_promise<json_message>();
    auto id = next_waiter_++;
    waiting_[to_string(dest)].push_back({id, rp});
    ++waiting_count_;
    delayed_send(this, opt_.request_timeout, expire_atom::value, id);
    return rp;
  }

  void expire(uint64_t id) {
    for (auto i = waiting_.begin(); i != waiting_.end(); ++i) {
      auto& q = i->second;
      for (auto j = q.begin(); j != q.end(); ++j)
        if (j->id == id) {
          j->rp.deliver(make_error(errc::timeout,
                                   opt_.name + ": no datagram from " + i->first
                                     + " within request-timeout"));
          q.erase(j);
          if (q.empty())
            waiting_.erase(i);
          --waiting_count_;
          return;
        }
    }
  }

  // Sends at once if the socket takes it, else queues (up to max-queued).
  caf::error send_to(const sockaddr_storage& dest, std::string payload) {
    if (sock_ == nullptr)
      return make_error(errc::not_running, opt_.name + " is stopping");
    auto addr = reinterpret_cast<const sockaddr*>(&dest);
    auto buf =
      uv_buf_init(payload.data(), static_cast<unsigned>(payload.size()));
    int rc = uv_udp_try_send(&sock_->udp, &buf, 1, addr);
    if (rc >= 0) {
      ++out_;
      return {};
    }
    if (rc != UV_EAGAIN)
      return send_failed(dest, rc);
    if (uv_udp_get_send_queue_size(&sock_->udp) >= opt_.max_queued) {
      ++drops_;
      return make_error(
        errc::queue_full,
        opt_.name + ": "
          + std::to_string(uv_udp_get_send_queue_size(&sock_->udp))
          + " bytes queued (max-queued); dropped");
    }
    auto req = new send_req;
    req->payload = std::move(payload);
    req->req.data = sock_;
    buf = uv_buf_init(req->payload.data(),
                      static_cast<unsigned>(req->payload.size()));
    rc = uv_udp_send(&req->req, &sock_->udp, &buf, 1, addr,
                     [](uv_udp_send_t* r, int status) {
                       auto s = static_cast<socket_handle*>(r->data);
                       delete reinterpret_cast<send_req*>(r);
                       if (s->self != nullptr)
                         s->self->sent(status);
                     });
    if (rc != 0) {
      delete req;
      return send_failed(dest, rc);
    }
    ++out_;
    return {};
  }

  void sent(int status) {
    if (status < 0 && status != UV_ECANCELED) {
      ++errors_;
      report(std::string{"send: "} + uv_strerror(status));
    }
  }

  caf::error send_failed(const sockaddr_storage& dest, int rc) {
    ++errors_;
    return make_error(errc::io_error, opt_.name + ": send to " + to_string(dest)
                                        + ": " + uv_strerror(rc));
  }

  // -- reports ----------------------------------------------------------------

  // At most one report a second, saying how many were left out.
  void report(std::string what) {
    auto now = uv_now(loop().native());
    if (reported_ != 0 && now - reported_ < 1000) {
      ++unreported_;
      return;
    }
    reported_ = now == 0 ? 1 : now;
    json ev{{"event", "dropped"}, {"bridge", opt_.name}, {"reason", what}};
    if (unreported_ > 0)
      ev["more"] = unreported_;
    unreported_ = 0;
    auto text = dump(ev);
    if (!node_.send_event(opt_.events, events_, text))
      node_.log(event_level(ev.value("event", "")), opt_.name, text);
  }

  void shut_down() {
    if (sock_ == nullptr)
      return;
    sock_->self = nullptr;
    uv_udp_recv_stop(&sock_->udp);
    // Queued sends complete with UV_ECANCELED before the close callback.
    uv_close(reinterpret_cast<uv_handle_t*>(&sock_->udp), [](uv_handle_t* h) {
      delete static_cast<socket_handle*>(h->data);
    });
    sock_ = nullptr;
    auto err = make_error(errc::not_running, opt_.name + " is stopping");
    for (auto& kvp : waiting_)
      for (auto& w : kvp.second)
        w.rp.deliver(err);
    waiting_.clear();
    waiting_count_ = 0;
  }

  switchboard::node& node_;
  udp_options opt_;
  int fd_;
  std::string bound_;
  std::vector<char> buf_;
  socket_handle* sock_ = nullptr;
  std::map<std::string, std::deque<waiter>> waiting_;
  size_t waiting_count_ = 0;
  uint64_t next_waiter_ = 1;
  uint64_t in_ = 0;
  uint64_t out_ = 0;
  uint64_t oversize_ = 0;
  uint64_t drops_ = 0;
  uint64_t errors_ = 0;
  uint64_t reported_ = 0;
  uint64_t unreported_ = 0;
  caf::actor to_;
  caf::actor events_;
};

// Binds on the calling thread, so a bind error is the spawn's error.
caf::expected<caf::actor> spawn_udp(switchboard::node& owner,
                                    udp_options opts) {
  auto& addr = opts.bind_addr;
  int fd =
    ::socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(errc::io_error,
                      opts.name + ": socket: " + std::strerror(errno));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), length_of(addr))
      != 0) {
    auto err = make_error(errc::io_error, opts.name + ": bind " + opts.bind
                                            + ": " + std::strerror(errno));
    ::close(fd);
    return err;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return caf::actor_cast<caf::actor>(spawn_on_loop<udp_bridge>(
    owner.system(), owner.loop(), owner, std::move(opts), fd, to_string(ss)));
}

} // namespace

kind_spec udp_kind() {
  kind_spec result;
  result.name = "udp";
  result.doc = "a UDP socket: each datagram a message, replies to its sender";
  result.section = kind_section::bridges;
  result.keys = udp_keys();
  result.check = [](const std::string& name,
                    const caf::settings& args) -> caf::error {
    auto opts = read_udp_options(args, name, std::chrono::seconds(5));
    return opts ? caf::error{} : std::move(opts.error());
  };
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto opts =
      read_udp_options(ctx.args, ctx.name, ctx.node.request_timeout());
    if (!opts)
      return std::move(opts.error());
    return spawn_udp(ctx.node, std::move(*opts));
  };
  return result;
}

} // namespace switchboard::bridges::stream

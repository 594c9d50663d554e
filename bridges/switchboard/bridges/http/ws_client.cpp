// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/http/ws_client.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_response_promise.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/errc.hpp>
#include <switchboard/log.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/restart_policy.hpp>
#include <switchboard/sockets.hpp>
#include <switchboard/status.hpp>

#include "switchboard/bridges/http/lws_host.hpp"
#include "switchboard/bridges/http/websocket.hpp"

namespace switchboard::bridges::http {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;
using reconnect_atom = caf::atom_constant<caf::atom("wsreconn")>;
using next_atom = caf::atom_constant<caf::atom("wsnext")>;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t ms_since(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t)
    .count();
}

struct client_options : ws_common {
  std::string name;
  std::string url;
  // From the URL.
  bool tls = false;
  std::string host;
  int port = 0;
  std::string path = "/";
  std::string to;
  std::string room;
  std::string events;
  // `protocols` comma-separated, as Sec-WebSocket-Protocol takes them.
  std::string protocol_list;
  std::string token;
  std::string origin;
  std::string ca_file;
  size_t max_held = 1000;
  restart_policy restart = [] {
    restart_policy p;
    p.max_delay = std::chrono::seconds(5);
    p.max_restarts = 100;
    return p;
  }();
};

// ws://HOST[:PORT][/PATH] or wss://...; HOST may be [v6].
caf::error parse_url(client_options& o) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value,
                      o.name + ": url '" + o.url + "': " + why);
  };
  std::string rest;
  if (o.url.rfind("ws://", 0) == 0) {
    rest = o.url.substr(5);
  } else if (o.url.rfind("wss://", 0) == 0) {
    o.tls = true;
    rest = o.url.substr(6);
  } else {
    return bad("expected ws://HOST[:PORT]/PATH or wss://...");
  }
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  o.path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos)
      return bad("an IPv6 address needs its closing ']'");
    o.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':')
        return bad("expected ':' after ']'");
      port = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    o.host = authority.substr(0, colon);
    if (colon != std::string::npos)
      port = authority.substr(colon + 1);
  }
  if (o.host.empty())
    return bad("no host");
  o.port = o.tls ? 443 : 80;
  if (!port.empty()) {
    char* end = nullptr;
    auto n = std::strtol(port.c_str(), &end, 10);
    if (*end != '\0' || n < 1 || n > 65535)
      return bad("the port must be 1-65535");
    o.port = static_cast<int>(n);
  }
  return {};
}

class client;

// What lws callbacks reach: the client while it lives.
struct hub {
  client* owner = nullptr;
};

int on_lws(lws* wsi, lws_callback_reasons reason, void* user, void* in,
           size_t len);

class client : public loop_actor<caf::event_based_actor> {
public:
  client(caf::actor_config& cfg, io_loop& loop, switchboard::node& owner,
         std::shared_ptr<const client_options> opts,
         std::unique_ptr<lws_host> host, std::shared_ptr<hub> h)
      : loop_actor(cfg, loop), node_(owner), opt_(std::move(opts)),
        host_(std::move(host)), hub_(std::move(h)), tracker_(opt_->restart),
        retry_(opt_->retry_policy()) {}

  caf::behavior make_behavior() override {
    hub_->owner = this;
    down_since_ = clock::now();
    connect();
    set_exit_handler([this](caf::exit_msg& msg) {
      fail_all(make_error(errc::not_running, opt_->name + " is stopping"));
      quit(msg.reason);
    });
    return {
      [this](json_message& m) -> caf::result<json_message> {
        return on_message(m);
      },
      [this](next_atom, uint64_t gen) {
        if (gen == generation_ && state_ == state::connecting)
          open_next();
      },
      [this](reconnect_atom, uint64_t gen) {
        if (gen == generation_ && state_ == state::waiting)
          connect();
      },
      [this](status_atom) {
        return status_reply(
          this, "websocket-client",
          {{"url", dump(opt_->url)},
           {"state", dump(state_name())},
           {"held", std::to_string(held_.size())},
           {"waiting", std::to_string(fifo_.size())},
           {"queued", std::to_string(queued_)},
           {"in", std::to_string(in_)},
           {"out", std::to_string(out_)},
           {"restarts", std::to_string(tracker_.restarts())}});
      },
    };
  }

  void on_exit() override {
    hub_->owner = nullptr;
    if (guard_)
      guard_->self = nullptr;
    wsi_ = nullptr;
    if (host_ != nullptr)
      lws_host::destroy(std::move(host_));
    loop_actor::on_exit();
  }

  // -- lws callbacks ------------------------------------------------------

  int on_callback(lws* wsi, lws_callback_reasons reason, void* in, size_t len) {
    switch (reason) {
      case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        return add_headers(wsi, in, len);
      case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (wsi == wsi_)
          connected();
        return 0;
      case LWS_CALLBACK_CLIENT_RECEIVE:
        return wsi == wsi_ ? on_receive(in, len) : -1;
      case LWS_CALLBACK_CLIENT_WRITEABLE:
        return wsi == wsi_ ? on_writeable() : -1;
      case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (wsi == wsi_ && len >= 2) {
          auto p = static_cast<const unsigned char*>(in);
          peer_close_ =
            "the server closed the connection ("
            + std::to_string((p[0] << 8) | p[1])
            + (len > 2 ? " "
                           + std::string(reinterpret_cast<const char*>(p) + 2,
                                         len - 2)
                       : std::string{})
            + ")";
        }
        return 0;
      case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (wsi == wsi_ || wsi_ == nullptr) {
          std::string why = in != nullptr ? static_cast<const char*>(in)
                                          : "the connection failed";
          wsi_ = nullptr;
          if (state_ == state::connecting
              && next_address_ < addresses_.size()) {
            // Not from inside lws's callback: it still tears this wsi down.
            next_sent_ = true;
            send(this, next_atom::value, generation_);
            return 0;
          }
          lost(why + " (" + tried_ + ")");
        }
        return 0;
      case LWS_CALLBACK_CLIENT_CLOSED:
        if (wsi == wsi_)
          lost(peer_close_.empty() ? "the connection was lost" : peer_close_);
        return 0;
      default: return 0;
    }
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

  struct held {
    std::string payload;
    bool binary = false;
    bool is_request = false;
    caf::typed_response_promise<json_message> rp;
  };

  // Lets a DNS answer find out whether its client still waits for it.
  struct guard {
    client* self;
  };

  // -- connecting ---------------------------------------------------------

  // Resolves the host on libuv's thread pool (lws 4.1 would block the loop
  // in getaddrinfo), then connects to the address found.
  void connect() {
    state_ = state::connecting;
    peer_close_.clear();
    guard_ = std::make_shared<guard>(guard{this});
    auto g = guard_;
    resolve_tcp(loop().native(), opt_->host, static_cast<uint16_t>(opt_->port),
                [g](caf::expected<std::vector<sockaddr_storage>> found) {
                  auto self = g->self;
                  if (self == nullptr)
                    return;
                  if (!found) {
                    self->lost(reason_of(found.error()));
                    return;
                  }
                  self->addresses_.clear();
                  for (auto& ss : *found)
                    self->addresses_.push_back(to_string(ss));
                  self->next_address_ = 0;
                  self->open_next();
                });
  }

  // Tries the next address the name resolved to (localhost is ::1 and
  // 127.0.0.1; a server may listen on one only).
  void open_next() {
    next_sent_ = false;
    tried_ = addresses_[next_address_++];
    open(tried_);
  }

  // `address` is HOST:PORT as `to_string` prints it ([v6]:PORT).
  void open(const std::string& address) {
    auto colon = address.rfind(':');
    auto numeric = address.substr(0, colon);
    if (!numeric.empty() && numeric.front() == '[')
      numeric = numeric.substr(1, numeric.size() - 2);
    lws_client_connect_info i;
    std::memset(&i, 0, sizeof(i));
    i.context = host_->context();
    i.vhost = host_->vhost();
    i.address = numeric.c_str();
    i.port = opt_->port;
    i.path = opt_->path.c_str();
    // The name, not the address: the Host header, SNI and the certificate
    // check use it.
    i.host = opt_->host.c_str();
    i.origin = opt_->origin.empty() ? opt_->host.c_str() : opt_->origin.c_str();
    i.ssl_connection = opt_->tls ? LCCSCF_USE_SSL : 0;
    i.protocol =
      opt_->protocol_list.empty() ? nullptr : opt_->protocol_list.c_str();
    i.local_protocol_name = "switchboard-ws-client";
    i.retry_and_idle_policy = &retry_;
    i.pwsi = &wsi_;
    if (lws_client_connect_via_info(&i) == nullptr
        && state_ == state::connecting && !next_sent_) {
      if (next_address_ < addresses_.size())
        open_next();
      else
        lost("cannot connect to " + address);
    }
  }

  int add_headers(lws* wsi, void* in, size_t len) {
    if (opt_->token.empty())
      return 0;
    auto p = static_cast<unsigned char**>(in);
    auto value = "Bearer " + opt_->token;
    if (lws_add_http_header_by_token(
          wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
          reinterpret_cast<const unsigned char*>(value.data()),
          static_cast<int>(value.size()), p, *p + len))
      return -1;
    return 0;
  }

  void connected() {
    state_ = state::up;
    up_since_ = clock::now();
    event(json{{"event", "up"}, {"down_ms", ms_since(down_since_)}});
    flush_held();
  }

  void lost(const std::string& reason) {
    if (state_ != state::up && state_ != state::connecting)
      return;
    bool was_up = state_ == state::up;
    wsi_ = nullptr;
    if (guard_)
      guard_->self = nullptr;
    out_queue_.clear();
    queued_ = 0;
    rx_.clear();
    fail_waiting(make_error(errc::no_channel,
                            opt_->name + ": the connection was lost (" + reason
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
      auto ev = json::parse(d.event());
      ev["reason"] = reason;
      event(std::move(ev));
      delayed_send(this, d.delay, reconnect_atom::value, ++generation_);
      return;
    }
    state_ = state::gave_up;
    if (d.action == restart_decision::give_up)
      event(json::parse(d.event()));
    else
      event(
        json{{"event", "gave-up"}, {"reason", "restart = never; " + reason}});
    fail_held(make_error(errc::no_channel, opt_->name
                                             + " gave up connecting "
                                               "to "
                                             + opt_->url + " (" + reason
                                             + ")"));
  }

  // -- messages -----------------------------------------------------------

  caf::result<json_message> on_message(const json_message& m) {
    bool is_request = current_message_id().is_request();
    held h;
    if (opt_->format == ws_format::json) {
      h.payload = m.text;
    } else {
      auto parsed = json::parse(m.text, nullptr, false);
      if (!parsed.is_string())
        return make_error(
          errc::bad_message,
          opt_->name + ": format = \""
            + (opt_->format == ws_format::text ? "text" : "binary")
            + "\" takes JSON strings");
      h.payload = parsed.get<std::string>();
      if (opt_->format == ws_format::binary) {
        auto bytes = decode_base64(h.payload);
        if (!bytes)
          return make_error(errc::bad_message,
                            opt_->name + ": " + render(bytes.error()));
        h.payload = std::move(*bytes);
        h.binary = true;
      }
    }
    if (state_ == state::gave_up)
      return make_error(errc::no_channel,
                        opt_->name + " gave up connecting to " + opt_->url);
    bool now =
      state_ == state::up && held_.empty() && queued_ < opt_->max_queued;
    if (!now) {
      if (held_.size() >= opt_->max_held)
        return make_error(errc::queue_full,
                          opt_->name + " holds " + std::to_string(held_.size())
                            + " messages already (max-held) while "
                            + (state_ == state::up ? "the server reads slowly"
                                                   : "disconnected"));
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
    write(std::move(h.payload), h.binary);
    if (!is_request)
      return caf::delegated<json_message>{};
    auto rp = make_response_promise<json_message>();
    fifo_.push_back(rp);
    return rp;
  }

  void write(std::string payload, bool binary) {
    queued_ += payload.size();
    std::string f(LWS_PRE, '\0');
    f += payload;
    out_queue_.push_back({std::move(f), binary});
    ++out_;
    lws_callback_on_writable(wsi_);
  }

  void flush_held() {
    while (!held_.empty() && state_ == state::up
           && queued_ < opt_->max_queued) {
      auto h = std::move(held_.front());
      held_.pop_front();
      write(std::move(h.payload), h.binary);
      if (h.is_request)
        fifo_.push_back(std::move(h.rp));
    }
  }

  // Client frames are masked: lws frames each message, one per call.
  int on_writeable() {
    if (out_queue_.empty())
      return 0;
    auto& f = out_queue_.front();
    auto n = f.data.size() - LWS_PRE;
    if (lws_write(wsi_,
                  reinterpret_cast<unsigned char*>(f.data.data()) + LWS_PRE, n,
                  f.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT)
        < 0)
      return -1;
    queued_ -= n;
    out_queue_.pop_front();
    if (!out_queue_.empty())
      lws_callback_on_writable(wsi_);
    flush_held();
    return 0;
  }

  int on_receive(void* in, size_t len) {
    if (rx_.size() + len > opt_->max_message) {
      std::string why = "max-message: a message of more than "
                        + std::to_string(opt_->max_message) + " bytes";
      node_.log(log_level::warn, opt_->name, why);
      lws_close_reason(wsi_, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                       reinterpret_cast<unsigned char*>(why.data()),
                       std::min<size_t>(why.size(), 120));
      return -1;
    }
    rx_.append(static_cast<const char*>(in), len);
    if (!lws_is_final_fragment(wsi_) || lws_remaining_packet_payload(wsi_) > 0)
      return 0;
    std::string data;
    data.swap(rx_);
    ++in_;
    caf::expected<json_message> m{caf::error{}};
    switch (opt_->format) {
      case ws_format::json:
        if (is_json(data))
          m = json_message::trusted(std::move(data));
        else
          m = make_error(errc::invalid_json,
                         opt_->name + ": not JSON: " + data.substr(0, 200));
        break;
      case ws_format::text: m = json_message::trusted(dump(json(data))); break;
      case ws_format::binary:
        m = json_message::trusted(dump(json(encode_base64(data))));
        break;
    }
    if (!fifo_.empty()) {
      auto rp = std::move(fifo_.front());
      fifo_.pop_front();
      if (m)
        rp.deliver(std::move(*m));
      else
        rp.deliver(m.error());
      return 0;
    }
    if (!m) {
      node_.log(log_level::warn, opt_->name, render(m.error()));
      return 0;
    }
    if (auto room = node_.lookup(opt_->room, room_)) {
      send(room, push_atom::value, std::move(*m));
      return 0;
    }
    if (auto to = node_.lookup(opt_->to, to_)) {
      // Without a sender: an answer goes nowhere, not to the server.
      caf::anon_send(caf::actor_cast<json_actor>(to), std::move(*m));
      return 0;
    }
    node_.log(log_level::warn, opt_->name,
              "a message nobody asked for (no \"to\"): "
                + m->text.substr(0, 200));
    return 0;
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
    ev["bridge"] = opt_->name;
    auto text = dump(ev);
    if (!node_.send_event(opt_->events, events_, text))
      node_.log(event_level(ev.value("event", "")), opt_->name, text);
  }

  switchboard::node& node_;
  std::shared_ptr<const client_options> opt_;
  std::unique_ptr<lws_host> host_;
  std::shared_ptr<hub> hub_;
  restart_tracker tracker_;
  lws_retry_bo_t retry_{};
  std::shared_ptr<guard> guard_;
  lws* wsi_ = nullptr;
  state state_ = state::connecting;
  uint64_t generation_ = 0;
  clock::time_point down_since_;
  clock::time_point up_since_;
  std::string peer_close_;
  // What the host resolved to, and the next one to try.
  std::vector<std::string> addresses_;
  size_t next_address_ = 0;
  bool next_sent_ = false;
  std::string tried_;
  std::string rx_;
  struct frame {
    std::string data; // LWS_PRE bytes, then the payload
    bool binary;
  };
  std::deque<frame> out_queue_;
  size_t queued_ = 0;
  std::deque<held> held_;
  std::deque<caf::typed_response_promise<json_message>> fifo_;
  uint64_t in_ = 0;
  uint64_t out_ = 0;
  caf::actor to_;
  caf::actor room_;
  caf::actor events_;
};

int on_lws(lws* wsi, lws_callback_reasons reason, void* user, void* in,
           size_t len) {
  auto ctx = lws_get_context(wsi);
  auto h = ctx != nullptr ? static_cast<hub*>(lws_context_user(ctx)) : nullptr;
  if (h == nullptr || h->owner == nullptr)
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  return h->owner->on_callback(wsi, reason, in, len);
}

caf::expected<client_options> read_options(const caf::settings& args,
                                           const std::string& name) {
  client_options o;
  o.name = name;
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, name + ": " + why);
  };
  o.url = caf::get_or(args, "url", std::string{});
  if (o.url.empty())
    return bad("url (ws://HOST:PORT/PATH or wss://...) is missing");
  if (auto err = parse_url(o))
    return err;
  o.to = caf::get_or(args, "to", std::string{});
  o.room = caf::get_or(args, "room", std::string{});
  if (!o.to.empty() && !o.room.empty())
    return bad("to and room exclude each other");
  o.events = caf::get_or(args, "events", std::string{});
  if (auto err = o.read(args, name))
    return err;
  for (auto& p : o.protocols)
    o.protocol_list += (o.protocol_list.empty() ? "" : ",") + p;
  o.token = caf::get_or(args, "token", std::string{});
  o.origin = caf::get_or(args, "origin", std::string{});
  o.ca_file = caf::get_or(args, "ca-file", std::string{});
  if (!o.ca_file.empty() && !o.tls)
    return bad("ca-file is for wss:// URLs");
  auto held = caf::get_or(args, "max-held", static_cast<int64_t>(o.max_held));
  if (held < 1)
    return bad("max-held must be at least 1");
  o.max_held = static_cast<size_t>(held);
  auto restart = restart_policy::from(args, name, o.restart);
  if (!restart)
    return std::move(restart.error());
  o.restart = *restart;
  return o;
}

caf::expected<caf::actor> spawn_client(switchboard::node& owner,
                                       client_options opts) {
  auto h = std::make_shared<hub>();
  lws_host_config cfg;
  cfg.name = opts.name;
  lws_protocols p{};
  p.name = "switchboard-ws-client";
  p.callback = on_lws;
  cfg.protocols = {p, lws_protocols{}};
  cfg.client_ca_file = opts.ca_file;
  cfg.user = h;
  auto host = lws_host::create(owner.loop(), std::move(cfg));
  if (!host)
    return std::move(host.error());
  return caf::actor_cast<caf::actor>(spawn_on_loop<client>(
    owner.system(), owner.loop(), owner,
    std::make_shared<const client_options>(std::move(opts)), std::move(*host),
    std::move(h)));
}

} // namespace

kind_spec websocket_client_kind() {
  kind_spec result;
  result.name = "websocket-client";
  result.doc = "a WebSocket client (ws://, wss://) that reconnects: messages "
               "to it go to the server, the server's to `to`";
  result.section = kind_section::bridges;
  result.keys = {
    {"url", value_type::string, true,
     "ws://HOST[:PORT]/PATH or wss://... (the host is resolved off the io "
     "loop)"},
    {"to", value_type::actor_ref, false,
     "gets the server's messages that answer no request"},
    {"room", value_type::actor_ref, false,
     "or: the server's messages are pushed to this room"},
    {"events", value_type::actor_ref, false,
     "gets {event: \"up\"|\"down\"|\"restarting\"|\"gave-up\"}"},
    {"format",
     value_type::string,
     false,
     "\"json\" (default), \"text\" or \"binary\" (base64 strings)",
     {"json", "text", "binary"}},
    {"protocols", value_type::string_list, false,
     "subprotocols to ask for (Sec-WebSocket-Protocol)"},
    {"token", value_type::string, false,
     "sent as `Authorization: Bearer TOKEN`"},
    {"origin", value_type::string, false,
     "the Origin header (default: the host)"},
    {"ca-file", value_type::string, false,
     "wss://: the CA bundle to verify the server with (default: the "
     "system's)"},
    {"max-held",
     value_type::integer,
     false,
     "messages held while disconnected (default 1000); more get "
     "queue_full",
     {},
     1},
    {"max-message",
     value_type::integer,
     false,
     "the largest message from the server, in bytes (default 1 MiB)",
     {},
     1},
    {"max-queued",
     value_type::integer,
     false,
     "bytes written but not yet taken by the socket before messages are "
     "held (default 1 MiB)",
     {},
     1},
    {"ping-interval", value_type::timespan, false,
     "a ping this long after the last pong (default 30s; 0s: no pings)"},
    {"ping-timeout", value_type::timespan, false,
     "no pong this long after the ping: the connection is down (default "
     "10s)"},
  };
  restart_policy defaults = client_options{}.restart;
  for (auto& k :
       restart_policy::keys("a client that lost its connection", defaults))
    result.keys.push_back(std::move(k));
  result.check = [](const std::string& name,
                    const caf::settings& args) -> caf::error {
    auto o = read_options(args, name);
    return o ? caf::error{} : std::move(o.error());
  };
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto o = read_options(ctx.args, ctx.name);
    if (!o)
      return std::move(o.error());
    return spawn_client(ctx.node, std::move(*o));
  };
  return result;
}

} // namespace switchboard::bridges::http

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/http/server.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <functional>
#include <memory>
#include <queue>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <switchboard/errc.hpp>
#include <switchboard/log.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/metrics.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/sockets.hpp>
#include <switchboard/status.hpp>

#include "switchboard/bridges/http/dashboard.hpp"
#include "switchboard/bridges/http/lws_host.hpp"
#include "switchboard/bridges/http/routes.hpp"
#include "switchboard/bridges/http/websocket.hpp"

namespace switchboard::bridges::http {

namespace {

using json = nlohmann::json;
using gone_atom = caf::atom_constant<caf::atom("httpgone")>;
using drained_atom = caf::atom_constant<caf::atom("httpdrain")>;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct server_options {
  std::string name;
  std::string listen = "127.0.0.1:8080";
  std::vector<route> routes;
  caf::timespan timeout{std::chrono::seconds(5)};
  size_t max_body = 1 << 20;
  bool health = true;
  bool status = true;
  bool metrics = true;
  // The static files' directory, resolved; empty: none.
  std::string static_dir;
  // The dashboard's page files, resolved; empty: no dashboard.
  std::string dashboard_dir;
  // Allowed origins; "*" allows any. Empty: no CORS headers.
  std::vector<std::string> cors;
  std::string token;
  int64_t max_connections = 10000;
  caf::timespan idle_timeout{std::chrono::seconds(5)};
  std::string cert_file;
  std::string key_file;
  std::string events;
  // The `websocket` kind's WebSocket side; null for `http`.
  std::shared_ptr<const ws_options> ws;
};

// -- one connection -------------------------------------------------------

// A response before it is written.
struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Ends the connection once written (an unread body, a node stopping).
  bool close = false;
};

enum class conn_state : uint8_t {
  // Waiting for a request line.
  idle,
  // Reading a body for a route.
  body,
  // Reading a body that only delays an answer already decided.
  discard,
  // An actor (or the status collection) has the request.
  waiting,
  // The response is going out.
  writing,
  // A static file is going out (lws sends it).
  file,
};

// One request and its response: what a connection holds only while it
// speaks HTTP. A connection that became a WebSocket one lets it go, so an
// idle WebSocket connection does not carry an HTTP request's strings.
struct exchange {
  std::string method;
  std::string path;
  std::string origin;
  const route* found = nullptr;
  std::vector<std::pair<std::string, std::string>> params;
  std::string body;
  // The response as it goes out (LWS_PRE bytes, headers, body) and how much
  // of it lws has taken.
  std::string wire;
  size_t sent = 0;
  // Decided before the body was read (a 404 to a POST, say).
  std::unique_ptr<http_response> early;
};

struct conn {
  uint64_t id = 0;
  lws* wsi = nullptr;
  conn_state state = conn_state::idle;
  // Counts requests on this connection: a reply for an older one is late.
  uint64_t tx = 0;
  bool close = false;
  // Close at the next writeable callback (decided outside a callback).
  bool kill = false;
  // An upgrade to /dashboard/live, and then the dashboard's connection.
  bool dash = false;
  // Once upgraded: the WebSocket connection (the service's).
  ws_conn* ws = nullptr;
  dashboard_client* dash_client = nullptr;
  // The request under way, made at the first one.
  std::unique_ptr<exchange> ex;

  exchange& x() {
    if (ex == nullptr)
      ex = std::make_unique<exchange>();
    return *ex;
  }
};

class server;

// What lws callbacks reach: the server while it lives.
struct hub {
  server* owner = nullptr;
};

int on_lws(lws* wsi, lws_callback_reasons reason, void* user, void* in,
           size_t len);

const char* content_type_of(const std::string& path) {
  static const std::pair<const char*, const char*> types[] = {
    {".html", "text/html; charset=utf-8"},
    {".htm", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".ico", "image/x-icon"},
    {".webp", "image/webp"},
    {".woff2", "font/woff2"},
    {".wasm", "application/wasm"},
    {".map", "application/json"},
  };
  auto dot = path.rfind('.');
  if (dot != std::string::npos) {
    auto ext = path.substr(dot);
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    for (auto& [e, t] : types)
      if (ext == e)
        return t;
  }
  return "application/octet-stream";
}

std::string header_of(lws* wsi, lws_token_indexes token) {
  auto n = lws_hdr_total_length(wsi, token);
  if (n <= 0)
    return {};
  std::string s(static_cast<size_t>(n) + 1, '\0');
  if (lws_hdr_copy(wsi, s.data(), n + 1, token) < 0)
    return {};
  s.resize(static_cast<size_t>(n));
  return s;
}

// Compares in time independent of where the first difference is.
bool same_secret(const std::string& x, const std::string& y) {
  if (x.size() != y.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < x.size(); ++i)
    diff |= static_cast<unsigned char>(x[i] ^ y[i]);
  return diff == 0;
}

// -- the bridge -----------------------------------------------------------

class server : public loop_actor<caf::event_based_actor> {
public:
  server(caf::actor_config& cfg, io_loop& loop, switchboard::node& owner,
         std::shared_ptr<const server_options> opts,
         std::unique_ptr<lws_host> host, std::shared_ptr<hub> h,
         std::string bound)
      : loop_actor(cfg, loop), node_(owner), opt_(std::move(opts)),
        host_(std::move(host)), hub_(std::move(h)), bound_(std::move(bound)),
        targets_(opt_->routes.size()) {}

  caf::behavior make_behavior() override {
    hub_->owner = this;
    if (opt_->ws != nullptr)
      ws_ = std::make_unique<ws_service>(node_, opt_->ws, opt_->token);
    if (!opt_->dashboard_dir.empty())
      dashboard_ = std::make_unique<dashboard_live>(node_, this, opt_->timeout);
    host_->start();
    timer_ = new uv_timer_t;
    uv_timer_init(loop().native(), timer_);
    timer_->data = this;
    set_exit_handler([this](caf::exit_msg& msg) {
      if (stopping_)
        return;
      stopping_ = true;
      exit_reason_ = msg.reason;
      // No new connections; requests in flight finish (with `connection:
      // close`), new ones on open connections get 503.
      host_->stop_listening();
      if (ws_ != nullptr)
        ws_->stop([this] {
          ws_stopped_ = true;
          // Not from here: this may run inside an lws callback (the last
          // close), and finishing tears the context down.
          send(this, drained_atom::value);
        });
      maybe_finish();
    });
    return {
      [this](gone_atom) { quit(exit_reason_); },
      [this](drained_atom) { maybe_finish(); },
      [this](json_message& m) -> caf::result<json_message> {
        if (ws_ == nullptr)
          return make_error(errc::bad_message,
                            opt_->name
                              + ": an http bridge takes no messages (its "
                                "routes send to actors)");
        return ws_->command(m);
      },
      [this](status_atom) {
        std::vector<std::pair<std::string, std::string>> fields{
          {"listen", dump(bound_)},
          {"tls", opt_->cert_file.empty() ? "false" : "true"},
          {"routes", std::to_string(opt_->routes.size())},
          {"connections", std::to_string(conns_.size())},
          {"requests", std::to_string(requests_)},
          {"in_flight", std::to_string(busy_)},
          {"responses", dump(json{{"2xx", by_class_[2]},
                                  {"3xx", by_class_[3]},
                                  {"4xx", by_class_[4]},
                                  {"5xx", by_class_[5]}})},
          {"refused", std::to_string(refused_)},
          {"late_replies", std::to_string(late_)}};
        if (ws_ != nullptr)
          fields.emplace_back("websocket", ws_->status_json());
        if (dashboard_ != nullptr)
          fields.emplace_back("dashboard",
                              std::to_string(dashboard_->clients()));
        return status_reply(this, ws_ != nullptr ? "websocket" : "http",
                            std::move(fields));
      },
    };
  }

  void on_exit() override {
    hub_->owner = nullptr;
    ws_.reset();
    dashboard_.reset();
    if (timer_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(timer_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer_ = nullptr;
    }
    if (host_ != nullptr)
      lws_host::destroy(std::move(host_));
    loop_actor::on_exit();
  }

  // -- called from the lws callback --------------------------------------

  // Whether to take one more connection.
  bool admit(int fd) {
    if (static_cast<int64_t>(conns_.size()) < opt_->max_connections)
      return true;
    ++refused_;
    auto why = "refused: " + std::to_string(conns_.size())
               + " connections open (max-connections)";
    if (opt_->cert_file.empty()) {
      auto body = dump(json{{"error", why}});
      auto text = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: "
                  "application/json\r\ncontent-length: "
                  + std::to_string(body.size())
                  + "\r\nconnection: close\r\n\r\n" + body;
      // Best effort: a fresh socket's buffer takes it.
      [[maybe_unused]] auto n =
        ::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    event(json{{"event", "refused"}, {"reason", why}});
    return false;
  }

  void opened(lws* wsi) {
    auto c = new conn;
    c->id = next_conn_++;
    c->wsi = wsi;
    lws_set_opaque_user_data(wsi, c);
    conns_.emplace(c->id, c);
  }

  void destroyed(conn* c) {
    if (ws_ != nullptr)
      ws_->forget(c->ws);
    if (dashboard_ != nullptr)
      dashboard_->forget(c->dash_client);
    if (is_busy(c->state))
      set_idle(*c);
    conns_.erase(c->id);
  }

  // LWS_CALLBACK_HTTP: a request line and headers are in.
  int on_request(conn& c) {
    if (is_busy(c.state))
      set_idle(c); // lws moved on from a request without telling
    ++requests_;
    ++c.tx;
    auto& x = c.x();
    x.found = nullptr;
    x.params.clear();
    x.body.clear();
    x.early.reset();
    char* uri = nullptr;
    int uri_len = 0;
    static const char* methods[] = {"GET",   "POST",   "OPTIONS", "PUT",
                                    "PATCH", "DELETE", "CONNECT", "HEAD"};
    auto m = lws_http_get_uri_and_method(c.wsi, &uri, &uri_len);
    if (m < 0 || m >= static_cast<int>(sizeof(methods) / sizeof(*methods)))
      return fail_now(c, 400, "unsupported method");
    x.method = methods[m];
    x.path.assign(uri, static_cast<size_t>(uri_len));
    x.origin = header_of(c.wsi, WSI_TOKEN_ORIGIN);
    auto length = header_of(c.wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    uint64_t content_length = 0;
    if (!length.empty())
      content_length = std::strtoull(length.c_str(), nullptr, 10);
    if (!header_of(c.wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING).empty())
      return fail_now(c, 411,
                      "chunked request bodies are not supported; send "
                      "content-length",
                      true);
    if (content_length > opt_->max_body)
      return fail_now(c, 413,
                      "the body has " + std::to_string(content_length)
                        + " bytes; max-body is "
                        + std::to_string(opt_->max_body),
                      true);
    // The answer may be decided before the body is read; it then waits for
    // the body so the next request on the connection starts clean.
    auto answer = [&](http_response r) {
      if (content_length == 0)
        return respond(c, std::move(r));
      x.early = std::make_unique<http_response>(std::move(r));
      c.state = conn_state::discard;
      return 0;
    };
    if (stopping_) {
      auto r = error_response(503, "the node is stopping");
      r.close = true;
      return answer(std::move(r));
    }
    if (x.method == "OPTIONS" && !opt_->cors.empty() && !x.origin.empty()
        && !header_of_name(c, "access-control-request-method:").empty())
      return answer(preflight(c));
    if (opt_->health && x.path == "/health"
        && (x.method == "GET" || x.method == "HEAD"))
      return answer(json_response(200, "{\"status\":\"ok\"}"));
    if (dashboard_ != nullptr && is_dashboard_path(x.path)) {
      if (x.method != "GET" && x.method != "HEAD") {
        auto r = error_response(405, x.method + " is not allowed on " + x.path
                                       + "; allowed: GET, HEAD");
        r.headers.emplace_back("allow", "GET, HEAD");
        return answer(std::move(r));
      }
      if (!dashboard_host(c))
        return answer(error_response(403, "the dashboard answers to its own "
                                          "address only (Host: "
                                            + header_of(c.wsi, WSI_TOKEN_HOST)
                                            + ")"));
      bool from_query = false;
      if (!dashboard_authorized(c, from_query)) {
        auto r = error_response(401, "a token is required: open "
                                     "/dashboard/?token=TOKEN");
        r.headers.emplace_back("www-authenticate", "Bearer");
        return answer(std::move(r));
      }
      if (x.path == "/dashboard") {
        http_response r;
        r.status = 301;
        auto query = header_of(c.wsi, WSI_TOKEN_HTTP_URI_ARGS);
        r.headers.emplace_back(
          "location", query.empty() ? "/dashboard/" : "/dashboard/?" + query);
        return answer(std::move(r));
      }
      if (content_length > 0)
        return answer(error_response(400, "GET " + x.path + " takes no body"));
      // Not in a frame of another site; scripts, styles and the WebSocket
      // from this origin only.
      std::vector<std::pair<std::string, std::string>> extra{
        {"x-frame-options", "DENY"},
        {"content-security-policy",
         "default-src 'self'; connect-src 'self'; frame-ancestors 'none'"},
        {"x-content-type-options", "nosniff"}};
      if (from_query)
        // The page's scripts and its WebSocket carry the token from here.
        extra.emplace_back("set-cookie",
                           std::string{token_cookie} + "=" + opt_->token
                             + "; Path=/dashboard; HttpOnly; SameSite=Strict"
                             + (opt_->cert_file.empty() ? "" : "; Secure"));
      return serve_file(c, opt_->dashboard_dir,
                        x.path.substr(std::strlen("/dashboard")),
                        std::move(extra));
    }
    if (!opt_->token.empty() && !authorized(c)) {
      auto r = error_response(401, "a bearer token is required");
      r.headers.emplace_back("www-authenticate", "Bearer");
      return answer(std::move(r));
    }
    if (opt_->status && x.path == "/status"
        && (x.method == "GET" || x.method == "HEAD")) {
      if (content_length > 0)
        return answer(error_response(400, "GET /status takes no body"));
      return serve_status(c);
    }
    if (opt_->metrics && x.path == "/metrics"
        && (x.method == "GET" || x.method == "HEAD")) {
      if (content_length > 0)
        return answer(error_response(400, "GET /metrics takes no body"));
      http_response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = node_.metrics().prometheus();
      return answer(std::move(r));
    }
    auto hit = match(opt_->routes, x.method, x.path);
    if (hit.found != nullptr) {
      x.found = hit.found;
      x.params = std::move(hit.params);
      if (content_length > 0) {
        c.state = conn_state::body;
        x.body.reserve(content_length);
        return 0;
      }
      return dispatch(c);
    }
    if (!hit.allowed.empty()) {
      auto allow = std::string{};
      for (auto& a : hit.allowed)
        allow += (allow.empty() ? "" : ", ") + a;
      auto r = error_response(405, x.method + " is not allowed on " + x.path
                                     + "; allowed: " + allow);
      r.headers.emplace_back("allow", allow);
      return answer(std::move(r));
    }
    if (!opt_->static_dir.empty() && (x.method == "GET" || x.method == "HEAD")
        && content_length == 0)
      return serve_file(c, opt_->static_dir, x.path, {});
    return answer(
      error_response(404, "no route for " + x.method + " " + x.path));
  }

  // LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0 lets the request upgrade.
  int on_upgrade(conn& c, const char* to) {
    if ((ws_ == nullptr && dashboard_ == nullptr) || to == nullptr
        || strcasecmp(to, "websocket") != 0)
      return -1;
    ++requests_;
    ++c.tx;
    auto& x = c.x();
    char* uri = nullptr;
    int uri_len = 0;
    if (lws_http_get_uri_and_method(c.wsi, &uri, &uri_len) < 0)
      return -1;
    x.method = "GET";
    x.path.assign(uri != nullptr ? uri : "", static_cast<size_t>(uri_len));
    x.origin.clear();
    if (dashboard_ != nullptr && x.path == "/dashboard/live") {
      bool from_query = false;
      if (!stopping_ && dashboard_host(c) && same_origin(c)
          && dashboard_authorized(c, from_query)) {
        c.dash = true;
        return 0;
      }
      auto r = stopping_ ? error_response(503, "the node is stopping")
               : !dashboard_host(c)
                 ? error_response(403, "the dashboard answers to its own "
                                       "address only")
               : !same_origin(c)
                 ? error_response(403, "the dashboard's WebSocket takes "
                                       "pages of its own origin only")
                 : error_response(401, "a token is required");
      r.close = true;
      respond(c, std::move(r));
      return -1;
    }
    if (ws_ == nullptr)
      return -1;
    std::string why;
    auto status = ws_->check_upgrade(c.wsi, x.path, why);
    if (status == 0)
      return 0;
    auto r = error_response(status, why);
    r.close = true;
    respond(c, std::move(r));
    // Hang up whether or not all of it went out: it is small.
    return -1;
  }

  // A WebSocket callback.
  int on_ws(conn& c, lws_callback_reasons reason, void* in, size_t len) {
    // The upgrade's request is over; the connection speaks WebSocket now.
    if (reason == LWS_CALLBACK_ESTABLISHED)
      c.ex.reset();
    if (c.dash)
      return dashboard_ != nullptr
               ? dashboard_->on_callback(c.wsi, reason, c.dash_client, in, len)
               : -1;
    if (ws_ == nullptr)
      return -1;
    return ws_->on_callback(c.wsi, reason, c.ws, in, len);
  }

  int on_body(conn& c, const char* data, size_t len) {
    if (c.state == conn_state::body) {
      if (c.x().body.size() + len > opt_->max_body)
        return -1; // more than content-length said: lws would not do that
      c.x().body.append(data, len);
    }
    return 0;
  }

  int on_body_done(conn& c) {
    if (c.state == conn_state::body) {
      return dispatch(c);
    } else if (c.state == conn_state::discard && c.x().early != nullptr) {
      auto r = std::move(*c.x().early);
      c.x().early.reset();
      return respond(c, std::move(r));
    }
    return 0;
  }

  int on_writeable(conn& c) {
    if (c.kill)
      return -1;
    if (c.state != conn_state::writing)
      return 0;
    return write_some(c);
  }

  int on_file_done(conn& c) {
    set_idle(c);
    if (stopping_)
      return -1;
    return lws_http_transaction_completed(c.wsi) ? -1 : 0;
  }

private:
  static bool is_busy(conn_state s) {
    return s == conn_state::waiting || s == conn_state::writing
           || s == conn_state::file;
  }

  void set_busy(conn& c, conn_state s) {
    if (!is_busy(c.state))
      ++busy_;
    c.state = s;
  }

  void set_idle(conn& c) {
    if (is_busy(c.state) && --busy_ == 0 && stopping_)
      // Not from here: the caller (an lws callback, a write) still uses
      // the connection that tearing the context down would free.
      send(this, drained_atom::value);
    c.state = conn_state::idle;
  }

  std::string header_of_name(conn& c, const char* name) {
    auto len = static_cast<int>(std::strlen(name));
    char buf[512];
    auto n = lws_hdr_custom_copy(c.wsi, buf, sizeof(buf), name, len);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string{};
  }

  static bool is_dashboard_path(const std::string& path) {
    return path == "/dashboard" || path.rfind("/dashboard/", 0) == 0;
  }

  static constexpr const char* token_cookie = "switchboard_token";

  // The dashboard's pages and WebSocket: a browser cannot set a bearer
  // header on a page load, so the token may come as ?token= (which sets a
  // cookie for what the page loads next) or as that cookie.
  bool dashboard_authorized(conn& c, bool& from_query) {
    if (opt_->token.empty() || authorized(c))
      return true;
    char buf[1024];
    if (auto v = lws_get_urlarg_by_name(c.wsi, "token=", buf, sizeof(buf));
        v != nullptr && same_secret(v, opt_->token)) {
      from_query = true;
      return true;
    }
    auto cookies = header_of(c.wsi, WSI_TOKEN_HTTP_COOKIE);
    auto prefix = std::string{token_cookie} + "=";
    for (size_t at = 0; at < cookies.size();) {
      auto end = cookies.find(';', at);
      if (end == std::string::npos)
        end = cookies.size();
      auto item = cookies.substr(at, end - at);
      item.erase(0, item.find_first_not_of(' '));
      if (item.rfind(prefix, 0) == 0
          && same_secret(item.substr(prefix.size()), opt_->token))
        return true;
      at = end + 1;
    }
    return false;
  }

  // Without a token, the dashboard answers only to a Host that names this
  // machine's loopback (or the address it listens on): a page of another
  // site whose name was rebound to 127.0.0.1 (DNS rebinding) names its
  // own host, and its Origin matches that host.
  bool dashboard_host(conn& c) {
    if (!opt_->token.empty())
      return true;
    auto host = header_of(c.wsi, WSI_TOKEN_HOST);
    // Strip the port: "[::1]:7402", "127.0.0.1:7402", "localhost".
    if (!host.empty() && host.front() == '[') {
      host = host.substr(0, host.find(']') + 1);
    } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
      host.resize(colon);
    }
    auto bound_host = bound_.substr(0, bound_.rfind(':'));
    // A loopback address itself, never a name that merely starts like one
    // ("127.0.0.1.evil.example" is a name its owner can rebind).
    in_addr v4;
    bool loopback_v4 = inet_pton(AF_INET, host.c_str(), &v4) == 1
                       && (ntohl(v4.s_addr) >> 24) == 127;
    return host == "localhost" || host == "[::1]" || host == bound_host
           || loopback_v4;
  }

  // A browser names the page's origin in a WebSocket upgrade: one from
  // another site must not reach the dashboard with this site's cookie.
  bool same_origin(conn& c) {
    auto origin = header_of(c.wsi, WSI_TOKEN_ORIGIN);
    if (origin.empty())
      return true; // not a browser
    auto host = header_of(c.wsi, WSI_TOKEN_HOST);
    auto scheme_end = origin.find("://");
    return scheme_end != std::string::npos
           && origin.substr(scheme_end + 3) == host;
  }

  bool authorized(conn& c) {
    auto auth = header_of(c.wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    static const std::string prefix = "Bearer ";
    if (auth.size() > prefix.size()
        && strncasecmp(auth.c_str(), prefix.c_str(), prefix.size()) == 0)
      return same_secret(auth.substr(prefix.size()), opt_->token);
    return false;
  }

  // The CORS origin to allow for `origin`, or empty.
  std::string allowed_origin(const std::string& origin) const {
    if (origin.empty())
      return {};
    for (auto& o : opt_->cors)
      if (o == "*" || o == origin)
        return o == "*" && opt_->token.empty() ? "*" : origin;
    return {};
  }

  void add_cors(conn& c, http_response& r) const {
    if (opt_->cors.empty())
      return;
    auto allow = allowed_origin(c.x().origin);
    if (allow.empty())
      return;
    r.headers.emplace_back("access-control-allow-origin", allow);
    if (allow != "*")
      r.headers.emplace_back("vary", "Origin");
  }

  http_response preflight(conn& c) {
    http_response r;
    r.status = 204;
    auto allow = allowed_origin(c.x().origin);
    if (allow.empty())
      return error_response(403, "origin " + c.x().origin + " is not allowed");
    // The methods the path allows.
    std::string methods;
    for (auto& rt : opt_->routes) {
      auto hit = match(std::vector<route>{rt},
                       rt.method.empty() ? "GET" : rt.method, c.x().path);
      if (hit.found == nullptr)
        continue;
      auto m = rt.method.empty() ? std::string{"GET, POST, PUT, PATCH, DELETE"}
                                 : rt.method;
      if (methods.find(m) == std::string::npos)
        methods += (methods.empty() ? "" : ", ") + m;
    }
    if (methods.empty())
      methods = "GET";
    r.headers.emplace_back("access-control-allow-methods", methods);
    auto asked = header_of(c.wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS);
    r.headers.emplace_back("access-control-allow-headers",
                           asked.empty() ? "content-type, authorization"
                                         : asked);
    r.headers.emplace_back("access-control-max-age", "600");
    r.content_type = "text/plain";
    // The preflight's own origin header is added by `respond`.
    return r;
  }

  static http_response json_response(int status, std::string body) {
    http_response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }

  static http_response error_response(int status, const std::string& why) {
    return json_response(status, dump(json{{"error", why}}));
  }

  int fail_now(conn& c, int status, const std::string& why,
               bool close = false) {
    auto r = error_response(status, why);
    r.close = close;
    return respond(c, std::move(r));
  }

  // Writes `r` (as much as the socket takes now; the rest when it is
  // writeable). Returns what an lws callback returns: -1 closes.
  int respond(conn& c, http_response r) {
    if (stopping_)
      r.close = true;
    add_cors(c, r);
    ++by_class_[std::min(5, std::max(1, r.status / 100))];
    size_t need = LWS_PRE + 512 + r.content_type.size() + r.body.size();
    for (auto& [k, v] : r.headers)
      need += k.size() + v.size() + 8;
    auto& w = c.x().wire;
    w.assign(need, '\0');
    auto base = reinterpret_cast<unsigned char*>(w.data());
    auto p = base + LWS_PRE;
    auto end = base + need - r.body.size() - 1;
    if (lws_add_http_common_headers(c.wsi, static_cast<unsigned>(r.status),
                                    r.content_type.c_str(), r.body.size(), &p,
                                    end))
      return -1;
    for (auto& [k, v] : r.headers) {
      auto name = k + ":";
      if (lws_add_http_header_by_name(
            c.wsi, reinterpret_cast<const unsigned char*>(name.c_str()),
            reinterpret_cast<const unsigned char*>(v.data()),
            static_cast<int>(v.size()), &p, end))
        return -1;
    }
    if (r.close) {
      static const char close_value[] = "close";
      if (lws_add_http_header_by_token(
            c.wsi, WSI_TOKEN_CONNECTION,
            reinterpret_cast<const unsigned char*>(close_value), 5, &p, end))
        return -1;
    }
    if (lws_finalize_http_header(c.wsi, &p, end))
      return -1;
    // The body follows the headers in the same buffer: one send.
    w.resize(static_cast<size_t>(p - base));
    if (c.x().method != "HEAD")
      w += r.body;
    c.x().sent = LWS_PRE;
    c.close = r.close;
    set_busy(c, conn_state::writing);
    return write_some(c);
  }

  // `respond` outside an lws callback (an actor's reply), where closing
  // cannot be a return value.
  void respond_later(conn& c, http_response r) {
    // lws checks a timeout only on its own schedule: close from the next
    // writeable callback instead.
    if (respond(c, std::move(r)) != 0) {
      c.kill = true;
      lws_callback_on_writable(c.wsi);
    }
  }

  int write_some(conn& c) {
    // Up to the protocol's tx_packet_size per call: lws would copy what
    // one send() leaves over.
    constexpr size_t chunk = 64 * 1024;
    if (auto left = c.x().wire.size() - c.x().sent; left > 0) {
      auto n = std::min(chunk, left);
      bool last = n == left;
      // lws_write may use LWS_PRE bytes before the data: the first chunk
      // has them reserved, later ones reuse bytes already sent.
      auto data =
        reinterpret_cast<unsigned char*>(c.x().wire.data()) + c.x().sent;
      if (lws_write(c.wsi, data, n,
                    last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP)
          != static_cast<int>(n))
        return -1;
      c.x().sent += n;
    }
    // Done only once lws has sent what it holds too: a stopping node tears
    // the connection down as soon as nothing is busy.
    if (c.x().sent < c.x().wire.size() || lws_partial_buffered(c.wsi)) {
      lws_callback_on_writable(c.wsi);
      return 0;
    }
    c.x().wire = std::string{};
    set_idle(c);
    if (c.close)
      return -1;
    return lws_http_transaction_completed(c.wsi) ? -1 : 0;
  }

  static json params_of(conn& c) {
    json params = json::object();
    for (auto& [k, v] : c.x().params)
      params[k] = v;
    return params;
  }

  // The message a route's actor gets.
  caf::expected<json_message> make_message(conn& c) {
    auto& r = *c.x().found;
    if (!r.deliver_request) {
      if (c.x().body.empty()) {
        return json_message::trusted(dump(params_of(c)));
      }
      return json_message::parse(std::move(c.x().body));
    }
    json req{{"method", c.x().method}, {"path", c.x().path}};
    req["params"] = params_of(c);
    json query = json::object();
    char buf[4096];
    for (int i = 0;; ++i) {
      auto n = lws_hdr_copy_fragment(c.wsi, buf, sizeof(buf),
                                     WSI_TOKEN_HTTP_URI_ARGS, i);
      if (n < 0)
        break;
      std::string kv(buf, static_cast<size_t>(n));
      auto eq = kv.find('=');
      if (eq == std::string::npos)
        query[kv] = "";
      else
        query[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    req["query"] = std::move(query);
    json headers = json::object();
    for (int t = 0; t < WSI_TOKEN_COUNT; ++t) {
      auto tok = static_cast<lws_token_indexes>(t);
      auto name = reinterpret_cast<const char*>(lws_token_to_string(tok));
      if (name == nullptr || name[0] == '\0' || name[0] == ':')
        continue;
      std::string key{name};
      if (key.back() != ':')
        continue;
      key.pop_back();
      if (lws_hdr_total_length(c.wsi, tok) <= 0)
        continue;
      std::transform(key.begin(), key.end(), key.begin(),
                     [](unsigned char ch) { return std::tolower(ch); });
      headers[key] = header_of(c.wsi, tok);
    }
    for (auto& h : r.headers) {
      auto v = header_of_name(c, (h + ":").c_str());
      if (!v.empty())
        headers[h] = v;
    }
    req["headers"] = std::move(headers);
    if (c.x().body.empty()) {
      req["body"] = nullptr;
    } else {
      auto body = json::parse(c.x().body, nullptr, false);
      if (body.is_discarded())
        req["body"] = c.x().body; // not JSON: a string
      else
        req["body"] = std::move(body);
    }
    return json_message::trusted(dump(req));
  }

  int dispatch(conn& c) {
    acting_as self{this};
    auto& r = *c.x().found;
    auto idx = static_cast<size_t>(&r - opt_->routes.data());
    auto msg = make_message(c);
    c.x().body.clear();
    if (!msg)
      return respond(
        c, error_response(400, "malformed JSON: " + reason_of(msg.error())));
    auto target = node_.lookup(r.to, targets_[idx]);
    if (!target)
      return respond(c, error_response(503, r.to + " is not running"));
    // lws gives a request a few seconds; the route's timeout rules here.
    lws_set_timeout(c.wsi, NO_PENDING_TIMEOUT, 0);
    set_busy(c, conn_state::waiting);
    auto id = c.id;
    auto tx = c.tx;
    expect_by(c, &r);
    // No timeout for CAF to keep: its clock thread would be woken for every
    // request. The deadline timer answers 504, and a reply after it is
    // dropped (counted as late).
    request(target, caf::infinite, std::move(*msg))
      .then(
        [this, id, tx](json_message& reply) {
          if (auto c = waiting(id, tx))
            respond_later(*c, to_response(reply));
        },
        [this, id, tx](caf::error& err) {
          if (auto c = waiting(id, tx))
            respond_later(*c, error_response(500, render(err)));
        });
    return 0;
  }

  // Arms the deadline of the request `c` waits for on route `r`.
  void expect_by(conn& c, const route* r) {
    auto now = uv_now(loop().native());
    auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(r->timeout).count();
    deadlines_.push(deadline{
      now + static_cast<uint64_t>(std::max<int64_t>(ms, 1)), c.id, c.tx, r});
    arm_timer();
  }

  void arm_timer() {
    if (deadlines_.empty())
      return;
    auto at = deadlines_.top().at;
    if (timer_armed_ && armed_at_ <= at)
      return;
    auto now = uv_now(loop().native());
    timer_armed_ = true;
    armed_at_ = at;
    uv_timer_start(timer_, on_timer, at > now ? at - now : 0, 0);
  }

  static void on_timer(uv_timer_t* t) {
    auto self = static_cast<server*>(t->data);
    self->timer_armed_ = false;
    auto now = uv_now(self->loop().native());
    while (!self->deadlines_.empty() && self->deadlines_.top().at <= now) {
      auto d = self->deadlines_.top();
      self->deadlines_.pop();
      auto i = self->conns_.find(d.conn);
      if (i == self->conns_.end() || i->second->tx != d.tx
          || i->second->state != conn_state::waiting)
        continue; // answered, or gone
      auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(d.r->timeout)
          .count();
      self->respond_later(
        *i->second, error_response(504, d.r->to + " did not answer within "
                                          + std::to_string(ms) + " ms"));
    }
    self->arm_timer();
  }

  // The connection that still waits for request `tx`, or null (a reply
  // after the deadline, or after the client left).
  conn* waiting(uint64_t id, uint64_t tx) {
    auto i = conns_.find(id);
    if (i == conns_.end() || i->second->tx != tx
        || i->second->state != conn_state::waiting) {
      ++late_;
      return nullptr;
    }
    return i->second;
  }

  // A header an actor may set: a token for a name; no line breaks or NUL
  // in the value (they would split the response).
  static bool valid_header(const std::string& name, const std::string& value) {
    if (name.empty())
      return false;
    for (unsigned char ch : name)
      if (!(std::isalnum(ch) || std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr))
        return false;
    return value.find_first_of(std::string{"\r\n\0", 3}) == std::string::npos;
  }

  // An actor's reply: a JSON value (200) or {status, headers, body}.
  static http_response to_response(const json_message& reply) {
    auto& text = reply.text;
    if (text.find("\"status\"") != std::string::npos) {
      auto j = json::parse(text, nullptr, false);
      bool envelope = j.is_object() && j.contains("status")
                      && j["status"].is_number_integer();
      if (envelope)
        for (auto& [k, v] : j.items())
          if (k != "status" && k != "headers" && k != "body")
            envelope = false;
      if (envelope) {
        auto status = j["status"].get<int64_t>();
        if (status < 200 || status > 599)
          return error_response(500, "the reply's status "
                                       + std::to_string(status)
                                       + " is not a final HTTP status "
                                         "(200-599)");
        http_response r;
        r.status = static_cast<int>(status);
        // These have no body by definition.
        if (j.contains("body") && status != 204 && status != 304) {
          auto& body = j["body"];
          if (body.is_string()) {
            r.content_type = "text/plain; charset=utf-8";
            r.body = body.get<std::string>();
          } else {
            r.body = dump(body);
          }
        }
        if (j.contains("headers") && j["headers"].is_object())
          for (auto& [k, v] : j["headers"].items()) {
            auto key = k;
            std::transform(key.begin(), key.end(), key.begin(),
                           [](unsigned char ch) { return std::tolower(ch); });
            auto value = v.is_string() ? v.get<std::string>() : dump(v);
            if (!valid_header(key, value))
              return error_response(500, "the reply's header \"" + k
                                           + "\" is not a valid HTTP header");
            if (key == "content-type")
              r.content_type = value;
            else if (key != "content-length" && key != "connection"
                     && key != "transfer-encoding")
              r.headers.emplace_back(key, value);
          }
        return r;
      }
    }
    return json_response(200, text);
  }

  int serve_status(conn& c) {
    lws_set_timeout(c.wsi, NO_PENDING_TIMEOUT, 0);
    set_busy(c, conn_state::waiting);
    auto id = c.id;
    auto tx = c.tx;
    collect_status(
      this, node_.name(), node_.registry().list(), opt_->timeout,
      [this, id, tx](std::string text) {
        if (auto c = waiting(id, tx))
          respond_later(*c, json_response(200, text));
      },
      node_.metrics_enabled() ? &node_.metrics() : nullptr);
    return 0;
  }

  // Serves `dir` + `rel` (index.html for a directory).
  int serve_file(conn& c, const std::string& dir, std::string rel,
                 std::vector<std::pair<std::string, std::string>> headers) {
    if (rel.empty() || rel.back() == '/')
      rel += "index.html";
    auto full = dir + rel;
    char resolved[PATH_MAX];
    struct stat st {};
    // lws has decoded the path and folded "..": realpath also folds
    // symbolic links, and the prefix check keeps what is left inside.
    if (::realpath(full.c_str(), resolved) == nullptr
        || std::strncmp(resolved, dir.c_str(), dir.size()) != 0
        || (resolved[dir.size()] != '/' && resolved[dir.size()] != '\0')
        || ::stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) {
      return respond(c,
                     error_response(404, "no route or file for " + c.x().method
                                           + " " + c.x().path));
    }
    http_response r;
    r.headers = std::move(headers);
    add_cors(c, r);
    std::string extra;
    for (auto& [k, v] : r.headers)
      extra += k + ": " + v + "\r\n";
    ++by_class_[2];
    set_busy(c, conn_state::file);
    auto n = lws_serve_http_file(c.wsi, resolved, content_type_of(resolved),
                                 extra.empty() ? nullptr : extra.c_str(),
                                 static_cast<int>(extra.size()));
    if (n < 0) {
      set_idle(c);
      return -1;
    }
    if (n > 0) // served already
      return on_file_done(c);
    if (c.x().method == "HEAD")
      // lws has sent the headers and completed the transaction itself: no
      // file completion follows.
      set_idle(c);
    return 0;
  }

  void maybe_finish() {
    if (!stopping_ || busy_ > 0 || host_ == nullptr
        || (ws_ != nullptr && !ws_stopped_))
      return;
    caf::actor_addr self = address();
    lws_host::destroy(std::move(host_), [self] {
      if (auto h = caf::actor_cast<caf::actor>(self))
        caf::anon_send(h, gone_atom::value);
    });
  }

  void event(json ev) {
    ev["bridge"] = opt_->name;
    auto text = dump(ev);
    if (!node_.send_event(opt_->events, events_, text))
      node_.log(event_level(ev.value("event", "")), opt_->name, text);
  }

  switchboard::node& node_;
  std::shared_ptr<const server_options> opt_;
  std::unique_ptr<lws_host> host_;
  std::shared_ptr<hub> hub_;
  std::unique_ptr<ws_service> ws_;
  std::unique_ptr<dashboard_live> dashboard_;
  bool ws_stopped_ = false;
  std::string bound_;
  // Each route's actor, looked up once while it lives.
  std::vector<caf::actor> targets_;
  std::unordered_map<uint64_t, conn*> conns_;
  // Requests waiting for an actor, earliest deadline first; entries of
  // requests already answered are skipped when they come up.
  struct deadline {
    uint64_t at; // uv_now() ms
    uint64_t conn;
    uint64_t tx;
    const route* r;
    bool operator>(const deadline& other) const {
      return at > other.at;
    }
  };
  std::priority_queue<deadline, std::vector<deadline>, std::greater<>>
    deadlines_;
  uv_timer_t* timer_ = nullptr;
  bool timer_armed_ = false;
  uint64_t armed_at_ = 0;
  uint64_t next_conn_ = 1;
  size_t busy_ = 0;
  bool stopping_ = false;
  caf::error exit_reason_;
  uint64_t requests_ = 0;
  uint64_t by_class_[6] = {};
  uint64_t refused_ = 0;
  uint64_t late_ = 0;
  caf::actor events_;

  friend int on_lws(lws*, lws_callback_reasons, void*, void*, size_t);
};

int on_lws(lws* wsi, lws_callback_reasons reason, void* user, void* in,
           size_t len) {
  auto ctx = lws_get_context(wsi);
  auto h = ctx != nullptr ? static_cast<hub*>(lws_context_user(ctx)) : nullptr;
  auto srv = h != nullptr ? h->owner : nullptr;
  auto c = static_cast<conn*>(lws_get_opaque_user_data(wsi));
  switch (reason) {
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
      if (srv == nullptr)
        return -1;
      srv->opened(wsi);
      return 0;
    case LWS_CALLBACK_WSI_DESTROY:
      if (c != nullptr) {
        lws_set_opaque_user_data(wsi, nullptr);
        if (srv != nullptr)
          srv->destroyed(c);
        delete c;
      }
      return 0;
    case LWS_CALLBACK_HTTP:
      if (srv == nullptr || c == nullptr)
        return -1;
      return srv->on_request(*c);
    case LWS_CALLBACK_HTTP_BODY:
      if (srv == nullptr || c == nullptr)
        return -1;
      return srv->on_body(*c, static_cast<const char*>(in), len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (srv == nullptr || c == nullptr)
        return -1;
      return srv->on_body_done(*c);
    case LWS_CALLBACK_HTTP_WRITEABLE:
      if (srv == nullptr || c == nullptr)
        return -1;
      return srv->on_writeable(*c);
    case LWS_CALLBACK_HTTP_FILE_COMPLETION:
      if (srv == nullptr || c == nullptr)
        return -1;
      return srv->on_file_done(*c);
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      // WebSocket where the bridge has a WebSocket side; never h2c.
      if (srv == nullptr || c == nullptr)
        return -1;
      return srv->on_upgrade(*c, static_cast<const char*>(in));
    case LWS_CALLBACK_ESTABLISHED:
    case LWS_CALLBACK_RECEIVE:
    case LWS_CALLBACK_SERVER_WRITEABLE:
    case LWS_CALLBACK_RECEIVE_PONG:
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    case LWS_CALLBACK_CLOSED:
      if (srv == nullptr || c == nullptr)
        return reason == LWS_CALLBACK_CLOSED ? 0 : -1;
      return srv->on_ws(*c, reason, in, len);
    default: return lws_callback_http_dummy(wsi, reason, user, in, len);
  }
}

// -- config ---------------------------------------------------------------

caf::expected<server_options> read_options(const caf::settings& args,
                                           const std::string& name,
                                           caf::timespan default_timeout,
                                           bool websocket) {
  server_options o;
  o.name = name;
  o.timeout = default_timeout;
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, name + ": " + why);
  };
  o.listen = caf::get_or(args, "listen", o.listen);
  if (auto addr = parse_tcp_address(o.listen); !addr)
    return bad(reason_of(addr.error()));
  o.timeout = caf::get_or(args, "timeout", o.timeout);
  if (o.timeout.count() <= 0)
    return bad("timeout must be above 0");
  if (auto routes = caf::get_if<caf::config_value::list>(&args, "routes")) {
    for (size_t i = 0; i < routes->size(); ++i) {
      auto r = read_route((*routes)[i], name, i, o.timeout);
      if (!r)
        return std::move(r.error());
      o.routes.push_back(std::move(*r));
    }
  }
  auto max_body = caf::get_or(args, "max-body", int64_t{1 << 20});
  if (max_body < 0)
    return bad("max-body must be 0 or more");
  o.max_body = static_cast<size_t>(max_body);
  o.health = caf::get_or(args, "health", true);
  // A WebSocket port is often public; the node's status is opt-in there.
  o.status = caf::get_or(args, "status", !websocket);
  o.metrics = caf::get_or(args, "metrics", !websocket);
  if (auto dir = caf::get_if<std::string>(&args, "static")) {
    char resolved[PATH_MAX];
    struct stat st {};
    if (::realpath(dir->c_str(), resolved) == nullptr
        || ::stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode))
      return bad("static: '" + *dir + "' is not a directory");
    o.static_dir = resolved;
    if (o.static_dir == "/")
      return bad("static: refusing to serve the whole file system");
  }
  if (caf::get_or(args, "dashboard", false)) {
    // The dashboard shows the status and the log and sends to any actor:
    // off loopback, only with a token (a cookie's characters, in a URL).
    auto token = caf::get_or(args, "token", std::string{});
    auto host = o.listen.substr(0, o.listen.rfind(':'));
    auto loopback =
      host.rfind("127.", 0) == 0 || host == "localhost" || host == "[::1]";
    if (token.empty() && !loopback)
      return bad("dashboard on " + o.listen
                 + " (not a loopback address) needs a token");
    for (auto ch : token)
      if (ch <= ' ' || ch >= 127 || ch == '"' || ch == ',' || ch == ';'
          || ch == '\\' || ch == '&' || ch == '%' || ch == '+' || ch == '#')
        return bad("with the dashboard, the token may hold letters, digits "
                   "and punctuation but no space, \", ; \\ & % + or #");
    if (token.size() > 500)
      return bad("with the dashboard, the token is 500 characters at most");
    auto dir = find_dashboard_dir(caf::get_or(args, "dashboard-dir", ""));
    if (!dir)
      return bad(reason_of(dir.error()));
    o.dashboard_dir = std::move(*dir);
  } else if (caf::get_if<std::string>(&args, "dashboard-dir")) {
    return bad("dashboard-dir is set but dashboard is not");
  }
  o.cors = caf::get_or(args, "cors", std::vector<std::string>{});
  o.token = caf::get_or(args, "token", std::string{});
  o.max_connections = caf::get_or(args, "max-connections", int64_t{10000});
  if (o.max_connections < 1)
    return bad("max-connections must be at least 1");
  o.idle_timeout = caf::get_or(args, "idle-timeout", o.idle_timeout);
  if (o.idle_timeout < std::chrono::seconds(1))
    return bad("idle-timeout must be at least 1s");
  o.cert_file = caf::get_or(args, "cert-file", std::string{});
  o.key_file = caf::get_or(args, "key-file", std::string{});
  if (o.cert_file.empty() != o.key_file.empty())
    return bad("HTTPS needs both cert-file and key-file");
  o.events = caf::get_or(args, "events", std::string{});
  if (websocket) {
    auto ws = read_ws_options(args, name, o.timeout);
    if (!ws)
      return std::move(ws.error());
    o.ws = std::make_shared<const ws_options>(std::move(*ws));
  }
  return o;
}

// Loads the certificate and key as lws will, on the caller's thread, so a
// bad file is the spawn's error with OpenSSL's reason.
caf::error check_tls(const server_options& o) {
  if (o.cert_file.empty())
    return {};
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx{SSL_CTX_new(TLS_method()),
                                                   SSL_CTX_free};
  auto fail = [&](const std::string& what) {
    char buf[256] = "unknown error";
    if (auto e = ERR_get_error(); e != 0)
      ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return make_error(errc::config_bad_value,
                      o.name + ": " + what + ": " + buf);
  };
  if (ctx == nullptr)
    return fail("OpenSSL");
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert_file.c_str()) != 1)
    return fail("cert-file " + o.cert_file);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), o.key_file.c_str(),
                                  SSL_FILETYPE_PEM)
      != 1)
    return fail("key-file " + o.key_file);
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return fail("key-file does not match cert-file");
  return {};
}

caf::expected<caf::actor> spawn_server(switchboard::node& owner,
                                       server_options opts) {
  if (auto err = check_tls(opts))
    return err;
  auto addr = parse_tcp_address(opts.listen);
  if (!addr)
    return make_error(errc::config_bad_value,
                      opts.name + ": " + render(addr.error()));
  // TCP keepalive finds peers that vanished; idle-timeout closes the rest.
  auto fd = listen_tcp(*addr, 511, std::chrono::seconds(60));
  if (!fd)
    return make_error(errc::io_error, opts.name + ": " + render(fd.error()));
  sockaddr_storage ss{};
  socklen_t ss_len = sizeof(ss);
  ::getsockname(*fd, reinterpret_cast<sockaddr*>(&ss), &ss_len);
  auto bound = to_string(ss);
  auto h = std::make_shared<hub>();
  lws_host_config cfg;
  cfg.name = opts.name;
  cfg.listen_fd = *fd;
  lws_protocols http{};
  http.name = "http";
  http.callback = on_lws;
  // Each send() may carry this much; lws copies what a send leaves over.
  http.tx_packet_size = 64 * 1024;
  cfg.protocols = {http};
  if (auto& ws = opts.ws) {
    // A client that names no subprotocol lands on `http` (index 0); one
    // that names one of these gets it.
    for (auto& p : ws->protocols) {
      auto x = http;
      x.name = p.c_str();
      cfg.protocols.push_back(x);
    }
    cfg.keep = ws;
    // Set even without pings: lws's default would ping every 5 minutes.
    cfg.set_retry = true;
    cfg.retry = ws->retry_policy();
    if (ws->compress)
      cfg.extensions = ws_extensions();
  }
  cfg.protocols.push_back(lws_protocols{});
  cfg.keepalive_timeout = static_cast<int>(
    std::chrono::duration_cast<std::chrono::seconds>(opts.idle_timeout)
      .count());
  cfg.cert_file = opts.cert_file;
  cfg.key_file = opts.key_file;
  cfg.user = h;
  cfg.admit = [h](int sock) {
    return h->owner != nullptr && h->owner->admit(sock);
  };
  auto host = lws_host::create(owner.loop(), std::move(cfg));
  if (!host)
    return std::move(host.error());
  return caf::actor_cast<caf::actor>(spawn_on_loop<server>(
    owner.system(), owner.loop(), owner,
    std::make_shared<const server_options>(std::move(opts)), std::move(*host),
    std::move(h), std::move(bound)));
}

std::vector<key_spec> http_keys() {
  return {
    {"listen", value_type::string, false,
     "HOST:PORT (default 127.0.0.1:8080; port 0 picks a free one)"},
    {"routes", value_type::list, false,
     "[{ method, path (/users/:id, /files/*), to, timeout, deliver = "
     "\"body\"|\"request\", headers }]"},
    {"timeout", value_type::timespan, false,
     "how long a route's actor may take (default: [node] request-timeout); "
     "then 504"},
    {"max-body",
     value_type::integer,
     false,
     "the largest request body, in bytes (default 1 MiB); more gets 413",
     {},
     0},
    {"health", value_type::boolean, false,
     "answer GET /health with {\"status\":\"ok\"} (default true)"},
    {"status", value_type::boolean, false,
     "answer GET /status with the node's status (default true)"},
    {"metrics", value_type::boolean, false,
     "answer GET /metrics with the node's metrics in Prometheus text "
     "(default true)"},
    {"static", value_type::string, false,
     "a directory whose files GET serves where no route matches"},
    {"dashboard", value_type::boolean, false,
     "serve the live dashboard at /dashboard/ (default false; behind the "
     "token: open /dashboard/?token=TOKEN)"},
    {"dashboard-dir", value_type::string, false,
     "the dashboard's page files (default: share/switchboard/dashboard "
     "beside the switchboard program)"},
    {"cors", value_type::string_list, false,
     "origins allowed to call from a browser ([\"*\"] for any)"},
    {"token", value_type::string, false,
     "requests need `Authorization: Bearer TOKEN` (all but /health; the "
     "dashboard also takes ?token=TOKEN, then its cookie); else 401"},
    {"max-connections",
     value_type::integer,
     false,
     "open connections at most; more get 503 (default 10000)",
     {},
     1},
    {"idle-timeout", value_type::timespan, false,
     "how long an idle keep-alive connection stays open (default 5s)"},
    {"cert-file", value_type::string, false,
     "HTTPS: the certificate chain (PEM)"},
    {"key-file", value_type::string, false, "HTTPS: the private key (PEM)"},
    {"events", value_type::actor_ref, false,
     "gets {event: \"refused\"} when max-connections turns one away"},
  };
}

kind_spec make_kind(bool websocket) {
  kind_spec result;
  result.name = websocket ? "websocket" : "http";
  result.doc = websocket
                 ? "a WebSocket server (and HTTP on the same port): each "
                   "connection an actor, messages to `to` or a `room`"
                 : "an HTTP(S) server: routes send requests to actors; their "
                   "replies are the responses";
  result.section = kind_section::bridges;
  result.keys = http_keys();
  if (websocket) {
    for (auto& k : result.keys) {
      if (k.name == "status")
        k.doc = "answer GET /status with the node's status (default false "
                "here)";
      else if (k.name == "events")
        k.doc = "gets {event: \"opened\"|\"closed\"|\"refused\"} for "
                "connections";
      else if (k.name == "timeout")
        k.doc = "how long `to` (and a route's actor) may take to answer "
                "(default: [node] request-timeout)";
      else if (k.name == "token")
        k.doc = "upgrades and requests need `Authorization: Bearer TOKEN` "
                "(or ?token=TOKEN for an upgrade); else 401";
    }
    for (auto& k : ws_keys())
      result.keys.push_back(std::move(k));
  }
  result.check = [websocket](const std::string& name,
                             const caf::settings& args) -> caf::error {
    auto o = read_options(args, name, std::chrono::seconds(5), websocket);
    if (!o)
      return std::move(o.error());
    return check_tls(*o);
  };
  result.factory =
    [websocket](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto o =
      read_options(ctx.args, ctx.name, ctx.node.request_timeout(), websocket);
    if (!o)
      return std::move(o.error());
    return spawn_server(ctx.node, std::move(*o));
  };
  return result;
}

} // namespace

kind_spec http_server_kind() {
  return make_kind(false);
}

kind_spec websocket_kind() {
  return make_kind(true);
}

} // namespace switchboard::bridges::http

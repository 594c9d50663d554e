// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/http/client.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <pthread.h>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <switchboard/metered.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

namespace switchboard::bridges::http {

namespace {

using json = nlohmann::json;
using done_atom = caf::atom_constant<caf::atom("httpdone")>;
using expire_atom = caf::atom_constant<caf::atom("httpexpire")>;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct client_options {
  std::string name;
  // Joined with a request's url that starts with '/'.
  std::string base_url;
  size_t threads = 4;
  size_t max_idle_per_host = 4;
  caf::timespan timeout{std::chrono::seconds(5)};
  caf::timespan connect_timeout{std::chrono::seconds(5)};
  size_t max_body = 16 << 20;
  std::string ca_file;
  bool insecure = false;
};

// A URL split where cpp-httplib wants it: "https://host:port" and the rest.
struct target {
  std::string origin;
  std::string path; // with the query, at least "/"
};

caf::expected<target> split_url(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::bad_message, "url \"" + url + "\": " + why);
  };
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    return bad("expected http://HOST[:PORT]/PATH or https://...");
  auto scheme = url.substr(0, scheme_end);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  // cpp-httplib's client throws on any other scheme.
  if (scheme != "http" && scheme != "https")
    return bad("the scheme must be http or https");
  auto host_begin = scheme_end + 3;
  auto path_begin = url.find_first_of("/?#", host_begin);
  auto authority = url.substr(host_begin, path_begin == std::string::npos
                                            ? std::string::npos
                                            : path_begin - host_begin);
  if (authority.empty())
    return bad("no host");
  if (authority.find('@') != std::string::npos)
    return bad("credentials in the url are not supported; use a header");
  // A port, if any, is digits (an IPv6 host is in brackets).
  auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.rfind(']') < colon
      && authority.back() != ']') {
    auto port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5
        || !std::all_of(port.begin(), port.end(),
                        [](unsigned char c) { return std::isdigit(c); })
        || std::stoi(port) > 65535)
      return bad("bad port \"" + port + "\"");
  }
  target t;
  t.origin = scheme + "://" + authority;
  t.path = path_begin == std::string::npos ? "/" : url.substr(path_begin);
  if (t.path[0] != '/')
    t.path = "/" + t.path;
  if (auto hash = t.path.find('#'); hash != std::string::npos)
    t.path.erase(hash);
  return t;
}

// A timeout given in a request: milliseconds, or "250ms" / "2s".
caf::expected<caf::timespan> read_timeout(const json& j) {
  if (j.is_number() && j.get<double>() > 0)
    return std::chrono::duration_cast<caf::timespan>(
      std::chrono::duration<double, std::milli>(j.get<double>()));
  if (j.is_string()) {
    auto s = j.get<std::string>();
    char* end = nullptr;
    auto x = std::strtod(s.c_str(), &end);
    std::string unit = end != nullptr ? end : "";
    if (x > 0 && (unit == "ms" || unit == "s"))
      return std::chrono::duration_cast<caf::timespan>(
        std::chrono::duration<double, std::milli>(unit == "s" ? x * 1000 : x));
  }
  return make_error(errc::bad_message,
                    "timeout must be milliseconds or a duration such as "
                    "\"2s\", not "
                      + dump(j));
}

// One request, as a worker thread runs it.
struct job {
  uint64_t id = 0;
  target where;
  httplib::Request req;
  caf::timespan timeout{0};
};

caf::expected<job> parse_request(const json_message& m,
                                 const client_options& opt) {
  auto bad = [](const std::string& why) {
    return make_error(errc::bad_message,
                      why
                        + "; a request is {\"url\": ..., \"method\": ..., "
                          "\"headers\": {...}, \"body\": ..., \"timeout\": "
                          "...}");
  };
  auto j = json::parse(m.text, nullptr, false);
  if (!j.is_object())
    return bad("expected an object");
  if (!j.contains("url") || !j["url"].is_string())
    return bad("\"url\" (a string) is missing");
  auto url = j["url"].get<std::string>();
  if (!url.empty() && url[0] == '/') {
    if (opt.base_url.empty())
      return bad("\"" + url + "\" is relative and " + opt.name
                 + " has no base-url");
    url = opt.base_url + url;
  }
  auto where = split_url(url);
  if (!where)
    return std::move(where.error());
  job x;
  x.where = std::move(*where);
  x.req.path = x.where.path;
  x.req.method = "GET";
  if (j.contains("method")) {
    if (!j["method"].is_string() || j["method"].get<std::string>().empty())
      return bad("\"method\" must be a string such as \"POST\"");
    x.req.method = j["method"].get<std::string>();
    std::transform(x.req.method.begin(), x.req.method.end(),
                   x.req.method.begin(),
                   [](unsigned char c) { return std::toupper(c); });
  }
  if (j.contains("headers")) {
    if (!j["headers"].is_object())
      return bad("\"headers\" must be an object of strings");
    for (auto& [k, v] : j["headers"].items()) {
      if (!v.is_string())
        return bad("header \"" + k + "\" must be a string");
      x.req.headers.emplace(k, v.get<std::string>());
    }
  }
  if (j.contains("body")) {
    auto& body = j["body"];
    // A string goes as it is; anything else as JSON.
    bool text = body.is_string();
    x.req.body = text ? body.get<std::string>() : dump(body);
    if (!x.req.has_header("Content-Type"))
      x.req.headers.emplace("Content-Type", text ? "text/plain; charset=utf-8"
                                                 : "application/json");
  }
  x.timeout = opt.timeout;
  if (j.contains("timeout")) {
    auto t = read_timeout(j["timeout"]);
    if (!t)
      return std::move(t.error());
    x.timeout = *t;
  }
  return x;
}

json response_to_json(const httplib::Response& res, std::string body) {
  json headers = json::object();
  for (auto& [k, v] : res.headers) {
    auto key = k;
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (headers.contains(key))
      headers[key] = headers[key].get<std::string>() + ", " + v;
    else
      headers[key] = v;
  }
  json out{{"status", res.status}, {"headers", headers}};
  // A JSON body arrives as JSON; anything else (or JSON that does not
  // parse) as a string.
  auto type = res.get_header_value("Content-Type");
  if (type.find("json") != std::string::npos) {
    auto parsed = json::parse(body, nullptr, false);
    if (!parsed.is_discarded()) {
      out["body"] = std::move(parsed);
      return out;
    }
  }
  out["body"] = std::move(body);
  return out;
}

long whole_seconds(caf::timespan t, long* usec) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t).count();
  *usec = static_cast<long>(us % 1000000);
  return static_cast<long>(us / 1000000);
}

// The threads that run requests, and the connections they keep alive.
class pool {
public:
  pool(client_options opt, caf::actor_addr owner)
      : opt_(std::move(opt)), owner_(std::move(owner)) {
    for (size_t i = 0; i < opt_.threads; ++i)
      threads_.emplace_back([this] {
        // Else they inherit the name of whichever thread spawned the actor.
        pthread_setname_np(pthread_self(), "http-client");
        run();
      });
  }

  ~pool() {
    {
      std::lock_guard<std::mutex> guard{mx_};
      stopping_ = true;
      // Requests in flight end now (their sockets are shut down).
      for (auto c : busy_)
        c->stop();
    }
    cv_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

  void submit(job x) {
    {
      std::lock_guard<std::mutex> guard{mx_};
      queue_.push_back(std::move(x));
    }
    cv_.notify_one();
  }

  size_t idle_connections() {
    std::lock_guard<std::mutex> guard{mx_};
    size_t n = 0;
    for (auto& kvp : idle_)
      n += kvp.second.size();
    return n;
  }

private:
  void run() {
    for (;;) {
      job x;
      {
        std::unique_lock<std::mutex> guard{mx_};
        cv_.wait(guard, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_)
          return;
        x = std::move(queue_.front());
        queue_.pop_front();
      }
      auto result = perform(x);
      auto owner = caf::actor_cast<caf::actor>(owner_);
      if (!owner)
        continue;
      if (result)
        caf::anon_send(owner, done_atom::value, x.id, std::move(*result));
      else
        caf::anon_send(owner, done_atom::value, x.id,
                       std::move(result.error()));
    }
  }

  std::unique_ptr<httplib::Client> take(const std::string& origin) {
    {
      std::lock_guard<std::mutex> guard{mx_};
      auto i = idle_.find(origin);
      if (i != idle_.end() && !i->second.empty()) {
        auto c = std::move(i->second.back());
        i->second.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<httplib::Client>(origin);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->set_url_encode(false); // the url goes as given
    long usec;
    auto sec = whole_seconds(opt_.connect_timeout, &usec);
    c->set_connection_timeout(sec, usec);
    if (!opt_.ca_file.empty())
      c->set_ca_cert_path(opt_.ca_file);
    if (opt_.insecure)
      c->enable_server_certificate_verification(false);
    return c;
  }

  void give_back(const std::string& origin,
                 std::unique_ptr<httplib::Client> c) {
    std::lock_guard<std::mutex> guard{mx_};
    auto& xs = idle_[origin];
    if (xs.size() < opt_.max_idle_per_host && !stopping_)
      xs.push_back(std::move(c));
  }

  caf::expected<json_message> perform(job& x) {
    auto c = take(x.where.origin);
    long usec;
    auto sec = whole_seconds(x.timeout, &usec);
    c->set_read_timeout(sec, usec);
    c->set_write_timeout(sec, usec);
    std::string body;
    bool too_large = false;
    x.req.content_receiver = [&](const char* data, size_t n, uint64_t,
                                 uint64_t) {
      if (body.size() + n > opt_.max_body) {
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    };
    {
      std::lock_guard<std::mutex> guard{mx_};
      if (stopping_)
        return make_error(errc::not_running, opt_.name + " is stopping");
      busy_.push_back(c.get());
    }
    httplib::Response res;
    auto err = httplib::Error::Success;
    auto started = std::chrono::steady_clock::now();
    auto ok = c->send(x.req, res, err);
    auto took = std::chrono::steady_clock::now() - started;
    {
      std::lock_guard<std::mutex> guard{mx_};
      busy_.erase(std::find(busy_.begin(), busy_.end(), c.get()));
    }
    auto where = x.req.method + " " + x.where.origin + x.where.path;
    if (too_large)
      return make_error(errc::frame_too_large,
                        where + ": the response body is over "
                          + std::to_string(opt_.max_body)
                          + " bytes (max-body)");
    if (!ok && err == httplib::Error::ConnectionTimeout)
      return make_error(errc::timeout, where + ": " + httplib::to_string(err));
    // cpp-httplib reports its read and write time-outs as `Read` and
    // `Write`: a failure that took the request's whole time is its
    // time-out (else it races the actor's own deadline, with another code).
    if (!ok && took >= x.timeout)
      return make_error(errc::timeout,
                        where + ": no response within "
                          + std::to_string(
                            std::chrono::duration_cast<
                              std::chrono::milliseconds>(x.timeout)
                              .count())
                          + " ms (" + httplib::to_string(err) + ")");
    if (!ok)
      return make_error(errc::io_error,
                        where + ": " + httplib::to_string(err));
    auto reply = json_message::trusted(dump(response_to_json(res, body)));
    give_back(x.where.origin, std::move(c));
    return reply;
  }

  client_options opt_;
  caf::actor_addr owner_;
  std::mutex mx_;
  std::condition_variable cv_;
  std::deque<job> queue_;
  std::vector<httplib::Client*> busy_;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class client : public metered_actor {
public:
  client(caf::actor_config& cfg, client_options opt)
      : metered_actor(cfg), opt_(std::move(opt)) {}

  caf::behavior make_behavior() override {
    pool_ = std::make_unique<pool>(opt_, address());
    return {
      [this](json_message& m) -> caf::result<json_message> {
        auto x = parse_request(m, opt_);
        if (!x) {
          ++errors_;
          return std::move(x.error());
        }
        auto id = next_id_++;
        x->id = id;
        auto timeout = x->timeout;
        auto rp = make_response_promise<json_message>();
        pending_.emplace(id, rp);
        pool_->submit(std::move(*x));
        // Answered at the deadline even if the worker is still at it (a
        // read that trickles resets cpp-httplib's own timeout).
        delayed_send(this, timeout, expire_atom::value, id, timeout);
        return rp;
      },
      [this](done_atom, uint64_t id, json_message& response) {
        if (auto rp = take(id)) {
          ++ok_;
          rp->deliver(std::move(response));
        }
      },
      [this](done_atom, uint64_t id, caf::error& err) {
        if (auto rp = take(id)) {
          ++errors_;
          rp->deliver(std::move(err));
        }
      },
      [this](expire_atom, uint64_t id, caf::timespan timeout) {
        auto rp = take(id);
        if (!rp)
          return;
        ++errors_;
        rp->deliver(make_error(
          errc::timeout,
          opt_.name + ": no response within "
            + std::to_string(
              std::chrono::duration_cast<std::chrono::milliseconds>(timeout)
                .count())
            + " ms"));
      },
      [this](status_atom) {
        return status_reply(
          this, "http-client",
          {{"base_url", dump(opt_.base_url)},
           {"threads", std::to_string(opt_.threads)},
           {"in_flight", std::to_string(pending_.size())},
           {"idle_connections", std::to_string(pool_->idle_connections())},
           {"ok", std::to_string(ok_)},
           {"errors", std::to_string(errors_)}});
      },
    };
  }

  void on_exit() override {
    // Joins the threads once their requests are cut short.
    pool_.reset();
    for (auto& kvp : pending_)
      kvp.second.deliver(
        make_error(errc::not_running, opt_.name + " is stopping"));
    pending_.clear();
  }

private:
  // The promise of request `id`, if it is still due.
  std::optional<caf::response_promise> take(uint64_t id) {
    auto i = pending_.find(id);
    if (i == pending_.end())
      return std::nullopt; // answered already (the deadline, or the worker)
    auto rp = std::move(i->second);
    pending_.erase(i);
    return rp;
  }

  client_options opt_;
  std::unique_ptr<pool> pool_;
  std::unordered_map<uint64_t, caf::response_promise> pending_;
  uint64_t next_id_ = 0;
  uint64_t ok_ = 0;
  uint64_t errors_ = 0;
};

caf::expected<client_options> read_options(const caf::settings& args,
                                           const std::string& name,
                                           caf::timespan default_timeout) {
  client_options o;
  o.name = name;
  o.timeout = default_timeout;
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, name + ": " + why);
  };
  o.base_url = caf::get_or(args, "base-url", std::string{});
  if (!o.base_url.empty()) {
    auto t = split_url(o.base_url);
    if (!t)
      return bad(reason_of(t.error()));
    while (!o.base_url.empty() && o.base_url.back() == '/')
      o.base_url.pop_back();
  }
  auto threads = caf::get_or(args, "threads", int64_t{4});
  if (threads < 1 || threads > 256)
    return bad("threads must be 1 to 256");
  o.threads = static_cast<size_t>(threads);
  auto idle = caf::get_or(args, "max-idle-per-host", int64_t{4});
  if (idle < 0)
    return bad("max-idle-per-host must be 0 or more");
  o.max_idle_per_host = static_cast<size_t>(idle);
  o.timeout = caf::get_or(args, "timeout", o.timeout);
  o.connect_timeout = caf::get_or(args, "connect-timeout", o.connect_timeout);
  if (o.timeout.count() <= 0 || o.connect_timeout.count() <= 0)
    return bad("timeout and connect-timeout must be above 0");
  auto max_body = caf::get_or(args, "max-body", int64_t{16 << 20});
  if (max_body < 1)
    return bad("max-body must be at least 1");
  o.max_body = static_cast<size_t>(max_body);
  o.ca_file = caf::get_or(args, "ca-file", std::string{});
  o.insecure = caf::get_or(args, "insecure", false);
  return o;
}

} // namespace

kind_spec http_client_kind() {
  kind_spec result;
  result.name = "http-client";
  result.doc = "HTTP(S) requests as messages: {method, url, headers, body, "
               "timeout} -> {status, headers, body}";
  result.section = kind_section::bridges;
  result.keys = {
    {"base-url", value_type::string, false,
     "joined with request urls that start with '/' "
     "(http://HOST:PORT[/PREFIX])"},
    {"threads",
     value_type::integer,
     false,
     "requests in flight at once, each on a thread of its own (default 4)",
     {},
     1},
    {"max-idle-per-host",
     value_type::integer,
     false,
     "connections kept alive per host for the next request (default 4)",
     {},
     0},
    {"timeout", value_type::timespan, false,
     "a request's deadline unless it names one (default: [node] "
     "request-timeout)"},
    {"connect-timeout", value_type::timespan, false,
     "how long a connection may take to open (default 5s)"},
    {"max-body",
     value_type::integer,
     false,
     "the largest response body taken, in bytes (default 16 MiB)",
     {},
     1},
    {"ca-file", value_type::string, false,
     "PEM certificates that https servers are checked against (default: the "
     "system's store)"},
    {"insecure", value_type::boolean, false,
     "https without checking the server's certificate (tests only)"},
  };
  result.check = [](const std::string& name,
                    const caf::settings& args) -> caf::error {
    auto o = read_options(args, name, std::chrono::seconds(5));
    return o ? caf::error{} : std::move(o.error());
  };
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto o = read_options(ctx.args, ctx.name, ctx.node.request_timeout());
    if (!o)
      return std::move(o.error());
    return ctx.node.system().spawn<client>(std::move(*o));
  };
  return result;
}

} // namespace switchboard::bridges::http

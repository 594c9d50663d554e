// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/redis/link.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <hiredis/hiredis.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include <arpa/inet.h>

#include <netdb.h>

#include <switchboard/channel.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/sockets.hpp>

#include "switchboard/bridges/redis/reply.hpp"

namespace switchboard::bridges::redis {

namespace {

using clock = std::chrono::steady_clock;

int64_t ms_since(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t)
    .count();
}

uint64_t to_ms(caf::timespan t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
  return ms > 0 ? static_cast<uint64_t>(ms) : 0;
}

void append_length(std::string& out, char tag, size_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
  out += tag;
  out.append(buf, end);
  out += "\r\n";
}

template<class Range>
std::string encode_range(const Range& args, size_t count) {
  size_t size = 16;
  for (auto& a : args)
    size += a.size() + 16;
  std::string out;
  out.reserve(size);
  append_length(out, '*', count);
  for (auto& a : args) {
    append_length(out, '$', a.size());
    out.append(a.data(), a.size());
    out += "\r\n";
  }
  return out;
}

// A pub/sub delivery: ["message", channel, payload] or ["pmessage",
// pattern, channel, payload]. Everything else on a subscriber link answers
// a command (subscribe confirmations, PING's ["pong", ""]).
bool is_push(const redisReply& r) {
  if (r.type != REDIS_REPLY_ARRAY || r.elements < 3)
    return false;
  for (size_t i = 0; i < r.elements; ++i)
    if (r.element[i]->type != REDIS_REPLY_STRING)
      return false;
  std::string_view kind{r.element[0]->str, r.element[0]->len};
  return (kind == "message" && r.elements == 3)
         || (kind == "pmessage" && r.elements == 4);
}

} // namespace

std::string encode(std::initializer_list<std::string_view> args) {
  return encode_range(args, args.size());
}

std::string encode(const std::vector<std::string>& args) {
  return encode_range(args, args.size());
}

const char* type_name(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_STRING: return "string";
    case REDIS_REPLY_ARRAY: return "array";
    case REDIS_REPLY_INTEGER: return "integer";
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_STATUS: return "status";
    case REDIS_REPLY_ERROR: return "error";
    default: return "unknown";
  }
}

// -- construction ------------------------------------------------------------

link* link::start(uv_loop_s* loop, link_options opts, handler& h) {
  auto l = new link(loop, std::move(opts), h);
  l->connect();
  return l;
}

link::link(uv_loop_s* loop, link_options opts, handler& h)
    : loop_(loop), opt_(std::move(opts)), h_(h), tracker_(opt_.restart) {
  down_since_ = clock::now();
  auto init = [this](uv_timer_s*& t) {
    t = new uv_timer_t;
    uv_timer_init(loop_, t);
    t->data = this;
    ++open_handles_;
  };
  init(watchdog_);
  init(backoff_);
  if (opt_.tls) {
    auto ctx = SSL_CTX_new(TLS_client_method());
    tls_ctx_ = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    bool ok =
      opt_.ca_file.empty()
        ? SSL_CTX_set_default_verify_paths(ctx) == 1
        : SSL_CTX_load_verify_locations(ctx, opt_.ca_file.c_str(), nullptr)
            == 1;
    if (!ok)
      tls_ctx_error_ = tls_error("cannot load the CA certificates");
    else if (!opt_.cert_file.empty()
             && (SSL_CTX_use_certificate_chain_file(ctx, opt_.cert_file.c_str())
                   != 1
                 || SSL_CTX_use_PrivateKey_file(ctx, opt_.key_file.c_str(),
                                                SSL_FILETYPE_PEM)
                      != 1))
      tls_ctx_error_ = tls_error("cannot load the client certificate");
  }
  // Eight looks per deadline: a silent Redis is found within about
  // down-after, and an idle link sends at most two PINGs per down-after.
  auto every = std::max<uint64_t>(10, to_ms(opt_.down_after) / 8);
  uv_timer_start(
    watchdog_,
    [](uv_timer_t* t) {
      auto self = static_cast<link*>(t->data);
      ++self->depth_;
      self->tick();
      self->leave();
    },
    every, every);
}

link::~link() {
  if (reader_ != nullptr)
    redisReaderFree(reader_);
  if (ssl_ != nullptr)
    SSL_free(ssl_);
  if (tls_ctx_ != nullptr)
    SSL_CTX_free(tls_ctx_);
}

uint64_t link::now() const {
  return uv_now(loop_);
}

const char* link::state_name() const noexcept {
  switch (state_) {
    case state::connecting:
    case state::handshake: return "connecting";
    case state::up: return "up";
    case state::waiting: return "restarting";
    case state::gave_up: return "gave-up";
    default: return "closed";
  }
}

// -- connecting --------------------------------------------------------------

void link::connect() {
  state_ = state::connecting;
  phase_since_ = now();
  guard_ = std::make_shared<guard>(guard{this});
  if (opt_.address.find('/') != std::string::npos) {
    auto fd = connect_unix(opt_.address);
    if (!fd) {
      lost(render(fd.error()));
      return;
    }
    ch_ = channel::open(loop_, *fd, framing::raw, 0, callbacks());
    if (ch_ == nullptr) {
      lost("cannot open the socket");
      return;
    }
    connected();
    return;
  }
  if (auto addr = parse_tcp_address(opt_.address)) {
    open(reinterpret_cast<const sockaddr*>(&*addr));
    return;
  }
  // A host name: resolved on libuv's thread pool, never on the loop.
  auto where = parse_host_port(opt_.address);
  if (opt_.address.find(':') == std::string::npos || !where) {
    lost("the address " + opt_.address + " is neither HOST:PORT nor a path");
    return;
  }
  auto g = guard_;
  resolve_tcp(loop_, where->host, where->port,
              [g](caf::expected<std::vector<sockaddr_storage>> found) {
                auto self = g->self;
                if (self == nullptr)
                  return;
                ++self->depth_;
                if (found)
                  self->open(
                    reinterpret_cast<const sockaddr*>(&found->front()));
                else
                  self->lost(reason_of(found.error()));
                self->leave();
              });
}

channel_callbacks link::callbacks() {
  auto g = guard_;
  channel_callbacks cb;
  cb.on_frame = [g](std::string bytes) {
    if (auto self = g->self) {
      ++self->depth_;
      self->on_bytes(bytes);
      self->leave();
    }
  };
  cb.on_error = [g](caf::error e) {
    if (auto self = g->self) {
      ++self->depth_;
      self->lost(render(e));
      self->leave();
    }
  };
  cb.on_eof = [g] {
    if (auto self = g->self) {
      ++self->depth_;
      self->lost("Redis closed the connection");
      self->leave();
    }
  };
  cb.on_write_error = cb.on_error;
  return cb;
}

void link::open(const sockaddr* addr) {
  auto g = guard_;
  ch_ = channel::connect(loop_, addr, framing::raw, 0, callbacks(),
                         [g](caf::error err) {
                           auto self = g->self;
                           if (self == nullptr)
                             return;
                           ++self->depth_;
                           if (err) {
                             self->ch_ = nullptr; // closes itself
                             self->lost(render(err));
                           } else {
                             self->connected();
                           }
                           self->leave();
                         });
}

void link::connected() {
  state_ = state::handshake;
  phase_since_ = now();
  last_read_ = last_write_ = now();
  reader_ = redisReaderCreate();
  if (opt_.tls) {
    if (start_tls())
      tls_out(); // the ClientHello; handshake() once TLS is up
    return;
  }
  handshake();
}

// -- TLS ---------------------------------------------------------------------

std::string link::tls_error(const char* what) {
  std::string out = what;
  if (auto code = ERR_get_error(); code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

bool link::start_tls() {
  if (!tls_ctx_error_.empty()) {
    lost(tls_ctx_error_);
    return false;
  }
  ssl_ = SSL_new(tls_ctx_);
  SSL_set_bio(ssl_, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  SSL_set_connect_state(ssl_);
  auto name = opt_.server_name;
  if (name.empty() && opt_.address.find('/') == std::string::npos) {
    name = opt_.address.substr(0, opt_.address.rfind(':'));
    if (!name.empty() && name.front() == '[')
      name = name.substr(1, name.size() - 2);
  }
  if (name.empty())
    name = "localhost";
  in6_addr ip;
  bool numeric = inet_pton(AF_INET, name.c_str(), &ip) == 1
                 || inet_pton(AF_INET6, name.c_str(), &ip) == 1;
  if (numeric) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, name.c_str());
    SSL_set1_host(ssl_, name.c_str());
  }
  SSL_do_handshake(ssl_);
  return true;
}

// Decrypts what came; false once the connection is lost.
bool link::tls_in(std::string_view bytes) {
  BIO_write(SSL_get_rbio(ssl_), bytes.data(), static_cast<int>(bytes.size()));
  if (!tls_ready_) {
    auto rc = SSL_do_handshake(ssl_);
    tls_out();
    if (rc != 1) {
      if (SSL_get_error(ssl_, rc) == SSL_ERROR_WANT_READ)
        return true;
      std::string why = tls_error("TLS handshake failed");
      if (auto v = SSL_get_verify_result(ssl_); v != X509_V_OK)
        why += std::string{" ("} + X509_verify_cert_error_string(v) + ")";
      lost(why);
      return false;
    }
    tls_ready_ = true;
    handshake();
    if (state_ != state::handshake)
      return false;
  }
  char buf[16384];
  for (;;) {
    auto n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) {
      if (redisReaderFeed(reader_, buf, static_cast<size_t>(n)) != REDIS_OK) {
        lost("cannot buffer Redis's reply");
        return false;
      }
      continue;
    }
    auto err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ)
      break;
    lost(err == SSL_ERROR_ZERO_RETURN ? std::string{"Redis closed the TLS "
                                                    "session"}
                                      : tls_error("TLS"));
    return false;
  }
  tls_out();
  return true;
}

// Sends what OpenSSL has written into its memory BIO.
void link::tls_out() {
  auto out = SSL_get_wbio(ssl_);
  char buf[16384];
  int n;
  while ((n = BIO_read(out, buf, sizeof(buf))) > 0)
    if (ch_ != nullptr)
      ch_->write({buf, static_cast<size_t>(n)});
}

// AUTH and SELECT before anything else; CLIENT SETNAME so that `CLIENT
// LIST` shows whose connection it is (a server without it is fine); PING
// to know it serves.
void link::handshake() {
  std::vector<std::pair<std::vector<std::string>, bool>> steps;
  if (!opt_.password.empty()) {
    if (opt_.user.empty())
      steps.push_back({{"AUTH", opt_.password}, true});
    else
      steps.push_back({{"AUTH", opt_.user, opt_.password}, true});
  }
  if (opt_.db != 0)
    steps.push_back({{"SELECT", std::to_string(opt_.db)}, true});
  std::string client_name = "switchboard:" + opt_.name + ":" + opt_.role;
  std::replace(client_name.begin(), client_name.end(), ' ', '-');
  steps.push_back({{"CLIENT", "SETNAME", client_name}, false});
  // A Redis still loading its data (after a restart with AOF) takes these
  // but answers PING with LOADING: not up yet, try again after a while.
  steps.push_back({{"PING"}, true});
  auto left = std::make_shared<size_t>(steps.size());
  for (auto& [args, must] : steps) {
    if (state_ != state::handshake)
      return; // a write failed: lost

    auto what = args.front();
    write(
      encode(args),
      [this, left, what, must = must](const redisReply* r, const caf::error&) {
        if (r == nullptr || state_ != state::handshake)
          return; // lost: already reported
        if (must && r->type == REDIS_REPLY_ERROR) {
          lost(what + " failed: " + std::string{r->str, r->len});
          return;
        }
        if (--*left > 0)
          return;
        state_ = state::up;
        up_since_ = clock::now();
        h_.on_up(ms_since(down_since_));
        if (state_ == state::up)
          flush_held();
      },
      1, 0);
  }
}

// -- commands ----------------------------------------------------------------

link::outcome link::command(const std::vector<std::string>& args, reply_fn fn,
                            size_t replies, caf::timespan extra) {
  return command_encoded(encode(args), std::move(fn), replies, extra);
}

link::outcome link::command_encoded(std::string wire, reply_fn fn,
                                    size_t replies, caf::timespan extra) {
  if (state_ == state::gave_up || state_ == state::closed)
    return outcome::gave_up;
  if (state_ == state::up && held_.empty()
      && pending_.size() < opt_.max_pending) {
    write(std::move(wire), std::move(fn), replies, to_ms(extra));
    return outcome::sent;
  }
  if (held_.size() >= opt_.max_held)
    return outcome::full;
  held_.push_back({std::move(wire), std::move(fn), replies, to_ms(extra)});
  return outcome::held;
}

void link::write(std::string wire, reply_fn fn, size_t replies,
                 uint64_t extra) {
  if (ch_ == nullptr) {
    if (fn)
      fn(nullptr,
         make_error(errc::no_channel, opt_.name + ": not connected to Redis"));
    return;
  }
  pending p;
  p.fn = std::move(fn);
  p.replies = std::max<size_t>(replies, 1);
  p.sent_at = now();
  p.extra_ms = extra;
  last_write_ = p.sent_at;
  pending_.push_back(std::move(p));
  if (ssl_ != nullptr) {
    SSL_write(ssl_, wire.data(), static_cast<int>(wire.size()));
    tls_out();
  } else {
    ch_->write(wire);
  }
}

void link::flush_held() {
  while (state_ == state::up && !held_.empty()
         && pending_.size() < opt_.max_pending) {
    auto h = std::move(held_.front());
    held_.pop_front();
    write(std::move(h.wire), std::move(h.fn), h.replies, h.extra_ms);
  }
}

// -- replies -----------------------------------------------------------------

void link::on_bytes(std::string_view bytes) {
  last_read_ = now();
  if (ssl_ != nullptr) {
    if (!tls_in(bytes))
      return;
  } else if (redisReaderFeed(reader_, bytes.data(), bytes.size()) != REDIS_OK) {
    lost("cannot buffer Redis's reply");
    return;
  }
  parse();
}

void link::parse() {
  auto self_reader = reader_;
  // Bytes fed but not yet parsed: what a reply took is the difference.
  auto unparsed = [this] { return reader_->len - reader_->pos; };
  auto before = unparsed();
  for (;;) {
    void* r = nullptr;
    if (redisReaderGetReply(self_reader, &r) != REDIS_OK) {
      lost(std::string{"Redis sent bytes that are not RESP: "}
           + self_reader->errstr);
      return;
    }
    if (r == nullptr)
      break;
    auto reply = static_cast<redisReply*>(r);
    auto after = unparsed();
    dispatch(reply, before - after);
    freeReplyObject(reply);
    // A callback may have closed the link or lost the connection (the
    // reader is gone then).
    if (reader_ != self_reader)
      return;
    before = after;
  }
  // A reply that is still coming and already too large: the only way to
  // skip it is to drop the connection.
  if (unparsed() > opt_.max_frame) {
    lost("a reply over max-frame (" + std::to_string(opt_.max_frame)
         + " bytes) began");
    return;
  }
  flush_held();
}

void link::dispatch(redisReply* reply, size_t size) {
  bool too_large = size > opt_.max_frame;
  auto oversize = [&] {
    return make_error(errc::frame_too_large,
                      opt_.name + ": a reply of " + std::to_string(size)
                        + " bytes, over max-frame ("
                        + std::to_string(opt_.max_frame) + ")");
  };
  if (opt_.subscriber && is_push(*reply)) {
    if (too_large)
      h_.on_error(reason_of(oversize()) + ", dropped");
    else
      h_.on_push(*reply);
    return;
  }
  if (pending_.empty()) {
    // What a server says before it closes (max clients, loading).
    lost(reply->type == REDIS_REPLY_ERROR
           ? std::string{reply->str, reply->len}
           : std::string{"Redis sent a reply nobody asked for ("}
               + type_name(*reply) + ")");
    return;
  }
  // An error ends a command however many replies it would have had
  // (Redis refuses a SUBSCRIBE of three channels with one error).
  auto& front = pending_.front();
  bool last = --front.replies == 0 || reply->type == REDIS_REPLY_ERROR;
  if (!last)
    return;
  auto fn = std::move(front.fn);
  pending_.pop_front();
  if (!fn)
    return;
  if (too_large)
    fn(nullptr, oversize());
  else
    fn(reply, caf::error{});
}

// -- failures ----------------------------------------------------------------

void link::tick() {
  auto t = now();
  auto limit = to_ms(opt_.down_after);
  // A loop that was busy elsewhere for long (a stalled thread, a
  // suspended process) has not read what may be waiting on the socket
  // yet: timers run before I/O. Judge on the next tick.
  auto every = std::max<uint64_t>(10, limit / 8);
  bool stalled = last_tick_ != 0 && t - last_tick_ > 3 * every;
  last_tick_ = t;
  if (stalled)
    return;
  switch (state_) {
    case state::connecting:
    case state::handshake:
      if (t - phase_since_ > limit)
        lost("no connection within down-after (" + std::to_string(limit)
             + " ms)");
      return;
    case state::up:
      // A command has down-after for its reply (a blocking read more);
      // an idle connection sends a PING after a quarter of it.
      if (!pending_.empty()) {
        auto& front = pending_.front();
        auto since = std::max(front.sent_at, last_read_);
        if (t - since > limit + front.extra_ms)
          lost("Redis did not answer within down-after ("
               + std::to_string(limit) + " ms)");
      } else if (t - std::max(last_read_, last_write_) >= limit / 4) {
        write(encode({"PING"}), nullptr, 1, 0);
      }
      return;
    default: return;
  }
}

void link::lost(const std::string& reason) {
  if (state_ != state::connecting && state_ != state::handshake
      && state_ != state::up)
    return;
  bool was_up = state_ == state::up;
  state_ = state::waiting; // before callbacks run: nothing is written now
  drop_connection();
  fail_pending(make_error(errc::no_channel,
                          opt_.name + ": the connection to Redis was lost ("
                            + reason + ") before it answered"));
  if (state_ == state::closed)
    return;
  if (was_up) {
    down_since_ = clock::now();
    h_.on_down(reason);
    if (state_ == state::closed)
      return;
  }
  auto uptime = was_up ? clock::now() - up_since_ : clock::duration{0};
  auto d = tracker_.next(
    true, std::chrono::duration_cast<caf::timespan>(uptime), reason);
  if (d.action == restart_decision::restart) {
    // Why, too: a link that never came up has no `down` event to say it
    // (a refused password, a certificate that does not verify).
    auto ev = d.event();
    ev.insert(1, "\"reason\":" + quote(reason) + ",");
    h_.on_event(std::move(ev));
    if (state_ != state::waiting)
      return;
    uv_timer_start(
      backoff_,
      [](uv_timer_t* t) {
        auto self = static_cast<link*>(t->data);
        ++self->depth_;
        if (self->state_ == state::waiting)
          self->connect();
        self->leave();
      },
      to_ms(d.delay), 0);
    return;
  }
  state_ = state::gave_up;
  if (d.action == restart_decision::give_up)
    h_.on_event(d.event());
  else
    h_.on_event(R"({"event":"gave-up","reason":"restart = never"})");
  fail_held(make_error(errc::no_channel, opt_.name + " gave up connecting to "
                                           + opt_.address + " (" + reason
                                           + ")"));
}

void link::drop_connection() {
  if (guard_) {
    guard_->self = nullptr;
    guard_ = nullptr;
  }
  if (ch_ != nullptr) {
    ch_->close();
    ch_ = nullptr;
  }
  if (reader_ != nullptr) {
    redisReaderFree(reader_);
    reader_ = nullptr;
  }
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  tls_ready_ = false;
}

void link::fail_pending(const caf::error& why) {
  auto failing = std::move(pending_);
  pending_.clear();
  for (auto& p : failing)
    if (p.fn)
      p.fn(nullptr, why);
}

void link::fail_held(const caf::error& why) {
  auto failing = std::move(held_);
  held_.clear();
  for (auto& h : failing)
    if (h.fn)
      h.fn(nullptr, why);
}

void link::close(const std::string& why) {
  if (state_ == state::closed)
    return;
  state_ = state::closed;
  drop_connection();
  ++depth_;
  auto err = make_error(errc::not_running, why);
  fail_pending(err);
  fail_held(err);
  for (auto t : {watchdog_, backoff_})
    uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
      auto self = static_cast<link*>(h->data);
      delete reinterpret_cast<uv_timer_t*>(h);
      --self->open_handles_;
      self->maybe_delete();
    });
  leave();
}

void link::leave() {
  --depth_;
  maybe_delete();
}

void link::maybe_delete() {
  if (state_ == state::closed && depth_ == 0 && open_handles_ == 0)
    delete this;
}

} // namespace switchboard::bridges::redis

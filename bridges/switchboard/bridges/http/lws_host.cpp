// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/http/lws_host.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <mutex>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <switchboard/errc.hpp>
#include <switchboard/io_loop.hpp>
#include <switchboard/log.hpp>

namespace switchboard::bridges::http {

void route_lws_log() {
  static std::once_flag once;
  std::call_once(once, [] {
    lws_set_log_level(LLL_ERR | LLL_WARN, [](int level, const char* line) {
      // lws ends its lines with a newline.
      std::string_view text{line};
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.remove_suffix(1);
      log_anywhere(level == LLL_ERR ? log_level::error : log_level::warn, {},
                   std::string{"libwebsockets: "}.append(text));
    });
  });
}

lws_host::lws_host(io_loop& loop, lws_host_config cfg)
    : loop_(loop), cfg_(std::move(cfg)) {}

lws_host::~lws_host() {
  // `destroy` is the way out once the context exists.
  if (poll_ == nullptr && cfg_.listen_fd >= 0)
    ::close(cfg_.listen_fd);
}

caf::expected<std::unique_ptr<lws_host>> lws_host::create(io_loop& loop,
                                                          lws_host_config cfg) {
  route_lws_log();
  std::unique_ptr<lws_host> host{new lws_host(loop, std::move(cfg))};
  caf::error err;
  if (loop.in_loop_thread()) {
    err = host->init();
  } else {
    std::promise<caf::error> made;
    auto result = made.get_future();
    if (!loop.post([&] { made.set_value(host->init()); }))
      return make_error(errc::not_running, "the io loop is not running");
    err = result.get();
  }
  if (err) {
    if (host->ctx_ != nullptr) {
      // Built on the loop, so torn down there too.
      auto h = host.release();
      loop.post([h] { destroy(std::unique_ptr<lws_host>{h}); });
    }
    return err;
  }
  return host;
}

caf::error lws_host::init() {
  void* loops[1] = {loop_.native()};
  lws_context_creation_info ci;
  std::memset(&ci, 0, sizeof(ci));
  ci.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS
               | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT
               | LWS_SERVER_OPTION_VALIDATE_UTF8;
  ci.foreign_loops = loops;
  ci.port = CONTEXT_PORT_NO_LISTEN;
  ci.pcontext = &ctx_alive_;
  ci.user = cfg_.user.get();
  ctx_ = lws_create_context(&ci);
  if (ctx_ == nullptr)
    return make_error(errc::io_error, cfg_.name
                                        + ": libwebsockets could not start (is "
                                          "libwebsockets-evlib-uv installed?)");
  ctx_alive_ = ctx_;
  lws_context_creation_info vi;
  std::memset(&vi, 0, sizeof(vi));
  vi.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT
               | LWS_SERVER_OPTION_VALIDATE_UTF8;
  vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  vi.vhost_name = cfg_.name.c_str();
  vi.protocols = cfg_.protocols.data();
  vi.keepalive_timeout = cfg_.keepalive_timeout;
  if (cfg_.set_retry)
    vi.retry_and_idle_policy = &cfg_.retry;
  vi.extensions = cfg_.extensions;
  vi.timeout_secs = 10;
  // No HTTP/2: keep-alive HTTP/1.1 is what the bridge serves.
  vi.alpn = "http/1.1";
  if (!cfg_.client_ca_file.empty())
    vi.client_ssl_ca_filepath = cfg_.client_ca_file.c_str();
  if (!cfg_.cert_file.empty()) {
    vi.ssl_cert_filepath = cfg_.cert_file.c_str();
    vi.ssl_private_key_filepath = cfg_.key_file.c_str();
  }
  vh_ = lws_create_vhost(ctx_, &vi);
  if (vh_ == nullptr)
    return make_error(errc::io_error,
                      cfg_.name
                        + (cfg_.cert_file.empty()
                             ? std::string{": libwebsockets could not create "
                                           "its server"}
                             : ": the certificate or key did not load ("
                                 + cfg_.cert_file + ", " + cfg_.key_file
                                 + ")"));
  return {};
}

void lws_host::start() {
  poll_ = new uv_poll_t;
  uv_poll_init(loop_.native(), poll_, cfg_.listen_fd);
  poll_->data = this;
  start_polling();
}

void lws_host::start_polling() {
  uv_poll_start(poll_, UV_READABLE, [](uv_poll_t* p, int status, int) {
    if (status == 0 && p->data != nullptr)
      static_cast<lws_host*>(p->data)->on_readable();
  });
}

void lws_host::on_readable() {
  // A bounded batch per wake-up, so one busy listener cannot starve the
  // loop.
  for (int i = 0; i < 64; ++i) {
    int fd =
      ::accept4(cfg_.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
          && errno != ECONNABORTED)
        log_anywhere(log_level::warn, cfg_.name,
                     std::string{"accept: "} + std::strerror(errno));
      return;
    }
    if (cfg_.admit && !cfg_.admit(fd)) {
      ::close(fd);
      continue;
    }
    // lws closes the socket itself when it cannot take it.
    if (lws_adopt_socket_vhost(vh_, fd) == nullptr)
      log_anywhere(log_level::warn, cfg_.name,
                   "libwebsockets refused a connection");
  }
}

void lws_host::stop_listening() {
  if (pause_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(pause_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    pause_ = nullptr;
  }
  if (poll_ == nullptr)
    return;
  poll_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(poll_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  poll_ = nullptr;
  ::close(cfg_.listen_fd);
  cfg_.listen_fd = -1;
}

void lws_host::destroy(std::unique_ptr<lws_host> self,
                       std::function<void()> done) {
  auto host = self.release();
  host->stop_listening();
  host->done_ = std::move(done);
  if (host->ctx_ == nullptr) {
    auto fn = std::move(host->done_);
    delete host;
    if (fn)
      fn();
    return;
  }
  // The first call closes every connection and lws's own handles; their
  // close callbacks run on later turns. Calls after those free the
  // context, which lws reports by clearing `ctx_alive_`.
  host->loop_.hold();
  lws_context_destroy(host->ctx_);
  host->timer_ = new uv_timer_t;
  uv_timer_init(host->loop_.native(), host->timer_);
  host->timer_->data = host;
  uv_timer_start(
    host->timer_,
    [](uv_timer_t* t) {
      auto h = static_cast<lws_host*>(t->data);
      ++h->ticks_;
      if (h->ctx_alive_ != nullptr && h->ticks_ >= 3)
        lws_context_destroy(h->ctx_alive_);
      if (h->ctx_alive_ != nullptr && h->ticks_ < 400)
        return;
      if (h->ctx_alive_ != nullptr)
        log_anywhere(log_level::warn, h->cfg_.name,
                     "libwebsockets did not finish closing");
      uv_close(reinterpret_cast<uv_handle_t*>(t),
               [](uv_handle_t* x) { delete reinterpret_cast<uv_timer_t*>(x); });
      h->loop_.release();
      auto fn = std::move(h->done_);
      h->ctx_ = nullptr;
      delete h;
      if (fn)
        fn();
    },
    2, 2);
}

} // namespace switchboard::bridges::http

// switchboard: an embeddable C++ actor runtime. MIT License.

// A libwebsockets context with one vhost on the node's io loop, fed by a
// listening socket the bridge bound itself: what the `http` (and
// WebSocket) bridges serve from.
//
// The bridge binds on the thread that spawns it, so a bind error is the
// spawn's error; the host watches that socket, accepts, asks the bridge
// whether to take each connection (its connection limit) and hands it to
// lws. Teardown follows lws's foreign-loop rule: the context closes its
// handles, and only a second `lws_context_destroy`, once their close
// callbacks have run, frees it; the loop is held open until then.
//
// Loop thread only, except `create`, which may be called from anywhere and
// builds the context on the loop.

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <uv.h>
// After <uv.h>: its libuv helpers are guarded by libuv's macros.
#include <libwebsockets.h>

#include <caf/expected.hpp>

#include <switchboard/fwd.hpp>

namespace switchboard::bridges::http {

/// What a host is made of.
struct lws_host_config {
  /// The bridge's name, for the log.
  std::string name;
  /// A listening, non-blocking socket (the host owns it from `create`);
  /// -1 for a host of clients only (then `start` is not called).
  int listen_fd = -1;
  /// The vhost's protocols, ending with an entry whose name is null.
  /// `protocols[0]` gets every HTTP callback.
  std::vector<lws_protocols> protocols;
  /// Seconds an idle keep-alive connection stays open.
  int keepalive_timeout = 5;
  /// TLS: PEM certificate chain and private key, both or neither.
  std::string cert_file;
  std::string key_file;
  /// TLS clients: the CA bundle to verify servers with (empty: the
  /// system's).
  std::string client_ca_file;
  /// What `lws_context_user` returns in callbacks, kept alive as long as
  /// the context (which outlives its bridge when the bridge is killed).
  std::shared_ptr<void> user;
  /// Kept alive with the context too (what `protocols` names point into).
  std::shared_ptr<const void> keep;
  /// WebSocket keep-alive, when `set_retry`: a ping `secs_since_valid_ping`
  /// after the last pong, a close at `secs_since_valid_hangup`; both zero:
  /// none. Without `set_retry`, lws's default (5 minutes).
  bool set_retry = false;
  lws_retry_bo_t retry{};
  /// WebSocket extensions (permessage-deflate), or null.
  const lws_extension* extensions = nullptr;
  /// Asked for each accepted socket: false closes it unserved (the bridge
  /// has written its refusal).
  std::function<bool(int fd)> admit;
};

/// One lws context and vhost on the io loop.
class lws_host {
public:
  ~lws_host();

  lws_host(const lws_host&) = delete;
  lws_host& operator=(const lws_host&) = delete;

  /// Builds the context and vhost on `loop` (posting there and waiting when
  /// called from another thread). On failure the listening socket is
  /// closed and the error says why (a certificate that does not load,
  /// say).
  static caf::expected<std::unique_ptr<lws_host>> create(io_loop& loop,
                                                         lws_host_config cfg);

  /// Starts accepting.
  void start();

  /// Stops accepting and closes the listening socket; connections stay.
  void stop_listening();

  /// Closes every connection and frees the context over the next turns of
  /// the loop (holding it open meanwhile), then calls `done` and deletes
  /// the host. Safe to call on a host whose owner is gone.
  static void destroy(std::unique_ptr<lws_host> self,
                      std::function<void()> done = {});

  lws_context* context() const noexcept {
    return ctx_;
  }

  lws_vhost* vhost() const noexcept {
    return vh_;
  }

private:
  lws_host(io_loop& loop, lws_host_config cfg);

  caf::error init();

  void on_readable();

  void start_polling();

  io_loop& loop_;
  lws_host_config cfg_;
  lws_context* ctx_ = nullptr;
  // lws sets it to null once the context is freed.
  lws_context* ctx_alive_ = nullptr;
  lws_vhost* vh_ = nullptr;
  uv_poll_t* poll_ = nullptr;
  // Re-arms `poll_` after the process ran out of descriptors.
  uv_timer_t* pause_ = nullptr;
  // Teardown.
  uv_timer_t* timer_ = nullptr;
  int ticks_ = 0;
  std::function<void()> done_;
};

/// Sends lws's warnings and errors to stderr with a prefix (process-wide;
/// idempotent).
void route_lws_log();

} // namespace switchboard::bridges::http

// switchboard: an embeddable C++ actor runtime. MIT License.

// The dashboard's live side. An http (or websocket) bridge with
// `dashboard = true` serves the page's files under /dashboard/ and takes
// WebSocket connections at /dashboard/live; this is what talks to them.
//
// Once a second while a page is connected, it collects the node's status
// (as GET /status does, with every actor's counters) and sends each page a
// snapshot: the status, the topology's edges (from the config's wiring, and
// the messages counted per sender and receiver), the node's memory and CPU,
// and the log lines the page has not seen. A page sends
// {"type":"send","id":N,"to":ACTOR,"message":JSON} and gets
// {"type":"reply","id":N,"ok":true,"reply":JSON} or "ok":false with
// "error".
//
// Loop thread only: every callback runs inside the bridge's lws callbacks
// or its actor, which both run on the node's io loop.

#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <uv.h>
// After <uv.h>: its libuv helpers are guarded by libuv's macros.
#include <libwebsockets.h>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include <switchboard/fwd.hpp>

namespace switchboard::bridges::http {

struct dashboard_client;

/// The page files' directory: `configured` if not empty, else the first of
/// SHARE/switchboard/dashboard beside the running program
/// (`bin/../share/...`), the build tree's and the install prefix's. The
/// error names every place it looked.
caf::expected<std::string> find_dashboard_dir(const std::string& configured);

/// The WebSocket clients of /dashboard/live.
class dashboard_live {
public:
  /// `self` is the bridge's actor: it asks the node's actors for their
  /// status and sends the pages' messages.
  dashboard_live(node& owner, caf::event_based_actor* self,
                 caf::timespan timeout);

  ~dashboard_live();

  dashboard_live(const dashboard_live&) = delete;
  dashboard_live& operator=(const dashboard_live&) = delete;

  /// One WebSocket callback of a dashboard connection; `slot` is its state,
  /// made at LWS_CALLBACK_ESTABLISHED.
  int on_callback(lws* wsi, lws_callback_reasons reason,
                  dashboard_client*& slot, void* in, size_t len);

  /// The connection is gone (LWS_CALLBACK_WSI_DESTROY).
  void forget(dashboard_client*& slot);

  /// Pages connected now.
  size_t clients() const noexcept;

  /// A page's message larger than this closes it (1009).
  static constexpr size_t max_message = 64 * 1024;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace switchboard::bridges::http

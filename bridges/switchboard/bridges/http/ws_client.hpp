// switchboard: an embeddable C++ actor runtime. MIT License.

// The `websocket-client` kind: one WebSocket connection (ws:// or wss://)
// that the bridge keeps up under the restart policy, as the stream
// clients do. A message sent to the bridge goes to the server (held while
// the connection is down, up to max-held); a request is answered by the
// server's next message, in order; other messages from the server go to
// `to` (or a `room`).
//
// Usage (config):
// ~~~
// [bridges]
// feed = { kind = "websocket-client", url = "wss://example.org/feed",
//          to = "handler", events = "log", token = "s3cret" }
// ~~~

#pragma once

#include <switchboard/kinds.hpp>

namespace switchboard::bridges::http {

/// The `websocket-client` kind.
kind_spec websocket_client_kind();

} // namespace switchboard::bridges::http

// switchboard: an embeddable C++ actor runtime. MIT License.

// The `http` kind: Node's http.createServer as a bridge. Routes from the
// config send each request to an actor and turn its reply into the
// response; errors are JSON bodies with the usual status codes. It serves
// on the node's io loop through libwebsockets, so a thousand idle
// keep-alive clients cost memory, not threads.
//
// Usage (config):
// ~~~
// [bridges]
// api = { kind = "http", listen = "127.0.0.1:8080",
//         routes = [{ method = "POST", path = "/calculate", to = "calc" },
//                   { method = "GET", path = "/users/:id", to = "users",
//                     deliver = "request" }],
//         static = "www", cors = ["*"] }
// ~~~

#pragma once

#include <switchboard/kinds.hpp>

namespace switchboard::bridges::http {

/// The `http` kind.
kind_spec http_server_kind();

/// The `websocket` kind: the `http` kind plus WebSocket upgrades
/// (websocket.hpp).
kind_spec websocket_kind();

} // namespace switchboard::bridges::http

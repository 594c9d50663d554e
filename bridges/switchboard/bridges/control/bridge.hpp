// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include <switchboard/fwd.hpp>

namespace switchboard::bridges::control {

/// Starts the node's control endpoint: a Unix socket (mode 0600, in a 0700
/// directory when the default path is used) that `switchboard send` and
/// `switchboard status` and `switchboard ctl` talk to, one JSON object per
/// line each way.
///
/// Requests and replies:
/// ~~~
/// {"op":"send","to":"echo","message":{"a":1}}  -> {"ok":true,"reply":{"a":1}}
/// {"op":"status"}                      ->
/// {"ok":true,"node":"main","actors":[...]}
/// {"op":"status","address":"echo"}     -> the same for one actor
/// {"op":"command","to":"job","command":"restart"} -> {"ok":true}
/// {"op":"command","to":"job","command":"signal","signal":"SIGHUP"}
/// anything else                        -> {"ok":false,"error":"..."}
/// ~~~
/// A request may carry `"id"` (echoed back) and `"timeout_ms"`. The bridge
/// runs on the io loop and registers itself as `control` in the node (a
/// bridge), so the node stops it first on shutdown. Blocks until the socket
/// listens; call it from any thread but the loop's.
/// @returns the bridge, or `errc::io_error` naming the path and OS error.
caf::expected<caf::actor> start(node& n, const std::string& path);

} // namespace switchboard::bridges::control

// switchboard: an embeddable C++ actor runtime. MIT License.

// The other direction of Node's IPC channel: a switchboard node started by
// a parent that opened one (a Node parent's `fork`, or `spawn` with
// 'ipc' in stdio; a switchboard node's child-process with ipc = "json").
//
// The `parent` bridge kind takes the channel named by NODE_CHANNEL_FD. A
// message the parent sends (`child.send(msg)` in Node) becomes a request to
// the actor named by `to`; its reply goes back to the parent (an error as
// {"error": "..."}). A JSON message sent to the bridge goes to the parent
// (`child.on('message')`). When the parent closes the channel, the node
// stops (unless `stop-on-disconnect = false`). Without a channel (the node
// was not started that way) the bridge says so in the log and refuses
// messages with `no_channel`.
//
// A parent node whose child-process has ipc = "binary" names the channel
// with SWITCHBOARD_CHANNEL_FD instead: then messages of any registered
// types cross, CAF-serialized (binary_link.hpp). The parent's messages go
// to `to` as they are (requests as requests), and whatever is sent to the
// bridge goes to the parent as it is, a request's reply included.
//
// `switchboard run` says "ready" to the parent (the JSON string, on a json
// channel) once the node has started and its control socket is open: what
// a parent's child-process with `ready = "message"` waits for, and PM2's
// `wait_ready`. An embedding service calls `announce_ready` itself.
//
// Usage:
// ~~~
// [bridges]
// parent = { kind = "parent", to = "api" }
// ~~~

#pragma once

#include <caf/atom.hpp>

#include <switchboard/fwd.hpp>
#include <switchboard/kinds.hpp>

namespace switchboard::bridges {

/// Tells a `parent` bridge to say "ready" to the parent.
using ready_atom = caf::atom_constant<caf::atom("ready")>;

/// The `parent` kind.
kind_spec parent_kind();

/// Has every `parent` bridge of `n` say "ready" to its parent (a json
/// channel: the line `"ready"`; a binary channel has no such signal).
void announce_ready(node& n);

} // namespace switchboard::bridges

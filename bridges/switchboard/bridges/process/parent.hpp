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
// Usage:
// ~~~
// [bridges]
// parent = { kind = "parent", to = "api" }
// ~~~

#pragma once

#include <switchboard/kinds.hpp>

namespace switchboard::bridges {

/// The `parent` kind.
kind_spec parent_kind();

} // namespace switchboard::bridges

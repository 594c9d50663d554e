// switchboard: an embeddable C++ actor runtime. MIT License.

// The Redis bridges.
//
// `redis`: pub/sub channels and commands. Messages on the channels it
// subscribes to go to `to` (or a `room`); a message sent to it is a PUBLISH
// ({channel, payload}, or anything with `publish = CHANNEL`) or a command
// ({args: ["HSET", ...]}), answered with Redis's reply as JSON.
//
// `redis-stream`: a Redis stream as a queue that loses nothing. A message
// sent to it is XADDed (the reply is the entry id); with `to`, it consumes
// the stream as a member of a consumer group, sends each entry to `to` as
// a request and XACKs it once `to` answers without an error.
//
// Usage (config):
// ~~~
// [bridges]
// news = { kind = "redis", address = "127.0.0.1:6379",
//          subscribe = ["news"], to = "printer", publish = "news" }
// jobs = { kind = "redis-stream", stream = "jobs", group = "workers",
//          to = "pool" }
// ~~~

#pragma once

#include <switchboard/kinds.hpp>

namespace switchboard::bridges::redis {

/// The `redis` kind.
kind_spec redis_kind();

/// The `redis-stream` kind.
kind_spec redis_stream_kind();

} // namespace switchboard::bridges::redis

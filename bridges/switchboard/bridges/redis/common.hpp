// switchboard: an embeddable C++ actor runtime. MIT License.

// What the `redis` and `redis-stream` bridges share on top of their links:
// events, a link's status, and forwarding an actor's message to Redis as a
// command whose reply answers it.

#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>
#include <caf/result.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/json_message.hpp>

#include "switchboard/bridges/redis/link.hpp"

namespace switchboard {
class node;
} // namespace switchboard

namespace switchboard::bridges::redis {

/// `j` as text; bytes that are not UTF-8 become U+FFFD.
std::string dump(const nlohmann::json& j);

/// Where one bridge's events go: its `events` actor, or the node's log.
class reporter {
public:
  reporter(switchboard::node& owner, std::string bridge, std::string events);

  /// Sends `ev` with `"bridge"` added.
  void operator()(nlohmann::json ev);

private:
  switchboard::node& node_;
  std::string bridge_;
  std::string events_;
  caf::actor cache_;
};

/// A link's handler that reports `up`, `down`, `restarting` and `gave-up`
/// (each naming the link's `role`) and calls the bridge's hooks.
class link_reporter : public link::handler {
public:
  link_reporter(reporter& report, const char* role)
      : report_(report), role_(role) {}

  /// Runs after the `up` event.
  std::function<void()> on_ready;
  /// Runs before the `down` event.
  std::function<void()> on_lost;
  /// Pub/sub messages.
  std::function<void(const redisReply&)> on_message;
  /// Counts errors the link reports.
  uint64_t* errors = nullptr;

  void on_up(int64_t down_ms) override;
  void on_down(const std::string& reason) override;
  void on_event(std::string json_text) override;
  void on_push(const redisReply& r) override;
  void on_error(const std::string& reason) override;

private:
  reporter& report_;
  const char* role_;
};

/// A link's status object (state, in_flight, held, restarts), or `null`.
std::string link_status(const link* l);

/// Sends `wire` (one command, `verb` its name) on `l` for the message
/// `self` is handling. A request is answered with Redis's reply as JSON (an
/// error reply: `remote_error`; the connection lost: `no_channel`; over
/// max-held: `queue_full`). For a one-way message, `failed` gets the reason
/// of a failure instead, so that it is reported. `answered` counts the
/// replies that are not errors.
caf::result<json_message> forward(caf::event_based_actor* self, link& l,
                                  std::string wire, uint64_t* answered,
                                  std::function<void(std::string)> failed);

} // namespace switchboard::bridges::redis

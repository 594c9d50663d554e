// switchboard: an embeddable C++ actor runtime. MIT License.

// The binary IPC channel between two switchboard nodes (ipc = "binary"):
// typed actor messages, CAF-serialized, one per length-prefixed frame. It
// is the fast path between a node and a child built on switchboard: no JSON
// on either side, and requests carry ids, so replies may come in any order.
//
// A frame's payload is a kind byte (send, request, reply, connection), a
// u64 id (big-endian: a request's, echoed by its reply; 0 otherwise) and
// then the message in CAF's binary format. An error reply is a reply that
// holds one caf::error. A connection frame carries a socket (SCM_RIGHTS, on
// its first byte) and the message (bridge, peer): a connection the parent
// hands to the child to serve. Each end of the channel has a link: the
// `child-process` actor (ipc = "binary") in the parent, the `parent` bridge in
// the child.
//
// Every element of a message must have a type that both nodes registered
// (`add_message_type`); CAF's builtins (numbers, strings, vectors, atoms,
// errors) and json_message are. A message that cannot be encoded is an
// error to its sender; one that cannot be decoded is an error reply (for a
// request) or a line in the log, and the channel goes on.
//
// Usage (inside the owning actor, on its thread):
// ~~~
// binary_link link{self, "job", max_frame, timeout, {target, log}};
// link.attach(ch);                          // a length_prefixed channel
// auto out = link.prepare(msg, is_request); // an actor's message ...
// link.write(std::move(*out));              // ... goes to the other side
// link.on_frame(frame);                     // a frame from the other side
// link.detach(err);                         // waiting requests get `err`
// ~~~

#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/response_promise.hpp>
#include <caf/timespan.hpp>

namespace switchboard {
class channel;
} // namespace switchboard

namespace switchboard::bridges {

/// The first byte of a binary frame.
enum class link_kind : uint8_t {
  send = 0,
  request = 1,
  reply = 2,
  connection = 3,
};

/// A message encoded for the other side, with the promise its reply
/// fulfils (requests only).
struct outbound {
  std::string frame;
  bool request = false;
  caf::response_promise rp;
};

/// What a link asks of its owner.
struct link_hooks {
  /// The actor that takes the other side's sends and requests (may be
  /// invalid: then requests get an error reply and sends are logged).
  std::function<caf::actor()> target;
  /// A line for the node's log: what could not go anywhere else.
  std::function<void(const std::string&)> log;
  /// A connection frame arrived (its socket came to the channel's
  /// `on_fd` just before): the bridge that accepted it and the client's
  /// address. Without it, the frame is logged.
  std::function<void(std::string bridge, std::string peer)> connection = {};
  /// A connection frame that is not served (it did not decode, or nobody
  /// takes connections): its socket, which came just before, is dropped.
  std::function<void()> drop_connection = {};
};

/// One frame from the other side, decoded.
struct inbound {
  /// Whether the frame had a valid header (then `kind` and `id` are set,
  /// even when the message did not decode).
  bool has_header = false;
  link_kind kind = link_kind::send;
  uint64_t id = 0;
  caf::message msg;
};

/// Decodes a frame's payload into `out`: `bad_message` with the reason if
/// it is not a message. Allocates no more than the payload could hold.
caf::error decode_frame(caf::actor_system& sys, const std::string& payload,
                        inbound& out);

class binary_link {
public:
  /// `self` owns the link; `name` names it in errors; frames over
  /// `max_frame` are refused before they are written; requests from the
  /// other side to `target` time out after `timeout`.
  binary_link(caf::event_based_actor* self, std::string name, size_t max_frame,
              caf::timespan timeout, link_hooks hooks);

  binary_link(const binary_link&) = delete;
  binary_link& operator=(const binary_link&) = delete;

  /// Frames go to `ch` (a length_prefixed channel) from now on.
  void attach(channel* ch) noexcept {
    ch_ = ch;
  }

  /// The channel is gone: every request still waiting gets `why`.
  void detach(const caf::error& why);

  bool attached() const noexcept {
    return ch_ != nullptr;
  }

  /// Encodes `msg`; a request also takes a response promise from `self`'s
  /// current message. An error (nothing taken) if `msg` cannot be encoded.
  caf::expected<outbound> prepare(caf::message msg, bool request);

  /// Writes an encoded message; a request's promise then waits for the
  /// reply. On failure the promise gets the error, which is also returned.
  caf::error write(outbound out);

  /// Writes a connection frame with `fd` (taken over) to the other side.
  caf::error write_connection(int fd, const std::string& bridge,
                              const std::string& peer);

  /// Handles one frame from the other side.
  void on_frame(const std::string& payload);

  /// Requests sent to the other side and not answered yet.
  size_t waiting() const noexcept {
    return pending_.size();
  }

  /// Frames from the other side that could not be decoded.
  uint64_t bad_frames() const noexcept {
    return bad_frames_;
  }

private:
  caf::expected<std::string> encode(link_kind kind, uint64_t id,
                                    caf::message& msg);
  void reply(uint64_t id, caf::message msg);

  caf::event_based_actor* self_;
  std::string name_;
  size_t max_frame_;
  caf::timespan timeout_;
  link_hooks hooks_;
  channel* ch_ = nullptr;
  uint64_t next_id_ = 0;
  uint64_t bad_frames_ = 0;
  std::unordered_map<uint64_t, caf::response_promise> pending_;
};

} // namespace switchboard::bridges

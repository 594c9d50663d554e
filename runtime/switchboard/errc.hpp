// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>

namespace switchboard {

/// Error codes of the switchboard runtime. Numbers travel to peers inside
/// `caf::error`, so a value is never renumbered or reused.
enum class errc : uint8_t {
  /// The config file could not be read or does not parse.
  config_syntax = 1,
  /// A key that the section or kind does not know.
  config_unknown_key = 2,
  /// A value of the wrong type.
  config_wrong_type = 3,
  /// A required key is missing.
  config_missing_key = 4,
  /// An actor or bridge names a kind that nobody registered.
  config_unknown_kind = 5,
  /// Two actors or bridges share a name.
  config_duplicate_name = 6,
  /// A key wires to an actor name that does not exist.
  config_unknown_actor = 7,
  /// A value has the right type but is out of range or not one of the
  /// allowed values.
  config_bad_value = 8,
  /// Text that should be JSON is not.
  invalid_json = 9,
  /// No actor is registered under the name.
  unknown_actor = 10,
  /// A router found no route for the message.
  no_route = 11,
  /// A request got no reply in time.
  timeout = 12,
  /// A frame exceeded the configured maximum size.
  frame_too_large = 13,
  /// An operating system call failed; the context names it.
  io_error = 14,
  /// The node is not running (not started yet, or stopping).
  not_running = 15,
  /// The actor does not accept this kind of message.
  unexpected_message = 16,
  /// A name is already taken in the registry.
  name_taken = 17,
  /// A message was well-formed JSON but not what the receiver expects.
  bad_message = 18,
  /// The node (or loop) runs already; it starts only once.
  already_running = 19,
  /// A child process exited (or was restarted) before it answered.
  child_exited = 20,
  /// A bounded queue is full (messages held while a child restarts, ...).
  queue_full = 21,
  /// The actor has no channel to carry the message (a child without
  /// stdin or ipc, a child that is not running and will not restart).
  no_channel = 22,
  /// The service behind a bridge answered with an error of its own (a
  /// Redis error reply such as `WRONGTYPE ...`); the text is its message.
  remote_error = 23,
  /// The node that owns the addressed actor is down or cannot be reached
  /// (`NODE/ACTOR` addresses), or went down before it answered.
  node_down = 24,
  /// A reload is under way already; one runs at a time.
  reload_busy = 25,
};

/// The CAF error category of `errc`, registered with every node's system.
inline constexpr caf::atom_value errc_category = caf::atom("sb_core");

/// Returns the name of `x`, e.g. `"unknown_actor"`.
/// @relates errc
const char* to_string(errc x);

/// @relates errc
caf::error make_error(errc x);

/// @relates errc
caf::error make_error(errc x, std::string context);

/// Whether `err` is the switchboard error `x`.
/// @relates errc
inline bool is(const caf::error& err, errc x) {
  return err.category() == errc_category
         && err.code() == static_cast<uint8_t>(x);
}

/// Renders any error (switchboard's, CAF's or an OS error) as one line of
/// text for people: `unknown_actor: no actor named 'x'`.
std::string render(const caf::error& err);

/// The text of an error made with `make_error(code, text)`, without the
/// code's name (`render` for any other error): for a message that wraps
/// another one's reason.
std::string reason_of(const caf::error& err);

/// Teaches `render` (and every node's actor system) the code names of
/// another error category, e.g. a library's own `errc`. Thread-safe; call
/// it before nodes start (a static initializer is a good place).
void add_error_category(caf::atom_value category,
                        std::string (*code_name)(uint8_t code));

/// Registers every known error category with `cfg`.
void register_error_categories(caf::actor_system_config& cfg);

} // namespace switchboard

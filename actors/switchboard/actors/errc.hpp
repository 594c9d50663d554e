// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>

namespace switchboard::actors {

/// Error codes of the actor kinds. Numbers travel to peers inside
/// `caf::error`, so a value is never renumbered or reused.
enum class errc : uint8_t {
  /// An index or range lies outside a shared buffer or view.
  out_of_range = 1,
  /// A view's offset is not a multiple of its element size.
  misaligned = 2,
  /// A shared buffer was about to leave its node (it cannot be shared
  /// across machines).
  not_shareable = 3,
  /// A worker's behaviour threw; the context says what.
  worker_failed = 4,
  /// A shared buffer could not be allocated.
  out_of_memory = 5,
  /// A calculation request was not valid (unknown operation, too few
  /// operands, a non-number, division by zero).
  bad_calculation = 6,
  /// No behaviour is registered under the name.
  unknown_behavior = 7,
  /// A process-shared buffer could not be made, mapped or found among those
  /// the parent passed; the context says why.
  buffer_unavailable = 8,
};

/// The CAF error category of `errc`.
inline constexpr caf::atom_value errc_category = caf::atom("sb_actors");

/// @relates errc
const char* to_string(errc x);

/// @relates errc
caf::error make_error(errc x, std::string context);

/// Whether `err` is the error `x`.
/// @relates errc
inline bool is(const caf::error& err, errc x) {
  return err.category() == errc_category
         && err.code() == static_cast<uint8_t>(x);
}

} // namespace switchboard::actors

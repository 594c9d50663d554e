// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <string>

namespace switchboard::cli {

/// Connects to the control socket at `path`, writes `request` as one line
/// and reads one line of reply into `reply`, all within `timeout_ms`.
/// @returns an empty string on success, otherwise what went wrong.
std::string control_call(const std::string& path, const std::string& request,
                         std::string& reply, int timeout_ms);

} // namespace switchboard::cli

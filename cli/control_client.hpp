// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <functional>
#include <string>

namespace switchboard::cli {

/// Connects to the control socket at `path`, writes `request` as one line
/// and reads one line of reply into `reply`, all within `timeout_ms`.
/// @returns an empty string on success, otherwise what went wrong.
std::string control_call(const std::string& path, const std::string& request,
                         std::string& reply, int timeout_ms);

/// Like `control_call`, but reads every line of reply and hands each to
/// `on_line` until it returns false; `timeout_ms` <= 0 waits for ever.
/// @returns an empty string once `on_line` said stop, else what went wrong
/// (the node closing the connection included).
std::string control_stream(const std::string& path, const std::string& request,
                           const std::function<bool(std::string&)>& on_line,
                           int timeout_ms);

} // namespace switchboard::cli

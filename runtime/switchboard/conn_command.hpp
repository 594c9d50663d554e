// switchboard: an embeddable C++ actor runtime. MIT License.

// The commands every bridge that holds connections takes (tcp, uds and
// websocket servers), read in one place so they mean the same everywhere:
//
//   {"op":"send","conn":ID,"data":...}
//   {"op":"broadcast","data":...[,"except":ID]}
//   {"op":"close","conn":ID}
//   {"op":"list"}

#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "switchboard/json_message.hpp"

namespace switchboard {

struct conn_command {
  enum class op_type { send, broadcast, close, list };
  op_type op = op_type::list;
  /// send, close: the connection.
  uint64_t conn = 0;
  /// broadcast: the connection left out (0: none).
  uint64_t except = 0;
  /// send, broadcast: what to write, as JSON.
  json_message data;
};

/// Reads a command sent to `bridge`; the error (`bad_message`, or
/// `unknown_actor` for send and close without a connection id) lists the
/// commands.
caf::expected<conn_command> parse_conn_command(const json_message& m,
                                               const std::string& bridge);

/// The error for a command to connection `conn`, which `bridge` does not
/// have.
caf::error no_connection(const std::string& bridge, uint64_t conn);

/// A command that parsed but cannot be done (`why`), listing the commands.
caf::error bad_conn_command(const std::string& bridge, const std::string& why);

} // namespace switchboard

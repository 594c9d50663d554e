// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/conn_command.hpp"

#include <nlohmann/json.hpp>

#include "switchboard/errc.hpp"

namespace switchboard {

namespace {

using json = nlohmann::json;

} // namespace

caf::error bad_conn_command(const std::string& bridge, const std::string& why) {
  return make_error(errc::bad_message,
                    bridge + ": " + why
                      + "; commands: {\"op\":\"send\",\"conn\":ID,"
                        "\"data\":...}, {\"op\":\"broadcast\","
                        "\"data\":...[,\"except\":ID]}, "
                        "{\"op\":\"close\",\"conn\":ID}, "
                        "{\"op\":\"list\"}");
}

caf::error no_connection(const std::string& bridge, uint64_t conn) {
  return make_error(errc::unknown_actor,
                    bridge + ": no connection " + std::to_string(conn));
}

caf::expected<conn_command> parse_conn_command(const json_message& m,
                                               const std::string& bridge) {
  auto cmd = json::parse(m.text, nullptr, false);
  if (!cmd.is_object() || !cmd.contains("op") || !cmd["op"].is_string())
    return bad_conn_command(bridge, "expected a command object with \"op\"");
  auto op = cmd["op"].get<std::string>();
  conn_command result;
  if (op == "list")
    return result;
  if (op == "send" || op == "close") {
    result.op =
      op == "send" ? conn_command::op_type::send : conn_command::op_type::close;
    if (!cmd.contains("conn") || !cmd["conn"].is_number_unsigned())
      return make_error(
        errc::unknown_actor,
        bridge + ": no connection "
          + (cmd.contains("conn") ? cmd["conn"].dump() : std::string{"given"}));
    result.conn = cmd["conn"].get<uint64_t>();
    if (op == "close")
      return result;
  } else if (op == "broadcast") {
    result.op = conn_command::op_type::broadcast;
    if (cmd.contains("except") && cmd["except"].is_number_unsigned())
      result.except = cmd["except"].get<uint64_t>();
  } else {
    return bad_conn_command(bridge, "unknown op \"" + op + "\"");
  }
  if (!cmd.contains("data"))
    return bad_conn_command(bridge, "\"" + op + "\" needs \"data\"");
  result.data = json_message::trusted(
    cmd["data"].dump(-1, ' ', false, json::error_handler_t::replace));
  return result;
}

} // namespace switchboard

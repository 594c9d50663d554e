// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/process/node_channel.hpp"

#include <cstdint>
#include <cstdlib>
#include <mutex>

#include <fcntl.h>

#include <nlohmann/json.hpp>

#include <switchboard/errc.hpp>
#include <switchboard/json_message.hpp>

namespace switchboard::bridges {

namespace {

using json = nlohmann::json;

bool internal_cmd(const json& j) {
  if (!j.is_object())
    return false;
  auto cmd = j.find("cmd");
  return cmd != j.end() && cmd->is_string()
         && cmd->get<std::string>().rfind("NODE_", 0) == 0;
}

std::string truncated(const std::string& s) {
  return s.size() <= 200 ? s : s.substr(0, 200) + "...";
}

} // namespace

caf::expected<std::string> json_line(std::string text, const std::string& who,
                                     bool node_peer) {
  bool multi_line = text.find('\n') != std::string::npos;
  bool maybe_internal = node_peer && text.find("NODE_") != std::string::npos;
  // is_json decides, not nlohmann/json: that takes a NUL byte for the end
  // of its input, and the Node peer would die on what follows it.
  if (!is_json(text))
    return make_error(errc::invalid_json,
                      who + ": not JSON: " + truncated(text));
  if (!multi_line && !maybe_internal)
    return text;
  auto parsed = json::parse(text, nullptr, false);
  if (maybe_internal && internal_cmd(parsed))
    return make_error(errc::bad_message,
                      who
                        + ": a \"cmd\" starting with NODE_ is internal to "
                          "Node's channel; not sent");
  if (multi_line)
    return parsed.dump(-1, ' ', false, json::error_handler_t::replace);
  return text;
}

bool is_node_internal(const std::string& frame) {
  if (frame.find("NODE_") == std::string::npos || !is_json(frame))
    return false;
  return internal_cmd(json::parse(frame, nullptr, false));
}

namespace {

// The fd named by the variable `name`, made close-on-exec; -1 if it is not
// an open fd.
int fd_from_env(const char* name) {
  auto var = std::getenv(name);
  if (var == nullptr)
    return -1;
  char* end = nullptr;
  auto n = std::strtol(var, &end, 10);
  if (end == var || *end != '\0' || n < 0 || n > INT32_MAX
      || fcntl(static_cast<int>(n), F_GETFD) < 0)
    return -1;
  auto fd = static_cast<int>(n);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

} // namespace

parent_channel take_parent_channel() {
  static std::once_flag once;
  static parent_channel result;
  std::call_once(once, [] {
    result.fd = fd_from_env("SWITCHBOARD_CHANNEL_FD");
    result.binary = result.fd >= 0;
    auto mode = std::getenv("NODE_CHANNEL_SERIALIZATION_MODE");
    if (result.fd < 0 && (mode == nullptr || std::string{mode} == "json"))
      result.fd = fd_from_env("NODE_CHANNEL_FD");
    unsetenv("SWITCHBOARD_CHANNEL_FD");
    unsetenv("NODE_CHANNEL_FD");
    unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
  });
  return result;
}

} // namespace switchboard::bridges

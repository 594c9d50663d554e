// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/json_message.hpp"

#include "switchboard/errc.hpp"

#include <nlohmann/json.hpp>

namespace switchboard {

caf::expected<json_message> json_message::parse(std::string text) {
  // A SAX pass without building a DOM: validation only.
  if (nlohmann::json::accept(text))
    return json_message{std::move(text)};
  // Parse once more with exceptions on to get the position for the message.
  try {
    auto unused = nlohmann::json::parse(text);
    static_cast<void>(unused);
  } catch (const nlohmann::json::parse_error& e) {
    return make_error(errc::invalid_json, e.what());
  }
  return make_error(errc::invalid_json, "not a JSON value");
}

} // namespace switchboard

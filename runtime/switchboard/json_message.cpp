// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/json_message.hpp"

#include "switchboard/errc.hpp"

#include <memory>

#include <nlohmann/json.hpp>
#include <simdjson.h>

namespace switchboard {

namespace {

// Larger documents get a parser of their own, so a thread does not keep
// their buffers.
constexpr size_t keep_parser_up_to = 1 << 20;

} // namespace

bool is_json(std::string_view text) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: the text is
  // copied into a padded buffer (kept per thread for small documents).
  thread_local simdjson::dom::parser parser;
  thread_local std::string buf;
  auto check = [&](simdjson::dom::parser& p, std::string& b) {
    b.assign(text.data(), text.size());
    b.resize(text.size() + simdjson::SIMDJSON_PADDING);
    return p.parse(b.data(), text.size(), false).error();
  };
  simdjson::error_code err;
  if (text.size() <= keep_parser_up_to) {
    err = check(parser, buf);
  } else {
    simdjson::dom::parser big;
    std::string big_buf;
    err = check(big, big_buf);
  }
  switch (err) {
    case simdjson::SUCCESS: return true;
    case simdjson::DEPTH_ERROR:
    case simdjson::NUMBER_ERROR:
    case simdjson::CAPACITY:
      // Valid JSON that simdjson does not represent: the standard decides.
      return nlohmann::json::accept(text);
    default: return false;
  }
}

caf::expected<json_message> json_message::parse(std::string text) {
  if (is_json(text))
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

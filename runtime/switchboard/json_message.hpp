// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

namespace switchboard {

/// A JSON value carried as its text: the currency at the edges.
///
/// A message that only passes through a node (router, room, bridges) is never
/// parsed; whoever reads it parses it on demand (with nlohmann/json, as the
/// router does for its one field). Build one
/// with `json_message::parse`, which checks the syntax, or with
/// `json_message::trusted` when the text comes from a serializer.
struct json_message {
  /// The JSON text, without a trailing newline.
  std::string text;

  /// Checks that `text` is one valid JSON value and wraps it.
  /// @returns an `errc::invalid_json` error that says where parsing failed.
  static caf::expected<json_message> parse(std::string text);

  /// Wraps text that is known to be valid JSON without checking it.
  static json_message trusted(std::string text) {
    return json_message{std::move(text)};
  }

  friend bool operator==(const json_message& x, const json_message& y) {
    return x.text == y.text;
  }
};

/// Whether `text` is exactly one valid JSON value (UTF-8, RFC 8259), with
/// surrounding whitespace allowed. Fast (simdjson, about 1 GB/s); values it
/// cannot hold (integers beyond 64 bits, nesting deeper than 1024) are
/// checked again by nlohmann/json, so the answer is the standard's.
bool is_json(std::string_view text);

/// @relates json_message
template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, json_message& x) {
  return f(caf::meta::type_name("json_message"), x.text);
}

} // namespace switchboard

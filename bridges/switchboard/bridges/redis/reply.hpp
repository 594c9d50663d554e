// switchboard: an embeddable C++ actor runtime. MIT License.

// Redis replies as JSON: what a command's sender gets back.

#pragma once

#include <string>
#include <string_view>

struct redisReply;

namespace switchboard::bridges::redis {

/// The JSON text of `r`: a bulk or status string is a JSON string (bytes
/// that are not UTF-8 become U+FFFD), an integer a number, nil `null`, an
/// array an array, and an error inside an array `{"error": "..."}`.
std::string to_json(const redisReply& r);

/// `s` as a JSON string.
std::string quote(std::string_view s);

} // namespace switchboard::bridges::redis

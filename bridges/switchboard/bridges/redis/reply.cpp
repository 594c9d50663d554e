// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/redis/reply.hpp"

#include <hiredis/hiredis.h>

#include <nlohmann/json.hpp>

namespace switchboard::bridges::redis {

namespace {

void append(std::string& out, const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: out += quote({r.str, r.len}); return;
    case REDIS_REPLY_INTEGER: out += std::to_string(r.integer); return;
    case REDIS_REPLY_ARRAY:
      out += '[';
      for (size_t i = 0; i < r.elements; ++i) {
        if (i > 0)
          out += ',';
        append(out, *r.element[i]);
      }
      out += ']';
      return;
    case REDIS_REPLY_ERROR:
      out += "{\"error\":";
      out += quote({r.str, r.len});
      out += '}';
      return;
    default: out += "null"; return;
  }
}

} // namespace

std::string quote(std::string_view s) {
  return nlohmann::json(std::string{s})
    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string to_json(const redisReply& r) {
  std::string out;
  append(out, r);
  return out;
}

} // namespace switchboard::bridges::redis

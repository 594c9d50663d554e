// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/log.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

namespace switchboard {

const char* to_string(log_level x) noexcept {
  switch (x) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "info";
}

std::optional<log_level> parse_log_level(std::string_view name) noexcept {
  for (auto x :
       {log_level::debug, log_level::info, log_level::warn, log_level::error})
    if (name == to_string(x))
      return x;
  return std::nullopt;
}

log_level event_level(std::string_view event) noexcept {
  if (event.find("gave-up") != std::string_view::npos
      || event.find("give-up") != std::string_view::npos)
    return log_level::error;
  for (auto bad :
       {"down", "exit", "crash", "fail", "refused", "dropped", "overflow",
        "kill", "timeout", "error", "differ", "limit", "dead"})
    if (event.find(bad) != std::string_view::npos)
      return log_level::warn;
  return log_level::info;
}

namespace {

// The node logs `log_anywhere` may write through, oldest first: it takes
// the last, so when that one goes the one made before it takes over.
std::mutex anywhere_mtx;
std::vector<node_log*> anywhere;

} // namespace

node_log::node_log(std::string node, log_level min, log_format format,
                   std::FILE* out, bool anywhere_here)
    : node_(std::move(node)), min_(min), format_(format), out_(out) {
  if (!anywhere_here)
    return;
  std::lock_guard<std::mutex> guard{anywhere_mtx};
  anywhere.push_back(this);
}

node_log::~node_log() {
  std::lock_guard<std::mutex> guard{anywhere_mtx};
  anywhere.erase(std::remove(anywhere.begin(), anywhere.end(), this),
                 anywhere.end());
}

void log_anywhere(log_level level, std::string_view actor,
                  std::string_view text) {
  std::lock_guard<std::mutex> guard{anywhere_mtx};
  if (!anywhere.empty()) {
    anywhere.back()->write(level, actor, text);
    return;
  }
  static node_log fallback{"-", log_level::debug, log_format::text, stderr,
                           false};
  fallback.write(level, actor, text);
}

namespace {

// 2026-11-25T10:02:21.123Z
std::string iso_time(int64_t ns) {
  auto secs = static_cast<time_t>(ns / 1'000'000'000);
  auto ms = static_cast<int>((ns / 1'000'000) % 1000);
  tm utc{};
  gmtime_r(&secs, &utc);
  char buf[40];
  auto n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ", ms);
  return buf;
}

} // namespace

std::string node_log::render(const log_record& r, const std::string& node,
                             log_format format) {
  if (format == log_format::json) {
    nlohmann::ordered_json j{{"time", iso_time(r.time_ns)},
                             {"level", to_string(r.level)},
                             {"node", node}};
    if (!r.actor.empty())
      j["actor"] = r.actor;
    j["msg"] = r.text;
    // A child's stderr may hold anything: invalid UTF-8 is replaced, not
    // thrown on.
    return j.dump(-1, ' ', false,
                  nlohmann::ordered_json::error_handler_t::replace);
  }
  // 2026-11-25T10:02:21.123Z info  main/echo: text
  std::string line = iso_time(r.time_ns);
  line += ' ';
  std::string level = to_string(r.level);
  level.resize(5, ' ');
  line += level;
  line += ' ';
  line += node;
  if (!r.actor.empty()) {
    line += '/';
    line += r.actor;
  }
  line += ": ";
  line += r.text;
  return line;
}

void node_log::write(log_level level, std::string_view actor,
                     std::string_view text) {
  if (!enabled(level))
    return;
  log_record r;
  r.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  r.level = level;
  r.actor.assign(actor);
  r.text.assign(text);
  // A line is one line, and says only what it says: a break would forge
  // the next line and an escape sequence would rewrite a terminal, so
  // control characters are written as \xNN (JSON escapes its own).
  if (std::any_of(r.text.begin(), r.text.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    std::string clean;
    for (char c : r.text) {
      auto u = static_cast<unsigned char>(c);
      if (u == '\n' || u == '\r') {
        clean += ' ';
      } else if (u < 0x20 || u == 0x7f) {
        char buf[5];
        std::snprintf(buf, sizeof(buf), "\\x%02x", u);
        clean += buf;
      } else {
        clean += c;
      }
    }
    r.text = std::move(clean);
  }
  auto line = render(r, node_, format_);
  line += '\n';
  std::lock_guard<std::mutex> guard{mtx_};
  r.seq = ++seq_;
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
  tail_.push_back(std::move(r));
  if (tail_.size() > kept)
    tail_.pop_front();
}

std::vector<log_record> node_log::since(uint64_t seq) const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<log_record> result;
  for (auto& r : tail_)
    if (r.seq > seq)
      result.push_back(r);
  return result;
}

} // namespace switchboard

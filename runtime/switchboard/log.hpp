// switchboard: an embeddable C++ actor runtime. MIT License.

// The node's log: one line per event with its time, level, node and actor,
// as text for people or as JSON for a log shipper (`[node] log-format`),
// below a level from the config (`[node] log-level`). The last lines are
// kept for whoever shows a tail (the dashboard).

#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard {

enum class log_level : unsigned char { debug, info, warn, error };

/// "debug", "info", "warn" or "error".
const char* to_string(log_level x) noexcept;

/// The level a name means; nothing for a name that is none.
std::optional<log_level> parse_log_level(std::string_view name) noexcept;

/// The level of a line that reports an event ({"event": NAME}) because
/// no `events` actor takes it: error for giving up, warn for what went
/// wrong (down, exited, refused, dropped, ...), info for the rest.
log_level event_level(std::string_view event) noexcept;

enum class log_format : uint8_t { text, json };

/// One line of the log.
struct log_record {
  /// Counts the node's lines from 1: a tail asks for what follows one.
  uint64_t seq = 0;
  /// Wall-clock time, nanoseconds since the epoch.
  int64_t time_ns = 0;
  log_level level = log_level::info;
  /// The actor or bridge the line is about; empty for the node itself.
  std::string actor;
  std::string text;
};

/// Writes one line from code that has no node at hand (a library's log
/// callback, the io loop's teardown): through the node log made last that
/// still lives, else to stderr as text under the node name "-".
/// Thread-safe.
void log_anywhere(log_level level, std::string_view actor,
                  std::string_view text);

/// Writes lines to a stream and keeps the last ones. Thread-safe.
class node_log {
public:
  /// Lines kept for a tail.
  static constexpr size_t kept = 500;

  /// With `anywhere`, `log_anywhere` writes through this log while it is
  /// the last made that lives.
  node_log(std::string node, log_level min, log_format format,
           std::FILE* out = stderr, bool anywhere = true);

  ~node_log();

  node_log(const node_log&) = delete;
  node_log& operator=(const node_log&) = delete;

  /// Writes one line if `level` is at or above the configured level.
  void write(log_level level, std::string_view actor, std::string_view text);

  /// Whether a line at `level` would be written (to skip building one).
  bool enabled(log_level level) const noexcept {
    return level >= min_;
  }

  /// The kept lines after `seq`, oldest first.
  std::vector<log_record> since(uint64_t seq) const;

  /// The line as `format` prints it, without the newline.
  static std::string render(const log_record& r, const std::string& node,
                            log_format format);

private:
  std::string node_;
  log_level min_;
  log_format format_;
  std::FILE* out_;
  mutable std::mutex mtx_;
  uint64_t seq_ = 0;
  std::deque<log_record> tail_;
};

} // namespace switchboard

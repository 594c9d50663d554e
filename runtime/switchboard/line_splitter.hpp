// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <caf/error.hpp>

#include "switchboard/errc.hpp"

namespace switchboard {

/// Cuts a byte stream into `\n`-terminated lines (a trailing `\r` is
/// dropped), refusing lines longer than a maximum. Several lines may arrive
/// in one read and one line over several reads.
class line_splitter {
public:
  explicit line_splitter(size_t max_line) : max_line_(max_line) {}

  /// Feeds `n` bytes and calls `on_line(std::string)` for every complete
  /// line. Returns `errc::frame_too_large` once a line exceeds the maximum;
  /// the splitter is unusable after that.
  template<class F>
  caf::error feed(const char* data, size_t n, F&& on_line) {
    std::string_view in{data, n};
    while (!in.empty()) {
      auto nl = in.find('\n');
      auto chunk = in.substr(0, nl);
      if (buf_.size() + chunk.size() > max_line_)
        return make_error(errc::frame_too_large, "a line exceeds "
                                                   + std::to_string(max_line_)
                                                   + " bytes");
      buf_.append(chunk.data(), chunk.size());
      if (nl == std::string_view::npos)
        return caf::none;
      if (!buf_.empty() && buf_.back() == '\r')
        buf_.pop_back();
      on_line(std::move(buf_));
      buf_.clear();
      in.remove_prefix(nl + 1);
    }
    return caf::none;
  }

  /// Bytes of an unfinished line.
  size_t pending() const noexcept {
    return buf_.size();
  }

  /// Returns the unfinished line (the stream ended without a final `\n`)
  /// and empties the buffer.
  std::string take_rest() {
    std::string result;
    result.swap(buf_);
    if (!result.empty() && result.back() == '\r')
      result.pop_back();
    return result;
  }

private:
  size_t max_line_;
  std::string buf_;
};

} // namespace switchboard

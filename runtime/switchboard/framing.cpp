// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/framing.hpp"

#include <algorithm>
#include <cstring>

#include "switchboard/errc.hpp"

namespace switchboard {

namespace {

constexpr const char* names[] = {"lines", "length-prefixed",
                                 "length-prefixed-16", "raw", "json-stream"};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A byte that may start a JSON number or literal.
bool starts_scalar(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == 't' || c == 'f' || c == 'n';
}

std::string printable(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f)
    return std::string{"'"} + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02x", u);
  return buf;
}

// Appends to a frame's buffer, whose capacity then grows as a string's
// would but never past max-frame (the callers check that the frame fits):
// a decoder allocates no more than one frame may hold.
void append_bounded(std::string& buf, const char* data, size_t n,
                    size_t max_frame) {
  auto need = buf.size() + n;
  if (need > buf.capacity()) {
    // Into a new string: libstdc++'s reserve doubles a string's capacity
    // whatever it is asked for.
    std::string bigger;
    bigger.reserve(std::min(std::max(need, 2 * buf.capacity()), max_frame));
    bigger.append(buf);
    buf.swap(bigger);
  }
  buf.append(data, n);
}

} // namespace

const char* to_string(framing x) {
  return names[static_cast<size_t>(x)];
}

std::optional<framing> framing_from_string(std::string_view name) {
  for (size_t i = 0; i < framing_count(); ++i)
    if (name == names[i])
      return static_cast<framing>(i);
  return std::nullopt;
}

const char* const* framing_names() noexcept {
  return names;
}

size_t framing_count() noexcept {
  return sizeof(names) / sizeof(names[0]);
}

caf::error encode_frame(framing how, std::string_view payload,
                        std::string& out) {
  auto n = payload.size();
  switch (how) {
    case framing::lines:
      out.append(payload);
      out += '\n';
      return caf::none;
    case framing::json_stream:
      // The newline keeps two numbers in a row apart, and serves readers
      // that split on lines as well.
      out.append(payload);
      out += '\n';
      return caf::none;
    case framing::raw: out.append(payload); return caf::none;
    case framing::length_prefixed16:
      if (n > 0xffff)
        return make_error(errc::frame_too_large,
                          "a frame of " + std::to_string(n)
                            + " bytes does not fit a 16-bit length prefix");
      out += static_cast<char>((n >> 8) & 0xff);
      out += static_cast<char>(n & 0xff);
      out.append(payload);
      return caf::none;
    case framing::length_prefixed:
      if (n > 0xffffffffu)
        return make_error(errc::frame_too_large,
                          "a frame of " + std::to_string(n)
                            + " bytes does not fit a 32-bit length prefix");
      out += static_cast<char>((n >> 24) & 0xff);
      out += static_cast<char>((n >> 16) & 0xff);
      out += static_cast<char>((n >> 8) & 0xff);
      out += static_cast<char>(n & 0xff);
      out.append(payload);
      return caf::none;
  }
  return caf::none;
}

frame_decoder::frame_decoder(framing how, size_t max_frame)
    : how_(how), max_frame_(max_frame) {}

size_t frame_decoder::pending() const noexcept {
  return buf_.size();
}

caf::error frame_decoder::too_large() const {
  return make_error(errc::frame_too_large,
                    std::string{how_ == framing::lines ? "a line" : "a frame"}
                      + " exceeds " + std::to_string(max_frame_) + " bytes");
}

caf::error frame_decoder::feed_impl(const char* data, size_t n, sink& out) {
  if (failed_)
    return failed_;
  caf::error err;
  switch (how_) {
    case framing::raw:
      // A chunk as it arrives, in pieces of at most max-frame.
      while (n > 0) {
        auto take = std::min(n, max_frame_ > 0 ? max_frame_ : n);
        if (!out.fn(out.self, std::string{data, take}))
          return caf::none;
        data += take;
        n -= take;
      }
      return caf::none;
    case framing::lines: err = feed_lines(data, n, out); break;
    case framing::length_prefixed:
    case framing::length_prefixed16: err = feed_prefixed(data, n, out); break;
    case framing::json_stream: err = feed_json(data, n, out); break;
  }
  if (err)
    failed_ = err;
  return err;
}

caf::error frame_decoder::feed_lines(const char* data, size_t n, sink& out) {
  while (n > 0) {
    auto nl = static_cast<const char*>(std::memchr(data, '\n', n));
    auto len = nl != nullptr ? static_cast<size_t>(nl - data) : n;
    if (buf_.size() + len > max_frame_)
      return too_large();
    if (nl == nullptr) {
      append_bounded(buf_, data, n, max_frame_);
      return caf::none;
    }
    std::string line;
    if (buf_.empty()) {
      line.assign(data, len);
    } else {
      append_bounded(buf_, data, len, max_frame_);
      line.swap(buf_);
    }
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    data += len + 1;
    n -= len + 1;
    if (!out.fn(out.self, std::move(line)))
      return caf::none;
  }
  return caf::none;
}

caf::error frame_decoder::feed_prefixed(const char* data, size_t n, sink& out) {
  size_t header = how_ == framing::length_prefixed ? 4 : 2;
  while (n > 0) {
    if (in_header_) {
      auto take = std::min(header - buf_.size(), n);
      buf_.append(data, take);
      data += take;
      n -= take;
      if (buf_.size() < header)
        return caf::none;
      auto p = reinterpret_cast<const unsigned char*>(buf_.data());
      size_t len = header == 4 ? (size_t{p[0]} << 24) | (size_t{p[1]} << 16)
                                   | (size_t{p[2]} << 8) | size_t{p[3]}
                               : (size_t{p[0]} << 8) | size_t{p[1]};
      buf_.clear();
      if (len > max_frame_)
        return make_error(errc::frame_too_large,
                          "a frame of " + std::to_string(len)
                            + " bytes exceeds " + std::to_string(max_frame_));
      in_header_ = false;
      need_ = static_cast<uint32_t>(len); // the header holds at most 32 bits
      if (len == 0) {
        in_header_ = true;
        if (!out.fn(out.self, std::string{}))
          return caf::none;
        continue;
      }
      // A whole frame inside this chunk needs no buffering.
      if (n >= len) {
        std::string frame{data, len};
        data += len;
        n -= len;
        in_header_ = true;
        need_ = 0;
        if (!out.fn(out.self, std::move(frame)))
          return caf::none;
        continue;
      }
      buf_.reserve(len);
    }
    auto take = std::min<size_t>(need_, n);
    buf_.append(data, take);
    data += take;
    n -= take;
    need_ -= static_cast<uint32_t>(take);
    if (need_ == 0) {
      in_header_ = true;
      std::string frame;
      frame.swap(buf_);
      if (!out.fn(out.self, std::move(frame)))
        return caf::none;
    }
  }
  return caf::none;
}

// A small state machine that finds where each value ends without parsing
// it: it counts brackets outside strings and skips escaped quotes. Whether
// a value is valid JSON is for the reader to check (is_json); this only
// refuses bytes that cannot start a value and values over max-frame.
// Bytes are buffered a run at a time, and only once they are known to fit.
caf::error frame_decoder::feed_json(const char* data, size_t n, sink& out) {
  size_t run = 0; // where the bytes not yet in buf_ begin
  auto keep = [&](size_t end) -> caf::error {
    if (buf_.size() + (end - run) > max_frame_)
      return too_large();
    append_bounded(buf_, data + run, end - run, max_frame_);
    run = end;
    return caf::none;
  };
  auto emit = [&](size_t end) -> std::optional<caf::error> {
    if (auto err = keep(end))
      return err;
    state_ = json_state::between;
    std::string frame;
    frame.swap(buf_);
    if (!out.fn(out.self, std::move(frame)))
      return caf::error{}; // stop, no error
    return std::nullopt;
  };
  size_t i = 0;
  while (i < n) {
    char c = data[i];
    switch (state_) {
      case json_state::between:
        if (is_space(c)) {
          ++i;
          run = i;
          continue;
        }
        run = i;
        if (c == '{' || c == '[') {
          depth_ = 1;
          state_ = json_state::container;
        } else if (c == '"') {
          depth_ = 0;
          state_ = json_state::string;
        } else if (starts_scalar(c)) {
          state_ = json_state::scalar;
        } else {
          return make_error(errc::bad_message,
                            "json-stream: " + printable(c)
                              + " cannot start a JSON value");
        }
        ++i;
        break;
      case json_state::container:
        // Skip plain bytes quickly.
        while (i < n && data[i] != '"' && data[i] != '{' && data[i] != '}'
               && data[i] != '[' && data[i] != ']')
          ++i;
        if (i == n)
          break;
        c = data[i++];
        if (c == '"') {
          state_ = json_state::string;
        } else if (c == '{' || c == '[') {
          ++depth_;
        } else if (--depth_ == 0) {
          if (auto r = emit(i))
            return *r;
        }
        break;
      case json_state::string:
        while (i < n && data[i] != '"' && data[i] != '\\')
          ++i;
        if (i == n)
          break;
        c = data[i++];
        if (c == '\\') {
          state_ = json_state::escape;
        } else if (depth_ == 0) {
          if (auto r = emit(i))
            return *r;
        } else {
          state_ = json_state::container;
        }
        break;
      case json_state::escape:
        ++i;
        state_ = json_state::string;
        break;
      case json_state::scalar:
        if (is_space(c) || c == '{' || c == '[' || c == '"') {
          // The scalar ends before this byte, which is looked at again.
          if (auto r = emit(i))
            return *r;
          continue;
        }
        if (c == '}' || c == ']' || c == ',' || c == ':')
          return make_error(errc::bad_message,
                            "json-stream: " + printable(c)
                              + " after a value at the top level");
        // Checked byte by byte, so the first fault in the stream is the
        // one reported, however the stream is cut into reads.
        if (buf_.size() + (i - run) + 1 > max_frame_)
          return too_large();
        ++i;
        break;
    }
  }
  if (state_ != json_state::between)
    return keep(n);
  return caf::none;
}

caf::error frame_decoder::finish_impl(sink& out) {
  if (failed_)
    return failed_;
  switch (how_) {
    case framing::raw: return caf::none;
    case framing::lines:
      if (!buf_.empty()) {
        std::string rest;
        rest.swap(buf_);
        if (rest.back() == '\r')
          rest.pop_back();
        out.fn(out.self, std::move(rest));
      }
      return caf::none;
    case framing::length_prefixed:
    case framing::length_prefixed16:
      if (!in_header_ || !buf_.empty()) {
        auto got = buf_.size();
        buf_.clear();
        return make_error(errc::bad_message, "the stream ended inside a frame ("
                                               + std::to_string(got)
                                               + " bytes of it arrived)");
      }
      return caf::none;
    case framing::json_stream:
      if (state_ == json_state::scalar) {
        state_ = json_state::between;
        std::string frame;
        frame.swap(buf_);
        out.fn(out.self, std::move(frame));
        return caf::none;
      }
      if (state_ != json_state::between) {
        auto got = buf_.size();
        buf_.clear();
        state_ = json_state::between;
        return make_error(errc::bad_message,
                          "the stream ended inside a JSON value ("
                            + std::to_string(got) + " bytes of it arrived)");
      }
      return caf::none;
  }
  return caf::none;
}

} // namespace switchboard

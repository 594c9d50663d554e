// switchboard: an embeddable C++ actor runtime. MIT License.

// The one framing layer of every stream (stdio pipes, IPC socketpairs, TCP
// and Unix sockets): how a byte stream is cut into messages and how a
// message is written back.
//
// `frame_decoder` is pure: bytes in, frames out, no I/O. That keeps it
// testable a byte at a time and fuzzable (tests/fuzz/). Every decoder
// refuses a frame over its maximum before it buffers it, so a peer cannot
// make the node allocate more than `max_frame` bytes per stream.
//
// Usage:
// ~~~
// frame_decoder dec{framing::json_stream, 1 << 20};
// auto err = dec.feed(data, n, [](std::string&& frame) {
//   ...;          // one JSON value's text
//   return true;  // false stops feeding: the rest of `data` is dropped
// });
// ~~~

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <caf/error.hpp>

namespace switchboard {

/// How a stream is cut into messages.
enum class framing : uint8_t {
  /// One message per `\n`-terminated line (a trailing `\r` is dropped).
  lines,
  /// A u32 big-endian byte count, then that many bytes.
  length_prefixed,
  /// A u16 big-endian byte count, then that many bytes.
  length_prefixed16,
  /// Whatever one read returns; written as is.
  raw,
  /// JSON values back to back with no delimiter (`{...}{...}`, split
  /// anywhere), as Node programs that `socket.write(JSON.stringify(x))`
  /// produce. Written as the value and a `\n`.
  json_stream,
};

/// The config name of `x`: "lines", "length-prefixed",
/// "length-prefixed-16", "raw" or "json-stream".
const char* to_string(framing x);

/// The framing named `name` (as `to_string` spells it), or none.
std::optional<framing> framing_from_string(std::string_view name);

/// Every framing's config name, for `key_spec::one_of`.
const char* const* framing_names() noexcept;

/// How many names `framing_names` has.
size_t framing_count() noexcept;

/// Appends `payload`, framed, to `out`. Returns `errc::frame_too_large`
/// when the framing cannot carry it (over 65535 bytes with a u16 prefix,
/// over 4 GiB with a u32 one) and leaves `out` unchanged.
caf::error encode_frame(framing how, std::string_view payload,
                        std::string& out);

/// Cuts a byte stream into frames. Not thread-safe.
class frame_decoder {
public:
  /// A frame's consumer: takes the frame, returns whether to go on.
  struct sink {
    void* self;
    bool (*fn)(void* self, std::string&& frame);
  };

  frame_decoder(framing how, size_t max_frame);

  /// Feeds `n` bytes and calls `on_frame(std::string&&) -> bool` for every
  /// complete frame, until it returns false. Returns an error once the
  /// stream breaks its framing (`errc::frame_too_large`, or
  /// `errc::bad_message` for bytes that cannot start a JSON value); the
  /// decoder is unusable after that.
  template<class F>
  caf::error feed(const char* data, size_t n, F&& on_frame) {
    using fn_type = std::remove_reference_t<F>;
    sink s{const_cast<void*>(static_cast<const void*>(&on_frame)),
           [](void* self, std::string&& frame) {
             return static_cast<bool>(
               (*static_cast<fn_type*>(self))(std::move(frame)));
           }};
    return feed_impl(data, n, s);
  }

  /// The stream ended: hands over what it completes (a last line without
  /// `\n`, a number at the very end of a json-stream) and returns an error
  /// for a frame cut short (`errc::bad_message`).
  template<class F>
  caf::error finish(F&& on_frame) {
    using fn_type = std::remove_reference_t<F>;
    sink s{const_cast<void*>(static_cast<const void*>(&on_frame)),
           [](void* self, std::string&& frame) {
             return static_cast<bool>(
               (*static_cast<fn_type*>(self))(std::move(frame)));
           }};
    return finish_impl(s);
  }

  /// Bytes of a frame begun but not complete (0 between frames).
  size_t pending() const noexcept;

  /// The framing it decodes.
  framing how() const noexcept {
    return how_;
  }

  /// The largest frame it accepts.
  size_t max_frame() const noexcept {
    return max_frame_;
  }

private:
  caf::error feed_impl(const char* data, size_t n, sink& out);
  caf::error finish_impl(sink& out);
  caf::error feed_lines(const char* data, size_t n, sink& out);
  caf::error feed_prefixed(const char* data, size_t n, sink& out);
  caf::error feed_json(const char* data, size_t n, sink& out);
  caf::error too_large() const;

  // Laid out small: every connection holds one.
  framing how_;
  bool in_header_ = true;
  // json-stream: where the value is (see feed_json).
  enum class json_state : uint8_t {
    between,   // before a value, skipping whitespace
    container, // inside an object or array, outside strings
    string,    // inside a string (top-level or nested)
    escape,    // after a backslash inside a string
    scalar,    // a top-level number or literal
  };
  json_state state_ = json_state::between;
  // length-prefixed: bytes still needed (of the header, then the payload).
  uint32_t need_ = 0;
  size_t max_frame_;
  caf::error failed_;
  // The frame being assembled.
  std::string buf_;
  size_t depth_ = 0;
};

} // namespace switchboard

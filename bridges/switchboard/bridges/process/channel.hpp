// switchboard: an embeddable C++ actor runtime. MIT License.

// A framed byte channel over one file descriptor (a pipe or a socketpair
// end), on the io loop: the stdio and ipc bridges of a child process.
//
// Inbound bytes are cut into frames (`lines`: `\n`-terminated;
// `length_prefixed`: a u32 big-endian length, then the payload; `raw`:
// whatever one read returns) and handed to `on_frame`; a frame over the
// maximum is an error and reading stops. Outbound frames are written as
// soon as the fd takes them and queued otherwise. Everything runs on the
// loop thread; a channel deletes itself once closed.
//
// Usage (on the loop thread):
// ~~~
// auto ch = channel::open(loop, fd, framing::lines, 16 << 20, {
//   [](std::string frame) { ... }, [](caf::error e) { ... }, [] { ... }});
// ch->write("{\"a\":1}");
// ch->close();
// ~~~

#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <caf/error.hpp>

#include <uv.h>

#include <switchboard/line_splitter.hpp>

namespace switchboard::bridges {

/// How a channel cuts its byte stream into messages.
enum class framing {
  /// One message per `\n`-terminated line (a trailing `\r` is dropped).
  lines,
  /// A u32 big-endian byte count, then that many bytes.
  length_prefixed,
  /// Whatever one read returns; written as is.
  raw,
};

/// What a channel tells its owner. Each may be empty.
struct channel_callbacks {
  /// One inbound frame, without its framing.
  std::function<void(std::string)> on_frame;
  /// Reading failed (a frame over the maximum, an I/O error); reading
  /// stopped, writing may go on.
  std::function<void(caf::error)> on_error;
  /// The other side closed its end for writing. A last line without a
  /// final `\n` comes before this as a frame.
  std::function<void()> on_eof;
};

class channel {
public:
  /// Opens a channel on `fd` (taking it over) and starts reading if
  /// `callbacks.on_frame` is set. Returns null and closes `fd` on error.
  static channel* open(uv_loop_s* loop, int fd, framing how, size_t max_frame,
                       channel_callbacks callbacks);

  /// Frames `payload` and writes it (now, or queued behind earlier
  /// writes). Returns false if the channel is closed or the write failed.
  bool write(std::string payload);

  /// Bytes queued but not yet taken by the fd.
  size_t queued_bytes() const noexcept;

  /// Ends the writing side (the reader sees EOF) once queued frames are
  /// written; reading goes on. On a pipe's write end this closes it.
  void shutdown_write();

  /// Closes now, dropping queued frames; no callback runs after this. The
  /// object deletes itself when libuv is done with it.
  void close();

  /// Stops calling `on_frame` until `resume_reading` (backpressure).
  void pause_reading();
  void resume_reading();

  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

private:
  channel(framing how, size_t max_frame, channel_callbacks callbacks);
  ~channel() = default;

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  void feed(const char* data, size_t n);
  void fail(caf::error err);
  void flush();
  void end_of_turn();
  void after_writes();

  uv_pipe_t pipe_;
  uv_check_t check_;
  int open_handles_ = 0;
  // Frames of this turn of the loop, written together at its end.
  std::string batch_;
  size_t batched_ = 0;
  bool check_active_ = false;
  // Registered with io_loop::at_end_of_turn.
  bool turn_pending_ = false;
  framing how_;
  size_t max_frame_;
  channel_callbacks cb_;
  line_splitter lines_;
  // length_prefixed: the frame being read and how many bytes it still needs
  // (the header first).
  std::string frame_;
  size_t need_ = 0;
  bool in_header_ = true;
  std::unique_ptr<char[]> read_buf_;
  // Frames the fd has not taken yet, oldest first; `offset_` bytes of the
  // first one are written.
  std::deque<std::string> queue_;
  size_t offset_ = 0;
  size_t queued_ = 0;
  bool writing_ = false; // a uv_write is in flight
  bool want_shutdown_ = false;
  bool closed_ = false;
  bool reading_ = false;
  bool paused_ = false;
};

/// Encodes `n` as the 4-byte big-endian prefix of a length-prefixed frame.
std::string length_prefix(size_t n);

} // namespace switchboard::bridges

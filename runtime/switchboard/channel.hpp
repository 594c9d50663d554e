// switchboard: an embeddable C++ actor runtime. MIT License.

// A framed byte channel over one stream on the io loop: a pipe, a
// socketpair end, an accepted or connected TCP or Unix socket. The stdio
// and ipc bridges of a child process and every connection of a stream
// bridge are one of these.
//
// Inbound bytes are cut into frames by a `frame_decoder` (framing.hpp) and
// handed to `on_frame`; a frame over the maximum, or bytes that break the
// framing, are an error and reading stops. Outbound frames of one turn of
// the loop leave together in one system call; what the fd does not take is
// queued, and `queued_bytes` tells the owner how much (its high-water
// mark). Everything runs on the loop thread; a channel deletes itself once
// closed.
//
// Usage (on the loop thread):
// ~~~
// auto ch = channel::open(loop, fd, framing::lines, 16 << 20, {
//   [](std::string frame) { ... }, [](caf::error e) { ... }, [] { ... }});
// ch->write("{\"a\":1}");
// ch->close();
// ~~~

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <caf/error.hpp>

#include <uv.h>

#include "switchboard/fifo.hpp"
#include "switchboard/framing.hpp"

namespace switchboard {

/// What a channel tells its owner, as an object the owner is (a
/// connection actor) or holds. Everything is called on the loop thread; none
/// of it once the channel is closed or the owner detached (`set_handler(
/// nullptr)`).
class channel_handler {
public:
  /// One inbound frame, without its framing.
  virtual void on_frame(std::string frame) = 0;
  /// A file descriptor that came with the bytes of this read (a channel
  /// from `open_ipc` only), before the frames of the read; the handler
  /// owns it. By default it is closed.
  virtual void on_fd(int fd);
  /// Reading failed (a frame over the maximum, bytes that break the
  /// framing, an I/O error); reading stopped, writing may go on.
  virtual void on_error(caf::error) {}
  /// The other side closed its end for writing. A last line without a
  /// final `\n` comes before this as a frame.
  virtual void on_eof() {}
  /// Everything queued has been written, after the fd had stopped taking
  /// bytes (the moment to resume a paused producer).
  virtual void on_drain() {}
  /// A write failed (the peer reset the connection, ...): queued frames
  /// are dropped. By default the read side's error or EOF is left to tell
  /// the owner.
  virtual void on_write_error(caf::error) {}

protected:
  ~channel_handler() = default;
};

/// The same as functions, for owners that are not a handler themselves.
/// Each may be empty; without `on_frame` the channel does not read.
struct channel_callbacks {
  std::function<void(std::string)> on_frame = {};
  std::function<void(caf::error)> on_error = {};
  std::function<void()> on_eof = {};
  std::function<void()> on_drain = {};
  std::function<void(caf::error)> on_write_error = {};
  /// Without it, an fd that arrives is closed.
  std::function<void(int)> on_fd = {};
};

/// Sets TCP_NODELAY on a TCP socket and, unless `keepalive` is zero, TCP
/// keepalive: the first probe after `keepalive` of silence (whole seconds,
/// at least 1), then 10 probes 1 s apart (what libuv and so Node's
/// setKeepAlive use), so a peer that vanished without closing (a crash, a
/// pulled cable) is found about 10 s after `keepalive` and reads fail.
/// Returns false if the socket refused one of them.
bool set_tcp_options(int fd, std::chrono::seconds keepalive);

class channel {
public:
  /// Opens a channel on `fd` (a pipe, socketpair end or connected Unix
  /// socket; taken over) and starts reading if `callbacks.on_frame` is
  /// set. Returns null and closes `fd` on error.
  static channel* open(uv_loop_s* loop, int fd, framing how, size_t max_frame,
                       channel_callbacks callbacks);

  /// Opens a channel on `fd`, one end of a socketpair to another process,
  /// that also carries file descriptors: `write_handle` sends one with a
  /// frame, and those the other side sends reach `on_fd`.
  static channel* open_ipc(uv_loop_s* loop, int fd, framing how,
                           size_t max_frame, channel_callbacks callbacks);

  /// Opens a channel on `fd`, a connected TCP or Unix socket accepted
  /// elsewhere (handed over by another process); taken over. Like
  /// `accept`, it does not read until `set_handler` and `resume_reading`.
  /// Returns null (and closes `fd`) on error, with the reason in `err`.
  static channel* adopt(uv_loop_s* loop, int fd, framing how, size_t max_frame,
                        caf::error* err = nullptr);

  /// Accepts a pending connection of `server` (a listening TCP or pipe
  /// handle). The channel does not read until `set_handler` (or
  /// `set_callbacks`) and `resume_reading`. Returns null on error (with the
  /// reason in `err`). On Linux an accepted TCP socket inherits TCP_NODELAY
  /// and keepalive from the listener: set them there once
  /// (`set_tcp_options`), not on every connection.
  static channel* accept(uv_stream_t* server, framing how, size_t max_frame,
                         caf::error* err = nullptr);

  /// Connects to `addr` over TCP (no delay); `on_connect` gets none or
  /// the error, after which the channel reads if `callbacks.on_frame` is
  /// set. A failed channel closes itself after `on_connect`. Frames
  /// written before the connection is up wait for it.
  static channel* connect(uv_loop_s* loop, const struct sockaddr* addr,
                          framing how, size_t max_frame,
                          channel_callbacks callbacks,
                          std::function<void(caf::error)> on_connect);

  /// Replaces the callbacks (an accepted channel gets them once its
  /// owner exists).
  void set_callbacks(channel_callbacks callbacks);

  /// Makes `h` the channel's handler (not owned; null detaches the owner,
  /// after which nothing is called).
  void set_handler(channel_handler* h);

  /// Frames `payload` and writes it (now, or queued behind earlier
  /// writes). Returns false if the channel is closed or the framing
  /// cannot carry it (over 64 KiB with a 16-bit prefix).
  bool write(std::string_view payload);

  /// Frames `payload` and writes it with `fd` (a socket, taken over)
  /// attached to its first byte, after every frame written before it; the
  /// channel closes its copy of `fd` once it is sent. Only on a channel
  /// from `open_ipc`. Returns false (and closes `fd`) if the channel is
  /// closed or cannot carry it.
  bool write_handle(std::string_view payload, int fd);

  /// A duplicate of the channel's own fd (close-on-exec; the caller owns
  /// it), or -1: to hand an accepted connection to another process.
  int duplicate_fd() const;

  /// Bytes queued but not yet taken by the fd.
  size_t queued_bytes() const noexcept;

  /// Bytes of an inbound frame begun but not complete.
  size_t pending_bytes() const noexcept;

  /// The loop time (`uv_now`, ms) of the last read, or of the channel's
  /// start if nothing was read yet.
  uint64_t last_read() const noexcept {
    return last_read_;
  }

  /// The loop time (ms) when the inbound frame now pending began; 0 when
  /// no frame is pending.
  uint64_t partial_since() const noexcept {
    return partial_since_;
  }

  /// The peer's address: `HOST:PORT` (`[::1]:PORT` for IPv6) for TCP; the
  /// socket path or "unix" for a Unix socket; empty for pipes.
  std::string peer() const;

  /// TCP only: keepalive as `set_tcp_options` sets it. Returns false on a
  /// pipe.
  bool keepalive(std::chrono::seconds idle);

  /// Ends the writing side (the reader sees EOF) once queued frames are
  /// written; reading goes on. On a pipe's write end this closes it.
  void shutdown_write();

  /// Closes once every queued frame is written (or at once if none are);
  /// no read callback runs after this.
  void close_when_flushed();

  /// Closes now, dropping queued frames; no callback runs after this. The
  /// object deletes itself when libuv is done with it.
  void close();

  /// Writes this turn's frames now rather than at the end of the turn (what
  /// the fd does not take is queued): before a `close` that must not wait
  /// for a peer, what it can still take reaches it.
  void write_now();

  /// Stops reading (and calling `on_frame`) until `resume_reading`
  /// (backpressure).
  void pause_reading();
  void resume_reading();

  /// Whether reading is paused by `pause_reading`.
  bool paused() const noexcept {
    return paused_;
  }

  /// The stream's libuv handle (a `uv_pipe_t` or `uv_tcp_t`).
  uv_stream_t* stream() noexcept {
    return &h_.stream;
  }

  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

private:
  channel(framing how, size_t max_frame);
  ~channel();

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  void init_handles(uv_loop_s* loop, bool tcp, bool ipc = false);
  void take_pending_fds();
  void write_with_handle();
  // The write in flight ended with `status`.
  void wrote(int status);
  void close_queued_fds();
  void drop_queue();
  void feed(const char* data, size_t n);
  void fail(caf::error err);
  void write_failed(int status);
  void flush();
  void end_of_turn();
  void after_writes();

  union handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
  };
  // An idle connection is mostly this object: keep it in jemalloc's
  // 448-byte class (`bench_sockets idle`).
  handle h_;
  // Frames of this turn of the loop, written together at its end.
  std::string batch_;
  channel_handler* handler_ = nullptr;
  frame_decoder decoder_;
  uint64_t last_read_ = 0;
  uint64_t partial_since_ = 0;
  // Frames the fd has not taken yet, oldest first; `offset_` bytes of the
  // first one are written. A chunk with an fd carries it (SCM_RIGHTS) on
  // its first byte.
  struct chunk {
    std::string bytes;
    int fd = -1;
  };
  fifo<chunk> queue_;
  size_t offset_ = 0;
  size_t queued_ = 0;
  int open_handles_ = 0;
  framing how_;
  bool tcp_ = false;
  // A socketpair end that carries fds (open_ipc).
  bool ipc_ = false;
  // Registered with io_loop::at_end_of_turn.
  bool turn_pending_ = false;
  // handler_ is a channel_callbacks adapter the channel owns.
  bool owns_handler_ = false;
  // The owner reads (a handler, or callbacks with on_frame): shutting the
  // write side down is then a half-close, not a close.
  bool reads_ = false;
  bool writing_ = false; // a uv_write is in flight
  bool connected_ = true;
  bool want_shutdown_ = false;
  bool close_when_flushed_ = false;
  bool closed_ = false;
  bool reading_ = false;
  bool paused_ = false;
};

} // namespace switchboard

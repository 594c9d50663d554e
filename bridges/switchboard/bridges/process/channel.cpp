// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/process/channel.hpp"

#include <unistd.h>

#include <switchboard/errc.hpp>
#include <switchboard/io_loop.hpp>

namespace switchboard::bridges {

namespace {

constexpr size_t read_buffer_size = 64 * 1024;

struct write_req {
  uv_write_t req;
  channel* owner;
};

} // namespace

std::string length_prefix(size_t n) {
  std::string result(4, '\0');
  result[0] = static_cast<char>((n >> 24) & 0xff);
  result[1] = static_cast<char>((n >> 16) & 0xff);
  result[2] = static_cast<char>((n >> 8) & 0xff);
  result[3] = static_cast<char>(n & 0xff);
  return result;
}

channel::channel(framing how, size_t max_frame, channel_callbacks callbacks)
    : how_(how), max_frame_(max_frame), cb_(std::move(callbacks)),
      lines_(max_frame) {}

channel* channel::open(uv_loop_s* loop, int fd, framing how, size_t max_frame,
                       channel_callbacks callbacks) {
  auto ch = new channel(how, max_frame, std::move(callbacks));
  uv_pipe_init(loop, &ch->pipe_, 0);
  ch->pipe_.data = ch;
  uv_check_init(loop, &ch->check_);
  ch->check_.data = ch;
  ch->open_handles_ = 2;
  if (uv_pipe_open(&ch->pipe_, fd) != 0) {
    ::close(fd);
    ch->close();
    return nullptr;
  }
  if (ch->cb_.on_frame) {
    ch->read_buf_.reset(new char[read_buffer_size]);
    ch->resume_reading();
  }
  return ch;
}

void channel::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto ch = static_cast<channel*>(h->data);
  *buf = uv_buf_init(ch->read_buf_.get(), read_buffer_size);
}

void channel::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto ch = static_cast<channel*>(s->data);
  if (ch->closed_ || n == 0)
    return;
  if (n == UV_EOF) {
    uv_read_stop(s);
    ch->reading_ = false;
    if (ch->how_ == framing::lines)
      if (auto rest = ch->lines_.take_rest(); !rest.empty() && ch->cb_.on_frame)
        ch->cb_.on_frame(std::move(rest));
    if (!ch->closed_ && ch->cb_.on_eof)
      ch->cb_.on_eof();
    return;
  }
  if (n < 0) {
    ch->fail(make_error(errc::io_error, std::string{"read: "}
                                          + uv_strerror(static_cast<int>(n))));
    return;
  }
  ch->feed(buf->base, static_cast<size_t>(n));
}

void channel::feed(const char* data, size_t n) {
  switch (how_) {
    case framing::raw:
      if (!closed_)
        cb_.on_frame(std::string{data, n});
      return;
    case framing::lines: {
      auto err = lines_.feed(data, n, [this](std::string line) {
        if (!closed_)
          cb_.on_frame(std::move(line));
      });
      if (err)
        fail(std::move(err));
      return;
    }
    case framing::length_prefixed:
      while (n > 0 && !closed_ && reading_) {
        if (in_header_) {
          if (need_ == 0)
            need_ = 4;
          auto take = std::min(need_, n);
          frame_.append(data, take);
          data += take;
          n -= take;
          need_ -= take;
          if (need_ > 0)
            return;
          auto p = reinterpret_cast<const unsigned char*>(frame_.data());
          size_t len = (size_t{p[0]} << 24) | (size_t{p[1]} << 16)
                       | (size_t{p[2]} << 8) | size_t{p[3]};
          frame_.clear();
          if (len > max_frame_) {
            fail(make_error(errc::frame_too_large,
                            "a frame of " + std::to_string(len)
                              + " bytes exceeds "
                              + std::to_string(max_frame_)));
            return;
          }
          in_header_ = false;
          need_ = len;
          frame_.reserve(len);
        }
        auto take = std::min(need_, n);
        frame_.append(data, take);
        data += take;
        n -= take;
        need_ -= take;
        if (need_ == 0) {
          in_header_ = true;
          std::string frame;
          frame.swap(frame_);
          if (!closed_)
            cb_.on_frame(std::move(frame));
        }
      }
      return;
  }
}

void channel::fail(caf::error err) {
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
    reading_ = false;
  }
  if (!closed_ && cb_.on_error)
    cb_.on_error(std::move(err));
}

bool channel::write(std::string payload) {
  if (closed_ || want_shutdown_)
    return false;
  // Frames written in one turn of the loop leave in one system call, once
  // the turn's work is done (the check phase runs right after it).
  switch (how_) {
    case framing::lines:
      batch_.append(payload);
      batch_ += '\n';
      break;
    case framing::length_prefixed:
      batch_.append(length_prefix(payload.size()));
      batch_.append(payload);
      break;
    case framing::raw: batch_.append(payload); break;
  }
  queued_ += batch_.size() - batched_;
  batched_ = batch_.size();
  if (turn_pending_ || check_active_)
    return true;
  // Inside a batch of actor mail, the write waits for the batch's end;
  // anywhere else (a libuv callback) for the check phase of this turn.
  if (io_loop::at_end_of_turn(
        [](void* self) {
          auto ch = static_cast<channel*>(self);
          ch->turn_pending_ = false;
          ch->end_of_turn();
          if (--ch->open_handles_ == 0) // closed meanwhile, handles gone
            delete ch;
        },
        this)) {
    // Counted as a handle: a channel closed meanwhile stays until it runs.
    turn_pending_ = true;
    ++open_handles_;
    return true;
  }
  check_active_ = true;
  uv_check_start(&check_, [](uv_check_t* h) {
    auto ch = static_cast<channel*>(h->data);
    uv_check_stop(&ch->check_);
    ch->check_active_ = false;
    ch->end_of_turn();
  });
  return true;
}

void channel::end_of_turn() {
  if (closed_ || batch_.empty())
    return;
  std::string data;
  data.swap(batch_);
  batched_ = 0;
  if (queue_.empty() && !writing_) {
    // The common case: the fd takes it all at once, no request needed.
    auto buf = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
    auto n = uv_try_write(reinterpret_cast<uv_stream_t*>(&pipe_), &buf, 1);
    if (n == static_cast<int>(data.size())) {
      queued_ -= data.size();
      after_writes();
      return;
    }
    if (n < 0 && n != UV_EAGAIN) {
      queued_ = 0;
      return; // the reader is gone; its EOF or the exit tells the owner
    }
    offset_ = n > 0 ? static_cast<size_t>(n) : 0;
  }
  queue_.push_back(std::move(data));
  flush();
}

void channel::flush() {
  if (writing_ || closed_ || queue_.empty())
    return;
  auto& front = queue_.front();
  auto buf = uv_buf_init(front.data() + offset_,
                         static_cast<unsigned>(front.size() - offset_));
  auto w = new write_req;
  w->owner = this;
  writing_ = true;
  auto rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&pipe_), &buf, 1,
                     [](uv_write_t* req, int status) {
                       auto w = reinterpret_cast<write_req*>(req);
                       auto ch = w->owner;
                       delete w;
                       ch->writing_ = false;
                       if (ch->closed_)
                         return;
                       if (status < 0) {
                         ch->queue_.clear();
                         ch->queued_ = 0;
                         return;
                       }
                       ch->queued_ -= ch->queue_.front().size();
                       ch->queue_.pop_front();
                       ch->offset_ = 0;
                       ch->flush();
                       ch->after_writes();
                     });
  if (rc != 0) {
    delete w;
    writing_ = false;
    queue_.clear();
    queued_ = 0;
  }
}

void channel::after_writes() {
  if (!want_shutdown_ || writing_ || !queue_.empty() || !batch_.empty()
      || closed_)
    return;
  // A read-write socket gets a half-close; a pipe's write end is closed.
  if (reading_ || cb_.on_frame) {
    auto req = new uv_shutdown_t;
    if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&pipe_),
                    [](uv_shutdown_t* r, int) { delete r; })
        != 0)
      delete req;
  } else {
    close();
  }
}

size_t channel::queued_bytes() const noexcept {
  return queued_;
}

void channel::shutdown_write() {
  if (closed_ || want_shutdown_)
    return;
  want_shutdown_ = true;
  after_writes();
}

void channel::close() {
  if (closed_)
    return;
  // The callbacks stay until the object goes (one of them may be running
  // now); none is called once closed_ is set.
  closed_ = true;
  auto done = [](uv_handle_t* h) {
    auto ch = static_cast<channel*>(h->data);
    if (--ch->open_handles_ == 0)
      delete ch;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), done);
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), done);
}

void channel::pause_reading() {
  paused_ = true;
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
    reading_ = false;
  }
}

void channel::resume_reading() {
  paused_ = false;
  if (reading_ || closed_)
    return;
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&pipe_), on_alloc, on_read)
      == 0)
    reading_ = true;
}

} // namespace switchboard::bridges

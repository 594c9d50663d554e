// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/channel.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "switchboard/errc.hpp"
#include "switchboard/io_loop.hpp"

namespace switchboard {

namespace {

constexpr size_t read_buffer_size = 64 * 1024;

struct write_req {
  uv_write_t req;
  channel* owner;
};

struct connect_req {
  uv_connect_t req;
  channel* owner;
  std::function<void(caf::error)> done;
};

// channel_callbacks as a handler, owned by the channel.
class callback_handler final : public channel_handler {
public:
  explicit callback_handler(channel_callbacks cb) : cb_(std::move(cb)) {}

  void on_frame(std::string frame) override {
    if (cb_.on_frame)
      cb_.on_frame(std::move(frame));
  }

  void on_error(caf::error err) override {
    if (cb_.on_error)
      cb_.on_error(std::move(err));
  }

  void on_eof() override {
    if (cb_.on_eof)
      cb_.on_eof();
  }

  void on_drain() override {
    if (cb_.on_drain)
      cb_.on_drain();
  }

  void on_write_error(caf::error err) override {
    if (cb_.on_write_error)
      cb_.on_write_error(std::move(err));
  }

private:
  channel_callbacks cb_;
};

caf::error uv_error(const char* what, int rc) {
  return make_error(errc::io_error, std::string{what} + ": " + uv_err_name(rc)
                                      + " (" + uv_strerror(rc) + ")");
}

} // namespace

channel::channel(framing how, size_t max_frame)
    : decoder_(how, max_frame), how_(how) {}

channel::~channel() {
  set_handler(nullptr);
}

void channel::init_handles(uv_loop_s* loop, bool tcp) {
  tcp_ = tcp;
  if (tcp)
    uv_tcp_init(loop, &h_.tcp);
  else
    uv_pipe_init(loop, &h_.pipe, 0);
  h_.handle.data = this;
  open_handles_ = 1;
  last_read_ = uv_now(loop);
}

channel* channel::open(uv_loop_s* loop, int fd, framing how, size_t max_frame,
                       channel_callbacks callbacks) {
  auto ch = new channel(how, max_frame);
  ch->set_callbacks(std::move(callbacks));
  ch->init_handles(loop, false);
  if (uv_pipe_open(&ch->h_.pipe, fd) != 0) {
    ::close(fd);
    ch->close();
    return nullptr;
  }
  if (ch->reads_)
    ch->resume_reading();
  return ch;
}

channel* channel::accept(uv_stream_t* server, framing how, size_t max_frame,
                         caf::error* err) {
  auto ch = new channel(how, max_frame);
  bool tcp = server->type == UV_TCP;
  ch->init_handles(server->loop, tcp);
  if (auto rc = uv_accept(server, &ch->h_.stream); rc != 0) {
    if (err != nullptr)
      *err = uv_error("accept", rc);
    ch->close();
    return nullptr;
  }
  return ch;
}

channel* channel::connect(uv_loop_s* loop, const sockaddr* addr, framing how,
                          size_t max_frame, channel_callbacks callbacks,
                          std::function<void(caf::error)> on_connect) {
  auto ch = new channel(how, max_frame);
  ch->set_callbacks(std::move(callbacks));
  ch->init_handles(loop, true);
  ch->connected_ = false;
  uv_tcp_nodelay(&ch->h_.tcp, 1);
  auto req = new connect_req;
  req->owner = ch;
  req->done = std::move(on_connect);
  auto rc = uv_tcp_connect(
    &req->req, &ch->h_.tcp, addr, [](uv_connect_t* r, int status) {
      std::unique_ptr<connect_req> req{reinterpret_cast<connect_req*>(r)};
      auto ch = req->owner;
      if (ch->closed_) {
        if (--ch->open_handles_ == 0)
          delete ch;
        return;
      }
      --ch->open_handles_;
      if (status != 0) {
        auto done = std::move(req->done);
        ch->close();
        done(uv_error("connect", status));
        return;
      }
      ch->connected_ = true;
      ch->last_read_ = uv_now(ch->h_.handle.loop);
      if (ch->reads_)
        ch->resume_reading();
      req->done(caf::none);
      if (!ch->closed_)
        ch->end_of_turn(); // frames written while connecting
    });
  if (rc != 0) {
    delete req;
    ch->close();
    // Reported like an asynchronous failure, so callers have one path.
    on_connect(uv_error("connect", rc));
    return nullptr;
  }
  // The request holds the channel until its callback has run.
  ++ch->open_handles_;
  return ch;
}

void channel::set_callbacks(channel_callbacks callbacks) {
  bool reads = static_cast<bool>(callbacks.on_frame);
  set_handler(new callback_handler(std::move(callbacks)));
  owns_handler_ = true;
  reads_ = reads;
}

void channel::set_handler(channel_handler* h) {
  if (owns_handler_)
    delete static_cast<callback_handler*>(handler_);
  owns_handler_ = false;
  handler_ = h;
  if (h != nullptr)
    reads_ = true;
}

void channel::on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  // One buffer for every channel of the loop thread: a read is decoded
  // (and what a frame keeps, copied) before the next read begins, so an
  // idle connection holds no read buffer at all.
  static thread_local std::unique_ptr<char[]> shared{
    new char[read_buffer_size]};
  *buf = uv_buf_init(shared.get(), read_buffer_size);
}

void channel::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto ch = static_cast<channel*>(s->data);
  if (ch->closed_ || n == 0)
    return;
  ch->last_read_ = uv_now(s->loop);
  if (n == UV_EOF) {
    uv_read_stop(s);
    ch->reading_ = false;
    auto err = ch->decoder_.finish([ch](std::string&& frame) {
      if (!ch->closed_ && ch->handler_ != nullptr)
        ch->handler_->on_frame(std::move(frame));
      return !ch->closed_;
    });
    if (err) {
      if (!ch->closed_ && ch->handler_ != nullptr)
        ch->handler_->on_error(std::move(err));
      return;
    }
    if (!ch->closed_ && ch->handler_ != nullptr)
      ch->handler_->on_eof();
    return;
  }
  if (n < 0) {
    ch->fail(uv_error("read", static_cast<int>(n)));
    return;
  }
  ch->feed(buf->base, static_cast<size_t>(n));
}

void channel::feed(const char* data, size_t n) {
  auto err = decoder_.feed(data, n, [this](std::string&& frame) {
    if (closed_ || close_when_flushed_ || handler_ == nullptr)
      return false;
    handler_->on_frame(std::move(frame));
    return !closed_ && !close_when_flushed_;
  });
  if (err) {
    fail(std::move(err));
    return;
  }
  if (decoder_.pending() == 0)
    partial_since_ = 0;
  else if (partial_since_ == 0)
    partial_since_ = last_read_ > 0 ? last_read_ : 1;
}

void channel::fail(caf::error err) {
  if (reading_) {
    uv_read_stop(&h_.stream);
    reading_ = false;
  }
  if (!closed_ && handler_ != nullptr)
    handler_->on_error(std::move(err));
}

bool channel::write(std::string_view payload) {
  if (closed_ || want_shutdown_ || close_when_flushed_)
    return false;
  // Frames written in one turn of the loop leave in one system call, once
  // the turn's work is done (the check phase runs right after it).
  auto before = batch_.size();
  if (encode_frame(how_, payload, batch_))
    return false;
  queued_ += batch_.size() - before;
  if (turn_pending_)
    return true;
  // Inside a batch of actor mail, the write waits for the batch's end; in
  // a libuv callback for the end of this turn's callbacks.
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
  // Off the loop's turn (it is stopping): now.
  end_of_turn();
  return true;
}

void channel::end_of_turn() {
  if (closed_ || batch_.empty() || !connected_)
    return;
  std::string data;
  data.swap(batch_);
  if (queue_.empty() && !writing_) {
    // The common case: the fd takes it all at once, no request needed.
    auto buf = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
    auto n = uv_try_write(&h_.stream, &buf, 1);
    if (n == static_cast<int>(data.size())) {
      queued_ -= data.size();
      after_writes();
      return;
    }
    if (n < 0 && n != UV_EAGAIN) {
      write_failed(n);
      return;
    }
    offset_ = n > 0 ? static_cast<size_t>(n) : 0;
  }
  queue_.push_back(std::move(data));
  flush();
}

void channel::write_failed(int status) {
  queue_.clear();
  queued_ = 0;
  batch_.clear();
  offset_ = 0;
  // A handler that ignores this leaves it to the reader's EOF or error (or
  // a child's exit) to tell the owner.
  if (!closed_ && handler_ != nullptr)
    handler_->on_write_error(uv_error("write", status));
  // Nothing left to flush: a channel waiting for that closes now.
  if (!closed_ && close_when_flushed_)
    close();
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
  auto rc =
    uv_write(&w->req, &h_.stream, &buf, 1, [](uv_write_t* req, int status) {
      auto w = reinterpret_cast<write_req*>(req);
      auto ch = w->owner;
      delete w;
      ch->writing_ = false;
      if (ch->closed_)
        return;
      if (status < 0) {
        ch->write_failed(status);
        return;
      }
      ch->queued_ -= ch->queue_.front().size();
      ch->queue_.pop_front();
      ch->offset_ = 0;
      ch->flush();
      if (!ch->writing_ && ch->handler_ != nullptr)
        ch->handler_->on_drain();
      if (!ch->closed_)
        ch->after_writes();
    });
  if (rc != 0) {
    delete w;
    writing_ = false;
    write_failed(rc);
  }
}

void channel::after_writes() {
  if (writing_ || !queue_.empty() || !batch_.empty() || closed_)
    return;
  if (close_when_flushed_) {
    close();
    return;
  }
  if (!want_shutdown_)
    return;
  // A read-write socket gets a half-close; a pipe's write end is closed.
  if (reading_ || reads_) {
    auto req = new uv_shutdown_t;
    if (uv_shutdown(req, &h_.stream, [](uv_shutdown_t* r, int) { delete r; })
        != 0)
      delete req;
  } else {
    close();
  }
}

size_t channel::queued_bytes() const noexcept {
  return queued_;
}

size_t channel::pending_bytes() const noexcept {
  return decoder_.pending();
}

bool set_tcp_options(int fd, std::chrono::seconds keepalive) {
  int one = 1;
  bool ok = ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0;
  if (keepalive.count() <= 0)
    return ok;
  int idle = static_cast<int>(std::clamp<int64_t>(keepalive.count(), 1, 32767));
  int interval = 1;
  int probes = 10;
  return ok
         && ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0
         && ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle))
              == 0
         && ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval,
                         sizeof(interval))
              == 0
         && ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes))
              == 0;
}

bool channel::keepalive(std::chrono::seconds idle) {
  uv_os_fd_t fd;
  if (!tcp_ || uv_fileno(&h_.handle, &fd) != 0)
    return false;
  return set_tcp_options(fd, std::max(idle, std::chrono::seconds{1}));
}

std::string channel::peer() const {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (tcp_) {
    if (uv_tcp_getpeername(&h_.tcp, reinterpret_cast<sockaddr*>(&ss), &len)
        != 0)
      return "";
    char host[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET6) {
      auto a = reinterpret_cast<sockaddr_in6*>(&ss);
      uv_ip6_name(a, host, sizeof(host));
      return std::string{"["} + host
             + "]:" + std::to_string(ntohs(a->sin6_port));
    }
    auto a = reinterpret_cast<sockaddr_in*>(&ss);
    uv_ip4_name(a, host, sizeof(host));
    return std::string{host} + ":" + std::to_string(ntohs(a->sin_port));
  }
  uv_os_fd_t fd;
  if (uv_fileno(&h_.handle, &fd) != 0)
    return "";
  socklen_t slen = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &slen) != 0
      || ss.ss_family != AF_UNIX)
    return "";
  auto un = reinterpret_cast<sockaddr_un*>(&ss);
  auto path_len = slen - offsetof(sockaddr_un, sun_path);
  if (path_len == 0 || (un->sun_path[0] == '\0' && path_len == 1))
    return "unix";
  if (un->sun_path[0] == '\0')
    return "@" + std::string{un->sun_path + 1, path_len - 1};
  return std::string{un->sun_path, strnlen(un->sun_path, path_len)};
}

void channel::shutdown_write() {
  if (closed_ || want_shutdown_)
    return;
  want_shutdown_ = true;
  after_writes();
}

void channel::close_when_flushed() {
  if (closed_)
    return;
  close_when_flushed_ = true;
  if (reading_) {
    uv_read_stop(&h_.stream);
    reading_ = false;
  }
  if (batch_.empty() && queue_.empty() && !writing_)
    close();
}

void channel::close() {
  if (closed_)
    return;
  // The handler stays until the object goes (it may be running now); it
  // is not called once closed_ is set.
  closed_ = true;
  uv_close(&h_.handle, [](uv_handle_t* h) {
    auto ch = static_cast<channel*>(h->data);
    if (--ch->open_handles_ == 0)
      delete ch;
  });
}

void channel::write_now() {
  end_of_turn();
}

void channel::pause_reading() {
  paused_ = true;
  if (reading_) {
    uv_read_stop(&h_.stream);
    reading_ = false;
  }
}

void channel::resume_reading() {
  paused_ = false;
  if (reading_ || closed_ || !connected_ || close_when_flushed_)
    return;
  if (uv_read_start(&h_.stream, on_alloc, on_read) == 0)
    reading_ = true;
}

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/channel.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <fcntl.h>
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

// A write that carries an fd: libuv sends a handle, so the fd is wrapped
// in one for the write and closed with it afterwards.
struct handle_write_req {
  uv_write_t req;
  channel* owner;
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
};

// Whether `fd` is a TCP socket (else, for our purposes, a Unix one).
bool is_inet_socket(int fd) {
  int domain = 0;
  socklen_t len = sizeof(domain);
  return ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0
         && (domain == AF_INET || domain == AF_INET6);
}

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

  void on_fd(int fd) override {
    if (cb_.on_fd)
      cb_.on_fd(fd);
    else
      ::close(fd);
  }

private:
  channel_callbacks cb_;
};

caf::error uv_error(const char* what, int rc) {
  return make_error(errc::io_error, std::string{what} + ": " + uv_err_name(rc)
                                      + " (" + uv_strerror(rc) + ")");
}

} // namespace

void channel_handler::on_fd(int fd) {
  ::close(fd);
}

channel::channel(framing how, size_t max_frame)
    : decoder_(how, max_frame), how_(how) {}

channel::~channel() {
  set_handler(nullptr);
  drop_queue();
}

void channel::init_handles(uv_loop_s* loop, bool tcp, bool ipc) {
  tcp_ = tcp;
  ipc_ = ipc;
  if (tcp)
    uv_tcp_init(loop, &h_.tcp);
  else
    uv_pipe_init(loop, &h_.pipe, ipc ? 1 : 0);
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

channel* channel::open_ipc(uv_loop_s* loop, int fd, framing how,
                           size_t max_frame, channel_callbacks callbacks) {
  auto ch = new channel(how, max_frame);
  ch->set_callbacks(std::move(callbacks));
  ch->init_handles(loop, false, true);
  if (uv_pipe_open(&ch->h_.pipe, fd) != 0) {
    ::close(fd);
    ch->close();
    return nullptr;
  }
  if (ch->reads_)
    ch->resume_reading();
  return ch;
}

channel* channel::adopt(uv_loop_s* loop, int fd, framing how, size_t max_frame,
                        caf::error* err) {
  auto ch = new channel(how, max_frame);
  bool tcp = is_inet_socket(fd);
  ch->init_handles(loop, tcp);
  auto rc = tcp ? uv_tcp_open(&ch->h_.tcp, fd) : uv_pipe_open(&ch->h_.pipe, fd);
  if (rc != 0) {
    if (err != nullptr)
      *err = uv_error("adopt", rc);
    ::close(fd);
    ch->close();
    return nullptr;
  }
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
  if (ch->ipc_)
    ch->take_pending_fds();
  if (!ch->closed_)
    ch->feed(buf->base, static_cast<size_t>(n));
}

void channel::take_pending_fds() {
  // libuv hands a received fd out only inside a handle of its own: accept
  // it into one, keep a duplicate, and close the handle.
  while (!closed_ && uv_pipe_pending_count(&h_.pipe) > 0) {
    auto type = uv_pipe_pending_type(&h_.pipe);
    auto tmp = new handle_write_req;
    if (type == UV_TCP)
      uv_tcp_init(h_.handle.loop, &tmp->h.tcp);
    else
      uv_pipe_init(h_.handle.loop, &tmp->h.pipe, 0);
    uv_os_fd_t fd = -1;
    int own = -1;
    if ((type == UV_TCP || type == UV_NAMED_PIPE)
        && uv_accept(&h_.stream, &tmp->h.stream) == 0
        && uv_fileno(&tmp->h.handle, &fd) == 0)
      own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    uv_close(&tmp->h.handle, [](uv_handle_t* h) {
      delete reinterpret_cast<handle_write_req*>(
        reinterpret_cast<char*>(h) - offsetof(handle_write_req, h));
    });
    if (type != UV_TCP && type != UV_NAMED_PIPE) {
      // A UDP socket or worse: libuv cannot take it out of the queue
      // unless accepted as what it is; nothing here wants one.
      uv_udp_t* udp = new uv_udp_t;
      uv_udp_init(h_.handle.loop, udp);
      uv_accept(&h_.stream, reinterpret_cast<uv_stream_t*>(udp));
      uv_close(reinterpret_cast<uv_handle_t*>(udp),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_udp_t*>(h); });
      continue;
    }
    if (own >= 0 && handler_ != nullptr)
      handler_->on_fd(own);
    else if (own >= 0)
      ::close(own);
  }
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
  queue_.push_back(chunk{std::move(data)});
  flush();
}

bool channel::write_handle(std::string_view payload, int fd) {
  if (!ipc_ || closed_ || want_shutdown_ || close_when_flushed_) {
    ::close(fd);
    return false;
  }
  std::string frame;
  if (encode_frame(how_, payload, frame)) {
    ::close(fd);
    return false;
  }
  // Everything written before goes first: this turn's frames join the
  // queue now, and the fd waits its turn in it.
  end_of_turn();
  if (closed_) {
    ::close(fd);
    return false;
  }
  queued_ += frame.size();
  queue_.push_back(chunk{std::move(frame), fd});
  flush();
  return true;
}

int channel::duplicate_fd() const {
  uv_os_fd_t fd;
  if (uv_fileno(&h_.handle, &fd) != 0)
    return -1;
  return ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

void channel::close_queued_fds() {
  for (size_t i = 0; i < queue_.size(); ++i)
    if (queue_[i].fd >= 0) {
      ::close(queue_[i].fd);
      queue_[i].fd = -1;
    }
}

void channel::drop_queue() {
  close_queued_fds();
  queue_.clear();
}

void channel::write_failed(int status) {
  drop_queue();
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
  if (front.fd >= 0 && offset_ == 0) {
    write_with_handle();
    return;
  }
  auto buf = uv_buf_init(front.bytes.data() + offset_,
                         static_cast<unsigned>(front.bytes.size() - offset_));
  auto w = new write_req;
  w->owner = this;
  writing_ = true;
  auto rc =
    uv_write(&w->req, &h_.stream, &buf, 1, [](uv_write_t* req, int status) {
      auto w = reinterpret_cast<write_req*>(req);
      auto ch = w->owner;
      delete w;
      ch->wrote(status);
    });
  if (rc != 0) {
    delete w;
    writing_ = false;
    write_failed(rc);
  }
}

void channel::wrote(int status) {
  writing_ = false;
  if (closed_)
    return;
  if (status < 0) {
    write_failed(status);
    return;
  }
  queued_ -= queue_.front().bytes.size();
  queue_.pop_front();
  offset_ = 0;
  flush();
  if (!writing_ && handler_ != nullptr)
    handler_->on_drain();
  if (!closed_)
    after_writes();
}

void channel::write_with_handle() {
  auto& front = queue_.front();
  auto w = new handle_write_req;
  w->owner = this;
  auto fd = front.fd;
  front.fd = -1; // the handle owns it from here
  auto loop = h_.handle.loop;
  bool tcp = is_inet_socket(fd);
  int rc =
    tcp ? uv_tcp_init(loop, &w->h.tcp) : uv_pipe_init(loop, &w->h.pipe, 0);
  if (rc != 0) {
    ::close(fd);
    delete w;
    write_failed(rc);
    return;
  }
  auto done = [](uv_handle_t* h) {
    delete reinterpret_cast<handle_write_req*>(reinterpret_cast<char*>(h)
                                               - offsetof(handle_write_req, h));
  };
  rc = tcp ? uv_tcp_open(&w->h.tcp, fd) : uv_pipe_open(&w->h.pipe, fd);
  if (rc != 0) {
    ::close(fd);
    uv_close(&w->h.handle, done);
    write_failed(rc);
    return;
  }
  auto buf =
    uv_buf_init(front.bytes.data(), static_cast<unsigned>(front.bytes.size()));
  writing_ = true;
  // The write holds the channel until its callback has run.
  ++open_handles_;
  rc =
    uv_write2(&w->req, &h_.stream, &buf, 1, &w->h.stream,
              [](uv_write_t* req, int status) {
                auto w = reinterpret_cast<handle_write_req*>(req);
                auto ch = w->owner;
                // This process's copy of the fd goes with the handle.
                uv_close(&w->h.handle, [](uv_handle_t* h) {
                  delete reinterpret_cast<handle_write_req*>(
                    reinterpret_cast<char*>(h) - offsetof(handle_write_req, h));
                });
                if (--ch->open_handles_ == 0) {
                  delete ch;
                  return;
                }
                ch->wrote(status);
              });
  if (rc != 0) {
    --open_handles_;
    writing_ = false;
    uv_close(&w->h.handle, done);
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
  // is not called once closed_ is set. Fds waiting to be sent are closed
  // (the bytes stay until libuv has cancelled a write in flight).
  closed_ = true;
  close_queued_fds();
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

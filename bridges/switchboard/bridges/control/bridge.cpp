// switchboard: an embeddable C++ actor runtime. MIT License.

// The control endpoint: a Unix socket listener on the io loop, one actor on
// the loop thread that owns it.
//
// libuv callbacks (accept, read) run on the loop thread but outside the
// actor, so they only cut lines and mail them to the actor; the actor parses
// them, asks other actors and writes replies. Everything that touches a
// handle runs on the loop thread; `shared` is the state both sides reach, and
// it is freed when the last handle's close callback has run.

#include "switchboard/bridges/control/bridge.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>
#include <future>
#include <limits>
#include <mutex>
#include <vector>
#include <type_traits>
#include <map>
#include <memory>
#include <optional>

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>

#include <nlohmann/json.hpp>
#include <uv.h>

#include <switchboard/assert.hpp>
#include <switchboard/defaults.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/framing.hpp>
#include <switchboard/io_loop.hpp>
#include <switchboard/log.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/metrics.hpp>
#include <switchboard/node.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/remote.hpp>
#include <switchboard/status.hpp>

namespace switchboard::bridges::control {

namespace {

using line_atom = caf::atom_constant<caf::atom("line")>;
using reloaded_atom = caf::atom_constant<caf::atom("reloaded")>;
using json = nlohmann::json;

struct connection;

// Shared by the actor and the handles; the listener keeps it alive until its
// close callback has run. Loop thread only, like everything below that
// touches a handle.
struct shared : std::enable_shared_from_this<shared> {
  std::shared_ptr<shared> keep_alive;
  io_loop* loop = nullptr;
  switchboard::node* owner = nullptr;
  std::string path;
  uv_pipe_t listener;
  caf::actor bridge;
  std::map<uint64_t, connection*> connections;
  uint64_t next_id = 1;
  bool closed = false;
};

struct connection {
  uv_pipe_t pipe;
  uint64_t id = 0;
  shared* owner = nullptr;
  frame_decoder lines{framing::lines, defaults::max_control_line};
  // Requests handed to the actor and not answered yet.
  size_t pending = 0;
  // Writes handed to libuv and not completed yet.
  size_t writing = 0;
  // The client sent EOF (it may still wait for replies), or the connection
  // is to close once its writes are out.
  bool read_closed = false;
  bool closing = false;
  // Runs when the connection closes (a trace ends with its client).
  std::function<void()> on_close;
};

void close_now(connection* c) {
  if (auto fn = std::move(c->on_close))
    fn();
  c->owner->connections.erase(c->id);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
           [](uv_handle_t* h) { delete static_cast<connection*>(h->data); });
}

// Closes once every reply is written: closing a stream with writes in
// flight would cancel them.
void close_when_done(connection* c) {
  c->closing = true;
  if (c->writing == 0)
    close_now(c);
}

void close_listener(shared* s) {
  uv_close(reinterpret_cast<uv_handle_t*>(&s->listener), [](uv_handle_t* h) {
    static_cast<shared*>(h->data)->keep_alive.reset();
  });
}

// Writes one line to connection `conn_id`; `is_reply` marks the answer to a
// request. A client that sent EOF is closed after its last reply.
void write_line(shared* s, uint64_t conn_id, std::string text, bool is_reply) {
  auto i = s->connections.find(conn_id);
  if (i == s->connections.end())
    return; // The client left before its reply was ready.
  auto c = i->second;
  if (is_reply && c->pending > 0)
    --c->pending;
  struct write_req {
    uv_write_t req;
    std::string data;
    shared* owner;
    uint64_t conn;
  };
  auto w = new write_req;
  w->data = std::move(text);
  w->data += '\n';
  w->owner = s;
  w->conn = conn_id;
  auto buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  auto rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->pipe), &buf, 1,
                     [](uv_write_t* req, int status) {
                       auto w = reinterpret_cast<write_req*>(req);
                       auto i = w->owner->connections.find(w->conn);
                       if (i != w->owner->connections.end()) {
                         auto c = i->second;
                         --c->writing;
                         if (status < 0)
                           close_now(c); // The client is gone.
                         else if (c->closing && c->writing == 0)
                           close_now(c);
                       }
                       delete w;
                     });
  if (rc != 0) {
    delete w;
    close_now(c);
    return;
  }
  ++c->writing;
  if (c->read_closed && c->pending == 0)
    close_when_done(c);
}

// Closes the listener and every connection and removes the socket file.
void shut_down(shared* s) {
  // The bridge holds `s` and `s` holds the bridge: break the cycle.
  s->bridge = caf::actor{};
  if (s->closed)
    return;
  s->closed = true;
  while (!s->connections.empty())
    close_now(s->connections.begin()->second);
  unlink(s->path.c_str());
  close_listener(s);
}

void hand_over(connection* c, std::string line) {
  if (!c->owner->bridge)
    return; // Shutting down: the connection closes with the listener.
  ++c->pending;
  caf::anon_send(c->owner->bridge, line_atom::value, c->id, std::move(line));
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto c = static_cast<connection*>(stream->data);
  std::unique_ptr<char[]> owned{buf->base};
  if (nread == UV_EOF && c->on_close) {
    // A trace's client left: nobody reads the lines any more.
    close_now(c);
    return;
  }
  if (nread == UV_EOF) {
    // The client is done sending but may wait for its replies; a last line
    // without a newline is still a request.
    uv_read_stop(stream);
    c->lines.finish([c](std::string&& rest) {
      hand_over(c, std::move(rest));
      return true;
    });
    c->read_closed = true;
    if (c->pending == 0)
      close_when_done(c);
    return;
  }
  if (nread < 0) {
    close_now(c);
    return;
  }
  auto err = c->lines.feed(buf->base, static_cast<size_t>(nread),
                           [c](std::string&& line) {
                             hand_over(c, std::move(line));
                             return true;
                           });
  if (err) {
    uv_read_stop(stream);
    write_line(c->owner, c->id,
               json{{"ok", false}, {"error", render(err)}}.dump(), false);
    close_when_done(c);
  }
}

void on_connection(uv_stream_t* server, int status) {
  auto s = static_cast<shared*>(server->data);
  if (status < 0) {
    s->owner->log(log_level::warn, "control",
                  std::string{"accept failed: "} + uv_err_name(status));
    return;
  }
  auto c = new connection;
  c->owner = s;
  c->id = s->next_id++;
  uv_pipe_init(s->loop->native(), &c->pipe, 0);
  c->pipe.data = c;
  if (auto rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->pipe));
      rc != 0) {
    s->owner->log(log_level::warn, "control",
                  std::string{"accept failed: "} + uv_err_name(rc));
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
             [](uv_handle_t* h) { delete static_cast<connection*>(h->data); });
    return;
  }
  s->connections.emplace(c->id, c);
  auto rc = uv_read_start(
    reinterpret_cast<uv_stream_t*>(&c->pipe),
    [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
      *buf = uv_buf_init(new char[suggested], static_cast<unsigned>(suggested));
    },
    on_read);
  if (rc != 0) {
    s->owner->log(log_level::warn, "control",
                  std::string{"read failed: "} + uv_err_name(rc));
    close_now(c);
  }
}

// Refuses a socket directory that another user could write to: they could
// replace the socket with their own.
caf::error check_directory(const std::string& path) {
  auto slash = path.rfind('/');
  auto dir = slash == std::string::npos ? std::string{"."}
             : slash == 0               ? std::string{"/"}
                                        : path.substr(0, slash);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return make_error(errc::io_error, dir + ": cannot create the directory: "
                                        + std::strerror(errno));
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return make_error(errc::io_error, dir + ": not a directory");
  bool others_write = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  if ((st.st_uid != getuid() && st.st_uid != 0)
      || (others_write && (st.st_mode & S_ISVTX) == 0))
    return make_error(errc::io_error,
                      dir
                        + ": owned or writable by another user; refusing "
                          "to put the control socket there");
  return caf::none;
}

// Binds and listens on the loop thread. A stale socket file (nobody accepts
// on it) is replaced; a live one is an error.
caf::error listen_on(shared* s) {
  SWITCHBOARD_ASSERT(s->loop->in_loop_thread());
  auto loop = s->loop->native();
  // Nothing to close until the listener handle exists.
  s->closed = true;
  if (s->path.size() >= sizeof(sockaddr_un::sun_path))
    return make_error(errc::io_error,
                      s->path + ": path too long for a Unix socket");
  if (auto err = check_directory(s->path))
    return err;
  struct stat st;
  if (lstat(s->path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return make_error(errc::io_error,
                        s->path + ": exists and is not a socket");
    auto fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    s->path.copy(addr.sun_path, s->path.size());
    auto live =
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (live)
      return make_error(errc::io_error,
                        s->path + ": another node listens on it");
    unlink(s->path.c_str());
  }
  uv_pipe_init(loop, &s->listener, 0);
  s->listener.data = s;
  s->keep_alive = s->shared_from_this();
  s->closed = false;
  auto fail = [s](const std::string& what) {
    // The listener must be closed even though it never listened.
    s->closed = true;
    close_listener(s);
    return make_error(errc::io_error, s->path + ": " + what);
  };
  auto uv_fail = [&](const char* what, int rc) {
    return fail(std::string{what} + ": " + uv_err_name(rc) + " ("
                + uv_strerror(rc) + ")");
  };
  if (auto rc = uv_pipe_bind(&s->listener, s->path.c_str()); rc != 0)
    return uv_fail("bind", rc);
  // The directory check above keeps others out while the mode is wider.
  if (chmod(s->path.c_str(), 0600) != 0) {
    unlink(s->path.c_str());
    return fail(std::string{"chmod: "} + std::strerror(errno));
  }
  if (auto rc = uv_listen(reinterpret_cast<uv_stream_t*>(&s->listener),
                          defaults::control_backlog, on_connection);
      rc != 0) {
    unlink(s->path.c_str());
    return uv_fail("listen", rc);
  }
  return caf::none;
}

// Reads the field `key` of `req` if present; a value of another type is an
// error that names the field.
template<class T>
caf::error field(const json& req, const char* key, T& out, const char* what) {
  auto i = req.find(key);
  if (i == req.end())
    return caf::none;
  bool ok = false;
  if constexpr (std::is_same_v<T, std::string>)
    ok = i->is_string();
  else
    ok = i->is_number_integer() && i->template get<int64_t>() > 0;
  if (!ok)
    return make_error(errc::bad_message, std::string{"field '"} + key
                                           + "' must be " + what + ", found "
                                           + i->dump());
  out = i->template get<T>();
  return caf::none;
}

// -- trace --------------------------------------------------------------------

// One `switchboard trace`: lines from any sending thread are queued here and
// written to the client's connection on the loop thread. It limits itself:
// after `count` lines, or once more than `rate` come within one second, it
// ends the trace (as Erlang's recon_trace does) rather than flood the node.
class control_trace final : public trace_sink,
                            public std::enable_shared_from_this<control_trace> {
public:
  control_trace(std::shared_ptr<shared> s, uint64_t conn, json id,
                actor_metrics* block, int64_t count, int64_t rate)
      : shared_(std::move(s)), conn_(conn), id_(std::move(id)), block_(block),
        count_(count), rate_(rate) {}

  void emit(const char* direction, const std::string& from,
            const std::string& to, std::string payload) override {
    auto now = std::chrono::system_clock::now();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                now.time_since_epoch())
                .count();
    auto line = json{{"trace", direction},
                     {"t_us", us},
                     {"from", from},
                     {"to", to},
                     {"message", std::move(payload)}}
                  .dump(-1, ' ', false, json::error_handler_t::replace);
    std::string why;
    bool post = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (ended_)
        return;
      auto sec = us / 1'000'000;
      if (sec != window_) {
        window_ = sec;
        in_window_ = 0;
      }
      if (++in_window_ > rate_) {
        why = "more than " + std::to_string(rate_)
              + " messages in one second (--rate)";
      } else {
        lines_.push_back(std::move(line));
        if (++seen_ >= count_)
          why = std::to_string(count_) + " messages traced (--count)";
      }
      if (!why.empty()) {
        ended_ = true;
        reason_ = why;
      }
      post = !posted_;
      posted_ = true;
    }
    if (!why.empty())
      block_->end_trace(this);
    if (post)
      schedule();
  }

  // Ends the trace without a last line (the client left).
  void cancel() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ended_ = true;
      lines_.clear();
    }
    block_->end_trace(this);
  }

private:
  void schedule() {
    auto self = shared_from_this();
    shared_->loop->post([self] { self->flush(); });
  }

  // Loop thread: writes what is queued, and the final line once ended.
  void flush() {
    std::vector<std::string> lines;
    bool ended = false;
    std::string reason;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      lines.swap(lines_);
      posted_ = false;
      ended = ended_;
      reason = reason_;
    }
    auto s = shared_.get();
    if (s->connections.count(conn_) == 0) {
      cancel();
      return;
    }
    for (auto& line : lines)
      write_line(s, conn_, std::move(line), false);
    if (ended && !reason.empty() && !finished_) {
      finished_ = true;
      auto i = s->connections.find(conn_);
      if (i != s->connections.end())
        i->second->on_close = nullptr;
      json last{{"ok", true}, {"done", reason}};
      if (!id_.is_null())
        last["id"] = id_;
      write_line(s, conn_, last.dump(), true);
    }
  }

  std::shared_ptr<shared> shared_;
  uint64_t conn_;
  json id_;
  actor_metrics* block_;
  int64_t count_;
  int64_t rate_;
  std::mutex mtx_;
  std::vector<std::string> lines_;
  bool posted_ = false;
  bool ended_ = false;
  std::string reason_;
  int64_t window_ = 0;
  int64_t in_window_ = 0;
  int64_t seen_ = 0;
  // Loop thread only.
  bool finished_ = false;
};

// -- the actor ----------------------------------------------------------------

class bridge_actor : public loop_actor<caf::event_based_actor> {
public:
  bridge_actor(caf::actor_config& cfg, io_loop& loop, switchboard::node& n,
               std::shared_ptr<shared> s)
      : loop_actor(cfg, loop), node_(n), shared_(std::move(s)) {}

  caf::behavior make_behavior() override {
    attach_functor([s = shared_] { shut_down(s.get()); });
    return {
      [this](line_atom, uint64_t conn, std::string& line) {
        handle(conn, line);
      },
      // A reload's result, from the node's reload thread.
      [this](reloaded_atom, uint64_t conn, std::string& id, std::string& body) {
        reply(conn, json::parse(id), json::parse(body));
      },
      [this](status_atom) {
        return json_message::trusted(
          json{{"kind", "control"},
               {"path", shared_->path},
               {"connections", shared_->connections.size()}}
            .dump());
      },
    };
  }

private:
  void reply(uint64_t conn, const json& id, json body) {
    if (!id.is_null())
      body["id"] = id;
    write_line(shared_.get(), conn, body.dump(), true);
  }

  void fail(uint64_t conn, const json& id, const caf::error& err) {
    reply(conn, id, json{{"ok", false}, {"error", render(err)}});
  }

  // The registry entry named `name`; if there is none, the request fails.
  std::optional<registry_entry> find(uint64_t conn, const json& id,
                                     const std::string& name) {
    auto entry = node_.entry(name);
    if (!entry && name.find('/') != std::string::npos
        && !node_.lookup(remote::manager_name))
      fail(conn, id,
           make_error(errc::unknown_actor,
                      "no actor named '" + name + "': node " + node_.name()
                        + " has no [node] peers or listen, so it reaches no "
                          "other node"));
    else if (!entry)
      fail(conn, id,
           make_error(errc::unknown_actor, "no actor named '" + name + "'"));
    return entry;
  }

  void handle(uint64_t conn, const std::string& line) {
    auto req = json::parse(line, nullptr, false);
    if (req.is_discarded() || !req.is_object()) {
      fail(conn, nullptr,
           make_error(errc::invalid_json,
                      "a request is one JSON object per line"));
      return;
    }
    auto id = req.contains("id") ? req["id"] : json{};
    int64_t timeout_ms = node_.request_timeout().count();
    std::string op;
    std::string to;
    std::string address;
    for (auto err :
         {field(req, "op", op, "a string"), field(req, "to", to, "a string"),
          field(req, "address", address, "a string"),
          field(req, "timeout_ms", timeout_ms,
                "a positive whole number of milliseconds")}) {
      if (err) {
        fail(conn, id, err);
        return;
      }
    }
    auto timeout = std::chrono::milliseconds{timeout_ms};
    if (op == "send")
      send(conn, id, to, req, timeout);
    else if (op == "status")
      status(conn, id, address, timeout);
    else if (op == "command")
      command(conn, id, to, req, timeout);
    else if (op == "trace")
      trace(conn, id, address, req);
    else if (op == "reload")
      reload(conn, id, req);
    else if (op == "metrics")
      reply(conn, id,
            json{{"ok", true},
                 {"enabled", node_.metrics_enabled()},
                 {"text", node_.metrics().prometheus()}});
    else
      fail(conn, id,
           make_error(errc::bad_message, "unknown op '" + op
                                           + "' (expected send, status, "
                                             "command, metrics, reload or "
                                             "trace)"));
  }

  // {"op":"reload","file":PATH,"dry_run":BOOL}: the node reloads its config
  // (node::reload) in its own thread; the reply carries the plan, as
  // applied, or every problem of the file.
  void reload(uint64_t conn, const json& id, const json& req) {
    std::string file;
    if (auto err = field(req, "file", file, "a string")) {
      fail(conn, id, err);
      return;
    }
    bool dry_run = req.contains("dry_run") && req["dry_run"].is_boolean()
                   && req["dry_run"].get<bool>();
    auto self = caf::actor_cast<caf::actor>(this);
    node_.reload_in_background(
      file, !dry_run,
      [self, conn, id = id.dump(), dry_run](caf::expected<reload_plan> r) {
        json body;
        if (r)
          body = json{{"ok", true},
                      {"applied", !dry_run},
                      {"plan", json::parse(r->to_json())},
                      {"text", r->to_text()}};
        else
          body = json{{"ok", false}, {"error", render(r.error())}};
        caf::anon_send(self, reloaded_atom::value, conn, id, body.dump());
      });
  }

  // A lifecycle command (messages.hpp) for a supervising actor:
  // {"op":"command","to":NAME,"command":"restart"} (start, stop, restart,
  // reload, eof), or "signal" with "signal": "SIGHUP" (or a number).
  void command(uint64_t conn, const json& id, const std::string& to,
               const json& req, std::chrono::milliseconds timeout) {
    auto entry = find(conn, id, to);
    if (!entry)
      return;
    std::string cmd;
    if (auto err = field(req, "command", cmd, "a string")) {
      fail(conn, id, err);
      return;
    }
    caf::message msg;
    if (cmd == "start")
      msg = caf::make_message(start_atom::value);
    else if (cmd == "stop")
      msg = caf::make_message(stop_atom::value);
    else if (cmd == "restart")
      msg = caf::make_message(restart_atom::value);
    else if (cmd == "reload")
      msg = caf::make_message(reload_atom::value);
    else if (cmd == "eof")
      msg = caf::make_message(eof_atom::value);
    else if (cmd == "signal") {
      auto sig = signal_number(req.contains("signal") ? req["signal"] : json{});
      if (!sig) {
        fail(conn, id, sig.error());
        return;
      }
      msg = caf::make_message(signal_atom::value, *sig);
    } else {
      fail(conn, id,
           make_error(errc::bad_message,
                      "unknown command '" + cmd
                        + "' (expected start, stop, restart, reload, eof or "
                          "signal)"));
      return;
    }
    request(entry->handle, timeout, std::move(msg))
      .then(
        [this, conn, id](caf::ok_atom) {
          reply(conn, id, json{{"ok", true}});
        },
        [this, conn, id, to, cmd, kind = entry->kind,
         timeout](caf::error& err) {
          if (err == caf::sec::unexpected_message)
            err = make_error(errc::unexpected_message,
                             "'" + to + "' (" + kind + ") does not take the "
                               + cmd + " command");
          else if (err == caf::sec::request_timeout)
            err = make_error(errc::timeout,
                             "'" + to + "' did not finish " + cmd + " within "
                               + std::to_string(timeout.count()) + " ms");
          fail(conn, id, err);
        });
  }

  // "SIGHUP", "HUP" or 1.
  static caf::expected<int32_t> signal_number(const json& x) {
    if (x.is_number_integer()) {
      auto n = x.get<int64_t>();
      if (n > 0 && n < NSIG)
        return static_cast<int32_t>(n);
    } else if (x.is_string()) {
      auto name = x.get<std::string>();
      if (name.rfind("SIG", 0) == 0)
        name = name.substr(3);
      for (int i = 1; i < NSIG; ++i)
        if (auto abbrev = sigabbrev_np(i); abbrev != nullptr && name == abbrev)
          return i;
    }
    return make_error(errc::bad_message,
                      "field 'signal' must name a signal (\"SIGHUP\", or a "
                      "number), found "
                        + x.dump());
  }

  void send(uint64_t conn, const json& id, const std::string& to,
            const json& req, std::chrono::milliseconds timeout) {
    auto entry = find(conn, id, to);
    if (!entry)
      return;
    if (!entry->accepts_json) {
      fail(conn, id,
           make_error(errc::unexpected_message,
                      "'" + to + "' (" + entry->kind
                        + ") does not take JSON requests"));
      return;
    }
    if (!req.contains("message")) {
      fail(conn, id, make_error(errc::bad_message, "no \"message\" to send"));
      return;
    }
    auto msg = json_message::trusted(req["message"].dump());
    request(caf::actor_cast<json_actor>(entry->handle), timeout, std::move(msg))
      .then(
        [this, conn, id, to](json_message& r) {
          // The reply goes out as it came, on one line: line breaks in JSON
          // text can only be white space (inside strings they are escaped).
          auto& text = r.text;
          text.erase(
            std::remove_if(text.begin(), text.end(),
                           [](char c) { return c == '\n' || c == '\r'; }),
            text.end());
          if (!is_json(text)) {
            fail(conn, id,
                 make_error(errc::invalid_json,
                            "'" + to + "' replied with text that is not JSON"));
            return;
          }
          auto line = "{\"ok\":true,\"reply\":" + text
                      + (id.is_null() ? "" : ",\"id\":" + id.dump()) + "}";
          write_line(shared_.get(), conn, std::move(line), true);
        },
        [this, conn, id, to, timeout](caf::error& err) {
          if (err == caf::sec::request_timeout)
            err = make_error(errc::timeout, "'" + to + "' did not reply within "
                                              + std::to_string(timeout.count())
                                              + " ms");
          fail(conn, id, err);
        });
  }

  // {"op":"trace","address":NAME,"count":N,"rate":R}: a line per message
  // NAME receives or sends, then {"ok":true,"done":REASON} once a limit
  // ends it; the client closing the connection ends it too.
  void trace(uint64_t conn, const json& id, const std::string& address,
             const json& req) {
    int64_t count = std::numeric_limits<int64_t>::max();
    int64_t rate = defaults::trace_rate;
    for (auto err :
         {field(req, "count", count, "a positive whole number"),
          field(req, "rate", rate, "a positive whole number per second")}) {
      if (err) {
        fail(conn, id, err);
        return;
      }
    }
    if (address.find('/') != std::string::npos) {
      fail(conn, id,
           make_error(errc::bad_message,
                      "trace shows this node's own actors; ask node "
                        + address.substr(0, address.find('/'))
                        + " itself (--node)"));
      return;
    }
    if (!find(conn, id, address))
      return;
    if (!node_.metrics_enabled()) {
      fail(conn, id,
           make_error(errc::bad_message,
                      "this node counts nothing ([node] metrics = false), "
                      "so it cannot trace"));
      return;
    }
    auto block = node_.metrics().find(address);
    if (block == nullptr || !block->attached.load()) {
      fail(conn, id,
           make_error(errc::unexpected_message,
                      "'" + address + "' is not a metered actor"));
      return;
    }
    auto i = shared_->connections.find(conn);
    if (i == shared_->connections.end())
      return;
    auto sink =
      std::make_shared<control_trace>(shared_, conn, id, block, count, rate);
    if (!block->start_trace(sink)) {
      fail(conn, id,
           make_error(errc::name_taken, "'" + address + "' is traced already"));
      return;
    }
    i->second->on_close = [sink] { sink->cancel(); };
    // The trace's lines follow; its last line is the reply.
    json first{{"tracing", address}};
    if (!id.is_null())
      first["id"] = id;
    write_line(shared_.get(), conn, first.dump(), false);
  }

  void status(uint64_t conn, const json& id, const std::string& address,
              std::chrono::milliseconds timeout) {
    std::vector<registry_entry> entries;
    if (address.empty()) {
      entries = node_.registry().list();
    } else if (auto e = find(conn, id, address)) {
      entries.push_back(*e);
    } else {
      return;
    }
    collect_status(
      this, node_.name(), std::move(entries), timeout,
      [this, conn, id](std::string text) {
        auto body = json::parse(text);
        body["ok"] = true;
        reply(conn, id, std::move(body));
      },
      node_.metrics_enabled() ? &node_.metrics() : nullptr);
  }

  switchboard::node& node_;
  std::shared_ptr<shared> shared_;
};

} // namespace

caf::expected<caf::actor> start(node& n, const std::string& path) {
  auto& loop = n.loop();
  auto s = std::make_shared<shared>();
  s->loop = &loop;
  s->owner = &n;
  s->path = path;
  auto h = spawn_on_loop<bridge_actor>(n.system(), loop, n, s);
  s->bridge = h;
  std::promise<caf::error> listening;
  auto result = listening.get_future();
  auto posted = loop.post([s, &loop, &listening] {
    auto err = listen_on(s.get());
    if (!err) // The loop may stop while the bridge lives: close then.
      loop.on_stop([s] { shut_down(s.get()); });
    listening.set_value(std::move(err));
  });
  auto err = posted
               ? result.get()
               : make_error(errc::not_running, "the io loop is not running");
  if (!err)
    err = n.add("control", h, "control", kind_section::bridges, false);
  if (err) {
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
    return err;
  }
  return caf::actor{h};
}

} // namespace switchboard::bridges::control

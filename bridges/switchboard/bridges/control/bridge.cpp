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

#include <future>
#include <map>
#include <memory>

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>

#include <nlohmann/json.hpp>
#include <uv.h>

#include <switchboard/defaults.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/io_loop.hpp>
#include <switchboard/line_splitter.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/registry.hpp>

namespace switchboard::bridges::control {

namespace {

using line_atom = caf::atom_constant<caf::atom("line")>;
using json = nlohmann::json;

struct connection;

// Shared by the actor and the handles; the listener keeps it alive until its
// close callback has run.
struct shared : std::enable_shared_from_this<shared> {
  std::shared_ptr<shared> keep_alive;
  io_loop* loop = nullptr;
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
  line_splitter lines{defaults::max_control_line};
};

void close_connection(connection* c) {
  c->owner->connections.erase(c->id);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
           [](uv_handle_t* h) { delete static_cast<connection*>(h->data); });
}

void close_listener(shared* s) {
  uv_close(reinterpret_cast<uv_handle_t*>(&s->listener), [](uv_handle_t* h) {
    static_cast<shared*>(h->data)->keep_alive.reset();
  });
}

void write_line(shared* s, uint64_t conn_id, std::string text) {
  auto i = s->connections.find(conn_id);
  if (i == s->connections.end())
    return; // The client left before its reply was ready.
  struct write_req {
    uv_write_t req;
    std::string data;
  };
  auto w = new write_req;
  w->data = std::move(text);
  w->data += '\n';
  auto buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  auto rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&i->second->pipe),
                     &buf, 1, [](uv_write_t* req, int) {
                       delete reinterpret_cast<write_req*>(req);
                     });
  if (rc != 0)
    delete w;
}

// Closes the listener and every connection and removes the socket file.
void shut_down(shared* s) {
  // The bridge holds `s` and `s` holds the bridge: break the cycle.
  s->bridge = caf::actor{};
  if (s->closed)
    return;
  s->closed = true;
  while (!s->connections.empty())
    close_connection(s->connections.begin()->second);
  unlink(s->path.c_str());
  close_listener(s);
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto c = static_cast<connection*>(stream->data);
  std::unique_ptr<char[]> owned{buf->base};
  if (nread < 0) {
    close_connection(c);
    return;
  }
  auto err = c->lines.feed(buf->base, static_cast<size_t>(nread),
                           [c](std::string line) {
                             if (c->owner->bridge)
                               caf::anon_send(c->owner->bridge, line_atom::value,
                                              c->id, std::move(line));
                           });
  if (err) {
    write_line(c->owner, c->id,
               json{{"ok", false}, {"error", render(err)}}.dump());
    close_connection(c);
  }
}

void on_connection(uv_stream_t* server, int status) {
  auto s = static_cast<shared*>(server->data);
  if (status < 0)
    return;
  auto c = new connection;
  c->owner = s;
  c->id = s->next_id++;
  uv_pipe_init(s->loop->native(), &c->pipe, 0);
  c->pipe.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
             [](uv_handle_t* h) { delete static_cast<connection*>(h->data); });
    return;
  }
  s->connections.emplace(c->id, c);
  uv_read_start(
    reinterpret_cast<uv_stream_t*>(&c->pipe),
    [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
      *buf = uv_buf_init(new char[suggested], static_cast<unsigned>(suggested));
    },
    on_read);
}

// Binds and listens on the loop thread. A stale socket file (nobody accepts
// on it) is replaced; a live one is an error.
caf::error listen_on(shared* s) {
  auto loop = s->loop->native();
  // Nothing to close until the listener handle exists.
  s->closed = true;
  if (s->path.size() >= sizeof(sockaddr_un::sun_path))
    return make_error(errc::io_error,
                      s->path + ": path too long for a Unix socket");
  struct stat st;
  if (lstat(s->path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return make_error(errc::io_error,
                        s->path + ": exists and is not a socket");
    auto fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    s->path.copy(addr.sun_path, s->path.size());
    auto live = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                == 0;
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
  auto fail = [s](const char* what, int rc) {
    auto msg = s->path + ": " + what + ": " + uv_err_name(rc) + " ("
               + uv_strerror(rc) + ")";
    // The listener must be closed even though it never listened.
    s->closed = true;
    close_listener(s);
    return make_error(errc::io_error, msg);
  };
  if (auto rc = uv_pipe_bind(&s->listener, s->path.c_str()); rc != 0)
    return fail("bind", rc);
  chmod(s->path.c_str(), 0600);
  if (auto rc = uv_listen(reinterpret_cast<uv_stream_t*>(&s->listener), 16,
                          on_connection);
      rc != 0) {
    unlink(s->path.c_str());
    return fail("listen", rc);
  }
  return caf::none;
}

// -- the actor ----------------------------------------------------------------

class bridge_actor : public loop_actor<caf::event_based_actor> {
public:
  bridge_actor(caf::actor_config& cfg, io_loop& loop, switchboard::node& n,
               std::shared_ptr<shared> s)
    : loop_actor(cfg, loop), node_(n), shared_(std::move(s)) {
  }

  caf::behavior make_behavior() override {
    attach_functor([s = shared_] { shut_down(s.get()); });
    return {
      [this](line_atom, uint64_t conn, std::string& line) {
        handle(conn, line);
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
    write_line(shared_.get(), conn, body.dump());
  }

  void fail(uint64_t conn, const json& id, const caf::error& err) {
    reply(conn, id, json{{"ok", false}, {"error", render(err)}});
  }

  void handle(uint64_t conn, const std::string& line) {
    auto req = json::parse(line, nullptr, false);
    if (req.is_discarded() || !req.is_object()) {
      fail(conn, nullptr,
           make_error(errc::invalid_json,
                      "a request is one JSON object per line"));
      return;
    }
    auto id = req.value("id", json{});
    auto timeout = std::chrono::milliseconds{
      req.value("timeout_ms", static_cast<int64_t>(node_.request_timeout().count()))};
    auto op = req.value("op", std::string{});
    if (op == "send")
      send(conn, id, req, timeout);
    else if (op == "status")
      status(conn, id, req.value("address", std::string{}), timeout);
    else
      fail(conn, id,
           make_error(errc::bad_message,
                      "unknown op '" + op + "' (expected send or status)"));
  }

  void send(uint64_t conn, const json& id, const json& req,
            std::chrono::milliseconds timeout) {
    auto to = req.value("to", std::string{});
    auto entry = node_.registry().find(to);
    if (!entry) {
      fail(conn, id,
           make_error(errc::unknown_actor, "no actor named '" + to + "'"));
      return;
    }
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
        [this, conn, id](json_message& r) {
          auto text = "{\"ok\":true,\"reply\":" + r.text
                      + (id.is_null() ? "" : ",\"id\":" + id.dump()) + "}";
          write_line(shared_.get(), conn, std::move(text));
        },
        [this, conn, id, to, timeout](caf::error& err) {
          if (err == caf::sec::request_timeout)
            err = make_error(errc::timeout,
                             "'" + to + "' did not reply within "
                               + std::to_string(timeout.count()) + " ms");
          fail(conn, id, err);
        });
  }

  void status(uint64_t conn, const json& id, const std::string& address,
              std::chrono::milliseconds timeout) {
    std::vector<registry_entry> entries;
    if (address.empty()) {
      entries = node_.registry().list();
    } else if (auto e = node_.registry().find(address)) {
      entries.push_back(*e);
    } else {
      fail(conn, id,
           make_error(errc::unknown_actor, "no actor named '" + address + "'"));
      return;
    }
    struct pending {
      json actors = json::array();
      size_t left = 0;
    };
    auto p = std::make_shared<pending>();
    p->left = entries.size();
    auto finish = [this, conn, id, p] {
      if (--p->left > 0)
        return;
      reply(conn, id,
            json{{"ok", true}, {"node", node_.name()}, {"actors", p->actors}});
    };
    if (entries.empty()) {
      ++p->left;
      finish();
      return;
    }
    for (auto& e : entries) {
      json row{{"name", e.name},
               {"kind", e.kind},
               {"section", e.section == kind_section::actors ? "actors"
                                                              : "bridges"},
               {"id", e.handle.id()}};
      if (e.handle == caf::actor_cast<caf::actor>(this)) {
        row["status"] = {{"kind", "control"},
                         {"path", shared_->path},
                         {"connections", shared_->connections.size()}};
        p->actors.push_back(std::move(row));
        finish();
        continue;
      }
      request(e.handle, timeout, status_atom::value)
        .then(
          [p, row, finish](json_message& st) mutable {
            row["status"] = json::parse(st.text, nullptr, false);
            p->actors.push_back(std::move(row));
            finish();
          },
          [p, row, finish](caf::error& err) mutable {
            row["status"] = {{"error", render(err)}};
            p->actors.push_back(std::move(row));
            finish();
          });
    }
  }

  switchboard::node& node_;
  std::shared_ptr<shared> shared_;
};

} // namespace

caf::expected<caf::actor> start(node& n, const std::string& path) {
  auto& loop = n.loop();
  // Create the socket's directory (private to the user) if it is missing.
  if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0)
    mkdir(path.substr(0, slash).c_str(), 0700);
  auto s = std::make_shared<shared>();
  s->loop = &loop;
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
  auto err = posted ? result.get()
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

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/child_process.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <cmath>
#include <map>
#include <optional>
#include <unordered_map>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <nlohmann/json.hpp>

#include <uv.h>

#include <switchboard/bridges/process/binary_link.hpp>
#include <switchboard/bridges/process/cgroup.hpp>
#include <switchboard/bridges/process/node_channel.hpp>
#include <switchboard/bridges/process/spawn.hpp>
#include <switchboard/channel.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/handoff.hpp>
#include <switchboard/log.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/restart_policy.hpp>
#include <switchboard/status.hpp>

#include "switchboard/actors/buffers.hpp"

namespace switchboard::actors {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
// Sent to itself by the loop callbacks (the pidfd, the pipes' EOF): the
// actor's own state changes only inside its behaviour.
using exit_check_atom = caf::atom_constant<caf::atom("exitcheck")>;

struct child_options {
  std::string name;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  bool env_replace = false;
  std::string cwd;
  std::string in_mode;  // lines, length-prefixed, raw, inherit, none
  std::string out_mode; // the same
  std::string err_mode; // log, lines, inherit, discard
  bool text = false;    // format = "text": stdio lines are strings
  std::string ipc;      // none, json, binary
  std::string to;
  std::string events;
  std::string correlate;
  restart_policy restart;
  caf::timespan kill_timeout{std::chrono::seconds(1)};
  int64_t max_memory = 0;
  size_t max_frame = 16 * 1024 * 1024;
  size_t max_held = 1000;
  // When a started child counts as ready (start, restart and a cluster's
  // rolling reload wait for it): "started", or "message" once it sends the
  // JSON string "ready" (Node: process.send('ready'), as PM2's wait_ready).
  bool ready_message = false;
  caf::timespan ready_timeout{std::chrono::seconds(30)};
  // A listening socket the child inherits at fd 3 (LISTEN_FDS); not owned.
  int listen_fd = -1;
  // Process-shared buffers the child gets at every start, by name.
  std::map<std::string, shared_buffer> buffers;
  // cpu-max, memory-max, pids-max: the child's cgroup, made once.
  bridges::cgroup_limits limits;
  std::shared_ptr<bridges::child_cgroup> cgroup;
};

bool is_message_mode(const std::string& mode) {
  return framing_from_string(mode).has_value();
}

framing framing_of(const std::string& mode) {
  return framing_from_string(mode).value_or(framing::lines);
}

// Sends `sig` to the child's process group (the child leads it, so what it
// started gets it too), or to the child alone when there is no group. Not
// both: a child that handles signals (a node: the second SIGTERM exits at
// once) would take one signal for two.
void signal_child(pid_t pid, int sig) {
  if (::kill(-pid, sig) != 0)
    ::kill(pid, sig);
}

// The child's "I am ready" (ready = "message") on a JSON channel: the JSON
// string "ready" (on a text channel, the line `ready`).
bool is_ready_signal(const std::string& frame) {
  auto first = frame.find_first_not_of(" \t\r");
  auto last = frame.find_last_not_of(" \t\r");
  return first != std::string::npos
         && frame.compare(first, last - first + 1, "\"ready\"") == 0;
}

// At most `n` bytes of `s`, for error events.
std::string truncated(const std::string& s, size_t n = 200) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// What the child's exit means: {"code": N, "signal": null} or the reverse.
struct exit_status {
  int code = -1;
  int signal = 0;
  std::string error; // the exec error, if it never ran
};

class child_actor : public loop_actor<caf::event_based_actor> {
public:
  child_actor(caf::actor_config& cfg, io_loop& loop, switchboard::node& owner,
              child_options opts, actor_metrics* m)
      : loop_actor(cfg, loop), node_(owner), opt_(std::move(opts)),
        tracker_(opt_.restart) {
    // Before the first start, so the pid is never missed.
    if (m != nullptr) {
      attach_metrics(m);
      m->pid.store(0, std::memory_order_relaxed);
    }
  }

  caf::behavior make_behavior() override {
    // Alive as long as the child is supervised, referenced or not; the
    // node's stop (or an exit message) ends it.
    self_ref_ = caf::actor_cast<caf::actor>(this);
    if (opt_.ipc == "binary") {
      link_ = std::make_unique<bridges::binary_link>(
        this, opt_.name, opt_.max_frame, node_.request_timeout(),
        bridges::link_hooks{[this] { return target(opt_.to, to_); },
                            [this](const std::string& line) {
                              node_.log(log_level::warn, opt_.name, line);
                            }});
      // Messages of any type go to the child as they are.
      set_default_handler(
        [this](caf::scheduled_actor*,
               caf::message_view&) -> caf::result<caf::message> {
          if (auto err = forward_binary())
            return err;
          return caf::delegated<caf::message>{};
        });
    }
    set_exit_handler([this](caf::exit_msg& msg) {
      if (msg.reason == caf::exit_reason::user_shutdown
          || msg.reason == caf::exit_reason::normal) {
        exit_reason_ = msg.reason;
        if (state_ == state::running || state_ == state::stopping) {
          intent_ = intent::quit;
          stop_child();
        } else {
          quit(exit_reason_);
        }
        return;
      }
      quit(msg.reason);
    });
    start_child();
    return {
      [this](json_message& m) -> caf::result<json_message> {
        return on_message(m);
      },
      // A connection a stream bridge hands over (its hand-to key).
      [this](hand_atom, handed_connection& c) -> caf::result<caf::ok_atom> {
        return hand_over(c);
      },
      [this](signal_atom, int32_t sig) -> caf::result<caf::ok_atom> {
        if (state_ != state::running)
          return not_running();
        if (::kill(pid_, sig) != 0)
          return make_error(switchboard::errc::io_error,
                            opt_.name + ": kill: " + std::strerror(errno));
        return caf::ok_atom::value;
      },
      [this](stop_atom) -> caf::result<caf::ok_atom> {
        if (state_ == state::waiting) {
          ++generation_;
          state_ = state::stopped;
          fail_held(make_error(switchboard::errc::no_channel,
                               opt_.name + " was stopped"));
        }
        if (state_ != state::running && state_ != state::stopping)
          return caf::ok_atom::value;
        auto rp = make_response_promise<caf::ok_atom>();
        stop_waiters_.push_back(rp);
        intent_ = intent::stay_stopped;
        stop_child();
        return rp;
      },
      [this](start_atom) -> caf::result<caf::ok_atom> {
        if (state_ == state::running && ready_)
          return caf::ok_atom::value;
        if (state_ == state::running) {
          // Started, not ready yet (ready = "message").
          auto rp = make_response_promise<caf::ok_atom>();
          start_waiters_.push_back(rp);
          return rp;
        }
        if (state_ == state::stopping) {
          intent_ = intent::restart;
        } else {
          ++generation_;
          tracker_.reset();
          start_child();
        }
        if (state_ == state::running)
          return caf::ok_atom::value;
        auto rp = make_response_promise<caf::ok_atom>();
        start_waiters_.push_back(rp);
        return rp;
      },
      [this](restart_atom) -> caf::result<caf::ok_atom> {
        auto rp = make_response_promise<caf::ok_atom>();
        start_waiters_.push_back(rp);
        if (state_ == state::running || state_ == state::stopping) {
          intent_ = intent::restart;
          stop_child();
        } else {
          ++generation_;
          start_child();
        }
        return rp;
      },
      [this](eof_atom) -> caf::result<caf::ok_atom> {
        if (state_ != state::running)
          return not_running();
        if (in_ == nullptr)
          return make_error(switchboard::errc::no_channel,
                            opt_.name + " has no stdin pipe (stdin = \""
                              + opt_.in_mode + "\")");
        in_->shutdown_write();
        in_ = nullptr; // closes itself once written
        return caf::ok_atom::value;
      },
      [this](exit_check_atom) {
        if (!reaped_ || state_ == state::stopped || state_ == state::gave_up
            || state_ == state::waiting)
          return;
        if (readers_ == 0 || drained_) {
          finish_exit();
          return;
        }
        // Output still in the pipes comes first; a grandchild holding
        // them open does not keep the exit waiting for long.
        if (drain_timer_ == nullptr) {
          start_timer(drain_timer_, std::chrono::milliseconds(100),
                      [](uv_timer_t* t) {
                        auto self = static_cast<child_actor*>(t->data);
                        self->drained_ = true;
                        self->check_exit();
                      });
        }
      },
      [this](tick_atom, uint64_t gen) {
        if (gen == generation_ && state_ == state::waiting)
          start_child();
      },
      [this](status_atom) {
        std::vector<std::pair<std::string, std::string>> fields = {
          {"state", json(state_name()).dump()},
          {"restarts", std::to_string(restarts_)},
          {"bad_lines",
           std::to_string(bad_frames_
                          + (link_ != nullptr ? link_->bad_frames() : 0))},
          {"node_internal", std::to_string(internal_)},
        };
        if (handed_ > 0)
          fields.emplace_back("handed", std::to_string(handed_));
        if (state_ == state::running || state_ == state::stopping) {
          fields.emplace_back("pid", std::to_string(pid_));
          fields.emplace_back(
            "uptime_ms",
            std::to_string(
              std::chrono::duration_cast<std::chrono::milliseconds>(
                clock::now() - started_at_)
                .count()));
          auto proc = read_process(pid_);
          fields.emplace_back("rss", std::to_string(proc.rss_bytes));
          fields.emplace_back("cpu", json(cpu_percent(proc)).dump());
          fields.emplace_back("ready", ready_ ? "true" : "false");
        }
        return status_reply(this, "child-process", std::move(fields));
      },
    };
  }

  void on_exit() override {
    // The actor ends (node stop, a kill): no child survives it.
    if (pid_ > 0 && !reaped_) {
      signal_child(pid_, SIGKILL);
      int status;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
    }
    close_io();
    auto err =
      make_error(switchboard::errc::child_exited, opt_.name + " stopped");
    fail_pending(err);
    fail_held(err);
    for (auto& rp : stop_waiters_)
      rp.deliver(caf::ok_atom::value);
    stop_waiters_.clear();
    for (auto& rp : start_waiters_)
      rp.deliver(err);
    start_waiters_.clear();
    self_ref_ = caf::actor{};
    loop_actor::on_exit();
  }

private:
  enum class state { stopped, running, stopping, waiting, gave_up };
  // What happens once the child has exited after a stop.
  enum class intent { none, restart, stay_stopped, quit };

  const char* state_name() const {
    switch (state_) {
      case state::stopped: return "stopped";
      case state::running: return "running";
      case state::stopping: return "stopping";
      case state::waiting: return "restarting";
      case state::gave_up: return "gave-up";
    }
    return "?";
  }

  caf::error not_running() {
    return make_error(switchboard::errc::no_channel,
                      opt_.name + " is not running (" + state_name() + ")");
  }

  // -- sending to the child ---------------------------------------------------

  // Checks and encodes an outbound message for the child's channel.
  // Takes the text over: on the common path it is written as it is.
  caf::expected<std::string> encode(json_message& m) {
    // A line of JSON: a message that is not JSON, or spans lines, would
    // break the channel (a Node child dies on an invalid line).
    if (opt_.ipc == "json")
      return bridges::node_channel_line(std::move(m.text), opt_.name);
    if (!opt_.text && framing_of(opt_.in_mode) == framing::lines)
      return bridges::json_line(std::move(m.text), opt_.name, false);
    if (opt_.text) {
      // Text lines: the message is a JSON string, written as its content.
      auto parsed = json::parse(m.text, nullptr, false);
      if (!parsed.is_string())
        return make_error(switchboard::errc::bad_message,
                          opt_.name
                            + ": format = \"text\" takes JSON strings, got "
                            + truncated(m.text));
      auto s = parsed.get<std::string>();
      if (framing_of(opt_.in_mode) == framing::lines
          && s.find('\n') != std::string::npos)
        return make_error(switchboard::errc::bad_message,
                          opt_.name + ": a text line may not hold a newline");
      return s;
    }
    return std::move(m.text);
  }

  // ipc = "binary": the current message, whatever its types, goes to the
  // child; a request's promise waits for the reply with its id.
  caf::error forward_binary() {
    if (state_ == state::stopped || state_ == state::gave_up)
      return not_running();
    bool running = state_ == state::running && link_->attached();
    if (!running && held_.size() >= opt_.max_held)
      return make_error(switchboard::errc::queue_full,
                        opt_.name + " is restarting and holds "
                          + std::to_string(held_.size())
                          + " messages already (max-held)");
    auto& x = *current_mailbox_element();
    bool is_request = x.mid.is_request();
    auto out = link_->prepare(x.move_content_to_message(), is_request);
    if (!out)
      return std::move(out.error());
    if (!running) {
      held h;
      h.is_request = is_request;
      h.binary = std::move(*out);
      held_.push_back(std::move(h));
      return caf::none;
    }
    auto err = link_->write(std::move(*out));
    return is_request ? caf::none : err; // a request's promise has it
  }

  caf::result<json_message> on_message(json_message& m) {
    if (link_ != nullptr) {
      if (auto err = forward_binary())
        return err;
      return caf::delegated<json_message>{};
    }
    bool is_request = current_message_id().is_request();
    std::string key;
    if (is_request && !opt_.correlate.empty()) {
      auto parsed = json::parse(m.text, nullptr, false);
      auto i = parsed.is_object() ? parsed.find(opt_.correlate) : parsed.end();
      if (!parsed.is_object() || i == parsed.end())
        return make_error(switchboard::errc::bad_message,
                          opt_.name + ": a request needs the field \""
                            + opt_.correlate + "\" (correlate)");
      key = i->dump();
      if (by_key_.count(key) > 0)
        return make_error(switchboard::errc::bad_message,
                          opt_.name + ": a request with " + opt_.correlate
                            + " = " + key + " is already waiting");
    }
    auto text = encode(m);
    if (!text)
      return std::move(text.error());
    if (state_ == state::stopped || state_ == state::gave_up)
      return not_running();
    if (state_ != state::running || out_msg_ == nullptr) {
      if (state_ == state::running)
        return make_error(switchboard::errc::no_channel,
                          opt_.name + " has no message channel (stdin = \""
                            + opt_.in_mode + "\", ipc = \"" + opt_.ipc + "\")");
      // Restarting: held, up to a bound.
      if (held_.size() >= opt_.max_held)
        return make_error(switchboard::errc::queue_full,
                          opt_.name + " is restarting and holds "
                            + std::to_string(held_.size())
                            + " messages already (max-held)");
      held h;
      h.text = std::move(*text);
      h.key = std::move(key);
      if (is_request) {
        h.rp = make_response_promise<json_message>();
        h.is_request = true;
        auto rp = h.rp;
        held_.push_back(std::move(h));
        return rp;
      }
      held_.push_back(std::move(h));
      return caf::delegated<json_message>{};
    }
    if (!out_msg_->write(std::move(*text)))
      return make_error(switchboard::errc::io_error,
                        opt_.name + ": the channel is closed");
    if (!is_request)
      return caf::delegated<json_message>{};
    auto rp = make_response_promise<json_message>();
    wait_for_reply(rp, std::move(key));
    return rp;
  }

  void wait_for_reply(caf::typed_response_promise<json_message> rp,
                      std::string key) {
    if (opt_.correlate.empty())
      fifo_.push_back(std::move(rp));
    else
      by_key_.emplace(std::move(key), std::move(rp));
  }

  void flush_held() {
    while (!held_.empty() && state_ == state::running && out_msg_ != nullptr) {
      auto h = std::move(held_.front());
      held_.pop_front();
      if (h.binary) {
        // A request's promise gets a failure itself.
        if (auto err = link_->write(std::move(*h.binary)); err && !h.is_request)
          node_.log(log_level::warn, opt_.name,
                    "a held message was not delivered: " + render(err));
        continue;
      }
      if (!out_msg_->write(std::move(h.text))) {
        if (h.is_request)
          h.rp.deliver(make_error(switchboard::errc::io_error,
                                  opt_.name + ": write failed"));
        continue;
      }
      if (h.is_request)
        wait_for_reply(std::move(h.rp), std::move(h.key));
    }
  }

  // -- from the child ---------------------------------------------------------

  // One frame of the child's message channel (stdout or ipc).
  void on_child_frame(std::string frame) {
    acting_as self{this};
    json_message m;
    bool json_channel = opt_.ipc == "json" || !opt_.text;
    if (!ready_ && opt_.ready_message
        && (json_channel ? is_ready_signal(frame) : frame == "ready")) {
      became_ready();
      return;
    }
    if (json_channel) {
      if (opt_.ipc == "json" && bridges::is_node_internal(frame)) {
        ++internal_; // Node's own channel traffic
        on_node_internal(frame);
        return;
      }
      if (!is_json(frame)) {
        ++bad_frames_;
        event(json{{"event", "error"},
                   {"reason", "the child sent a line that is not JSON"},
                   {"line", truncated(frame)}});
        return;
      }
      m = json_message::trusted(std::move(frame));
    } else {
      m = json_message::trusted(dump(json(std::move(frame))));
    }
    deliver(std::move(m));
  }

  // Node's answers to the connections handed to it, and a handle it sent
  // (which the channel closed: nothing here takes one).
  void on_node_internal(const std::string& frame) {
    auto cmd = json::parse(frame, nullptr, false).value("cmd", "");
    if (cmd == "NODE_HANDLE_ACK" && !awaiting_ack_.empty()) {
      ::close(awaiting_ack_.front().fd);
      awaiting_ack_.pop_front();
    } else if (cmd == "NODE_HANDLE_NACK" && !awaiting_ack_.empty()) {
      // The child's answers come in the order of the handles: the oldest
      // failed. Sent again, as Node does, up to three times.
      auto h = std::move(awaiting_ack_.front());
      awaiting_ack_.pop_front();
      if (h.attempts >= 3 || ipc_ == nullptr) {
        ::close(h.fd);
        event(json{{"event", "error"},
                   {"reason", "the child could not take a handed connection "
                              "(NODE_HANDLE_NACK, "
                                + std::to_string(h.attempts) + " times)"}});
        return;
      }
      auto again = ::fcntl(h.fd, F_DUPFD_CLOEXEC, 0);
      if (again >= 0 && ipc_->write_handle(h.line, again)) {
        ++h.attempts;
        awaiting_ack_.push_back(std::move(h));
      } else {
        ::close(h.fd);
      }
    } else if (cmd == "NODE_HANDLE") {
      // Until it hears back, a Node child holds every later message.
      if (ipc_ != nullptr)
        ipc_->write(R"({"cmd":"NODE_HANDLE_ACK"})");
      event(json{{"event", "error"},
                 {"reason", "the child sent a handle; a switchboard parent "
                            "takes none, so it was closed"}});
    }
  }

  // Writes `c` to the child with its socket: Node's own handle message
  // (the child gets it as process.on('message', (m, socket) => ...)), or
  // a connection frame that a switchboard child's parent bridge serves.
  caf::result<caf::ok_atom> hand_over(const handed_connection& c) {
    if (state_ != state::running)
      return not_running();
    if (ipc_ == nullptr)
      return make_error(switchboard::errc::no_channel,
                        opt_.name
                          + " has no IPC channel to take a connection "
                            "on (ipc = \"json\" or \"binary\")");
    auto fd = c.duplicate();
    if (fd < 0)
      return make_error(switchboard::errc::io_error,
                        opt_.name + ": dup: " + std::strerror(errno));
    bool sent;
    if (link_ != nullptr) {
      sent = !link_->write_connection(fd, c.bridge, c.peer);
    } else {
      auto line = dump(json{
        {"cmd", "NODE_HANDLE"},
        {"type", "net.Socket"},
        {"msg",
         {{"type", "connection"}, {"bridge", c.bridge}, {"peer", c.peer}}}});
      // A copy stays until the child answers (NODE_HANDLE_ACK), to send
      // again on a NACK.
      auto keep = c.duplicate();
      sent = ipc_->write_handle(line, fd);
      if (sent && keep >= 0) {
        if (awaiting_ack_.size() >= opt_.max_held) {
          // A child that never answers (not Node) keeps no more than this.
          ::close(awaiting_ack_.front().fd);
          awaiting_ack_.pop_front();
        }
        awaiting_ack_.push_back({keep, std::move(line), 1});
      } else if (keep >= 0) {
        ::close(keep);
      }
    }
    if (!sent)
      return make_error(switchboard::errc::no_channel,
                        opt_.name + ": the IPC channel is closed");
    ++handed_;
    return caf::ok_atom::value;
  }

  void deliver(json_message m) {
    if (!opt_.correlate.empty()) {
      auto parsed = json::parse(m.text, nullptr, false);
      if (parsed.is_object()) {
        auto i = parsed.find(opt_.correlate);
        if (i != parsed.end()) {
          auto j = by_key_.find(i->dump());
          if (j != by_key_.end()) {
            auto rp = std::move(j->second);
            by_key_.erase(j);
            rp.deliver(std::move(m));
            return;
          }
        }
      }
    } else if (!fifo_.empty()) {
      auto rp = std::move(fifo_.front());
      fifo_.pop_front();
      rp.deliver(std::move(m));
      return;
    }
    unsolicited(std::move(m));
  }

  void unsolicited(json_message m) {
    // Sent without a sender: whatever the receiver answers goes nowhere
    // (and not back into the child).
    if (auto to = target(opt_.to, to_)) {
      caf::anon_send(caf::actor_cast<json_actor>(to), std::move(m));
      return;
    }
    node_.log(log_level::warn, opt_.name,
              "a message nobody asked for (no \"to\"): " + truncated(m.text));
  }

  void on_stderr_line(std::string line) {
    if (opt_.err_mode == "lines") {
      auto m = json_message::trusted(
        dump(json{{"stderr", line}, {"child", opt_.name}}));
      if (auto to = target(opt_.to, to_)) {
        caf::anon_send(caf::actor_cast<json_actor>(to), std::move(m));
        return;
      }
    }
    node_.log(log_level::info, opt_.name, line);
  }

  // The actor named `name`, looked up once and again when it has gone.
  caf::actor target(const std::string& name, caf::actor& cache) {
    return node_.lookup(name, cache);
  }

  void event(json ev) {
    ev["child"] = opt_.name;
    auto text = dump(ev);
    if (node_.send_event(opt_.events, events_, text))
      return;
    auto kind = ev.value("event", "");
    // Without an events actor, what matters goes to the log.
    if (kind != "started")
      node_.log(event_level(kind), opt_.name, text);
  }

  // -- starting and stopping --------------------------------------------------

  void start_child() {
    state_ = state::waiting;
    exit_ = exit_status{};
    reaped_ = false;
    drained_ = false;
    bridges::spawn_spec spec;
    spec.argv = opt_.argv;
    spec.cwd = opt_.cwd;
    if (opt_.env_replace)
      spec.env.clear();
    else
      // Channels and sockets meant for this node are not the child's.
      spec.env = bridges::current_environment(
        {"NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE",
         "SWITCHBOARD_CHANNEL_FD", shared_buffer::env_name, "LISTEN_FDS",
         "LISTEN_PID", "LISTEN_FDNAMES"});
    for (auto& kv : opt_.env)
      bridges::set_env(spec.env, kv.first, kv.second);
    // The child's ends, closed here once it has them.
    std::vector<int> theirs;
    int in_w = -1, out_r = -1, err_r = -1, ipc_mine = -1;
    auto fail_start = [&](const std::string& what) {
      for (int fd : {in_w, out_r, err_r, ipc_mine})
        if (fd >= 0)
          ::close(fd);
      for (int fd : theirs)
        ::close(fd);
      exit_.error = what;
      finish_exit();
    };
    bool pipes_ok = true;
    auto make_pipe = [&](int& mine, bool child_reads) -> int {
      int p[2];
      if (pipe2(p, O_CLOEXEC) != 0) {
        pipes_ok = false;
        return bridges::fd_null;
      }
      mine = child_reads ? p[1] : p[0];
      theirs.push_back(child_reads ? p[0] : p[1]);
      return theirs.back();
    };
    spec.fds.assign(3, bridges::fd_null);
    if (is_message_mode(opt_.in_mode))
      spec.fds[0] = make_pipe(in_w, true);
    else if (opt_.in_mode == "inherit")
      spec.fds[0] = bridges::fd_inherit;
    if (is_message_mode(opt_.out_mode))
      spec.fds[1] = make_pipe(out_r, false);
    else if (opt_.out_mode == "inherit")
      spec.fds[1] = bridges::fd_inherit;
    if (opt_.err_mode == "log" || opt_.err_mode == "lines")
      spec.fds[2] = make_pipe(err_r, false);
    else if (opt_.err_mode == "inherit")
      spec.fds[2] = bridges::fd_inherit;
    if (opt_.listen_fd >= 0) {
      // systemd's convention: fds from 3, LISTEN_FDS of them, LISTEN_PID
      // the pid they are meant for (filled in by the child itself).
      spec.fds.push_back(opt_.listen_fd);
      bridges::set_env(spec.env, "LISTEN_FDS", "1");
      spec.listen_pid = true;
    }
    if (opt_.ipc != "none") {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return fail_start(std::string{"socketpair: "} + std::strerror(errno));
      ipc_mine = sv[0];
      theirs.push_back(sv[1]);
      spec.fds.push_back(sv[1]);
      auto fd = std::to_string(spec.fds.size() - 1);
      if (opt_.ipc == "binary") {
        bridges::set_env(spec.env, "SWITCHBOARD_CHANNEL_FD", fd);
      } else {
        bridges::set_env(spec.env, "NODE_CHANNEL_FD", fd);
        bridges::set_env(spec.env, "NODE_CHANNEL_SERIALIZATION_MODE", "json");
      }
    }
    if (!opt_.buffers.empty()) {
      // Each block's memfd follows the other fds; the child learns which
      // is which from SWITCHBOARD_BUFFERS (shared_buffer::from_parent).
      std::string list;
      for (auto& [name, buf] : opt_.buffers) {
        spec.fds.push_back(buf.fd());
        if (!list.empty())
          list += ',';
        list += name + "=" + std::to_string(spec.fds.size() - 1) + ":"
                + std::to_string(buf.size());
      }
      bridges::set_env(spec.env, shared_buffer::env_name, list);
    }
    if (opt_.cgroup != nullptr) {
      spec.cgroup = opt_.cgroup->path();
      oom_kills_ = opt_.cgroup->oom_kills();
    }
    if (!pipes_ok)
      return fail_start(std::string{"pipe: "} + std::strerror(errno));
    auto child = bridges::spawn_process(spec);
    for (int fd : theirs)
      ::close(fd);
    theirs.clear();
    if (!child)
      return fail_start(render(child.error()));
    pid_ = child->pid;
    started_at_ = clock::now();
    if (auto m = metrics()) {
      m->started_ns.store(now_ns(), std::memory_order_relaxed);
      m->pid.store(pid_, std::memory_order_relaxed);
    }
    state_ = state::running;
    auto uv = loop().native();
    // Exit detection: the pidfd turns readable.
    pidfd_ = new uv_poll_t;
    uv_poll_init(uv, pidfd_, child->pidfd);
    pidfd_->data = this;
    pidfd_fd_ = child->pidfd;
    uv_poll_start(pidfd_, UV_READABLE, [](uv_poll_t* h, int, int) {
      static_cast<child_actor*>(h->data)->on_pidfd();
    });
    readers_ = 0;
    auto on_error = [this](caf::error err) {
      if (is(err, switchboard::errc::frame_too_large)) {
        event(json{{"event", "error"},
                   {"reason", render(err) + " (max-frame); restarting"}});
        failed_by_us_ = true;
        stop_child();
        return;
      }
      event(json{{"event", "error"}, {"reason", render(err)}});
    };
    auto reader_done = [this] {
      if (readers_ > 0)
        --readers_;
      if (reaped_ && readers_ == 0)
        check_exit();
    };
    if (in_w >= 0) {
      in_ =
        channel::open(uv, in_w, framing_of(opt_.in_mode), opt_.max_frame, {});
    }
    if (out_r >= 0) {
      ++readers_;
      out_ =
        channel::open(uv, out_r, framing_of(opt_.out_mode), opt_.max_frame,
                      {[this](std::string f) { on_child_frame(std::move(f)); },
                       on_error, reader_done});
    }
    if (err_r >= 0) {
      ++readers_;
      err_ = channel::open(
        uv, err_r, framing::lines, opt_.max_frame,
        {[this](std::string line) { on_stderr_line(std::move(line)); },
         [this](caf::error e) {
           node_.log(log_level::warn, opt_.name, "stderr: " + render(e));
         },
         reader_done});
    }
    if (ipc_mine >= 0 && link_ != nullptr) {
      ++readers_;
      ipc_ = channel::open_ipc(uv, ipc_mine, framing::length_prefixed,
                               opt_.max_frame,
                               {[this](std::string f) {
                                  acting_as self{this};
                                  link_->on_frame(f);
                                },
                                on_error, reader_done});
      link_->attach(ipc_);
    } else if (ipc_mine >= 0) {
      ++readers_;
      ipc_ = channel::open_ipc(
        uv, ipc_mine, framing::lines, opt_.max_frame,
        {[this](std::string f) { on_child_frame(std::move(f)); }, on_error,
         reader_done});
    }
    out_msg_ = ipc_ != nullptr ? ipc_ : in_;
    if (opt_.max_memory > 0) {
      start_timer(
        memory_timer_, std::chrono::milliseconds(250),
        [](uv_timer_t* t) {
          static_cast<child_actor*>(t->data)->check_memory();
        },
        std::chrono::milliseconds(250));
    }
    event(json{{"event", "started"}, {"pid", pid_}});
    if (opt_.ready_message) {
      ready_ = false;
      start_timer(ready_timer_, opt_.ready_timeout, [](uv_timer_t* t) {
        static_cast<child_actor*>(t->data)->not_ready();
      });
    } else {
      became_ready();
    }
    flush_held();
  }

  // Start, restart and a cluster's reload waited for this.
  void became_ready() {
    ready_ = true;
    close_handle(ready_timer_);
    if (opt_.ready_message)
      event(json{{"event", "ready"}, {"pid", pid_}});
    for (auto& rp : start_waiters_)
      rp.deliver(caf::ok_atom::value);
    start_waiters_.clear();
  }

  // ready = "message" and the child did not say so in time: whoever waited
  // gets an error, and the child is stopped (and restarted as its policy
  // says, since it failed).
  void not_ready() {
    close_handle(ready_timer_);
    if (state_ != state::running || ready_)
      return;
    auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(opt_.ready_timeout);
    auto reason = "not ready within " + std::to_string(ms.count())
                  + " ms (ready = \"message\")";
    event(json{{"event", "error"}, {"reason", reason}});
    for (auto& rp : start_waiters_)
      rp.deliver(
        make_error(switchboard::errc::timeout, opt_.name + ": " + reason));
    start_waiters_.clear();
    failed_by_us_ = true;
    stop_child();
  }

  // Asks the child to end: SIGTERM to its process group, SIGKILL after
  // `kill-timeout`.
  void stop_child() {
    if (state_ != state::running)
      return;
    state_ = state::stopping;
    signal_child(pid_, SIGTERM);
    start_timer(kill_timer_, opt_.kill_timeout, [](uv_timer_t* t) {
      auto self = static_cast<child_actor*>(t->data);
      if (!self->reaped_ && self->pid_ > 0) {
        self->node_.log(log_level::warn, self->opt_.name,
                        "did not stop within kill-timeout; SIGKILL");
        signal_child(self->pid_, SIGKILL);
      }
    });
  }

  void check_memory() {
    if (state_ != state::running)
      return;
    auto bytes = read_process(pid_).rss_bytes;
    if (bytes > opt_.max_memory) {
      event(json{{"event", "memory-limit"},
                 {"rss", bytes},
                 {"max-memory", opt_.max_memory}});
      intent_ = intent::restart;
      stop_child();
    }
  }

  // CPU time over wall time since the start, in percent of one core.
  double cpu_percent(const process_stats& proc) const {
    auto secs =
      std::chrono::duration<double>(clock::now() - started_at_).count();
    if (secs <= 0)
      return 0.0;
    auto pct = 100.0 * proc.cpu_seconds / secs;
    return std::round(pct * 10) / 10;
  }

  void on_pidfd() {
    int status = 0;
    auto rc = waitpid(pid_, &status, WNOHANG);
    if (rc == 0)
      return; // not yet
    reaped_ = true;
    if (rc > 0) {
      if (WIFEXITED(status))
        exit_.code = WEXITSTATUS(status);
      else if (WIFSIGNALED(status))
        exit_.signal = WTERMSIG(status);
    }
    close_handle(pidfd_);
    ::close(pidfd_fd_);
    pidfd_fd_ = -1;
    check_exit();
  }

  void check_exit() {
    caf::anon_send(self_ref_, exit_check_atom::value);
  }

  // Starts a timer of this actor's in `h` (closed with close_handle): `cb`
  // after `after`, then every `repeat` if that is not zero.
  void start_timer(uv_timer_t*& h, caf::timespan after, uv_timer_cb cb,
                   caf::timespan repeat = caf::timespan{0}) {
    auto ms = [](caf::timespan d) {
      return static_cast<uint64_t>(std::max<int64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(d).count(), 0));
    };
    h = new uv_timer_t;
    uv_timer_init(loop().native(), h);
    h->data = this;
    uv_timer_start(h, cb, ms(after), ms(repeat));
  }

  template<class Handle>
  static void close_handle(Handle*& h) {
    if (h == nullptr)
      return;
    uv_close(reinterpret_cast<uv_handle_t*>(h),
             [](uv_handle_t* x) { delete reinterpret_cast<Handle*>(x); });
    h = nullptr;
  }

  void close_io() {
    // Handed sockets still unanswered went with the child.
    for (auto& h : awaiting_ack_)
      ::close(h.fd);
    awaiting_ack_.clear();
    for (auto ch : {in_, out_, err_, ipc_})
      if (ch != nullptr)
        ch->close();
    in_ = out_ = err_ = ipc_ = out_msg_ = nullptr;
    if (link_ != nullptr)
      link_->attach(nullptr);
    close_handle(pidfd_);
    if (pidfd_fd_ >= 0) {
      ::close(pidfd_fd_);
      pidfd_fd_ = -1;
    }
    close_handle(kill_timer_);
    close_handle(memory_timer_);
    close_handle(drain_timer_);
    close_handle(ready_timer_);
  }

  // The child is gone (or never started): report it, answer what waited
  // for it, and decide what comes next.
  void finish_exit() {
    if (state_ == state::stopped || state_ == state::gave_up)
      return;
    close_io();
    pid_ = -1;
    if (auto m = metrics())
      m->pid.store(0, std::memory_order_relaxed);
    auto uptime = clock::now() - started_at_;
    json ev{{"event", "exited"}};
    if (!exit_.error.empty()) {
      ev["error"] = exit_.error;
      ev["code"] = nullptr;
      ev["signal"] = nullptr;
    } else {
      ev["code"] = exit_.signal != 0 ? json(nullptr) : json(exit_.code);
      ev["signal"] =
        exit_.signal != 0 ? json(strsignal_name(exit_.signal)) : json(nullptr);
      // The kernel's kill for memory.max, told apart from any SIGKILL.
      if (exit_.signal == SIGKILL && opt_.cgroup != nullptr
          && opt_.cgroup->oom_kills() > oom_kills_)
        ev["killed_by"] = "memory-max";
    }
    event(ev);
    fail_pending(make_error(switchboard::errc::child_exited,
                            opt_.name + " exited before it answered ("
                              + describe_exit() + ")"));
    auto what = intent_;
    intent_ = intent::none;
    bool failed = failed_by_us_ || !exit_.error.empty() || exit_.signal != 0
                  || exit_.code != 0;
    failed_by_us_ = false;
    switch (what) {
      case intent::quit:
        state_ = state::stopped;
        quit(exit_reason_);
        return;
      case intent::stay_stopped:
        state_ = state::stopped;
        fail_held(make_error(switchboard::errc::no_channel,
                             opt_.name + " was stopped"));
        for (auto& rp : stop_waiters_)
          rp.deliver(caf::ok_atom::value);
        stop_waiters_.clear();
        return;
      case intent::restart:
        ++restarts_;
        tracker_.reset_backoff();
        start_child();
        return;
      case intent::none: break;
    }
    // Exec errors never ran: no uptime to reset the backoff.
    auto d = tracker_.next(
      failed, exit_.error.empty() ? caf::timespan{uptime} : caf::timespan{0},
      describe_exit());
    if (d.action == restart_decision::stay_stopped) {
      state_ = state::stopped;
      fail_held(make_error(switchboard::errc::no_channel,
                           opt_.name + " exited (" + describe_exit() + ")"));
      for (auto& rp : start_waiters_)
        rp.deliver(
          make_error(switchboard::errc::child_exited, describe_exit()));
      start_waiters_.clear();
      return;
    }
    if (d.action == restart_decision::give_up) {
      state_ = state::gave_up;
      event(json::parse(d.event()));
      auto err = make_error(switchboard::errc::no_channel,
                            opt_.name + " gave up: " + d.reason);
      fail_held(err);
      for (auto& rp : start_waiters_)
        rp.deliver(err);
      start_waiters_.clear();
      return;
    }
    ++restarts_;
    event(json::parse(d.event()));
    state_ = state::waiting;
    delayed_send(this, d.delay, tick_atom::value, ++generation_);
  }

  // "SIGTERM", or "signal N" for one without a name.
  static std::string strsignal_name(int sig) {
    if (auto abbrev = sigabbrev_np(sig))
      return std::string{"SIG"} + abbrev;
    return "signal " + std::to_string(sig);
  }

  std::string describe_exit() const {
    if (!exit_.error.empty())
      return exit_.error;
    if (exit_.signal != 0)
      return "killed by " + strsignal_name(exit_.signal);
    return "exit code " + std::to_string(exit_.code);
  }

  void fail_pending(const caf::error& err) {
    if (link_ != nullptr)
      link_->detach(err);
    for (auto& rp : fifo_)
      rp.deliver(err);
    fifo_.clear();
    for (auto& kvp : by_key_)
      kvp.second.deliver(err);
    by_key_.clear();
  }

  void fail_held(const caf::error& err) {
    for (auto& h : held_)
      if (h.is_request && h.binary)
        h.binary->rp.deliver(err);
      else if (h.is_request)
        h.rp.deliver(err);
    // One-way messages held for a child that will not come back: counted
    // in the log, never silently gone.
    auto dropped = std::count_if(held_.begin(), held_.end(),
                                 [](auto& h) { return !h.is_request; });
    if (dropped > 0)
      node_.log(log_level::warn, opt_.name,
                std::to_string(dropped)
                  + " one-way messages not delivered: " + render(err));
    held_.clear();
  }

  struct held {
    std::string text;
    std::string key;
    bool is_request = false;
    caf::typed_response_promise<json_message> rp;
    // ipc = "binary": the encoded message (and its promise).
    std::optional<bridges::outbound> binary;
  };

  switchboard::node& node_;
  child_options opt_;
  caf::actor self_ref_;
  caf::actor to_;
  caf::actor events_;
  state state_ = state::stopped;
  intent intent_ = intent::none;
  caf::error exit_reason_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool drained_ = false;
  bool failed_by_us_ = false;
  exit_status exit_;
  clock::time_point started_at_;
  uint64_t generation_ = 0;
  restart_tracker tracker_;
  uint64_t restarts_ = 0;
  uint64_t internal_ = 0;
  // The cgroup's oom_kill count when the child started.
  uint64_t oom_kills_ = 0;
  // Connections handed to the child.
  uint64_t handed_ = 0;
  // Handed sockets (a copy of each) the child has not acknowledged yet, in
  // the order they went.
  struct handed {
    int fd;
    std::string line;
    int attempts;
  };
  std::deque<handed> awaiting_ack_;
  uint64_t bad_frames_ = 0;
  int readers_ = 0;
  uv_poll_t* pidfd_ = nullptr;
  int pidfd_fd_ = -1;
  uv_timer_t* kill_timer_ = nullptr;
  uv_timer_t* memory_timer_ = nullptr;
  uv_timer_t* ready_timer_ = nullptr;
  uv_timer_t* drain_timer_ = nullptr;
  // The running child is ready: it started, and with ready = "message" it
  // has said so since.
  bool ready_ = false;
  channel* in_ = nullptr;
  channel* out_ = nullptr;
  channel* err_ = nullptr;
  channel* ipc_ = nullptr;
  channel* out_msg_ = nullptr;
  std::unique_ptr<bridges::binary_link> link_;
  std::deque<caf::typed_response_promise<json_message>> fifo_;
  std::unordered_map<std::string, caf::typed_response_promise<json_message>>
    by_key_;
  std::deque<held> held_;
  std::vector<caf::typed_response_promise<caf::ok_atom>> stop_waiters_;
  std::vector<caf::typed_response_promise<caf::ok_atom>> start_waiters_;
};

} // namespace

kind_spec child_process_kind() {
  kind_spec result;
  result.name = "child-process";
  result.doc = "a child process as an actor: stdio and ipc bridges, "
               "supervision";
  std::vector<std::string> stdio{framing_names(),
                                 framing_names() + framing_count()};
  stdio.insert(stdio.end(), {"inherit", "none"});
  result.keys = {
    {"command", value_type::string_list, true,
     "the program and its arguments, exec'd directly (no shell)"},
    {"env", value_type::map, false,
     "environment variables added to the node's (or replacing them, "
     "with env-mode = \"replace\")"},
    {"env-mode",
     value_type::string,
     false,
     "\"add\" (default) or \"replace\"",
     {"add", "replace"}},
    {"cwd", value_type::string, false,
     "the working directory (default: the node's)"},
    {"ipc",
     value_type::string,
     false,
     "an IPC channel at fd 3: \"json\" is Node's (process.send), "
     "\"binary\" carries typed messages to a switchboard child; default "
     "\"none\"",
     {"none", "json", "binary"}},
    {"stdin", value_type::string, false,
     "how messages reach the child's stdin (default \"lines\", or \"none\" "
     "with ipc)",
     stdio},
    {"stdout", value_type::string, false,
     "how the child's stdout becomes messages (default \"lines\", or "
     "\"inherit\" with ipc)",
     stdio},
    {"stderr",
     value_type::string,
     false,
     "the child's stderr: \"log\" (default), \"lines\", \"inherit\", "
     "\"discard\"",
     {"log", "lines", "inherit", "discard"}},
    {"format",
     value_type::string,
     false,
     "stdio lines are \"json\" (default) or \"text\" (JSON strings)",
     {"json", "text"}},
    {"to", value_type::actor_ref, false,
     "where messages the child sends unasked go"},
    {"events", value_type::actor_ref, false,
     "where lifecycle events go (started, exited, restarting, gave-up, "
     "error); default: the node's log"},
    {"correlate", value_type::string, false,
     "a field that pairs a reply with its request (default: replies come "
     "in order)"},
    {"kill-timeout", value_type::timespan, false,
     "how long a stop waits after SIGTERM before SIGKILL (default 1s)"},
    {"max-memory",
     value_type::integer,
     false,
     "restart the child gracefully when its RSS exceeds this many bytes",
     {},
     1},
    {"max-frame",
     value_type::integer,
     false,
     "the largest frame the child may send (default 16 MiB)",
     {},
     1},
    {"max-held",
     value_type::integer,
     false,
     "messages held while the child restarts (default 1000)",
     {},
     0},
    {"ready",
     value_type::string,
     false,
     "when a started child is ready (start, restart and a cluster's reload "
     "wait for it): \"started\" (default), or \"message\" once it sends "
     "the JSON string \"ready\"",
     {"started", "message"}},
    {"ready-timeout", value_type::timespan, false,
     "with ready = \"message\": how long a child may take to be ready "
     "before it is stopped as failed (default 30s)"},
    {"cpu-max", value_type::real, false,
     "at most this much CPU, in cores (0.5: half a core), through cgroup "
     "v2's cpu.max"},
    {"memory-max",
     value_type::integer,
     false,
     "at most this many bytes of memory, through cgroup v2's memory.max: "
     "past it the kernel kills the child (an exited event with "
     "\"killed_by\": \"memory-max\")",
     {},
     4096},
    {"pids-max",
     value_type::integer,
     false,
     "at most this many processes and threads, through cgroup v2's "
     "pids.max",
     {},
     1},
    {"buffers",
     value_type::string_list,
     false,
     "[buffers] entries with share = \"process\" (or \"parent\") the "
     "child maps: their memfds at every start, named in "
     "SWITCHBOARD_BUFFERS",
     {},
     std::nullopt,
     "buffers"},
  };
  for (auto& k : restart_policy::keys("the child", restart_policy{}))
    result.keys.push_back(std::move(k));
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    child_options o;
    o.name = ctx.name;
    auto& a = ctx.args;
    if (auto cmd = caf::get_if<std::vector<std::string>>(&a, "command"))
      o.argv = *cmd;
    if (o.argv.empty() || o.argv.front().empty())
      return make_error(switchboard::errc::config_bad_value,
                        ctx.name + ": command is empty");
    if (auto env = caf::get_if<caf::settings>(&a, "env"))
      for (auto& kvp : *env) {
        if (auto s = caf::get_if<std::string>(&kvp.second))
          o.env[kvp.first] = *s;
        else
          o.env[kvp.first] = caf::to_string(kvp.second);
      }
    o.env_replace = caf::get_or(a, "env-mode", "add") == "replace";
    o.cwd = caf::get_or(a, "cwd", "");
    o.ipc = caf::get_or(a, "ipc", "none");
    bool ipc = o.ipc != "none";
    o.in_mode = caf::get_or(a, "stdin", std::string{ipc ? "none" : "lines"});
    o.out_mode =
      caf::get_or(a, "stdout", std::string{ipc ? "inherit" : "lines"});
    o.err_mode = caf::get_or(a, "stderr", "log");
    o.text = caf::get_or(a, "format", "json") == "text";
    o.to = caf::get_or(a, "to", "");
    o.events = caf::get_or(a, "events", "");
    o.correlate = caf::get_or(a, "correlate", "");
    auto policy = restart_policy::from(a, ctx.name, o.restart);
    if (!policy)
      return std::move(policy.error());
    o.restart = *policy;
    o.kill_timeout = caf::get_or(a, "kill-timeout", o.kill_timeout);
    o.max_memory = caf::get_or(a, "max-memory", int64_t{0});
    o.max_frame = static_cast<size_t>(
      caf::get_or(a, "max-frame", static_cast<int64_t>(o.max_frame)));
    o.max_held = static_cast<size_t>(
      caf::get_or(a, "max-held", static_cast<int64_t>(o.max_held)));
    o.ready_message = caf::get_or(a, "ready", "started") == "message";
    o.ready_timeout = caf::get_or(a, "ready-timeout", o.ready_timeout);
    if (o.ready_message && o.ipc != "json" && !is_message_mode(o.out_mode))
      return make_error(switchboard::errc::config_bad_value,
                        ctx.name
                          + ": ready = \"message\" needs a channel the child "
                            "can say it on (ipc = \"json\" or stdout "
                            "lines)");
    if (o.ipc == "binary" && !o.correlate.empty())
      return make_error(switchboard::errc::config_bad_value,
                        ctx.name
                          + ": correlate pairs JSON replies; ipc = \"binary\" "
                            "pairs replies by itself");
    if (auto names = caf::get_if<std::vector<std::string>>(&a, "buffers"))
      for (auto& b : *names) {
        auto buf = named_buffer(ctx.node, b);
        if (!buf)
          return std::move(buf.error());
        if (!buf->process_shared())
          return make_error(switchboard::errc::config_bad_value,
                            ctx.name + ": buffer '" + b
                              + "' is shared by this node's threads only; "
                                "give it share = \"process\" to pass it "
                                "to a child");
        o.buffers.emplace(b, std::move(*buf));
      }
    if (auto c = caf::get_if<double>(&a, "cpu-max"))
      o.limits.cpus = *c;
    else if (auto i = caf::get_if<int64_t>(&a, "cpu-max"))
      o.limits.cpus = static_cast<double>(*i);
    if (caf::get_if(&a, "cpu-max") != nullptr && o.limits.cpus <= 0)
      return make_error(switchboard::errc::config_bad_value,
                        ctx.name + ": cpu-max must be above 0 (cores)");
    o.limits.memory_max = caf::get_or(a, "memory-max", int64_t{0});
    o.limits.pids_max = caf::get_or(a, "pids-max", int64_t{0});
    if (o.limits.any()) {
      auto cg = bridges::child_cgroup::make(ctx.name, o.limits);
      if (!cg)
        return make_error(
          switchboard::errc::io_error,
          ctx.name + ": cpu-max, memory-max and pids-max need cgroup v2: "
            + reason_of(cg.error())
            + (o.limits.memory_max > 0
                 ? "; max-memory restarts a child over a size without it"
                 : ""));
      o.cgroup = std::move(*cg);
    }
    // Set by the cluster kind only, never by a config.
    o.listen_fd = static_cast<int>(caf::get_or(a, "_listen-fd", int64_t{-1}));
    auto& n = ctx.node;
    return caf::actor_cast<caf::actor>(spawn_on_loop<child_actor>(
      n.system(), n.loop(), n, std::move(o), ctx.metrics));
  };
  return result;
}

} // namespace switchboard::actors

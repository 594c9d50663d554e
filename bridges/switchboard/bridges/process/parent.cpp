// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/process/parent.hpp"

#include <deque>

#include <unistd.h>

#include <caf/event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/channel.hpp>
#include <switchboard/defaults.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/handoff.hpp>
#include <switchboard/log.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/status.hpp>

#include "switchboard/bridges/process/binary_link.hpp"
#include "switchboard/bridges/process/node_channel.hpp"

namespace switchboard::bridges {

namespace {

using json = nlohmann::json;

class parent_bridge : public loop_actor<caf::event_based_actor> {
public:
  parent_bridge(caf::actor_config& cfg, io_loop& loop, switchboard::node& owner,
                std::string name, std::string to, std::string connections,
                bool stop_on_disconnect, size_t max_frame)
      : loop_actor(cfg, loop), node_(owner), name_(std::move(name)),
        to_(std::move(to)), connections_(std::move(connections)),
        stop_on_disconnect_(stop_on_disconnect), max_frame_(max_frame) {}

  caf::behavior make_behavior() override {
    auto parent = take_parent_channel();
    auto fd = parent.fd;
    binary_ = parent.binary;
    auto self = caf::actor_cast<caf::actor>(this);
    if (fd < 0) {
      node_.log(log_level::warn, name_,
                "no parent IPC channel (NODE_CHANNEL_FD is not set); "
                "messages to it are refused");
    } else if (binary_) {
      link_ = std::make_unique<binary_link>(
        this, name_, max_frame_, node_.request_timeout(),
        link_hooks{[this] { return target(); },
                   [this](const std::string& line) {
                     node_.log(log_level::warn, name_, line);
                   },
                   [this](std::string bridge, std::string peer) {
                     serve_connection(std::move(bridge), std::move(peer));
                   },
                   [this] {
                     refuse_next("the socket of a connection frame that "
                                 "was not served");
                   }});
      // Frames are handled as they arrive: this actor runs on the loop.
      ch_ = channel::open_ipc(
        loop().native(), fd, framing::length_prefixed, max_frame_,
        {[this](std::string frame) {
           ++received_;
           link_->on_frame(frame);
         },
         [this](caf::error err) {
           node_.log(log_level::warn, name_, render(err));
         },
         [self] { caf::anon_send(self, eof_atom::value); },
         {},
         {},
         [this](int fd) { sockets_.push_back(fd); }});
      link_->attach(ch_);
      // Whatever is sent to the bridge goes to the parent, typed.
      set_default_handler(
        [this](caf::scheduled_actor*,
               caf::message_view&) -> caf::result<caf::message> {
          if (auto err = forward_binary())
            return err;
          return caf::delegated<caf::message>{};
        });
    } else {
      // A handle message is served at once: its socket came with it.
      ch_ = channel::open_ipc(
        loop().native(), fd, framing::lines, max_frame_,
        {[this, self](std::string frame) {
           if (frame.find("\"NODE_HANDLE\"") != std::string::npos
               && is_node_internal(frame)
               && json::parse(frame, nullptr, false).value("cmd", "")
                    == "NODE_HANDLE") {
             on_handle_message(frame);
             return;
           }
           caf::anon_send(self, line_atom::value, std::move(frame));
         },
         [self](caf::error err) {
           caf::anon_send(self, line_atom::value,
                          json{{"error", render(err)}}.dump());
         },
         [self] { caf::anon_send(self, eof_atom::value); },
         {},
         {},
         [this](int fd) { sockets_.push_back(fd); }});
    }
    return {
      [this](json_message& m) -> caf::result<json_message> {
        if (ch_ == nullptr)
          return make_error(errc::no_channel, name_ + ": no parent channel");
        if (binary_) {
          if (auto err = forward_binary())
            return err;
          return caf::delegated<json_message>{};
        }
        auto line = node_channel_line(std::move(m.text), name_);
        if (!line)
          return std::move(line.error());
        if (!ch_->write(std::move(*line)))
          return make_error(errc::io_error, name_ + ": the channel is closed");
        ++sent_;
        return json_message::trusted("null");
      },
      [this](ready_atom) {
        if (ch_ != nullptr && !binary_)
          write("\"ready\"");
      },
      [this](line_atom, std::string& frame) { on_frame(std::move(frame)); },
      [this](eof_atom) {
        node_.log(log_level::info, name_, "the parent closed the IPC channel");
        close_channel();
        if (stop_on_disconnect_)
          node_.request_stop();
      },
      [this](status_atom) {
        return status_reply(this, "parent",
                            {{"connected", ch_ ? "true" : "false"},
                             {"format", binary_ ? "\"binary\"" : "\"json\""},
                             {"received", std::to_string(received_)},
                             {"sent", std::to_string(sent_)},
                             {"connections", std::to_string(connections_in_)}});
      },
    };
  }

  void on_exit() override {
    close_channel();
    loop_actor::on_exit();
  }

private:
  using line_atom = caf::atom_constant<caf::atom("line")>;
  using eof_atom = caf::atom_constant<caf::atom("eof")>;

  // The current message, whatever its types, to the parent (binary).
  caf::error forward_binary() {
    if (ch_ == nullptr)
      return make_error(errc::no_channel, name_ + ": no parent channel");
    auto& x = *current_mailbox_element();
    auto out = link_->prepare(x.move_content_to_message(), x.mid.is_request());
    if (!out)
      return std::move(out.error());
    if (auto err = link_->write(std::move(*out)); err && !x.mid.is_request())
      return err;
    ++sent_;
    return caf::none;
  }

  // The actor named by `to`, looked up again only when it has gone.
  caf::actor target() {
    return node_.lookup(to_, to_actor_);
  }

  // Node's handle message, from a parent that hands this node a
  // connection ({"cmd":"NODE_HANDLE","type":"net.Socket","msg":{...}}):
  // answered as Node answers, ACK once the socket is here, NACK if not.
  void on_handle_message(const std::string& frame) {
    auto m = json::parse(frame, nullptr, false);
    // Fields of any type may come: read only strings.
    auto text = [](const json& obj, const char* key) {
      auto i = obj.find(key);
      return i != obj.end() && i->is_string() ? i->get<std::string>()
                                              : std::string{};
    };
    auto i = m.find("msg");
    auto msg = i != m.end() && i->is_object() ? *i : json::object();
    auto type = text(m, "type");
    bool have = !sockets_.empty();
    if (have && type == "net.Socket")
      serve_connection(text(msg, "bridge"), text(msg, "peer"));
    else if (have)
      refuse_next("a handle of type " + (type.empty() ? "?" : type)
                  + " (only net.Socket is served)");
    // Written as it is: `write` keeps NODE_ messages from a Node peer.
    if (ch_ != nullptr)
      ch_->write(have ? R"({"cmd":"NODE_HANDLE_ACK"})"
                      : R"({"cmd":"NODE_HANDLE_NACK"})");
    if (!have)
      node_.log(log_level::warn, name_,
                "the parent sent a handle message without its socket");
  }

  // The socket that came with the connection frame just read goes to the
  // bridge named by `connections` (a tcp or uds server with listen =
  // "parent"), which serves it.
  void serve_connection(std::string bridge, std::string peer) {
    if (sockets_.empty()) {
      node_.log(log_level::warn, name_,
                "a connection from " + peer + " came without its socket");
      return;
    }
    auto fd = sockets_.front();
    sockets_.pop_front();
    auto c = handed_connection::take(fd, std::move(peer), std::move(bridge));
    ++connections_in_;
    auto server = connections_.empty()
                    ? caf::actor{}
                    : node_.lookup(connections_, connections_actor_);
    if (!server) {
      node_.log(log_level::warn, name_,
                "a connection from " + c.peer + " nobody serves: "
                  + (connections_.empty()
                       ? "no connections key names a server"
                       : "no actor named '" + connections_ + "'")
                  + "; closed");
      return; // the last copy of `c` closes the socket
    }
    auto who = c.peer;
    request(server, node_.request_timeout(), hand_atom::value, std::move(c))
      .then([](caf::ok_atom) {},
            [this, who](caf::error& err) {
              node_.log(log_level::warn, name_,
                        "the connection from " + who
                          + " was not served: " + render(err));
            });
  }

  // Closes the socket that came with a frame nothing serves.
  void refuse_next(const std::string& why) {
    if (sockets_.empty())
      return;
    ::close(sockets_.front());
    sockets_.pop_front();
    node_.log(log_level::warn, name_, "closed " + why);
  }

  void close_channel() {
    for (auto fd : sockets_)
      ::close(fd);
    sockets_.clear();
    if (link_ != nullptr)
      link_->detach(make_error(errc::no_channel,
                               name_ + ": the parent closed the channel"));
    if (ch_ != nullptr) {
      ch_->close();
      ch_ = nullptr;
    }
  }

  void write(std::string text) {
    if (ch_ == nullptr)
      return;
    if (auto line = node_channel_line(text, name_))
      ch_->write(std::move(*line));
  }

  void on_frame(std::string frame) {
    acting_as self{this};
    if (!is_json(frame)) {
      node_.log(log_level::warn, name_,
                "the parent sent a line that is not JSON: "
                  + frame.substr(0, 200));
      return;
    }
    if (is_node_internal(frame))
      return; // Node's own channel traffic
    ++received_;
    auto target = this->target();
    if (!target) {
      auto why = to_.empty() ? name_
                                 + " has no \"to\": nobody takes messages "
                                   "from the parent"
                             : name_ + ": no actor named '" + to_ + "'";
      node_.log(log_level::warn, name_,
                why.substr(why.find(' ', name_.size()) + 1));
      write(json{{"error", why}}.dump());
      return;
    }
    request(caf::actor_cast<json_actor>(target), node_.request_timeout(),
            json_message::trusted(std::move(frame)))
      .then([this](json_message& reply) { write(std::move(reply.text)); },
            [this](caf::error& err) {
              write(json{{"error", render(err)}}.dump());
            });
  }

  switchboard::node& node_;
  std::string name_;
  std::string to_;
  std::string connections_;
  caf::actor connections_actor_;
  // Sockets the parent sent, oldest first, each for the next connection
  // frame (Node's rule: a handle belongs to the handle message that
  // follows it).
  std::deque<int> sockets_;
  uint64_t connections_in_ = 0;
  bool stop_on_disconnect_;
  size_t max_frame_;
  channel* ch_ = nullptr;
  bool binary_ = false;
  std::unique_ptr<binary_link> link_;
  caf::actor to_actor_;
  uint64_t received_ = 0;
  uint64_t sent_ = 0;
};

} // namespace

kind_spec parent_kind() {
  kind_spec result;
  result.name = "parent";
  result.doc = "the IPC channel to the process that started this node "
               "(NODE_CHANNEL_FD, Node's json format)";
  result.section = kind_section::bridges;
  result.keys = {
    {"to", value_type::actor_ref, false,
     "the actor that answers the parent's messages"},
    {"connections", value_type::actor_ref, false,
     "the tcp or uds server (listen = \"parent\") that serves the "
     "connections the parent hands over (its stream bridge's hand-to)"},
    {"stop-on-disconnect", value_type::boolean, false,
     "stop the node when the parent closes the channel (default true)"},
    {"max-frame",
     value_type::integer,
     false,
     "the longest line the parent may send (default 16 MiB)",
     {},
     1},
  };
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto& n = ctx.node;
    auto to = caf::get_or(ctx.args, "to", "");
    auto connections = caf::get_or(ctx.args, "connections", "");
    auto stop = caf::get_or(ctx.args, "stop-on-disconnect", true);
    auto max_frame = static_cast<size_t>(
      caf::get_or(ctx.args, "max-frame", int64_t{16 * 1024 * 1024}));
    return caf::actor_cast<caf::actor>(spawn_on_loop<parent_bridge>(
      n.system(), n.loop(), n, ctx.name, to, connections, stop, max_frame));
  };
  return result;
}

void announce_ready(node& n) {
  for (auto& e : n.registry().list())
    if (e.kind == "parent")
      caf::anon_send(e.handle, ready_atom::value);
}

} // namespace switchboard::bridges

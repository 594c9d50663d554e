// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/stream/options.hpp"

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <switchboard/channel.hpp>
#include <switchboard/errc.hpp>

namespace switchboard::bridges::stream {

std::vector<key_spec> stream_keys(bool unix_socket) {
  std::vector<std::string> framings{framing_names(),
                                    framing_names() + framing_count()};
  std::string where = unix_socket ? "a socket path, or @name for an "
                                    "abstract one"
                                  : "HOST:PORT (127.0.0.1 unless a host is "
                                    "given; port 0 picks a free one)";
  std::vector<key_spec> keys = {
    {"mode",
     value_type::string,
     false,
     "\"server\" (default) listens, \"client\" connects",
     {"server", "client"}},
    {"listen", value_type::string, false,
     "server: where to listen, " + where
       + "; or \"parent\": serve the connections the parent node hands "
         "over (its parent bridge's connections key)"},
    {"connect", value_type::string, false,
     "client: where to connect, "
       + (unix_socket ? where
                      : "HOST:PORT, the host a name (looked up at each "
                        "connect) or an address")},
    {"framing", value_type::string, false,
     "how the stream is cut into messages (default lines)", framings},
    {"format",
     value_type::string,
     false,
     "frames are \"json\" (default) or \"text\" (JSON strings)",
     {"json", "text"}},
    {"max-frame",
     value_type::integer,
     false,
     "the largest inbound frame (default 1 MiB)",
     {},
     1},
    {"to", value_type::actor_ref, false,
     "server: each frame is a request to it, the reply goes back on the "
     "connection; client: frames nobody asked for go to it"},
    {"room", value_type::actor_ref, false,
     "each connection joins it: a frame goes to every other member"},
    {"hand-to", value_type::actor_ref_list, false,
     "server: child-process actors (ipc = \"json\" or \"binary\") each "
     "accepted connection is handed to, socket and all, to serve it "
     "themselves (Node's cluster pattern)"},
    {"dispatch",
     value_type::string,
     false,
     "with hand-to: \"round-robin\" (default), or \"sticky\" (a client "
     "address always goes to the same child)",
     {"round-robin", "sticky"}},
    {"events", value_type::actor_ref, false,
     "where events go (opened, closed, refused; client: up, down, "
     "restarting, gave-up); default: the node's log"},
    {"max-connections",
     value_type::integer,
     false,
     "server: connections beyond this are refused with a reason (default "
     "10000)",
     {},
     1},
    {"backlog",
     value_type::integer,
     false,
     "server: the queue of pending connections (default 511)",
     {},
     1},
    {"idle-timeout", value_type::timespan, false,
     "close a connection that sent nothing this long (default: never)"},
    {"frame-timeout", value_type::timespan, false,
     "close a connection whose frame stays incomplete this long (default "
     "30s)"},
    {"request-timeout", value_type::timespan, false,
     "how long `to` may take to answer (default: [node] request-timeout)"},
    {"max-queued",
     value_type::integer,
     false,
     "outbound bytes queued per connection before overflow applies "
     "(default 1 MiB)",
     {},
     1},
    {"overflow",
     value_type::string,
     false,
     "past max-queued: \"pause\" reading the connection (default), "
     "\"drop\" the message, or \"disconnect\"",
     {"pause", "drop", "disconnect"}},
    {"max-pending",
     value_type::integer,
     false,
     "requests in flight per connection before its reading pauses "
     "(default 1024)",
     {},
     1},
    {"max-held",
     value_type::integer,
     false,
     "client: messages held while disconnected (default 1000)",
     {},
     0},
  };
  if (!unix_socket)
    keys.push_back({"keepalive", value_type::timespan, false,
                    "TCP keepalive: probe a connection silent this long, so "
                    "a peer that vanished without closing is found (default "
                    "60s; 0s: off)"});
  if (unix_socket)
    keys.push_back({"file-mode", value_type::string, false,
                    "server: the socket file's permissions, octal (default "
                    "\"0600\")"});
  for (auto& k : restart_policy::keys("a client that lost its connection",
                                      stream_options{}.restart))
    keys.push_back(std::move(k));
  return keys;
}

caf::expected<stream_options> read_stream_options(const caf::settings& a,
                                                  std::string name,
                                                  bool unix_socket,
                                                  caf::timespan timeout) {
  stream_options o;
  o.name = std::move(name);
  o.unix_socket = unix_socket;
  o.server = caf::get_or(a, "mode", "server") != "client";
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, o.name + ": " + why);
  };
  std::string own = o.server ? "listen" : "connect";
  std::string other = o.server ? "connect" : "listen";
  o.address = caf::get_or(a, own, "");
  if (o.address.empty())
    return bad(o.server ? "a server needs listen" : "a client needs connect");
  if (caf::get_if<std::string>(&a, other))
    return bad(o.server ? "connect is for mode = \"client\""
                        : "listen is for mode = \"server\"");
  o.how = framing_from_string(caf::get_or(a, "framing", "lines"))
            .value_or(framing::lines);
  o.text = caf::get_or(a, "format", "json") == "text";
  o.max_frame = static_cast<size_t>(
    caf::get_or(a, "max-frame", static_cast<int64_t>(o.max_frame)));
  o.to = caf::get_or(a, "to", "");
  o.room = caf::get_or(a, "room", "");
  o.events = caf::get_or(a, "events", "");
  o.hand_to = caf::get_or(a, "hand-to", std::vector<std::string>{});
  o.sticky = caf::get_or(a, "dispatch", "round-robin") == "sticky";
  o.from_parent = o.server && o.address == "parent";
  if (!o.hand_to.empty()) {
    if (!o.server)
      return bad("hand-to is for mode = \"server\"");
    if (!o.to.empty() || !o.room.empty())
      return bad("hand-to excludes to and room: a handed connection is "
                 "served by the child it goes to");
    if (o.from_parent)
      return bad("listen = \"parent\" serves what the parent hands over; "
                 "it cannot hand it on");
  } else if (caf::get_if(&a, "dispatch") != nullptr) {
    return bad("dispatch is for hand-to");
  }
  if (o.server && o.to.empty() && o.room.empty() && o.hand_to.empty())
    return bad("a server needs to (request/reply), room (broadcast) or "
               "hand-to (children serve its connections)");
  if (!o.to.empty() && !o.room.empty() && o.server)
    return bad("to and room exclude each other: a frame is either a request "
               "or a broadcast");
  o.max_connections = caf::get_or(a, "max-connections", o.max_connections);
  o.backlog = static_cast<int>(caf::get_or(a, "backlog", int64_t{511}));
  o.idle_timeout = caf::get_or(a, "idle-timeout", o.idle_timeout);
  o.frame_timeout = caf::get_or(a, "frame-timeout", o.frame_timeout);
  o.request_timeout = caf::get_or(a, "request-timeout", timeout);
  o.max_queued = static_cast<size_t>(
    caf::get_or(a, "max-queued", static_cast<int64_t>(o.max_queued)));
  auto overflow = caf::get_or(a, "overflow", "pause");
  o.overflow = overflow == "drop"         ? overflow_policy::drop
               : overflow == "disconnect" ? overflow_policy::disconnect
                                          : overflow_policy::pause;
  o.max_pending = static_cast<size_t>(
    caf::get_or(a, "max-pending", static_cast<int64_t>(o.max_pending)));
  o.keepalive = caf::get_or(a, "keepalive", o.keepalive);
  o.max_held = static_cast<size_t>(
    caf::get_or(a, "max-held", static_cast<int64_t>(o.max_held)));
  if (unix_socket) {
    auto mode = caf::get_or(a, "file-mode", "0600");
    char* end = nullptr;
    auto bits = std::strtoul(mode.c_str(), &end, 8);
    if (mode.empty() || *end != '\0' || bits > 0777)
      return bad("file-mode must be octal permissions such as \"0600\", not \""
                 + mode + "\"");
    o.file_mode = static_cast<unsigned>(bits);
  } else if (o.from_parent) {
    // Nothing to bind: the parent's bridge has the listener.
  } else if (o.server) {
    if (auto addr = parse_tcp_address(o.address); !addr)
      return bad(reason_of(addr.error()));
  } else if (auto where = parse_host_port(o.address); !where) {
    // A client's host may be a name, looked up at each connect.
    return bad(reason_of(where.error()));
  }
  if (o.server
      && (caf::get_if(&a, "restart") != nullptr
          || caf::get_if(&a, "max-held") != nullptr))
    return bad("restart and max-held are for mode = \"client\"");
  if (o.how == framing::length_prefixed16 && o.max_frame > 0xffff)
    o.max_frame = 0xffff;
  auto restart = restart_policy::from(a, o.name, o.restart);
  if (!restart)
    return std::move(restart.error());
  o.restart = *restart;
  return o;
}

} // namespace switchboard::bridges::stream

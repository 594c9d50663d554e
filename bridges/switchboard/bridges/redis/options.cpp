// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/redis/options.hpp"

#include <utility>

#include <unistd.h>

#include <switchboard/errc.hpp>
#include <switchboard/sockets.hpp>

namespace switchboard::bridges::redis {

namespace {

// Reconnecting as the other clients do: quickly at first, then every 5 s,
// and practically never giving up on a Redis that comes back.
restart_policy default_restart() {
  restart_policy p;
  p.max_delay = std::chrono::seconds(5);
  p.max_restarts = 100;
  return p;
}

} // namespace

std::vector<key_spec> common_keys() {
  std::vector<key_spec> keys = {
    {"address", value_type::string, false,
     "HOST:PORT or a Unix socket path (default 127.0.0.1:6379)"},
    {"user", value_type::string, false, "the ACL user AUTH logs in as"},
    {"password", value_type::string, false, "AUTH on connect"},
    {"db", value_type::integer, false, "SELECT on connect (default 0)", {}, 0},
    {"tls", value_type::boolean, false, "connect with TLS (default false)"},
    {"ca-file", value_type::string, false,
     "tls: the CA bundle the server is verified with (default: the "
     "system's)"},
    {"cert-file", value_type::string, false,
     "tls: a client certificate (PEM), for tls-auth-clients"},
    {"key-file", value_type::string, false,
     "tls: the client certificate's key"},
    {"server-name", value_type::string, false,
     "tls: the name (or IP) the certificate must carry (default: the "
     "address's host)"},
    {"down-after", value_type::timespan, false,
     "a Redis silent this long (no connect, no reply to a PING) is down "
     "(default 3s)"},
    {"max-frame",
     value_type::integer,
     false,
     "the largest reply; a larger one drops the connection (default 64 MiB)",
     {},
     1},
    {"max-pending",
     value_type::integer,
     false,
     "commands in flight per connection; more wait (default 1024)",
     {},
     1},
    {"max-held",
     value_type::integer,
     false,
     "commands that wait while Redis is down before the sender gets "
     "queue_full (default 1000)",
     {},
     0},
    {"events", value_type::actor_ref, false,
     "where events go (up, down, restarting, gave-up, error); default: the "
     "node's log"},
    {"format",
     value_type::string,
     false,
     "payloads are \"json\" (default) or \"text\" (JSON strings)",
     {"json", "text"}},
  };
  for (auto& k :
       restart_policy::keys("a lost connection to Redis", default_restart()))
    keys.push_back(std::move(k));
  return keys;
}

caf::expected<link_options> read_link_options(const caf::settings& a,
                                              const std::string& name) {
  link_options o;
  o.name = name;
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, name + ": " + why);
  };
  o.address = caf::get_or(a, "address", "127.0.0.1:6379");
  if (o.address.empty())
    return bad("address is empty");
  if (o.address.find('/') == std::string::npos) {
    auto colon = o.address.rfind(':');
    if (colon == std::string::npos || colon + 1 == o.address.size())
      return bad("address '" + o.address
                 + "' is neither HOST:PORT nor a socket path");
    auto port = o.address.substr(colon + 1);
    if (port.size() > 5
        || port.find_first_not_of("0123456789") != std::string::npos
        || std::stol(port) < 1 || std::stol(port) > 65535)
      return bad("address '" + o.address + "' has no valid port");
  }
  o.user = caf::get_or(a, "user", "");
  o.password = caf::get_or(a, "password", "");
  if (!o.user.empty() && o.password.empty())
    return bad("user needs a password");
  o.db = caf::get_or(a, "db", int64_t{0});
  o.tls = caf::get_or(a, "tls", false);
  o.ca_file = caf::get_or(a, "ca-file", "");
  o.cert_file = caf::get_or(a, "cert-file", "");
  o.key_file = caf::get_or(a, "key-file", "");
  o.server_name = caf::get_or(a, "server-name", "");
  for (auto [key, value] :
       {std::pair<const char*, std::string*>{"ca-file", &o.ca_file},
        {"cert-file", &o.cert_file},
        {"key-file", &o.key_file},
        {"server-name", &o.server_name}}) {
    if (value->empty())
      continue;
    if (!o.tls)
      return bad(std::string{key} + " is for tls = true");
    if (std::string_view{key} != "server-name"
        && ::access(value->c_str(), R_OK) != 0)
      return bad(std::string{key} + " '" + *value + "' cannot be read");
  }
  if (o.cert_file.empty() != o.key_file.empty())
    return bad("cert-file and key-file go together");
  o.down_after = caf::get_or(a, "down-after", o.down_after);
  if (o.down_after < std::chrono::milliseconds(100))
    return bad("down-after must be at least 100ms");
  o.max_frame = static_cast<size_t>(
    caf::get_or(a, "max-frame", static_cast<int64_t>(o.max_frame)));
  o.max_pending = static_cast<size_t>(
    caf::get_or(a, "max-pending", static_cast<int64_t>(o.max_pending)));
  o.max_held = static_cast<size_t>(
    caf::get_or(a, "max-held", static_cast<int64_t>(o.max_held)));
  auto restart = restart_policy::from(a, name, default_restart());
  if (!restart)
    return std::move(restart.error());
  o.restart = *restart;
  return o;
}

} // namespace switchboard::bridges::redis

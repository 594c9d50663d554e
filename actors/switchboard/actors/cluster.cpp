// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/cluster.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/errc.hpp>
#include <switchboard/log.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/metered.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

#include "switchboard/actors/child_process.hpp"

namespace switchboard::actors {

namespace {

using json = nlohmann::json;

// Binds and listens on "HOST:PORT" (port 0: any free one); returns the
// socket and the address it got.
caf::expected<std::pair<int, std::string>>
bind_listener(const std::string& addr, int backlog) {
  auto colon = addr.rfind(':');
  if (colon == std::string::npos)
    return make_error(errc::config_bad_value,
                      "listen: expected HOST:PORT, got '" + addr + "'");
  auto host = addr.substr(0, colon);
  auto port = std::atoi(addr.c_str() + colon + 1);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1)
    return make_error(errc::config_bad_value,
                      "listen: '" + host + "' is not an IPv4 address");
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(errc::io_error,
                      std::string{"listen: socket: "} + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0
      || listen(fd, backlog) != 0) {
    auto err = errno;
    ::close(fd);
    return make_error(errc::io_error,
                      "listen " + addr + ": " + std::strerror(err));
  }
  socklen_t len = sizeof(sa);
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return std::make_pair(fd, host + ":" + std::to_string(ntohs(sa.sin_port)));
}

struct cluster_state {
  switchboard::node* owner = nullptr;
  std::string name;
  caf::settings child_args;
  std::string address;
  std::vector<caf::actor> instances;
  std::vector<unsigned> generation;
  std::shared_ptr<int> listen_fd;
  bool reloading = false;
  // Stopping: the instances not yet down, and why the cluster ends.
  bool stopping = false;
  size_t left = 0;
  caf::error exit_reason;
};

using cluster_actor = caf::stateful_actor<cluster_state, metered_actor>;

// Spawns instance `i` through the child-process kind.
caf::expected<caf::actor> spawn_instance(cluster_actor* self, size_t i) {
  auto& st = self->state;
  auto args = st.child_args;
  caf::put(args, "_listen-fd", static_cast<int64_t>(*st.listen_fd));
  auto name = st.name + "." + std::to_string(i);
  // Each instance counts on its own (a pid per block).
  auto block = st.owner->metrics_enabled()
                 ? st.owner->metrics().block(name, "child-process")
                 : nullptr;
  spawn_context ctx{*st.owner, name, std::move(args), block};
  auto h = child_process_kind().factory(ctx);
  if (h)
    self->link_to(*h); // they go with the cluster
  return h;
}

// Replaces instance `i`, then the next: the new one first, and the old one
// stops only once its successor has started.
void reload_from(cluster_actor* self, size_t i, caf::response_promise rp) {
  auto& st = self->state;
  if (i == st.instances.size()) {
    st.reloading = false;
    rp.deliver(caf::ok_atom::value);
    return;
  }
  auto fresh = spawn_instance(self, i);
  if (!fresh) {
    st.reloading = false;
    rp.deliver(fresh.error());
    return;
  }
  auto old = st.instances[i];
  self->request(*fresh, std::chrono::seconds(30), start_atom::value)
    .then(
      [=](caf::ok_atom) mutable {
        auto& st = self->state;
        st.instances[i] = *fresh;
        ++st.generation[i];
        self->unlink_from(old);
        self->request(old, std::chrono::seconds(30), stop_atom::value)
          .then(
            [=](caf::ok_atom) mutable {
              self->send_exit(old, caf::exit_reason::user_shutdown);
              reload_from(self, i + 1, rp);
            },
            [=](caf::error&) mutable {
              self->send_exit(old, caf::exit_reason::kill);
              reload_from(self, i + 1, rp);
            });
      },
      [=](caf::error& err) mutable {
        // The replacement did not start: the old instance stays.
        self->state.reloading = false;
        self->send_exit(*fresh, caf::exit_reason::user_shutdown);
        rp.deliver(err);
      });
}

caf::behavior cluster(cluster_actor* self, switchboard::node* owner,
                      std::string name, caf::settings child_args, size_t count,
                      std::shared_ptr<int> listen_fd, std::string address) {
  auto& st = self->state;
  st.owner = owner;
  st.name = std::move(name);
  st.child_args = std::move(child_args);
  st.listen_fd = std::move(listen_fd);
  st.address = std::move(address);
  for (size_t i = 0; i < count; ++i) {
    auto h = spawn_instance(self, i);
    if (!h) {
      self->quit(h.error());
      return {};
    }
    st.instances.push_back(*h);
    st.generation.push_back(0);
  }
  // As an OTP supervisor: the instances stop first (each stops its process
  // gracefully), and the cluster ends once all are down, so a node's stop,
  // which waits for the cluster, waits for them too.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (st.stopping)
      return;
    st.stopping = true;
    st.exit_reason = msg.reason;
    for (auto& x : st.instances) {
      self->unlink_from(x);
      self->monitor(x);
      self->send_exit(x, msg.reason);
    }
    st.left = st.instances.size();
    if (st.left == 0)
      self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg&) {
    auto& st = self->state;
    if (st.stopping && --st.left == 0)
      self->quit(st.exit_reason);
  });
  return {
    // To every instance; the reply is the array of their answers.
    [self](json_message& m) -> caf::result<json_message> {
      auto rp = self->make_response_promise<json_message>();
      auto& xs = self->state.instances;
      auto acc = std::make_shared<std::vector<std::string>>(xs.size());
      auto left = std::make_shared<size_t>(xs.size());
      // Answer `i` (JSON text); the last one completes the array.
      auto put = [rp, acc, left](size_t i, std::string text) mutable {
        (*acc)[i] = std::move(text);
        if (--*left > 0)
          return;
        std::string out = "[";
        for (auto& x : *acc)
          out += (out.size() > 1 ? "," : "") + x;
        rp.deliver(json_message::trusted(out + "]"));
      };
      for (size_t i = 0; i < xs.size(); ++i)
        self
          ->request(caf::actor_cast<json_actor>(xs[i]),
                    std::chrono::seconds(30), m)
          .then([=](json_message& r) mutable { put(i, std::move(r.text)); },
                [=](caf::error& e) mutable {
                  put(i, json{{"error", render(e)}}.dump());
                });
      return rp;
    },
    [self](reload_atom) -> caf::result<caf::ok_atom> {
      auto& st = self->state;
      if (st.reloading)
        return make_error(errc::bad_message,
                          st.name + ": a reload is under way already");
      st.reloading = true;
      auto rp = self->make_response_promise();
      reload_from(self, 0, rp);
      return caf::delegated<caf::ok_atom>{};
    },
    [self](status_atom) -> caf::result<json_message> {
      auto rp = self->make_response_promise<json_message>();
      auto& xs = self->state.instances;
      auto acc = std::make_shared<std::vector<json>>(xs.size());
      auto left = std::make_shared<size_t>(xs.size());
      auto finish = [self, rp, acc]() mutable {
        json out{{"kind", "cluster"},
                 {"listen", self->state.address},
                 {"instances", *acc}};
        rp.deliver(json_message::trusted(out.dump()));
      };
      for (size_t i = 0; i < xs.size(); ++i)
        urgent_request(self, caf::actor_cast<caf::actor>(xs[i]),
                       std::chrono::seconds(5),
                       caf::make_message(status_atom::value))
          .then(
            [=](json_message& r) mutable {
              auto j = json::parse(r.text, nullptr, false);
              j["index"] = i;
              (*acc)[i] = std::move(j);
              if (--*left == 0)
                finish();
            },
            [=](caf::error& e) mutable {
              (*acc)[i] = json{{"index", i}, {"error", render(e)}};
              if (--*left == 0)
                finish();
            });
      return rp;
    },
  };
}

} // namespace

kind_spec cluster_kind() {
  auto child = child_process_kind();
  kind_spec result;
  result.name = "cluster";
  result.doc = "N copies of a command sharing one listening socket";
  result.keys = {
    {"instances", value_type::any, false,
     "how many copies: a number, or \"auto\" (one per core; default)"},
    {"listen", value_type::string, true,
     "HOST:PORT the node binds once and hands to every instance at fd 3 "
     "(port 0: any free one)"},
    {"backlog",
     value_type::integer,
     false,
     "the listening socket's queue of pending connections (default 511)",
     {},
     1},
  };
  // Every child-process key applies to each instance.
  for (auto& k : child.keys)
    result.keys.push_back(k);
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    size_t count = std::max(1u, std::thread::hardware_concurrency());
    if (auto n = caf::get_if<int64_t>(&ctx.args, "instances")) {
      if (*n < 1)
        return make_error(errc::config_bad_value,
                          ctx.name + ": instances must be at least 1");
      count = static_cast<size_t>(*n);
    } else if (auto s = caf::get_if<std::string>(&ctx.args, "instances");
               s && *s != "auto") {
      return make_error(errc::config_bad_value,
                        ctx.name + ": instances is a number or \"auto\"");
    }
    auto listener = bind_listener(
      caf::get_or(ctx.args, "listen", ""),
      static_cast<int>(caf::get_or(ctx.args, "backlog", int64_t{511})));
    if (!listener)
      return std::move(listener.error());
    // Closed when the cluster and every instance are gone.
    auto fd = std::shared_ptr<int>(new int(listener->first), [](int* p) {
      ::close(*p);
      delete p;
    });
    caf::settings args;
    for (auto& kvp : ctx.args)
      if (kvp.first != "instances" && kvp.first != "listen"
          && kvp.first != "backlog")
        args.emplace(kvp.first, kvp.second);
    auto& n = ctx.node;
    n.log(log_level::info, ctx.name,
          "listening on " + listener->second + " for " + std::to_string(count)
            + " instances");
    return n.system().spawn(cluster, &n, ctx.name, std::move(args), count,
                            std::move(fd), listener->second);
  };
  return result;
}

} // namespace switchboard::actors

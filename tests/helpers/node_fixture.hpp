// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/config.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/io_loop.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>

#include "process.hpp"

namespace switchboard::test {

/// What a `reply_kind` instance answers to `request`; `name` is the
/// instance's name and `args` its config entry.
using reply_fn = std::function<json_message(const json_message& request,
                                            const std::string& name,
                                            const caf::settings& args)>;

/// A kind whose instances answer every JSON request with `reply(...)`.
inline kind_spec reply_kind(std::string kind, reply_fn reply,
                            std::vector<key_spec> keys = {}) {
  kind_spec k;
  k.name = std::move(kind);
  k.keys = std::move(keys);
  k.factory = [reply](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(ctx.node.system().spawn(
      [reply, name = ctx.name, args = ctx.args]() -> json_actor::behavior_type {
        return {[=](json_message& m) { return reply(m, name, args); }};
      }));
  };
  return k;
}

/// A started node with the built-in kinds, built from config text. End a
/// test with `stop_and_check()`: it stops the node and checks that the io
/// loop closed cleanly and no file descriptor is left open.
class node_fixture {
public:
  explicit node_fixture(
    const std::string& config_text, void (*add_kinds)(kind_registry&) = nullptr,
    actors::behavior_registry behaviors = actors::builtin_behaviors())
      : fds_before_(baseline_fds()) {
    auto cfg = node_config::from_string(config_text, "test.conf");
    REQUIRE(cfg);
    node_ = std::make_unique<switchboard::node>(std::move(*cfg));
    REQUIRE(!actors::add_builtin_kinds(node_->kinds(), std::move(behaviors)));
    if (add_kinds)
      add_kinds(node_->kinds());
    auto err = node_->start();
    INFO(render(err));
    REQUIRE(!err);
  }

  switchboard::node& node() {
    return *node_;
  }

  /// Sends `text` to the actor named `name` and waits for the reply.
  caf::expected<json_message>
  ask(const std::string& name, const std::string& text,
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    caf::expected<json_message> result = caf::error{};
    caf::scoped_actor self{node_->system()};
    self
      ->request(caf::actor_cast<json_actor>(node_->lookup(name)), timeout,
                json_message::trusted(text))
      .receive([&](json_message& x) { result = std::move(x); },
               [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  /// Sends `text` to `name` expecting an error; returns it rendered
  /// (`queue_full: ...`), or "no error but REPLY" so that a check on the
  /// text fails.
  std::string
  ask_error(const std::string& name, const std::string& text,
            std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto r = ask(name, text, timeout);
    if (r)
      return "no error but " + r->text;
    return render(r.error());
  }

  /// `then` runs once the node has stopped, before descriptors are
  /// counted: a peer server of the test's own goes there (its connections
  /// from the node are closed by then). Descriptors are not counted with
  /// `count_fds` false: for a node stopped while another node of the test,
  /// made before it, still runs (that one's sockets come and go).
  void stop_and_check(const std::function<void()>& then = {},
                      bool count_fds = true) {
    node_->stop();
    CHECK(node_->loop().close_result() == 0);
    CHECK(node_->loop().forced_closes() == 0);
    node_.reset();
    if (then)
      then();
    if (!count_fds)
      return;
    // Another node of the test may close its end of a connection to this
    // one a moment later (remote nodes): wait for that, not longer.
    eventually([&] { return open_fds() == fds_before_; }, ms{2000});
    CHECK(open_fds() == fds_before_);
  }

private:
  // libuv opens a pipe pair on its first loop and keeps it for the life of
  // the process: count after that has happened.
  static int baseline_fds() {
    { io_loop warm_up; }
    return open_fds();
  }

  int fds_before_;
  std::unique_ptr<switchboard::node> node_;
};

/// The status of the actor `name` of the fixture's node.
inline nlohmann::json status_of(node_fixture& f, const std::string& name) {
  caf::scoped_actor self{f.node().system()};
  nlohmann::json result;
  self
    ->request(caf::actor_cast<status_actor>(f.node().lookup(name)),
              std::chrono::seconds(5), status_atom::value)
    .receive([&](json_message& m) { result = nlohmann::json::parse(m.text); },
             [&](caf::error& e) { FAIL(render(e)); });
  return result;
}

/// The port of the `HOST:PORT` in status field `key` of `name`.
inline int port_in_status(node_fixture& f, const std::string& name,
                          const std::string& key) {
  auto where = status_of(f, name)[key].get<std::string>();
  return std::stoi(where.substr(where.rfind(':') + 1));
}

/// What `switchboard check` finds in the config `text` (read as file
/// `name`), with the built-in kinds.
inline std::vector<config_error> check_config(const std::string& text,
                                              std::string name = "c.conf") {
  auto cfg = node_config::from_string(text, std::move(name));
  REQUIRE(cfg);
  kind_registry kinds;
  REQUIRE(!actors::add_builtin_kinds(kinds));
  return validate(*cfg, kinds);
}

} // namespace switchboard::test

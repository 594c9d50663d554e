// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/remote.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <functional>
#include <limits>
#include <typeindex>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/others.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "switchboard/config.hpp"
#include "switchboard/defaults.hpp"
#include "switchboard/errc.hpp"
#include "switchboard/log.hpp"
#include "switchboard/messages.hpp"
#include "switchboard/metered.hpp"
#include "switchboard/metrics.hpp"
#include "switchboard/node.hpp"
#include "switchboard/restart_policy.hpp"
#include "switchboard/status.hpp"

namespace switchboard::remote {

/// Messages from one stand-in to an actor of another node, carried as one
/// BASP message and handed to the actor there, in order, by that node's
/// peer manager: a burst costs one serialization, one wake-up of each
/// side's middleman and one delivery on the far side, instead of one each
/// per message.
struct relay_batch {
  caf::actor target;
  std::vector<caf::strong_actor_ptr> senders;
  // Per message: the index of its sender, its message id, its content.
  // A message that is one json_message travels as its text in `texts`
  // (its content here is empty): CAF 0.17 writes every element's type name
  // with a message, and looks it up again on the other side.
  std::vector<uint32_t> from;
  std::vector<uint64_t> ids;
  std::vector<caf::message> contents;
  std::vector<std::string> texts;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, relay_batch& x) {
  return f(caf::meta::type_name("switchboard::relay_batch"), x.target,
           x.senders, x.from, x.ids, x.contents, x.texts);
}

namespace {

/// The most messages one relay batch carries.
constexpr size_t max_batch = 512;

/// A stand-in's turn to send what it has batched.
using flush_atom = caf::atom_constant<caf::atom("flush")>;

// Asks a peer manager for an answer, to measure the round trip (metrics).
using ping_atom = caf::atom_constant<caf::atom("peerping")>;

// Time for the next round of pings.
using ping_all_atom = caf::atom_constant<caf::atom("pingall")>;

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

/// Greets a node: (hello, name, message types, its peer manager) ->
/// (hello, name, message types).
using hello_atom = caf::atom_constant<caf::atom("hello")>;

/// Proves the greeting node knows the cookie: (auth, proof) -> ok.
using auth_atom = caf::atom_constant<caf::atom("auth")>;

/// Which actor an address stands for: (resolve, "NODE/ACTOR", hops) ->
/// actor.
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;

/// Asks again for the addresses that wait for a route.
using retry_atom = caf::atom_constant<caf::atom("retry")>;

/// Dials peer N again (generation G): (dial, N, G).
using dial_atom = caf::atom_constant<caf::atom("dial")>;

/// Where the node listens for peers, once bound: (listen, "HOST:PORT").
using listen_atom = caf::atom_constant<caf::atom("listen")>;

/// Tells a stand-in that its node is down, before anyone else hears it.
using lost_atom = caf::atom_constant<caf::atom("lost")>;

/// A remote reference's check for messages held too long.
using expire_atom = caf::atom_constant<caf::atom("expire")>;

/// How many nodes a lookup may pass through (a -> b -> c is two).
constexpr int32_t max_hops = 4;

int64_t ms_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from)
    .count();
}

caf::timespan node_timespan(const caf::settings& cfg, const char* key,
                            caf::timespan fallback) {
  return caf::get_or(cfg, std::string{"node."} + key, fallback);
}

// add_message_type<T> adds std::vector<T> and stream<T> too: they come and
// go with T, so T alone stands for them. The T of a name.
std::string base_type(const std::string& name) {
  for (auto prefix : {"std::vector<", "stream<"})
    if (name.rfind(prefix, 0) == 0 && name.back() == '>')
      return base_type(
        name.substr(std::string{prefix}.size(),
                    name.size() - std::string{prefix}.size() - 1));
  return name;
}

// The names of the message types this node can put on the wire, sorted.
std::vector<std::string> type_names(caf::actor_system& sys) {
  std::vector<std::string> result;
  for (auto& kvp : sys.config().value_factories_by_name)
    if (base_type(kvp.first) == kvp.first)
      result.push_back(kvp.first);
  std::sort(result.begin(), result.end());
  return result;
}

std::vector<std::string> missing_from(const std::vector<std::string>& xs,
                                      const std::vector<std::string>& ys) {
  std::vector<std::string> result;
  std::set_difference(xs.begin(), xs.end(), ys.begin(), ys.end(),
                      std::back_inserter(result));
  return result;
}

std::string comma_list(const std::vector<std::string>& xs) {
  std::string result;
  for (auto& x : xs)
    result += (result.empty() ? "" : ", ") + x;
  return result;
}

std::string to_hex(const unsigned char* bytes, size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string result;
  for (size_t i = 0; i < size; ++i) {
    result += digits[bytes[i] >> 4];
    result += digits[bytes[i] & 0xf];
  }
  return result;
}

// A fresh random nonce, as hex.
std::string make_nonce() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1)
    std::abort(); // No randomness: nothing can be trusted.
  return to_hex(bytes, sizeof(bytes));
}

// HMAC-SHA256 of what one side proves (`label`: "answer" from the node
// dialled, "greet" from the one that dials) over the other side's nonce,
// keyed with the cookie, as hex. Nodes without a cookie share the empty
// one; a node with a cookie and one without never agree.
std::string cookie_proof(const std::string& cookie, const char* label,
                         const std::string& nonce, const std::string& name) {
  auto data = std::string{label} + "\n" + nonce + "\n" + name;
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, cookie.data(),
                cookie.size(),
                reinterpret_cast<const unsigned char*>(data.data()),
                data.size(), out, sizeof(out), &len)
      == nullptr)
    return {};
  return to_hex(out, len);
}

// -- the peer manager ---------------------------------------------------------

// A node this one talks to directly.
struct peer_node {
  caf::actor manager;
  // Where it was dialled, or where it connected from.
  std::string address;
  bool dialled = false;
  clock_type::time_point since;
  std::vector<std::string> types;
};

// One entry of `peers`.
struct dial_state {
  std::string address;
  std::string host;
  uint16_t port = 0;
  restart_tracker tracker;
  // The name the entry expects there (`NAME@HOST:PORT`), or empty.
  std::string expected;
  enum { connecting, up, waiting } state = connecting;
  // The name it answered with, once it did.
  std::string node;
  std::string last_error;
  clock_type::time_point since = clock_type::now();
  uint64_t generation = 0;
  uint64_t failures = 0;
};

// A node's peer manager: what other nodes talk to, and what resolves
// `NODE/ACTOR` for this node's remote references.
class peer_manager : public metered_actor {
public:
  peer_manager(caf::actor_config& cfg, switchboard::node& n)
      : metered_actor(cfg), node_(n) {
    auto& content = n.config().content();
    down_after_ =
      node_timespan(content, "down-after", caf::timespan{defaults::down_after});
    events_ = caf::get_or(content, "node.events", std::string{});
    cookie_ = caf::get_or(content, "node.cookie", std::string{});
    tls_ = caf::get_or(content, "node.tls", false);
    restart_policy reconnect;
    reconnect.mode = restart_mode::always;
    reconnect.delay = std::chrono::milliseconds(100);
    reconnect.max_delay = std::chrono::seconds(5);
    reconnect.reset_after = std::chrono::seconds(10);
    // A peer is dialled until it answers: a node may be down for hours.
    reconnect.max_restarts = std::numeric_limits<int64_t>::max();
    if (auto xs = caf::get_if<std::vector<std::string>>(&content, "node.peers"))
      for (auto& entry : *xs) {
        dial_state d{entry, {}, 0, restart_tracker{reconnect}, {}, {}, {}, {}};
        std::string error;
        split_peer(entry, d.expected, d.address, d.host, d.port, error);
        dials_.push_back(std::move(d));
      }
  }

  const char* name() const override {
    return "switchboard.peers";
  }

  // What waits here holds promises to remote references, which hold this
  // actor: let go of both sides, or neither is ever freed.
  void on_exit() override {
    auto err = make_error(errc::not_running, "the node is stopping");
    for (auto& w : waiting_)
      w.done(err);
    waiting_.clear();
    greetings_.clear();
    nodes_.clear();
    stand_ins_.clear();
    events_cache_ = nullptr;
  }

  caf::behavior make_behavior() override {
    types_ = type_names(system());
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    for (size_t i = 0; i < dials_.size(); ++i)
      dial(i);
    if (node_.metrics_enabled())
      send(this, ping_all_atom::value);
    return {
      // A peer measures its round trip to this node.
      [](ping_atom) { return caf::ok_atom::value; },
      // Measures the round trip to every peer node, every 2 s.
      [this](ping_all_atom) {
        if (!from_here())
          return;
        for (auto& [name, info] : nodes_) {
          auto start = clock_type::now();
          auto p = node_.metrics().peer(name);
          request(info.manager, down_after_, ping_atom::value)
            .then(
              [p, start](caf::ok_atom) {
                p->round_trip_ns.store(
                  std::chrono::duration_cast<std::chrono::nanoseconds>(
                    clock_type::now() - start)
                    .count(),
                  std::memory_order_relaxed);
              },
              [](caf::error&) {
                // A node that does not answer goes down by its monitor.
              });
        }
        delayed_send(this, std::chrono::seconds(2), ping_all_atom::value);
      },
      // A node that dialled this one greets it (1 of 2): its nonce; the
      // answer proves this node knows the cookie and carries a nonce of
      // its own.
      [this](hello_atom, std::string& name, std::vector<std::string>& types,
             caf::actor& manager, std::string& nonce)
        -> caf::result<hello_atom, std::string, std::vector<std::string>,
                       std::string, std::string> {
        if (name == node_.name())
          return make_error(errc::name_taken,
                            "this node is named '" + name
                              + "' too: every node of a topology needs a "
                                "name of its own");
        if (!manager)
          return make_error(errc::bad_message, "a greeting without a handle");
        if (auto err = namesake(name, manager))
          return err;
        auto mine = make_nonce();
        greetings_[manager.node()] = {name, std::move(types), manager, mine};
        return {hello_atom::value, node_.name(), types_, mine,
                cookie_proof(cookie_, "answer", nonce, node_.name())};
      },
      // (2 of 2): its proof over this node's nonce.
      [this](auth_atom, std::string& proof) -> caf::result<caf::ok_atom> {
        auto& sender = current_sender();
        auto i = sender ? greetings_.find(sender->node()) : greetings_.end();
        if (i == greetings_.end())
          return make_error(errc::bad_message, "no greeting to finish");
        auto g = std::move(i->second);
        greetings_.erase(i);
        if (proof != cookie_proof(cookie_, "greet", g.nonce, g.name)) {
          node_.log(log_level::warn, {},
                    "refused node " + g.name
                      + ": it does not know this node's cookie");
          return make_error(errc::bad_message,
                            "node " + node_.name()
                              + " refused the greeting: wrong cookie");
        }
        if (auto err = namesake(g.name, g.manager))
          return err;
        came_up(g.name, g.manager, {}, false, std::move(g.types));
        return caf::ok_atom::value;
      },
      // From another node's peer manager.
      [this](resolve_atom, std::string& address,
             int32_t hops) -> caf::result<caf::actor> {
        if (!greeted(current_sender()))
          return make_error(errc::bad_message,
                            "node " + node_.name()
                              + " answers only nodes it has greeted");
        auto rp = make_response_promise<caf::actor>();
        resolve(std::move(address), hops, false,
                [rp](caf::expected<caf::actor> x) mutable {
                  if (x)
                    rp.deliver(std::move(*x));
                  else
                    rp.deliver(std::move(x.error()));
                });
        return rp;
      },
      // From another node's stand-in: messages for an actor of this node.
      [this](relay_batch& b) -> caf::result<caf::ok_atom> {
        if (auto err = relay(b))
          return err;
        return caf::ok_atom::value;
      },
      // From a remote reference of this node: the actor, the message types
      // its node knows (empty where unknown), and the peer manager that
      // relays batches to it (none where unknown).
      [this](resolve_atom, std::string& address)
        -> caf::result<caf::actor, std::vector<std::string>, caf::actor> {
        auto& sender = current_sender();
        if (!sender || sender->node() != system().node())
          return make_error(errc::bad_message, "a lookup for this node only");
        // Before the promise: making it takes the sender out of the
        // current message.
        auto ref = sender->address();
        auto rp = make_response_promise<caf::actor, std::vector<std::string>,
                                        caf::actor>();
        std::string node_name;
        std::string actor_name;
        split_address(address, node_name, actor_name);
        resolve(
          std::move(address), max_hops, true,
          [this, rp, node_name, ref](caf::expected<caf::actor> x) mutable {
            if (x) {
              // Told first when its node goes (see on_down). Stand-ins
              // that have exited meanwhile leave the list here.
              if (x->node() != system().node()) {
                auto& refs = stand_ins_[x->node()];
                for (auto i = refs.begin(); i != refs.end();)
                  i = caf::actor_cast<caf::actor>(*i) ? std::next(i)
                                                      : refs.erase(i);
                refs.insert(ref);
              }
              auto relay = relay_of(node_name, *x);
              rp.deliver(std::move(*x), types_of(node_name), std::move(relay));
            } else {
              rp.deliver(std::move(x.error()));
            }
          });
        return rp;
      },
      // The rest comes from this node only: BASP delivers any message to
      // a published actor, also from a node that never greeted.
      [this](retry_atom) {
        if (!from_here())
          return;
        retrying_ = false;
        retry_waiting();
      },
      [this](dial_atom, uint64_t index, uint64_t generation) {
        if (from_here() && index < dials_.size()
            && dials_[index].generation == generation)
          dial(index);
      },
      [this](status_atom) -> caf::result<json_message> {
        if (!greeted(current_sender()) && !from_here())
          return make_error(errc::bad_message,
                            "status is for this node and the nodes it has "
                            "greeted");
        return status();
      },
      [this](listen_atom, std::string& where) {
        if (from_here())
          listen_ = std::move(where);
      },
    };
  }

private:
  // -- greeting ---------------------------------------------------------------

  void dial(size_t index) {
    auto& d = dials_[index];
    d.state = dial_state::connecting;
    auto generation = ++d.generation;
    auto mm = tls_ ? system().openssl_manager().actor_handle()
                   : system().middleman().actor_handle();
    auto self = caf::actor_cast<caf::actor>(this);
    // A peer that accepts but never answers (stopped, say) fails the
    // dial after down-after, as a silent peer is declared down.
    request(mm, down_after_, caf::connect_atom_v, d.host, d.port)
      .then(
        [this, index, generation, self](const caf::node_id&,
                                        caf::strong_actor_ptr& ptr,
                                        const std::set<std::string>&) {
          if (dials_[index].generation != generation)
            return;
          if (!ptr) {
            dial_failed(index, "no switchboard node listens there");
            return;
          }
          auto manager = caf::actor_cast<caf::actor>(ptr);
          auto nonce = make_nonce();
          request(manager, down_after_, hello_atom::value, node_.name(), types_,
                  self, nonce)
            .then(
              [this, index, generation, manager, nonce](
                hello_atom, std::string& name, std::vector<std::string>& types,
                std::string& theirs, std::string& proof) {
                if (dials_[index].generation != generation)
                  return;
                if (name == node_.name()) {
                  dial_failed(index, "the node there is this node's "
                                     "namesake: every node needs a name "
                                     "of its own");
                  return;
                }
                if (auto& expected = dials_[index].expected;
                    !expected.empty() && name != expected) {
                  dial_failed(index, "the node there is named '" + name
                                       + "', not '" + expected + "'");
                  return;
                }
                if (proof != cookie_proof(cookie_, "answer", nonce, name)) {
                  dial_failed(index, "node " + name
                                       + " does not know this node's cookie");
                  return;
                }
                if (auto err = namesake(name, manager)) {
                  dial_failed(index, reason_of(err));
                  return;
                }
                request(manager, down_after_, auth_atom::value,
                        cookie_proof(cookie_, "greet", theirs, node_.name()))
                  .then(
                    [this, index, generation, manager, name,
                     types](caf::ok_atom) mutable {
                      auto& d = dials_[index];
                      if (d.generation != generation)
                        return;
                      d.state = dial_state::up;
                      d.node = name;
                      d.failures = 0;
                      came_up(name, manager, d.address, true, std::move(types));
                    },
                    [this, index, generation](caf::error& err) {
                      if (dials_[index].generation == generation)
                        dial_failed(index, reason_of(err));
                    });
              },
              [this, index, generation](caf::error& err) {
                if (dials_[index].generation == generation)
                  dial_failed(index, "greeting refused: " + reason_of(err));
              });
        },
        [this, index, generation](caf::error& err) {
          if (dials_[index].generation != generation)
            return;
          if (err == caf::sec::cannot_connect_to_node)
            dial_failed(index, "cannot connect (refused or unreachable)");
          else if (err == caf::sec::request_timeout
                   || err == caf::sec::connection_timeout)
            dial_failed(index, "no BASP handshake within down-after (not a "
                               "switchboard node, or a frozen one)");
          else if (err == caf::sec::disconnect_during_handshake)
            dial_failed(index, std::string{"the peer hung up during the "
                                           "handshake ("}
                                 + (tls_ ? "does it trust this node's "
                                           "certificate, and speak TLS?"
                                         : "does it want TLS?")
                                 + ")");
          else if (err == caf::sec::malformed_basp_message)
            dial_failed(index, "not a switchboard node (it does not speak "
                               "BASP)");
          else
            dial_failed(index, render(err));
        });
  }

  void dial_failed(size_t index, std::string reason) {
    auto& d = dials_[index];
    if (d.failures++ == 0 || reason != d.last_error)
      node_.log(log_level::warn, {},
                "peer " + d.address + ": " + reason + " (retrying)");
    d.last_error = std::move(reason);
    retry(index, caf::timespan{0});
  }

  void retry(size_t index, caf::timespan uptime) {
    auto& d = dials_[index];
    d.state = dial_state::waiting;
    auto decision = d.tracker.next(true, uptime, d.last_error);
    auto text = decision.event();
    if (!text.empty()) {
      auto ev = json::parse(text);
      ev["peer"] = d.address;
      if (!d.last_error.empty())
        ev["reason"] = d.last_error;
      event(ev);
    }
    delayed_send(this, decision.delay, dial_atom::value, uint64_t{index},
                 ++d.generation);
  }

  // A second node that calls itself `name` while the first is connected is
  // refused (until the first is down): two nodes of one name would hide
  // each other's actors.
  caf::error namesake(const std::string& name, const caf::actor& manager) {
    auto i = nodes_.find(name);
    if (i == nodes_.end() || i->second.manager == manager)
      return caf::none;
    return make_error(errc::name_taken,
                      "a node named '" + name + "' is connected already"
                        + (i->second.address.empty()
                             ? std::string{}
                             : " (" + i->second.address + ")")
                        + ": every node of a topology needs a name of its "
                          "own");
  }

  void came_up(const std::string& name, caf::actor manager, std::string address,
               bool dialled, std::vector<std::string> types) {
    auto now = clock_type::now();
    auto i = nodes_.find(name);
    if (i != nodes_.end() && i->second.manager == manager) {
      // Both sides dialled each other: one node, met twice.
      i->second.dialled = i->second.dialled || dialled;
      if (dialled)
        i->second.address = address;
      return;
    }
    monitor(manager);
    auto& p = nodes_[name];
    p.manager = std::move(manager);
    p.dialled = dialled;
    p.address = std::move(address);
    p.since = now;
    p.types = std::move(types);
    int64_t down_ms = -1;
    if (auto j = down_since_.find(name); j != down_since_.end()) {
      down_ms = ms_between(j->second, now);
      down_since_.erase(j);
    }
    node_.log("node " + name + " is up"
              + (p.address.empty() ? "" : " (" + p.address + ")"));
    if (node_.metrics_enabled())
      node_.metrics().peer(name)->up.store(true, std::memory_order_relaxed);
    json ev{{"event", "node-up"}, {"node", name}};
    if (!p.address.empty())
      ev["address"] = p.address;
    if (down_ms >= 0)
      ev["down_ms"] = down_ms;
    event(ev);
    auto they_lack = missing_from(types_, p.types);
    auto we_lack = missing_from(p.types, types_);
    if (!they_lack.empty() || !we_lack.empty()) {
      std::string text = "node " + name
                         + " and this node register different "
                           "message types";
      if (!they_lack.empty())
        text += "; " + name + " lacks " + comma_list(they_lack);
      if (!we_lack.empty())
        text += "; this node lacks " + comma_list(we_lack);
      node_.log(log_level::warn, {},
                text
                  + ": messages of those types cannot pass (add them with "
                    "add_message_type on both nodes)");
      event(json{{"event", "types-differ"},
                 {"node", name},
                 {"they_lack", they_lack},
                 {"we_lack", we_lack}});
    }
    if (p.address.empty())
      learn_address(name);
    // Anything waiting may resolve now: through this node, or on it.
    retry_waiting();
  }

  // Where an inbound node connected from, for status.
  void learn_address(const std::string& name) {
    auto nid = nodes_[name].manager.node();
    auto mm = system().middleman().actor_handle();
    request(mm, std::chrono::seconds(5), caf::get_atom_v, nid)
      .then(
        [this, name, nid](const caf::node_id&, std::string& host,
                          uint16_t port) {
          auto i = nodes_.find(name);
          if (i != nodes_.end() && i->second.manager.node() == nid
              && i->second.address.empty() && !host.empty())
            i->second.address = host + ":" + std::to_string(port);
        },
        [](caf::error&) {
          // Only status shows it.
        });
  }

  void on_down(caf::down_msg& dm) {
    for (auto i = nodes_.begin(); i != nodes_.end(); ++i) {
      if (i->second.manager.address() != dm.source)
        continue;
      auto name = i->first;
      auto info = std::move(i->second);
      nodes_.erase(i);
      // The stand-ins of actors there hear it before anyone else (the
      // events actor, say, whose news may prompt the next send): a send
      // after the news then waits for the node instead of going out to it.
      if (auto j = stand_ins_.find(info.manager.node());
          j != stand_ins_.end()) {
        for (auto& addr : j->second)
          if (auto ref = caf::actor_cast<caf::actor>(addr))
            send(ref, lost_atom::value);
        stand_ins_.erase(j);
      }
      auto now = clock_type::now();
      down_since_[name] = now;
      if (node_.metrics_enabled())
        node_.metrics().peer(name)->up.store(false, std::memory_order_relaxed);
      auto reason = dm.reason == caf::exit_reason::remote_link_unreachable
                      ? std::string{"connection lost"}
                    : dm.reason == caf::exit_reason::user_shutdown
                      ? std::string{"it stopped"}
                      : render(dm.reason);
      node_.log(log_level::warn, {},
                "node " + name + " is down (" + reason + ")");
      json ev{{"event", "node-down"}, {"node", name}, {"reason", reason}};
      if (!info.address.empty())
        ev["address"] = info.address;
      ev["up_ms"] = ms_between(info.since, now);
      event(ev);
      for (size_t index = 0; index < dials_.size(); ++index) {
        auto& d = dials_[index];
        if (d.node == name && d.state == dial_state::up) {
          d.last_error = reason;
          retry(index, now - d.since);
        }
      }
      return;
    }
  }

  // -- relaying ---------------------------------------------------------------

  // Hands each message of `b` to its target, in order, as if its sender had
  // sent it there directly (a request's reply goes to that sender).
  caf::error relay(relay_batch& b) {
    if (!greeted(current_sender())
        || current_sender()->node() == system().node())
      return make_error(errc::bad_message, "node " + node_.name()
                                             + " relays only for nodes it "
                                               "has greeted");
    auto n = b.contents.size();
    if (!b.target || b.target.node() != system().node() || b.from.size() != n
        || b.ids.size() != n)
      return make_error(errc::bad_message, "a malformed relay batch");
    size_t texts = 0;
    for (size_t i = 0; i < n; ++i) {
      if (b.from[i] >= b.senders.size())
        return make_error(errc::bad_message, "a malformed relay batch");
      if (b.contents[i].empty())
        ++texts;
    }
    if (texts != b.texts.size())
      return make_error(errc::bad_message, "a malformed relay batch");
    size_t t = 0;
    for (size_t i = 0; i < n; ++i) {
      auto content =
        b.contents[i].empty()
          ? caf::make_message(json_message::trusted(std::move(b.texts[t++])))
          : std::move(b.contents[i]);
      b.target->enqueue(caf::make_mailbox_element(b.senders[b.from[i]],
                                                  caf::message_id{b.ids[i]}, {},
                                                  std::move(content)),
                        context());
    }
    relayed_ += n;
    return caf::none;
  }

  // -- resolving --------------------------------------------------------------

  using resolved_fn = std::function<void(caf::expected<caf::actor>)>;

  struct waiting_resolve {
    std::string address;
    resolved_fn done;
  };

  // The message types of `node_name`, if it is a direct peer (empty if it
  // is not: then nothing is known about them).
  std::vector<std::string> types_of(const std::string& node_name) const {
    auto i = nodes_.find(node_name);
    return i != nodes_.end() ? i->second.types : std::vector<std::string>{};
  }

  // The peer manager that hands out relay batches for `target`: its
  // node's, when that is a direct peer (else none: messages go direct).
  caf::actor relay_of(const std::string& node_name,
                      const caf::actor& target) const {
    auto i = nodes_.find(node_name);
    if (i == nodes_.end() || i->second.manager.node() != target.node())
      return {};
    return i->second.manager;
  }

  void wait(std::string address, resolved_fn done) {
    waiting_.push_back({std::move(address), std::move(done)});
    if (!retrying_) {
      // A route may appear without a node-up here (a peer meets a third
      // node): ask again now and then.
      retrying_ = true;
      delayed_send(this, down_after_ / 3, retry_atom::value);
    }
  }

  void retry_waiting() {
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& w : waiting)
      resolve(std::move(w.address), max_hops, true, std::move(w.done));
  }

  // Finds the actor `address` names. A local asker (a remote reference)
  // waits while the node is unknown or down; another node gets an error.
  void resolve(std::string address, int32_t hops, bool local,
               resolved_fn done) {
    std::string node_name;
    std::string actor_name;
    if (!split_address(address, node_name, actor_name)) {
      node_name = node_.name();
      actor_name = address;
    }
    if (node_name == node_.name()) {
      if (auto h = node_.lookup(actor_name))
        done(h);
      else
        done(make_error(errc::unknown_actor, "node " + node_name
                                               + " has no actor named '"
                                               + actor_name + "'"));
      return;
    }
    if (auto i = nodes_.find(node_name); i != nodes_.end()) {
      request(i->second.manager, down_after_, resolve_atom::value, address,
              hops - 1)
        .then([done](caf::actor& h) { done(h); },
              [this, done, address, local](caf::error& err) {
                if (local && is(err, errc::node_down))
                  wait(address, done);
                else
                  done(std::move(err));
              });
      return;
    }
    // Not a direct peer: ask those that are, but never back where the
    // question came from.
    std::vector<caf::actor> asked;
    if (hops > 1) {
      caf::node_id from;
      if (auto& sender = current_sender(); sender && !local)
        from = sender->node();
      for (auto& kvp : nodes_)
        if (kvp.second.manager.node() != from)
          asked.push_back(kvp.second.manager);
    }
    auto no_route = [this, node_name] {
      return make_error(errc::node_down, "no route to node " + node_name
                                           + " from " + node_.name());
    };
    if (asked.empty()) {
      if (local)
        wait(std::move(address), std::move(done));
      else
        done(no_route());
      return;
    }
    struct round {
      size_t left;
      bool done = false;
    };
    auto r = std::make_shared<round>(round{asked.size()});
    for (auto& m : asked)
      request(m, down_after_, resolve_atom::value, address, hops - 1)
        .then(
          [r, done](caf::actor& h) {
            --r->left;
            if (!r->done) {
              r->done = true;
              done(h);
            }
          },
          [this, r, done, address, local, no_route](caf::error& err) {
            if (--r->left > 0 || r->done)
              return;
            r->done = true;
            if (!is(err, errc::node_down) && err != caf::sec::request_timeout)
              done(std::move(err));
            else if (local)
              wait(address, done);
            else
              done(no_route());
          });
  }

  // -- status and events ------------------------------------------------------

  json_message status() {
    auto now = clock_type::now();
    json nodes = json::array();
    for (auto& [name, p] : nodes_) {
      size_t refs = 0;
      if (auto i = stand_ins_.find(p.manager.node()); i != stand_ins_.end())
        for (auto& addr : i->second)
          refs += caf::actor_cast<caf::actor>(addr) ? 1 : 0;
      nodes.push_back(json{{"node", name},
                           {"state", "up"},
                           {"address", p.address},
                           {"dialled", p.dialled},
                           {"up_ms", ms_between(p.since, now)},
                           {"references", refs}});
    }
    for (auto& [name, since] : down_since_)
      nodes.push_back(json{{"node", name},
                           {"state", "down"},
                           {"down_ms", ms_between(since, now)}});
    json dials = json::array();
    for (auto& d : dials_) {
      json x{{"address", d.address},
             {"state", d.state == dial_state::up           ? "up"
                       : d.state == dial_state::connecting ? "connecting"
                                                           : "waiting"},
             {"restarts", d.tracker.restarts()}};
      if (!d.node.empty())
        x["node"] = d.node;
      if (!d.last_error.empty() && d.state != dial_state::up)
        x["last_error"] = d.last_error;
      dials.push_back(std::move(x));
    }
    std::vector<std::pair<std::string, std::string>> fields{
      {"node", json(node_.name()).dump()},
      {"nodes", nodes.dump()},
      {"peers", dials.dump()},
      {"waiting", std::to_string(waiting_.size())},
      {"relayed", std::to_string(relayed_)},
      {"tls", tls_ ? "true" : "false"},
      {"down_after_ms",
       std::to_string(
         std::chrono::duration_cast<std::chrono::milliseconds>(down_after_)
           .count())}};
    if (!listen_.empty())
      fields.emplace_back("listen", json(listen_).dump());
    return status_reply(this, "peers", std::move(fields));
  }

  void event(const json& ev) {
    node_.send_event(events_, events_cache_, ev.dump());
  }

  // Whether the current message comes from this node (or from nobody: an
  // anonymous send of this node's start).
  bool from_here() {
    auto& sender = current_sender();
    return !sender || sender->node() == system().node();
  }

  // Whether `sender` is a node this one has greeted (or itself).
  bool greeted(const caf::strong_actor_ptr& sender) const {
    if (!sender)
      return false;
    if (sender->node() == system().node())
      return true;
    for (auto& kvp : nodes_)
      if (kvp.second.manager.node() == sender->node())
        return true;
    return false;
  }

  // A greeting begun by a node that dialled this one.
  struct greeting {
    std::string name;
    std::vector<std::string> types;
    caf::actor manager;
    std::string nonce;
  };

  switchboard::node& node_;
  std::string listen_;
  std::string cookie_;
  bool tls_ = false;
  // The stand-ins that resolved an actor of a node, by that node.
  std::map<caf::node_id, std::set<caf::actor_addr>> stand_ins_;
  std::map<caf::node_id, greeting> greetings_;
  caf::timespan down_after_;
  std::string events_;
  caf::actor events_cache_;
  std::vector<std::string> types_;
  std::vector<dial_state> dials_;
  std::map<std::string, peer_node> nodes_;
  std::map<std::string, clock_type::time_point> down_since_;
  std::vector<waiting_resolve> waiting_;
  bool retrying_ = false;
  // Messages handed out from other nodes' relay batches.
  uint64_t relayed_ = 0;
};

// -- the remote reference -----------------------------------------------------

// The local stand-in for `NODE/ACTOR`: forwards what it receives to the
// remote actor once resolved, holds messages while the node is down, and
// answers every request it forwarded with `node_down` if the node goes.
class remote_ref : public metered_actor {
public:
  remote_ref(caf::actor_config& cfg, switchboard::node& n, caf::actor manager,
             std::string address)
      : metered_actor(cfg), node_(n), manager_(std::move(manager)),
        address_(std::move(address)) {
    split_address(address_, node_name_, actor_name_);
    auto& content = n.config().content();
    max_held_ = static_cast<size_t>(
      caf::get_or(content, "node.max-held", int64_t{defaults::max_held}));
    // Four fifths of request-timeout: a sender that waits request-timeout
    // (switchboard send, the bridges) hears node_down, not its own timeout.
    hold_for_ = n.request_timeout() * 4 / 5;
  }

  const char* name() const override {
    return "switchboard.remote";
  }

  void on_exit() override {
    fail_all(make_error(errc::not_running, "the node is stopping"));
    manager_ = nullptr;
    remote_ = nullptr;
    relay_ = nullptr;
    batch_ = relay_batch{};
  }

  caf::behavior make_behavior() override {
    set_default_handler([](caf::scheduled_actor* ptr, caf::message_view& x) {
      return static_cast<remote_ref*>(ptr)->on_message(x);
    });
    set_down_handler([this](caf::down_msg& dm) { on_down(dm); });
    return {
      [this](status_atom) -> caf::result<json_message> {
        auto rp = make_response_promise<json_message>();
        if (!remote_) {
          rp.deliver(own_status(json{}));
          return rp;
        }
        urgent_request(this, caf::actor_cast<caf::actor>(remote_),
                       std::chrono::seconds(2),
                       caf::make_message(status_atom::value))
          .then(
            [this, rp](json_message& st) mutable {
              auto parsed = json::parse(st.text, nullptr, false);
              rp.deliver(
                own_status(parsed.is_discarded() ? json(st.text) : parsed));
            },
            [this, rp](caf::error& err) mutable {
              rp.deliver(own_status(json{{"error", render(err)}}));
            });
        return rp;
      },
      [this](expire_atom) { expire(); },
      [this](flush_atom) {
        flush_posted_ = false;
        flush();
      },
      [this](lost_atom) {
        if (remote_)
          lost_remote(caf::exit_reason::remote_link_unreachable);
      },
    };
  }

private:
  struct held_message {
    caf::strong_actor_ptr sender;
    caf::message_id mid;
    caf::message content;
    clock_type::time_point since;
    caf::response_promise promise;
  };

  caf::result<caf::message> on_message(caf::message_view& x) {
    auto& me = *current_mailbox_element();
    // The proxy of a lost node is killed before its down message gets
    // here: what comes in meanwhile waits for the node, as after the news.
    if (remote_ && remote_->getf(caf::abstract_actor::is_terminated_flag))
      lost_remote(caf::exit_reason::remote_link_unreachable);
    if (remote_) {
      forward(me.sender, me.mid, x.move_content_to_message());
      return caf::delegated<caf::message>{};
    }
    auto is_request = me.mid.is_request();
    if (held_.size() >= max_held_) {
      ++refused_;
      auto err = make_error(errc::queue_full,
                            "node " + node_name_ + " is down and "
                              + std::to_string(held_.size()) + " messages for "
                              + address_ + " wait already ([node] max-held)");
      if (is_request)
        return err;
      note_dropped(render(err));
      return caf::delegated<caf::message>{};
    }
    held_message h{
      me.sender, me.mid, x.move_content_to_message(), clock_type::now(), {}};
    if (is_request)
      h.promise = make_response_promise();
    held_.push_back(std::move(h));
    if (!expiring_) {
      expiring_ = true;
      delayed_send(this, hold_for_ / 4, expire_atom::value);
    }
    resolve();
    return caf::delegated<caf::message>{};
  }

  void resolve() {
    if (resolving_)
      return;
    resolving_ = true;
    request(manager_, caf::infinite, resolve_atom::value, address_)
      .then(
        [this](caf::actor& h, std::vector<std::string>& types,
               caf::actor& relay) {
          resolving_ = false;
          remote_ = h;
          relay_ = relay;
          remote_types_ = std::move(types);
          monitor(remote_);
          last_error_.clear();
          auto held = std::move(held_);
          held_.clear();
          for (auto& m : held) {
            if (m.promise.pending()) {
              // The reply goes to the promise, which answers the sender.
              forward_request(std::move(m.promise), std::move(m.content));
            } else {
              forward(m.sender, m.mid, std::move(m.content));
            }
          }
        },
        [this](caf::error& err) {
          resolving_ = false;
          last_error_ = render(err);
          fail_held(err);
          // No such actor there (a typo, or gone): the stand-in leaves the
          // registry instead of staying in status for good; the next use
          // of the address asks again.
          quit(caf::exit_reason::normal);
        });
  }

  // Sends `content` on; a request's reply comes back here first, so that
  // the node's loss can answer it.
  void forward(const caf::strong_actor_ptr& sender, caf::message_id mid,
               caf::message content) {
    if (mid.is_request()) {
      forward_request(make_response_promise(), std::move(content));
      return;
    }
    if (auto err = check_types(content)) {
      note_dropped(render(err));
      return;
    }
    ++forwarded_;
    send_out(sender, caf::make_message_id(), std::move(content));
  }

  void forward_request(caf::response_promise rp, caf::message content) {
    if (auto err = check_types(content)) {
      rp.deliver(std::move(err));
      return;
    }
    ++forwarded_;
    auto rid = new_request_id(caf::message_priority::normal);
    auto key = rid.response_id();
    pending_.emplace(key.integer_value(), std::move(rp));
    // An event-based behaviour has no catch-all in CAF 0.17; a reply that
    // no handler takes comes to the error handler as unexpected_response
    // with the reply as its context: that is how any reply passes through.
    add_multiplexed_response_handler(
      key, caf::behavior{[this, key](caf::error& err) {
        auto i = pending_.find(key.integer_value());
        if (i == pending_.end())
          return;
        if (err == caf::sec::unexpected_response)
          i->second.deliver(err.context());
        else
          i->second.deliver(std::move(err));
        pending_.erase(i);
      }});
    send_out(ctrl(), rid, std::move(content));
  }

  // Sends one message on: at once when nothing is batched or on its way
  // and nothing else waits in the mailbox (one request at a time pays no
  // extra hop); otherwise in the next relay batch, which goes when the
  // mailbox has been worked through (or is full), so a burst crosses as a
  // few BASP messages and nothing overtakes what was sent before it.
  void send_out(caf::strong_actor_ptr sender, caf::message_id mid,
                caf::message content) {
    if (!relay_
        || (batch_.contents.empty() && in_flight_ == 0 && mailbox().empty())) {
      remote_->enqueue(caf::make_mailbox_element(std::move(sender), mid, {},
                                                 std::move(content)),
                       context());
      return;
    }
    auto& senders = batch_.senders;
    auto idx = senders.size();
    // Bursts mostly come from one sender: look at the last few.
    for (size_t k = 0; k < senders.size() && k < 4; ++k)
      if (senders[senders.size() - 1 - k] == sender) {
        idx = senders.size() - 1 - k;
        break;
      }
    if (idx == senders.size())
      senders.push_back(std::move(sender));
    batch_.from.push_back(static_cast<uint32_t>(idx));
    batch_.ids.push_back(mid.integer_value());
    if (content.match_elements<json_message>()) {
      batch_.texts.push_back(
        std::move(content.get_mutable_as<json_message>(0).text));
      batch_.contents.emplace_back();
    } else {
      batch_.contents.push_back(std::move(content));
    }
    if (mid.is_request())
      batch_requests_.push_back(mid.response_id().integer_value());
    if (batch_.contents.size() >= max_batch) {
      flush();
    } else if (!flush_posted_) {
      flush_posted_ = true;
      caf::anon_send(caf::actor_cast<caf::actor>(this), flush_atom::value);
    }
  }

  // Sends the batch to the relay of the remote actor's node.
  void flush() {
    if (batch_.contents.empty() || !remote_ || !relay_)
      return;
    batch_.target = remote_;
    auto n = batch_.contents.size();
    ++in_flight_;
    ++batches_;
    batched_ += n;
    auto requests = std::move(batch_requests_);
    batch_requests_.clear();
    request(relay_, hold_for_ * 4, std::move(batch_))
      .then(
        [this, gen = relay_gen_](caf::ok_atom) {
          if (gen == relay_gen_)
            --in_flight_;
        },
        [this, gen = relay_gen_, n,
         requests = std::move(requests)](caf::error& err) {
          if (gen != relay_gen_)
            return; // the node went: its loss answered the requests
          --in_flight_;
          auto why =
            make_error(errc::node_down, "node " + node_name_ + " did not take "
                                          + std::to_string(n)
                                          + " messages: " + render(err));
          for (auto id : requests)
            if (auto i = pending_.find(id); i != pending_.end()) {
              i->second.deliver(why);
              pending_.erase(i);
            }
          note_dropped(render(why));
        });
    batch_ = relay_batch{};
  }

  // A message whose types the other node cannot read would be dropped
  // there without a word (CAF 0.17): refuse it here, saying which type.
  caf::error check_types(const caf::message& content) {
    auto& names = system().config().type_names_by_rtti;
    for (size_t pos = 0; pos < content.size(); ++pos) {
      auto type = content.type(pos);
      if (type.first != 0 || type.second == nullptr)
        continue;
      auto i = names.find(std::type_index(*type.second));
      if (i == names.end())
        return make_error(errc::unexpected_message,
                          std::string{"a message of type "}
                            + type.second->name()
                            + " cannot leave this node: register it with "
                              "add_message_type on both nodes");
      if (!remote_types_.empty()
          && !std::binary_search(remote_types_.begin(), remote_types_.end(),
                                 base_type(i->second)))
        return make_error(errc::unexpected_message,
                          "node " + node_name_ + " does not know message type '"
                            + base_type(i->second)
                            + "': register it there with add_message_type");
    }
    return caf::none;
  }

  void on_down(caf::down_msg& dm) {
    if (dm.source == remote_.address())
      lost_remote(dm.reason);
  }

  void lost_remote(const caf::error& reason) {
    demonitor(remote_);
    remote_ = nullptr;
    // Batches on their way are lost with the node; so is what was batched.
    relay_ = nullptr;
    ++relay_gen_;
    in_flight_ = 0;
    if (auto n = batch_.contents.size() - batch_requests_.size(); n > 0) {
      dropped_ += n - 1;
      if (auto m = metrics())
        m->drop(drop_reason::undelivered, n - 1);
      note_dropped(std::to_string(n) + " one-way messages for " + address_
                   + " were lost with node " + node_name_);
    }
    batch_ = relay_batch{};
    batch_requests_.clear();
    // A node that stops ends its actors before the connection closes.
    last_error_ = reason == caf::exit_reason::remote_link_unreachable
                    ? "node " + node_name_ + " went down"
                  : reason == caf::exit_reason::user_shutdown
                    ? actor_name_ + " on node " + node_name_ + " stopped"
                    : actor_name_ + " on node " + node_name_ + " exited ("
                        + render(reason) + ")";
    fail_pending(
      make_error(errc::node_down, last_error_ + " before it answered"));
    if (!held_.empty())
      resolve();
  }

  void expire() {
    expiring_ = false;
    auto now = clock_type::now();
    while (!held_.empty() && now - held_.front().since >= hold_for_) {
      auto m = std::move(held_.front());
      held_.pop_front();
      auto err = make_error(
        errc::node_down,
        "node " + node_name_ + " did not come up within "
          + std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(hold_for_)
              .count())
          + " ms"
          + (last_error_.empty() ? "" : " (last: " + last_error_ + ")"));
      if (m.promise.pending())
        m.promise.deliver(err);
      else
        note_dropped(render(err));
    }
    if (!held_.empty()) {
      expiring_ = true;
      delayed_send(this, hold_for_ / 4, expire_atom::value);
    }
  }

  void fail_held(const caf::error& err) {
    auto held = std::move(held_);
    held_.clear();
    for (auto& m : held) {
      if (m.promise.pending())
        m.promise.deliver(err);
      else
        note_dropped(render(err));
    }
  }

  void fail_pending(const caf::error& err) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& kvp : pending)
      kvp.second.deliver(err);
  }

  void fail_all(const caf::error& err) {
    fail_held(err);
    fail_pending(err);
  }

  // A one-way message that could not be delivered: counted in status and
  // logged (at most once a second, with how many were left out).
  void note_dropped(const std::string& why) {
    ++dropped_;
    if (auto m = metrics())
      m->drop(drop_reason::undelivered);
    auto now = clock_type::now();
    if (now - last_drop_log_ < std::chrono::seconds(1)) {
      ++drops_unlogged_;
      return;
    }
    last_drop_log_ = now;
    node_.log(log_level::warn, address_,
              "dropped a message: " + why
                + (drops_unlogged_ > 0
                     ? " (and " + std::to_string(drops_unlogged_) + " more)"
                     : ""));
    drops_unlogged_ = 0;
  }

  json_message own_status(json remote) {
    std::vector<std::pair<std::string, std::string>> fields{
      {"node", json(node_name_).dump()},
      {"actor", json(actor_name_).dump()},
      // up: resolved; waiting: for the node (or its answer); idle:
      // resolved on the next message.
      {"state", remote_      ? "\"up\""
                : resolving_ ? "\"waiting\""
                             : "\"idle\""},
      {"held", std::to_string(held_.size())},
      {"pending", std::to_string(pending_.size())},
      {"forwarded", std::to_string(forwarded_)},
      {"batches", std::to_string(batches_)},
      {"batched", std::to_string(batched_)},
      {"refused", std::to_string(refused_)},
      {"dropped", std::to_string(dropped_)}};
    if (!last_error_.empty())
      fields.emplace_back("last_error", json(last_error_).dump());
    if (!remote.is_null())
      fields.emplace_back("remote", remote.dump());
    return status_reply(this, "remote", std::move(fields));
  }

  switchboard::node& node_;
  caf::actor manager_;
  std::string address_;
  std::string node_name_;
  std::string actor_name_;
  size_t max_held_ = defaults::max_held;
  caf::timespan hold_for_;
  caf::actor remote_;
  // The message types the remote node knows, sorted (empty: unknown).
  std::vector<std::string> remote_types_;
  bool resolving_ = false;
  bool expiring_ = false;
  std::deque<held_message> held_;
  std::unordered_map<uint64_t, caf::response_promise> pending_;
  std::string last_error_;
  uint64_t forwarded_ = 0;
  // Relay batches: the remote node's peer manager (none: send direct),
  // what waits for the next batch, batches not yet handed out there, and
  // a generation that a lost node ends.
  caf::actor relay_;
  relay_batch batch_;
  std::vector<uint64_t> batch_requests_;
  bool flush_posted_ = false;
  size_t in_flight_ = 0;
  uint64_t relay_gen_ = 0;
  uint64_t batches_ = 0;
  uint64_t batched_ = 0;
  uint64_t refused_ = 0;
  uint64_t dropped_ = 0;
  uint64_t drops_unlogged_ = 0;
  clock_type::time_point last_drop_log_;
};

} // namespace

bool enabled(const caf::settings& cfg) {
  auto listen = caf::get_if<std::string>(&cfg, "node.listen");
  auto peers = caf::get_if<caf::config_value::list>(&cfg, "node.peers");
  return (listen && !listen->empty()) || (peers && !peers->empty());
}

bool split_address(const std::string& address, std::string& node_name,
                   std::string& actor_name) {
  auto slash = address.find('/');
  if (slash == std::string::npos)
    return false;
  node_name = address.substr(0, slash);
  actor_name = address.substr(slash + 1);
  return true;
}

bool split_host_port(const std::string& text, std::string& host, uint16_t& port,
                     std::string& error) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    error = "HOST:PORT";
    return false;
  }
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto digits = text.substr(colon + 1);
  if (digits.size() > 5
      || !std::all_of(digits.begin(), digits.end(),
                      [](char c) { return c >= '0' && c <= '9'; })
      || std::stoul(digits) > 65535) {
    error = "a port from 0 to 65535";
    return false;
  }
  port = static_cast<uint16_t>(std::stoul(digits));
  return true;
}

bool uses_tls(const caf::settings& cfg) {
  return caf::get_or(cfg, "node.tls", false);
}

bool split_peer(const std::string& text, std::string& name,
                std::string& address, std::string& host, uint16_t& port,
                std::string& error) {
  auto at = text.find('@');
  name = at == std::string::npos ? std::string{} : text.substr(0, at);
  address = at == std::string::npos ? text : text.substr(at + 1);
  if (at != std::string::npos && !valid_name(name)) {
    error = "HOST:PORT or NAME@HOST:PORT (a NAME of letters, digits, '_' "
            "and '-')";
    return false;
  }
  if (!split_host_port(address, host, port, error)) {
    error = "HOST:PORT or NAME@HOST:PORT";
    return false;
  }
  return true;
}

void configure(caf::actor_system_config& sys_cfg, const caf::settings& cfg) {
  sys_cfg.load<caf::io::middleman>();
  sys_cfg.add_message_type<relay_batch>("switchboard::relay_batch");
  if (uses_tls(cfg)) {
    // Certificates on both sides, checked against the CA: CAF's anonymous
    // mode (no certificates) needs ciphers OpenSSL 3 no longer offers.
    sys_cfg.load<caf::openssl::manager>();
    sys_cfg.openssl_certificate = caf::get_or(cfg, "node.cert-file", "");
    sys_cfg.openssl_key = caf::get_or(cfg, "node.key-file", "");
    sys_cfg.openssl_cafile = caf::get_or(cfg, "node.ca-file", "");
  }
  if (caf::get_if(&cfg, "middleman.heartbeat-interval") != nullptr)
    return;
  // A peer that says nothing for 3/4 of down-after is dropped; with a
  // heartbeat every fifth of it (which keeps a live peer far from that
  // mark), a silent peer is declared down within 0.95 x down-after.
  auto down_after =
    node_timespan(cfg, "down-after", caf::timespan{defaults::down_after});
  sys_cfg.set("middleman.heartbeat-interval", caf::timespan{down_after / 5});
  sys_cfg.set("middleman.connection-timeout",
              caf::timespan{down_after * 3 / 4});
}

namespace {

// What OpenSSL says went wrong, one line.
std::string ssl_error() {
  std::string result;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    result += (result.empty() ? "" : "; ") + std::string{buf};
  }
  return result.empty() ? "unknown error" : result;
}

// Loads the TLS files as CAF's openssl module will, so that a bad file is
// a clear error at start (CAF would throw on its multiplexer thread).
caf::error check_tls_files(const caf::settings& cfg) {
  auto cert = caf::get_or(cfg, "node.cert-file", "");
  auto key = caf::get_or(cfg, "node.key-file", "");
  auto ca = caf::get_or(cfg, "node.ca-file", "");
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{
    SSL_CTX_new(TLS_method()), SSL_CTX_free};
  auto fail = [](const std::string& what) {
    return make_error(errc::config_bad_value,
                      "[node] " + what + ": " + ssl_error());
  };
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1)
    return fail("cert-file '" + cert + "'");
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM)
      != 1)
    return fail("key-file '" + key + "'");
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return fail("key-file '" + key + "' does not match cert-file");
  if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1)
    return fail("ca-file '" + ca + "'");
  return caf::none;
}

} // namespace

caf::expected<caf::actor> start(node& n) {
  auto& sys = n.system();
  bool tls = uses_tls(n.config().content());
  if (tls)
    if (auto err = check_tls_files(n.config().content()))
      return err;
  auto mgr = sys.spawn<peer_manager>(n);
  auto listen = caf::get_or(n.config().content(), "node.listen", std::string{});
  if (!listen.empty()) {
    std::string host;
    uint16_t port = 0;
    std::string error;
    if (!split_host_port(listen, host, port, error)) {
      caf::anon_send_exit(mgr, caf::exit_reason::user_shutdown);
      return make_error(errc::config_bad_value, "[node] listen: expected "
                                                  + error + ", found '" + listen
                                                  + "'");
    }
    auto bound = tls ? caf::openssl::publish(mgr, port, host.c_str(), true)
                     : sys.middleman().publish(mgr, port, host.c_str(), true);
    if (!bound) {
      caf::anon_send_exit(mgr, caf::exit_reason::user_shutdown);
      auto why = bound.error() == caf::sec::cannot_open_port
                   ? std::string{"cannot listen there (address in use, or "
                                 "not one of this machine's)"}
                   : render(bound.error());
      return make_error(errc::io_error,
                        "[node] listen on " + listen + ": " + why);
    }
    auto where = (host.find(':') != std::string::npos ? "[" + host + "]" : host)
                 + ":" + std::to_string(*bound);
    caf::anon_send(mgr, listen_atom::value, where);
    n.log("listening for peers on " + where + (tls ? " (TLS)" : ""));
  }
  return mgr;
}

caf::actor make_ref(node& n, const caf::actor& manager,
                    const std::string& address) {
  return n.system().spawn<remote_ref>(n, manager, address);
}

} // namespace switchboard::remote

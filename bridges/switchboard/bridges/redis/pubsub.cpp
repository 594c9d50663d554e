// switchboard: an embeddable C++ actor runtime. MIT License.

// The `redis` kind: one loop actor with two links, one for commands and
// PUBLISH, one subscribed to the configured channels and patterns (only
// when there are any). Redis refuses other commands on a subscribed
// connection, and a slow command must not delay the messages.

#include "switchboard/bridges/redis/redis.hpp"

#include <cctype>
#include <algorithm>
#include <chrono>
#include <deque>
#include <set>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_response_promise.hpp>

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <switchboard/errc.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

#include "switchboard/bridges/redis/common.hpp"
#include "switchboard/bridges/redis/link.hpp"
#include "switchboard/bridges/redis/options.hpp"
#include "switchboard/bridges/redis/reply.hpp"

namespace switchboard::bridges::redis {

namespace {

using json = nlohmann::json;

struct pubsub_options {
  link_options link;
  std::vector<std::string> channels;
  std::vector<std::string> patterns;
  std::string to;
  std::string room;
  std::string events;
  std::string publish;
  bool text = false;
  bool envelope = false;
  // `room` with `publish`: the bridge is a member of the room.
  bool member = false;
  // A member subscribed to its own `publish` channel: what it publishes
  // comes back to it.
  bool hears_itself = false;
};

caf::expected<pubsub_options> read_options(const caf::settings& a,
                                           const std::string& name) {
  auto l = read_link_options(a, name);
  if (!l)
    return std::move(l.error());
  pubsub_options o;
  o.link = std::move(*l);
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, name + ": " + why);
  };
  o.channels = caf::get_or(a, "subscribe", std::vector<std::string>{});
  o.patterns = caf::get_or(a, "psubscribe", std::vector<std::string>{});
  o.to = caf::get_or(a, "to", "");
  o.room = caf::get_or(a, "room", "");
  o.events = caf::get_or(a, "events", "");
  o.publish = caf::get_or(a, "publish", "");
  o.text = caf::get_or(a, "format", "json") == "text";
  o.envelope = caf::get_or(a, "deliver", "payload") == "envelope";
  bool subscribes = !o.channels.empty() || !o.patterns.empty();
  if (subscribes && o.to.empty() && o.room.empty())
    return bad("subscribe and psubscribe need to (or room): where the "
               "messages go");
  if (!o.to.empty() && !o.room.empty())
    return bad("to and room exclude each other");
  if (!subscribes && (!o.to.empty() || (!o.room.empty() && !o.member)))
    return bad(std::string{o.to.empty() ? "room" : "to"}
               + " is where subscribed messages go, but nothing is "
                 "subscribed (subscribe, psubscribe)");
  o.member = !o.room.empty() && !o.publish.empty();
  o.hears_itself = o.member
                   && std::find(o.channels.begin(), o.channels.end(), o.publish)
                        != o.channels.end();
  if (o.member && o.envelope)
    return bad("a room member publishes what the room says and pushes in "
               "what the channel says: deliver = \"envelope\" would change "
               "the messages on the way");
  for (auto& c : o.channels)
    if (c.empty())
      return bad("an empty channel name in subscribe");
  for (auto& p : o.patterns)
    if (p.empty())
      return bad("an empty pattern in psubscribe");
  return o;
}

class bridge : public loop_actor<caf::event_based_actor> {
public:
  bridge(caf::actor_config& cfg, io_loop& loop, switchboard::node& owner,
         pubsub_options opts)
      : loop_actor(cfg, loop), node_(owner), opt_(std::move(opts)),
        event_(owner, opt_.link.name, opt_.events),
        commands_events_(event_, "commands"), pubsub_events_(event_, "pubsub") {
    commands_events_.errors = &errors_;
    pubsub_events_.errors = &errors_;
    pubsub_events_.on_ready = [this] { resubscribe(); };
    pubsub_events_.on_lost = [this] {
      subscribed_ = 0;
      echoes_.clear(); // what was in flight will not come back
    };
    pubsub_events_.on_message = [this](const redisReply& r) { on_push(r); };
  }

  caf::behavior make_behavior() override {
    auto lo = opt_.link;
    lo.role = "commands";
    commands_ = link::start(loop().native(), lo, commands_events_);
    if (!opt_.channels.empty() || !opt_.patterns.empty()) {
      lo.role = "pubsub";
      lo.subscriber = true;
      pubsub_ = link::start(loop().native(), lo, pubsub_events_);
    }
    set_exit_handler([this](caf::exit_msg& msg) {
      release();
      quit(msg.reason);
    });
    if (opt_.member) {
      if (auto room = node_.lookup(opt_.room, room_))
        send(room, join_atom::value, caf::actor_cast<sink_actor>(this));
      else
        event_(json{{"event", "error"},
                    {"reason", "no room named '" + opt_.room + "' to join"}});
    }
    return {
      [this](json_message& m) -> caf::result<json_message> {
        return on_message(std::move(m));
      },
      // What another member of the room said: to the other nodes.
      [this](push_atom, json_message& m) { from_room(std::move(m)); },
      [this](status_atom) { return status(); },
    };
  }

  void on_exit() override {
    release();
    loop_actor::on_exit();
  }

private:
  void release() {
    for (auto l : {commands_, pubsub_})
      if (l != nullptr)
        l->close(opt_.link.name + " is stopping");
    commands_ = pubsub_ = nullptr;
  }

  // After every (re)connect of the pubsub link: Redis forgot the
  // subscriptions.
  void resubscribe() {
    auto resubscribe = [this](const char* verb,
                              const std::vector<std::string>& names) {
      if (names.empty())
        return;
      std::vector<std::string> args{verb};
      args.insert(args.end(), names.begin(), names.end());
      pubsub_->command(
        args,
        [this, verb, n = names.size()](const redisReply* r, const caf::error&) {
          if (r == nullptr)
            return; // lost again: reported as down
          if (r->type == REDIS_REPLY_ERROR) {
            ++errors_;
            event_(json{{"event", "error"},
                        {"reason", std::string{verb} + " failed: "
                                     + std::string{r->str, r->len}}});
            return;
          }
          subscribed_ += n;
        },
        names.size());
    };
    resubscribe("SUBSCRIBE", opt_.channels);
    resubscribe("PSUBSCRIBE", opt_.patterns);
  }

  // -- from Redis -------------------------------------------------------------

  void on_push(const redisReply& r) {
    ++received_;
    bool pattern = r.elements == 4;
    std::string_view channel{r.element[pattern ? 2 : 1]->str,
                             r.element[pattern ? 2 : 1]->len};
    auto& last = *r.element[r.elements - 1];
    std::string_view payload{last.str, last.len};
    // Our own words coming back: the room heard them already. Redis keeps
    // the order of one connection's messages, so ours come back in the
    // order sent; one equal to ours from elsewhere is the same message.
    if (!pattern && !echoes_.empty() && channel == opt_.publish
        && echoes_.front().text == payload) {
      echoes_.pop_front();
      return;
    }
    std::string body;
    if (opt_.text) {
      body = quote(payload);
    } else if (is_json(payload)) {
      body.assign(payload);
    } else {
      ++errors_;
      event_(json{{"event", "error"},
                  {"channel", std::string{channel}},
                  {"payload", std::string{payload.substr(0, 200)}},
                  {"reason", "the payload is not JSON"}});
      return;
    }
    if (opt_.envelope) {
      std::string env = "{\"channel\":" + quote(channel) + ",\"pattern\":";
      env += pattern ? quote({r.element[1]->str, r.element[1]->len}) : "null";
      env += ",\"payload\":";
      env += body;
      env += '}';
      body = std::move(env);
    }
    auto m = json_message::trusted(std::move(body));
    if (auto room = node_.lookup(opt_.room, room_)) {
      send(room, push_atom::value, std::move(m));
      return;
    }
    if (auto to = node_.lookup(opt_.to, to_)) {
      // Without a sender: an answer goes nowhere, not back to Redis.
      caf::anon_send(caf::actor_cast<json_actor>(to), std::move(m));
      return;
    }
    ++errors_;
    event_(json{{"event", "error"},
                {"channel", std::string{channel}},
                {"reason", "no actor named '"
                             + (opt_.room.empty() ? opt_.to : opt_.room)
                             + "' to take the message"}});
  }

  // -- to Redis ---------------------------------------------------------------

  // Publishes what a member of the room said, remembering it so that its
  // echo from the subscription is not pushed back into the room.
  void from_room(json_message m) {
    auto payload = opt_.text ? payload_of(m.text) : m.text;
    auto wire = encode({"PUBLISH", opt_.publish, payload});
    auto seq = ++echo_seq_;
    if (opt_.hears_itself) {
      if (echoes_.size() >= max_echoes)
        echoes_.pop_front(); // a subscription far behind: forget the oldest
      echoes_.push_back({seq, std::move(payload)});
    }
    auto forget = [this, seq] {
      for (auto i = echoes_.begin(); i != echoes_.end(); ++i)
        if (i->seq == seq) {
          echoes_.erase(i);
          return;
        }
    };
    auto fn = [this, forget](const redisReply* r, const caf::error& why) {
      if (r != nullptr && r->type != REDIS_REPLY_ERROR) {
        ++published_;
        return;
      }
      forget(); // not published: no echo will come
      ++errors_;
      event_(json{
        {"event", "error"},
        {"command", "PUBLISH"},
        {"reason", r == nullptr ? render(why) : std::string{r->str, r->len}}});
    };
    auto outcome = commands_->command_encoded(std::move(wire), fn);
    if (outcome == link::outcome::full || outcome == link::outcome::gave_up)
      fn(nullptr, make_error(errc::queue_full, opt_.link.name
                                                 + ": not published, Redis is "
                                                   "down (max-held)"));
  }

  caf::result<json_message> on_message(json_message m) {
    std::string verb = "PUBLISH";
    std::string wire;
    if (!opt_.publish.empty()) {
      // The common case, without a detour through an argument list.
      wire = opt_.text ? encode({verb, opt_.publish, payload_of(m.text)})
                       : encode({verb, opt_.publish, m.text});
    } else {
      auto args = to_command(m);
      if (!args)
        return std::move(args.error());
      verb = (*args)[0];
      wire = encode(*args);
    }
    auto counter = verb == "PUBLISH" ? &published_ : &commands_sent_;
    return forward(
      this, *commands_, std::move(wire), counter,
      [this, verb](std::string reason) {
        // Nobody waits for the answer, but a failure is still
        // reported.
        ++errors_;
        event_(json{{"event", "error"}, {"command", verb}, {"reason", reason}});
      });
  }

  // {args: [...]} is a command; {channel, payload} a PUBLISH.
  caf::expected<std::vector<std::string>> to_command(const json_message& m) {
    auto bad = [this](const std::string& why) {
      return make_error(errc::bad_message, opt_.link.name + ": " + why);
    };
    auto j = json::parse(m.text, nullptr, false);
    if (!j.is_object())
      return bad("expected {\"args\": [\"COMMAND\", ...]} or {\"channel\": "
                 "..., \"payload\": ...}");
    if (auto it = j.find("args"); it != j.end()) {
      if (!it->is_array() || it->empty())
        return bad("args must be a non-empty array: [\"COMMAND\", ...]");
      std::vector<std::string> args;
      for (auto& a : *it) {
        if (a.is_string())
          args.push_back(a.get<std::string>());
        else if (a.is_number())
          args.push_back(a.dump());
        else
          return bad("args are strings or numbers, not " + dump(a));
      }
      if (auto why = refused(args); !why.empty())
        return bad(args[0] + ": " + why);
      return args;
    }
    auto channel = j.find("channel");
    auto payload = j.find("payload");
    if (channel == j.end() || !channel->is_string() || payload == j.end())
      return bad("expected {\"args\": [\"COMMAND\", ...]} or {\"channel\": "
                 "\"NAME\", \"payload\": ...}");
    return std::vector<std::string>{"PUBLISH", channel->get<std::string>(),
                                    opt_.text && payload->is_string()
                                      ? payload->get<std::string>()
                                      : dump(*payload)};
  }

  // Commands that would break one reply per command, or hold the shared
  // connection: the reason, or empty.
  static std::string refused(const std::vector<std::string>& args) {
    auto upper = [](std::string s) {
      for (auto& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return s;
    };
    auto verb = upper(args[0]);
    static const std::set<std::string> subscribing{
      "SUBSCRIBE",    "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE",
      "SUNSUBSCRIBE", "MONITOR",    "SYNC",       "PSYNC"};
    static const std::set<std::string> connection{"HELLO", "RESET", "QUIT",
                                                  "SELECT", "AUTH"};
    static const std::set<std::string> blocking{
      "BLPOP",    "BRPOP",    "BLMOVE", "BRPOPLPUSH", "BLMPOP",
      "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT",       "WAITAOF"};
    if (subscribing.count(verb) > 0)
      return "not on the commands connection (use the subscribe and "
             "psubscribe keys)";
    if (connection.count(verb) > 0)
      return "the bridge owns the connection's state (use the password, "
             "user and db keys)";
    if (blocking.count(verb) > 0)
      return "a blocking command would hold up every other command on the "
             "connection";
    if ((verb == "XREAD" || verb == "XREADGROUP"))
      for (auto& a : args)
        if (upper(a) == "BLOCK")
          return "a blocking read would hold up every other command (use "
                 "the redis-stream kind)";
    if (verb == "CLIENT" && args.size() > 1 && upper(args[1]) == "REPLY")
      return "every command must be answered";
    return {};
  }

  // What PUBLISH sends: the JSON text, or a string's characters when
  // payloads are text.
  std::string payload_of(const std::string& text) {
    if (opt_.text && !text.empty() && text.front() == '"') {
      auto j = json::parse(text, nullptr, false);
      if (j.is_string())
        return j.get<std::string>();
    }
    return text;
  }

  // -- reporting --------------------------------------------------------------

  caf::result<json_message> status() {
    return status_reply(this, "redis",
                        {{"address", dump(opt_.link.address)},
                         {"commands", link_status(commands_)},
                         {"pubsub", link_status(pubsub_)},
                         {"subscribed", std::to_string(subscribed_)},
                         {"received", std::to_string(received_)},
                         {"published", std::to_string(published_)},
                         {"commands_sent", std::to_string(commands_sent_)},
                         {"errors", std::to_string(errors_)}});
  }

  switchboard::node& node_;
  pubsub_options opt_;
  reporter event_;
  link_reporter commands_events_;
  link_reporter pubsub_events_;
  link* commands_ = nullptr;
  link* pubsub_ = nullptr;
  // Channels and patterns Redis confirmed on the current connection.
  size_t subscribed_ = 0;
  // What this bridge published for the room and will hear again on its
  // subscription, oldest first.
  struct echo {
    uint64_t seq;
    std::string text;
  };
  static constexpr size_t max_echoes = 65536;
  std::deque<echo> echoes_;
  uint64_t echo_seq_ = 0;
  uint64_t received_ = 0;
  uint64_t published_ = 0;
  uint64_t commands_sent_ = 0;
  uint64_t errors_ = 0;
  caf::actor to_;
  caf::actor room_;
};

} // namespace

kind_spec redis_kind() {
  kind_spec result;
  result.name = "redis";
  result.doc = "Redis pub/sub and commands: subscribed messages to an "
               "actor, PUBLISH and commands from actors";
  result.section = kind_section::bridges;
  result.keys = common_keys();
  std::vector<key_spec> own = {
    {"subscribe", value_type::string_list, false,
     "channels whose messages go to `to` (or `room`)"},
    {"psubscribe", value_type::string_list, false,
     "patterns (news.*) whose messages go to `to` (or `room`)"},
    {"to", value_type::actor_ref, false, "where subscribed messages go"},
    {"room", value_type::actor_ref, false,
     "a room the subscribed messages are pushed to (every member gets "
     "them)"},
    {"deliver",
     value_type::string,
     false,
     "\"payload\" (default) or \"envelope\": {channel, pattern, payload}",
     {"payload", "envelope"}},
    {"publish", value_type::string, false,
     "a channel every message sent to the bridge is published on (the "
     "reply: how many received it)"},
  };
  result.keys.insert(result.keys.end(), own.begin(), own.end());
  result.check = [](const std::string& name,
                    const caf::settings& args) -> caf::error {
    auto opts = read_options(args, name);
    return opts ? caf::error{} : std::move(opts.error());
  };
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto opts = read_options(ctx.args, ctx.name);
    if (!opts)
      return std::move(opts.error());
    return caf::actor_cast<caf::actor>(spawn_on_loop<bridge>(
      ctx.node.system(), ctx.node.loop(), ctx.node, std::move(*opts)));
  };
  return result;
}

} // namespace switchboard::bridges::redis

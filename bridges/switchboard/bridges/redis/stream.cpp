// switchboard: an embeddable C++ actor runtime. MIT License.

// The `redis-stream` kind: a Redis stream as a queue that loses nothing.
//
// Producing: a message sent to the bridge is XADDed as the entry's
// `payload` field; the reply is the entry id.
//
// Consuming (with `to`): the bridge is one consumer of a consumer group.
// Each entry is a request to `to`; only an answer without an error XACKs
// it, so an entry whose processing failed, timed out or died with its node
// stays in the group's pending list. A sweep every claim-after / 2 looks
// at the entries pending longer than claim-after (XPENDING with IDLE),
// claims them (XCLAIM) and tries again; one delivered max-attempts times
// moves to the dead-letter stream with its last error, kept meanwhile in a
// hash beside the stream so that whichever consumer gives up knows it.
// XPENDING and XCLAIM rather than XAUTOCLAIM: only XPENDING tells how often
// an entry was delivered.
//
// Two links: the consumer link only blocks in XREADGROUP (a blocked
// connection cannot do anything else); XADD, XACK, XCLAIM and the rest go
// on the commands link.

#include "switchboard/bridges/redis/redis.hpp"

#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include <caf/event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

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
using sweep_atom = caf::atom_constant<caf::atom("rsweep")>;
using expire_atom = caf::atom_constant<caf::atom("rexpire")>;
using clock = std::chrono::steady_clock;

std::string str(const redisReply& r) {
  return {r.str, r.len};
}

bool is_string(const redisReply* r) {
  return r != nullptr
         && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

int64_t to_ms(caf::timespan t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t).count();
}

// How long a blocked XREADGROUP waits before it is sent again.
constexpr int64_t block_ms = 2000;

struct stream_options {
  link_options link;
  std::string stream;
  int64_t maxlen = 0;
  std::string to;
  std::string events;
  std::string group;
  std::string consumer;
  std::string group_start = "0";
  int64_t batch = 10;
  int64_t concurrency = 16;
  caf::timespan claim_after{std::chrono::seconds(30)};
  int64_t max_attempts = 5;
  std::string dead_letter;
  caf::timespan timeout{std::chrono::seconds(5)};
  bool text = false;
};

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0)
    return "host";
  return buf;
}

caf::expected<stream_options> read_options(const caf::settings& a,
                                           const std::string& name,
                                           const std::string& node_name,
                                           caf::timespan timeout) {
  auto l = read_link_options(a, name);
  if (!l)
    return std::move(l.error());
  stream_options o;
  o.link = std::move(*l);
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, name + ": " + why);
  };
  o.stream = caf::get_or(a, "stream", "");
  if (o.stream.empty())
    return bad("stream names the Redis stream");
  o.maxlen = caf::get_or(a, "maxlen", int64_t{0});
  o.to = caf::get_or(a, "to", "");
  o.events = caf::get_or(a, "events", "");
  o.group = caf::get_or(a, "group", name);
  o.consumer = caf::get_or(a, "consumer", host_name() + ":" + node_name);
  o.group_start = caf::get_or(a, "group-start", "0");
  o.batch = caf::get_or(a, "batch", o.batch);
  o.concurrency = caf::get_or(a, "concurrency", o.concurrency);
  o.claim_after = caf::get_or(a, "claim-after", o.claim_after);
  o.max_attempts = caf::get_or(a, "max-attempts", o.max_attempts);
  o.dead_letter = caf::get_or(a, "dead-letter", o.stream + ":dead");
  o.timeout = caf::get_or(a, "timeout", timeout);
  o.text = caf::get_or(a, "format", "json") == "text";
  if (o.claim_after < std::chrono::milliseconds(100))
    return bad("claim-after must be at least 100ms");
  if (o.to.empty())
    for (auto key : {"group", "consumer", "batch", "concurrency", "claim-after",
                     "max-attempts", "dead-letter", "group-start", "timeout"})
      if (caf::get_if(&a, std::string{key}) != nullptr)
        return bad(std::string{key} + " is for consuming, which needs to");
  if (o.dead_letter == o.stream)
    return bad("dead-letter must be another stream than stream");
  return o;
}

class stream_bridge : public loop_actor<caf::event_based_actor> {
public:
  stream_bridge(caf::actor_config& cfg, io_loop& loop, switchboard::node& owner,
                stream_options opts)
      : loop_actor(cfg, loop), node_(owner), opt_(std::move(opts)),
        event_(owner, opt_.link.name, opt_.events),
        commands_events_(event_, "commands"),
        consumer_events_(event_, "consumer") {
    commands_events_.errors = &errors_;
    consumer_events_.errors = &errors_;
    consumer_events_.on_ready = [this] { consumer_up(); };
    consumer_events_.on_lost = [this] { reading_ = false; };
  }

  caf::behavior make_behavior() override {
    auto lo = opt_.link;
    lo.role = "commands";
    commands_ = link::start(loop().native(), lo, commands_events_);
    if (!opt_.to.empty()) {
      lo.role = "consumer";
      // Only ever one blocking read on the wire.
      lo.max_pending = 1;
      consumer_ = link::start(loop().native(), lo, consumer_events_);
      delayed_send(this, opt_.claim_after / 2, sweep_atom::value);
    }
    set_exit_handler([this](caf::exit_msg& msg) {
      release();
      quit(msg.reason);
    });
    return {
      [this](json_message& m) -> caf::result<json_message> {
        return produce(std::move(m));
      },
      [this](expire_atom) { expire(); },
      [this](sweep_atom) {
        sweep();
        delayed_send(this, opt_.claim_after / 2, sweep_atom::value);
      },
      [this](status_atom) { return status(); },
    };
  }

  void on_exit() override {
    release();
    loop_actor::on_exit();
  }

private:
  void release() {
    for (auto l : {commands_, consumer_})
      if (l != nullptr)
        l->close(opt_.link.name + " is stopping");
    commands_ = consumer_ = nullptr;
  }

  // -- producing --------------------------------------------------------------

  caf::result<json_message> produce(json_message m) {
    auto payload = payload_of(m.text);
    auto wire =
      opt_.maxlen > 0
        ? encode({"XADD", opt_.stream, "MAXLEN", "~",
                  std::to_string(opt_.maxlen), "*", "payload", payload})
        : encode({"XADD", opt_.stream, "*", "payload", payload});
    return forward(this, *commands_, std::move(wire), &produced_,
                   [this](std::string reason) {
                     ++errors_;
                     event_(json{{"event", "error"},
                                 {"command", "XADD"},
                                 {"reason", reason}});
                   });
  }

  std::string payload_of(const std::string& text) {
    if (opt_.text && !text.empty() && text.front() == '"') {
      auto j = json::parse(text, nullptr, false);
      if (j.is_string())
        return j.get<std::string>();
    }
    return text;
  }

  // -- consuming --------------------------------------------------------------

  // Sends a command on `l`; if the link cannot take it (max-held, gave
  // up), `fn` learns so at once, so no flag waits for an answer forever.
  void run(link* l, const std::vector<std::string>& args, link::reply_fn fn,
           caf::timespan extra = {}) {
    auto outcome = l->command(args, fn, 1, extra);
    if (outcome == link::outcome::full || outcome == link::outcome::gave_up) {
      ++errors_;
      if (fn)
        fn(nullptr,
           make_error(errc::queue_full, opt_.link.name + ": " + args[0]
                                          + " not sent (Redis is down)"));
    }
  }

  // On every (re)connect of the consumer link, and again from the sweep
  // while it failed (a Redis still loading its data says LOADING).
  void consumer_up() {
    group_ready_ = false;
    ++generation_; // answers to reads of the last connection are stale
    reading_ = false;
    run(consumer_,
        {"XGROUP", "CREATE", opt_.stream, opt_.group, opt_.group_start,
         "MKSTREAM"},
        [this, gen = generation_](const redisReply* r, const caf::error&) {
          if (r == nullptr || gen != generation_)
            return;
          // BUSYGROUP: it exists, which is fine.
          if (r->type == REDIS_REPLY_ERROR
              && str(*r).rfind("BUSYGROUP", 0) != 0) {
            ++errors_;
            event_(json{
              {"event", "error"},
              {"reason", "XGROUP CREATE failed (tried again): " + str(*r)}});
            return;
          }
          group_ready_ = true;
          // First what this consumer had before it went away, then new
          // entries.
          cursor_ = "0";
          read_more();
        });
  }

  void read_more() {
    if (reading_ || !group_ready_ || consumer_ == nullptr || !consumer_->up())
      return;
    auto room = opt_.concurrency - static_cast<int64_t>(in_flight_.size());
    if (room <= 0)
      return;
    auto count = std::to_string(std::min(room, opt_.batch));
    std::vector<std::string> args{"XREADGROUP",  "GROUP", opt_.group,
                                  opt_.consumer, "COUNT", count};
    bool history = cursor_ != ">";
    if (!history)
      args.insert(args.end(), {"BLOCK", std::to_string(block_ms)});
    args.insert(args.end(), {"STREAMS", opt_.stream, cursor_});
    reading_ = true;
    run(
      consumer_, args,
      [this, history, gen = generation_](const redisReply* r,
                                         const caf::error&) {
        if (gen != generation_)
          return;
        reading_ = false;
        if (r == nullptr)
          return; // lost (the next up reads again) or too large (the sweep)
        if (r->type == REDIS_REPLY_ERROR) {
          ++errors_;
          event_(
            json{{"event", "error"},
                 {"reason", "XREADGROUP failed (tried again): " + str(*r)}});
          // NOGROUP: the stream or group was deleted; make them again.
          // Anything else: the sweep reads again.
          if (str(*r).rfind("NOGROUP", 0) == 0)
            consumer_up();
          return;
        }
        size_t n = 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements > 0
            && r->element[0]->type == REDIS_REPLY_ARRAY
            && r->element[0]->elements == 2) {
          auto& entries = *r->element[0]->element[1];
          n = entries.elements;
          for (size_t i = 0; i < entries.elements; ++i) {
            auto& e = *entries.element[i];
            // The history goes on after the last entry it returned.
            if (history && e.type == REDIS_REPLY_ARRAY && e.elements == 2
                && is_string(e.element[0]))
              cursor_ = str(*e.element[0]);
            take(e, false);
          }
        }
        // The history is read once no more of it comes back.
        if (history && n == 0)
          cursor_ = ">";
        read_more();
      },
      std::chrono::milliseconds(history ? 0 : block_ms));
  }

  // One entry: [id, [field, value, ...]] (fields nil when it was deleted).
  void take(const redisReply& e, bool claimed) {
    if (e.type != REDIS_REPLY_ARRAY || e.elements != 2
        || !is_string(e.element[0]))
      return;
    auto id = str(*e.element[0]);
    if (in_flight_.count(id) > 0)
      return; // still being worked on here
    auto& fields = *e.element[1];
    if (fields.type != REDIS_REPLY_ARRAY) {
      // Deleted or trimmed (maxlen) before anyone processed it: nothing
      // left to hand on, but not silently.
      ++trimmed_;
      event_(json{{"event", "trimmed"}, {"id", id}});
      ack(id);
      return;
    }
    if (claimed)
      ++claimed_;
    auto m = message_of(fields);
    if (!m) {
      ++errors_;
      dead_letter(id, 1, render(m.error()));
      return;
    }
    auto to = node_.lookup(opt_.to, to_);
    if (!to) {
      // Stays pending: a later sweep tries again.
      fail(id, "no actor named '" + opt_.to + "'");
      return;
    }
    // The bridge keeps the deadline itself (`expire`): a CAF request
    // timeout is a timer in the shared actor clock per entry, a lock and a
    // wake-up of the clock's thread each, which cost a quarter of the
    // consumer's throughput.
    auto token = ++tokens_;
    if (!expiring_) {
      expiring_ = true;
      delayed_send(this, expire_every(), expire_atom::value);
    }
    in_flight_[id] = work{token, clock::now() + opt_.timeout};
    request(caf::actor_cast<json_actor>(to), caf::infinite, std::move(*m))
      .then(
        [this, id, token](json_message&) {
          if (!finish(id, token))
            return;
          ++done_;
          ack(id);
          read_more();
        },
        [this, id, token](caf::error& err) {
          if (!finish(id, token))
            return;
          fail(id, render(err));
          read_more();
        });
  }

  // Whether the answer with `token` is still awaited (not timed out).
  bool finish(const std::string& id, uint64_t token) {
    auto i = in_flight_.find(id);
    if (i == in_flight_.end() || i->second.token != token)
      return false;
    in_flight_.erase(i);
    return true;
  }

  caf::timespan expire_every() const {
    return std::max<caf::timespan>(opt_.timeout / 4,
                                   std::chrono::milliseconds(10));
  }

  // Entries whose `to` did not answer within `timeout` fail (and stay
  // pending); a late answer is ignored.
  void expire() {
    auto now = clock::now();
    std::vector<std::string> late;
    for (auto& [id, w] : in_flight_)
      if (w.deadline <= now)
        late.push_back(id);
    for (auto& id : late) {
      in_flight_.erase(id);
      fail(id, "timeout: " + opt_.to + " did not answer within "
                 + std::to_string(to_ms(opt_.timeout)) + " ms");
    }
    // One tick at a time, and none while nothing is in flight.
    expiring_ = !in_flight_.empty();
    if (expiring_)
      delayed_send(this, expire_every(), expire_atom::value);
    if (!late.empty())
      read_more();
  }

  // The `payload` field (as the bridge writes it), or all fields as an
  // object (entries other producers wrote).
  caf::expected<json_message> message_of(const redisReply& fields) {
    json object = json::object();
    for (size_t i = 0; i + 1 < fields.elements; i += 2) {
      if (!is_string(fields.element[i]) || !is_string(fields.element[i + 1]))
        continue;
      auto key = str(*fields.element[i]);
      auto value = str(*fields.element[i + 1]);
      if (key == "payload") {
        if (opt_.text)
          return json_message::trusted(quote(value));
        if (!is_json(value))
          return make_error(errc::invalid_json,
                            "the payload is not JSON: " + value.substr(0, 200));
        return json_message::trusted(std::move(value));
      }
      object[key] = value;
    }
    return json_message::trusted(dump(object));
  }

  // An ack that cannot be sent leaves the entry pending: it is processed
  // again after claim-after (at least once, never lost).
  void ack(const std::string& id) {
    run(commands_, {"XACK", opt_.stream, opt_.group, id}, nullptr);
    run(commands_, {"HDEL", errors_key(), id}, nullptr);
  }

  // Leaves the entry pending (a sweep claims it again after claim-after)
  // and keeps its error for the dead letter.
  void fail(const std::string& id, const std::string& why) {
    ++failed_;
    run(commands_, {"HSET", errors_key(), id, why}, nullptr);
    event_(json{{"event", "failed"}, {"id", id}, {"reason", why}});
  }

  std::string errors_key() const {
    return opt_.stream + ":" + opt_.group + ":errors";
  }

  // -- claiming ---------------------------------------------------------------

  // Also what keeps a consumer going after an error: a group not created
  // yet is created again, a read that failed is sent again.
  void sweep() {
    if (consumer_ == nullptr || commands_ == nullptr)
      return;
    if (consumer_->up()) {
      if (!group_ready_)
        consumer_up();
      else
        read_more();
    }
    if (!commands_->up() || sweeping_)
      return;
    sweeping_ = true;
    // One page of `batch` per sweep, from where the last one ended: entries
    // this consumer is still working on must not hide the ones after them.
    run(commands_,
        {"XPENDING", opt_.stream, opt_.group, "IDLE",
         std::to_string(to_ms(opt_.claim_after)), sweep_from_, "+",
         std::to_string(opt_.batch)},
        [this](const redisReply* r, const caf::error&) {
          sweeping_ = false;
          if (r == nullptr || r->type != REDIS_REPLY_ARRAY)
            return;
          sweep_from_ = "-";
          std::vector<std::string> claim{
            "XCLAIM", opt_.stream, opt_.group, opt_.consumer,
            std::to_string(to_ms(opt_.claim_after))};
          auto room =
            opt_.concurrency - static_cast<int64_t>(in_flight_.size());
          for (size_t i = 0; i < r->elements; ++i) {
            auto& p = *r->element[i];
            if (p.type != REDIS_REPLY_ARRAY || p.elements < 4
                || !is_string(p.element[0])
                || p.element[3]->type != REDIS_REPLY_INTEGER)
              continue;
            auto id = str(*p.element[0]);
            if (r->elements == static_cast<size_t>(opt_.batch))
              sweep_from_ = "(" + id; // a full page: the next one after it
            if (in_flight_.count(id) > 0)
              continue;
            if (p.element[3]->integer >= opt_.max_attempts)
              dead_letter(id, p.element[3]->integer, {});
            else if (room-- > 0)
              claim.push_back(id);
          }
          if (claim.size() == 5)
            return;
          run(commands_, claim,
              [this, claim](const redisReply* r, const caf::error& why) {
                if (r == nullptr) {
                  // One entry over max-frame must not keep the others of
                  // the batch from being worked on: one at a time.
                  if (is(why, errc::frame_too_large))
                    for (size_t i = 5; i < claim.size(); ++i)
                      claim_one(claim[i]);
                  return;
                }
                if (r->type != REDIS_REPLY_ARRAY)
                  return;
                for (size_t i = 0; i < r->elements; ++i)
                  take(*r->element[i], true);
              });
        });
  }

  // Claims one entry (now pending on this consumer: min-idle 0); one over
  // max-frame fails, and so ends in the dead-letter stream.
  void claim_one(const std::string& id) {
    run(commands_, {"XCLAIM", opt_.stream, opt_.group, opt_.consumer, "0", id},
        [this, id](const redisReply* r, const caf::error& why) {
          if (r == nullptr) {
            if (is(why, errc::frame_too_large))
              fail(id, reason_of(why));
            return;
          }
          if (r->type == REDIS_REPLY_ARRAY)
            for (size_t i = 0; i < r->elements; ++i)
              take(*r->element[i], true);
        });
  }

  // Moves an entry to the dead-letter stream with its last error, then
  // acknowledges it. `error` empty: the one kept in the errors hash.
  void dead_letter(const std::string& id, int64_t deliveries,
                   std::string error) {
    if (!dead_.insert(id).second)
      return; // already on its way
    auto finish = [this, id, deliveries](std::string error,
                                         const redisReply* entry) {
      std::vector<std::string> args{
        "XADD",       opt_.dead_letter,          "*", "id", id, "error", error,
        "deliveries", std::to_string(deliveries)};
      if (entry != nullptr && entry->type == REDIS_REPLY_ARRAY
          && entry->elements == 1 && entry->element[0]->elements == 2) {
        auto& fields = *entry->element[0]->element[1];
        for (size_t i = 0; i + 1 < fields.elements; i += 2)
          if (is_string(fields.element[i]) && is_string(fields.element[i + 1])
              && str(*fields.element[i]) != "id")
            args.insert(args.end(),
                        {str(*fields.element[i]), str(*fields.element[i + 1])});
      }
      run(
        commands_, args,
        [this, id, deliveries, error](const redisReply* r, const caf::error&) {
          dead_.erase(id);
          if (r == nullptr || r->type == REDIS_REPLY_ERROR)
            return; // still pending: the next sweep tries again
          ++dead_lettered_;
          ack(id);
          event_(json{{"event", "dead-letter"},
                      {"id", id},
                      {"deliveries", deliveries},
                      {"error", error},
                      {"stream", opt_.dead_letter}});
        });
    };
    auto fetch = [this, id, finish](std::string error) {
      run(
        commands_, {"XRANGE", opt_.stream, id, id},
        [this, id, finish, error](const redisReply* r, const caf::error& why) {
          if (r == nullptr) {
            // Too large to copy: the dead letter names it only.
            if (is(why, errc::frame_too_large))
              finish(error, nullptr);
            else
              dead_.erase(id); // the next sweep tries again
            return;
          }
          finish(error, r);
        });
    };
    if (!error.empty()) {
      fetch(std::move(error));
      return;
    }
    run(commands_, {"HGET", errors_key(), id},
        [this, id, fetch](const redisReply* r, const caf::error&) {
          if (r == nullptr) {
            dead_.erase(id);
            return;
          }
          fetch(is_string(r) ? str(*r) : "no answer within claim-after");
        });
  }

  // -- reporting --------------------------------------------------------------

  caf::result<json_message> status() {
    std::vector<std::pair<std::string, std::string>> fields{
      {"address", dump(opt_.link.address)},
      {"stream", dump(opt_.stream)},
      {"commands", link_status(commands_)},
      {"produced", std::to_string(produced_)},
      {"errors", std::to_string(errors_)}};
    if (consumer_ != nullptr) {
      fields.insert(fields.end(),
                    {{"group", dump(opt_.group)},
                     {"consumer", dump(opt_.consumer)},
                     {"consumer_link", link_status(consumer_)},
                     {"working", std::to_string(in_flight_.size())},
                     {"done", std::to_string(done_)},
                     {"failed", std::to_string(failed_)},
                     {"claimed", std::to_string(claimed_)},
                     {"dead_lettered", std::to_string(dead_lettered_)},
                     {"trimmed", std::to_string(trimmed_)}});
    }
    return status_reply(this, "redis-stream", std::move(fields));
  }

  switchboard::node& node_;
  stream_options opt_;
  reporter event_;
  link_reporter commands_events_;
  link_reporter consumer_events_;
  link* commands_ = nullptr;
  link* consumer_ = nullptr;
  // The id after which XREADGROUP reads this consumer's own pending
  // entries, or ">" (new entries) once they are done.
  std::string cursor_ = "0";
  bool reading_ = false;
  bool group_ready_ = false;
  // Bumped on every connect of the consumer link: older reads are stale.
  uint64_t generation_ = 0;
  bool sweeping_ = false;
  // Where the next XPENDING page starts ("-", or "(ID" after a full page).
  std::string sweep_from_ = "-";
  struct work {
    uint64_t token;
    clock::time_point deadline;
  };
  // Entries handed to `to` and not answered yet.
  std::unordered_map<std::string, work> in_flight_;
  uint64_t tokens_ = 0;
  bool expiring_ = false; // an expire tick is scheduled
  std::unordered_set<std::string> dead_;
  uint64_t produced_ = 0;
  uint64_t done_ = 0;
  uint64_t failed_ = 0;
  uint64_t claimed_ = 0;
  uint64_t dead_lettered_ = 0;
  uint64_t trimmed_ = 0;
  uint64_t errors_ = 0;
  caf::actor to_;
};

} // namespace

kind_spec redis_stream_kind() {
  kind_spec result;
  result.name = "redis-stream";
  result.doc = "a Redis stream as a queue: XADD what is sent to it; with "
               "`to`, consume it in a consumer group, acknowledging only "
               "what `to` answered";
  result.section = kind_section::bridges;
  result.keys = common_keys();
  std::vector<key_spec> own = {
    {"stream", value_type::string, true, "the stream's key"},
    {"maxlen",
     value_type::integer,
     false,
     "XADD trims the stream to about this many entries (MAXLEN ~)",
     {},
     1},
    {"to", value_type::actor_ref, false,
     "consume: each entry is a request to it, acknowledged once it answers "
     "without an error"},
    {"group", value_type::string, false,
     "the consumer group, created if missing (default: the bridge's name)"},
    {"consumer", value_type::string, false,
     "this consumer's name in the group (default HOSTNAME:NODE)"},
    {"group-start", value_type::string, false,
     "where a group created here starts: \"0\" (default, every entry) or "
     "\"$\" (new ones)"},
    {"batch",
     value_type::integer,
     false,
     "entries read (or claimed) at once (default 10)",
     {},
     1},
    {"concurrency",
     value_type::integer,
     false,
     "entries being worked on at once (default 16)",
     {},
     1},
    {"claim-after", value_type::timespan, false,
     "an entry pending this long (its consumer died, failed or is stuck) is "
     "claimed and tried again (default 30s)"},
    {"max-attempts",
     value_type::integer,
     false,
     "deliveries before an entry goes to the dead-letter stream (default 5)",
     {},
     1},
    {"dead-letter", value_type::string, false,
     "the stream of entries that failed max-attempts times, with their "
     "last error (default STREAM:dead)"},
    {"timeout", value_type::timespan, false,
     "how long `to` may take per entry (default: [node] request-timeout)"},
  };
  result.keys.insert(result.keys.end(), own.begin(), own.end());
  result.check = [](const std::string& name,
                    const caf::settings& args) -> caf::error {
    auto opts = read_options(args, name, "node", std::chrono::seconds(5));
    return opts ? caf::error{} : std::move(opts.error());
  };
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto opts = read_options(ctx.args, ctx.name, ctx.node.name(),
                             ctx.node.request_timeout());
    if (!opts)
      return std::move(opts.error());
    return caf::actor_cast<caf::actor>(spawn_on_loop<stream_bridge>(
      ctx.node.system(), ctx.node.loop(), ctx.node, std::move(*opts)));
  };
  return result;
}

} // namespace switchboard::bridges::redis

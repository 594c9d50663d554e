// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/balancer.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>

#include <switchboard/metered.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

namespace switchboard::actors {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr auto default_bench = std::chrono::seconds(1);

struct target {
  std::string name;
  caf::actor cache;
  // Skipped until then, unless every target is.
  clock_type::time_point benched_until;
  uint64_t sent = 0;
  uint64_t answered = 0;
  uint64_t failed = 0;
};

// One request on its way: the message and the targets it has tried.
struct attempt {
  json_message msg;
  caf::response_promise rp;
  std::vector<bool> tried;
  caf::error last;
};

// Whether `err` says the target did not do the request, or its node went
// before it answered: worth sending to another.
bool worth_retrying(const caf::error& err) {
  return is(err, errc::node_down) || is(err, errc::queue_full)
         || is(err, errc::unknown_actor) || is(err, errc::not_running)
         || err == caf::sec::request_receiver_down;
}

class balancer : public metered_actor {
public:
  balancer(caf::actor_config& cfg, const switchboard::node& names,
           std::vector<std::string> to, caf::timespan bench,
           caf::timespan timeout)
      : metered_actor(cfg), names_(names), bench_(bench),
        timeout_(timeout) {
    for (auto& name : to)
      targets_.push_back(target{std::move(name), {}, {}, 0, 0, 0});
  }

  caf::behavior make_behavior() override {
    return {
      [this](json_message& msg) -> caf::result<json_message> {
        ++requests_;
        auto a = std::make_shared<attempt>();
        a->msg = std::move(msg);
        a->rp = make_response_promise();
        a->tried.assign(targets_.size(), false);
        send_next(std::move(a));
        return caf::delegated<json_message>{};
      },
      [this](status_atom) {
        auto now = clock_type::now();
        std::string list = "[";
        for (auto& t : targets_) {
          if (list.size() > 1)
            list += ",";
          list += "{\"to\":\"" + t.name
                  + "\",\"sent\":" + std::to_string(t.sent)
                  + ",\"answered\":" + std::to_string(t.answered)
                  + ",\"failed\":" + std::to_string(t.failed) + ",\"benched\":"
                  + (t.benched_until > now ? "true" : "false") + "}";
        }
        list += "]";
        return status_reply(this, "balancer",
                            {{"requests", std::to_string(requests_)},
                             {"retried", std::to_string(retried_)},
                             {"failed", std::to_string(failed_)},
                             {"targets", list}});
      },
    };
  }

private:
  // The next target for `a`: in turn from `next_`, one not benched if there
  // is one, never one it tried; -1 when it tried them all.
  int pick(const attempt& a) {
    auto n = targets_.size();
    auto now = clock_type::now();
    int fallback = -1;
    for (size_t k = 0; k < n; ++k) {
      auto i = (next_ + k) % n;
      if (a.tried[i])
        continue;
      if (targets_[i].benched_until <= now) {
        next_ = i + 1;
        return static_cast<int>(i);
      }
      if (fallback < 0)
        fallback = static_cast<int>(i);
    }
    if (fallback >= 0)
      next_ = static_cast<size_t>(fallback) + 1;
    return fallback;
  }

  void send_next(std::shared_ptr<attempt> a) {
    for (;;) {
      auto i = pick(*a);
      if (i < 0) {
        ++failed_;
        a->rp.deliver(a->last ? a->last
                              : make_error(errc::unknown_actor,
                                           "the balancer has no targets"));
        return;
      }
      a->tried[i] = true;
      auto& t = targets_[i];
      auto h = names_.lookup(t.name, t.cache);
      if (!h) {
        fail(t, a,
             make_error(errc::unknown_actor,
                        "balancer target '" + t.name + "' is not running"));
        continue;
      }
      ++t.sent;
      request(caf::actor_cast<json_actor>(h), timeout_, a->msg)
        .then(
          [this, a, i](json_message& reply) mutable {
            ++targets_[i].answered;
            a->rp.deliver(std::move(reply));
          },
          [this, a, i](caf::error& err) mutable {
            if (!worth_retrying(err)) {
              ++failed_;
              a->rp.deliver(std::move(err));
              return;
            }
            fail(targets_[i], a, std::move(err));
            send_next(std::move(a));
          });
      return;
    }
  }

  void fail(target& t, const std::shared_ptr<attempt>& a, caf::error err) {
    ++t.failed;
    t.benched_until = clock_type::now() + bench_;
    if (std::count(a->tried.begin(), a->tried.end(), false) > 0)
      ++retried_;
    a->last = std::move(err);
  }

  const switchboard::node& names_;
  std::vector<target> targets_;
  caf::timespan bench_;
  caf::timespan timeout_;
  size_t next_ = 0;
  uint64_t requests_ = 0;
  uint64_t retried_ = 0;
  uint64_t failed_ = 0;
};

} // namespace

kind_spec balancer_kind() {
  kind_spec result;
  result.name = "balancer";
  result.doc = "spreads JSON requests over actors in turn (NODE/ACTOR "
               "included), and sends one again to the next when its target "
               "could not take it or its node went down";
  result.forwards = true;
  result.keys = {
    {"to", value_type::actor_ref_list, true,
     "the actors requests go to, in turn, e.g. [\"w1/calc\", \"w2/calc\"]"},
    {"bench", value_type::timespan, false,
     "how long a target that failed is skipped, unless every target is "
     "(default 1s)"},
    {"timeout", value_type::timespan, false,
     "how long one target may take to answer (default: [node] "
     "request-timeout); a time-out is not sent again"},
  };
  result.check = [](const std::string& name,
                    const caf::settings& args) -> caf::error {
    auto to = caf::get_or(args, "to", std::vector<std::string>{});
    if (to.empty())
      return make_error(errc::config_bad_value,
                        name + ".to: expected at least one actor, found []");
    return caf::none;
  };
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto to = caf::get_or(ctx.args, "to", std::vector<std::string>{});
    auto bench = caf::get_or(ctx.args, "bench", caf::timespan{default_bench});
    auto timeout =
      caf::get_or(ctx.args, "timeout",
                  caf::timespan{std::chrono::duration_cast<caf::timespan>(
                    ctx.node.request_timeout())});
    return ctx.node.system().spawn<balancer>(ctx.node, std::move(to), bench,
                                             timeout);
  };
  return result;
}

} // namespace switchboard::actors

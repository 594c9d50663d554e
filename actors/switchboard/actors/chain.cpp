// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/chain.hpp"

#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include <switchboard/metered.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

namespace switchboard::actors {

namespace {

struct step {
  std::string name;
  caf::actor cache;
  uint64_t failed = 0;
};

// An error's own text: its context when that is one string (errors made
// with make_error(code, text), of any category), else the whole rendering.
std::string text_of(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return render(err);
}

class chain : public metered_actor {
public:
  chain(caf::actor_config& cfg, const switchboard::node& names,
        std::string name, std::vector<std::string> steps, caf::timespan timeout)
      : metered_actor(cfg), names_(names), name_(std::move(name)),
        timeout_(timeout) {
    for (auto& s : steps)
      steps_.push_back(step{std::move(s), {}, 0});
  }

  caf::behavior make_behavior() override {
    return {
      [this](json_message& msg) -> caf::result<json_message> {
        ++requests_;
        auto rp = make_response_promise<json_message>();
        next(0, std::move(msg), rp);
        return rp;
      },
      [this](status_atom) {
        std::string list = "[";
        for (auto& s : steps_) {
          if (list.size() > 1)
            list += ",";
          list += "{\"step\":\"" + s.name
                  + "\",\"failed\":" + std::to_string(s.failed) + "}";
        }
        list += "]";
        return status_reply(this, "chain",
                            {{"requests", std::to_string(requests_)},
                             {"answered", std::to_string(answered_)},
                             {"steps", list}});
      },
    };
  }

private:
  // Sends `msg` to step `i`, or answers with it after the last.
  void next(size_t i, json_message msg,
            caf::typed_response_promise<json_message> rp) {
    if (i == steps_.size()) {
      ++answered_;
      rp.deliver(std::move(msg));
      return;
    }
    auto& s = steps_[i];
    auto h = names_.lookup(s.name, s.cache);
    if (!h) {
      ++s.failed;
      rp.deliver(make_error(errc::unknown_actor,
                            where(i) + ": no actor named '" + s.name + "'"));
      return;
    }
    request(caf::actor_cast<json_actor>(h), timeout_, std::move(msg))
      .then(
        [this, i, rp](json_message& reply) mutable {
          next(i + 1, std::move(reply), rp);
        },
        [this, i, rp](caf::error& err) mutable {
          ++steps_[i].failed;
          // The same error (code and category), its text naming the step.
          rp.deliver(
            caf::error{err.code(), err.category(),
                       caf::make_message(where(i) + ": " + text_of(err))});
        });
  }

  std::string where(size_t i) const {
    return name_ + " step " + std::to_string(i + 1) + " (" + steps_[i].name
           + ")";
  }

  const switchboard::node& names_;
  std::string name_;
  std::vector<step> steps_;
  caf::timespan timeout_;
  uint64_t requests_ = 0;
  uint64_t answered_ = 0;
};

} // namespace

kind_spec chain_kind() {
  kind_spec result;
  result.name = "chain";
  result.doc = "a pipeline: each step's reply is the next step's request, "
               "the last reply the chain's";
  result.forwards = true;
  result.keys = {
    {"steps", value_type::actor_ref_list, true,
     "the actors a request passes through, in order"},
    {"timeout", value_type::timespan, false,
     "how long one step may take (default: [node] request-timeout)"},
  };
  result.check = [](const std::string& name,
                    const caf::settings& args) -> caf::error {
    if (caf::get_or(args, "steps", std::vector<std::string>{}).empty())
      return make_error(errc::config_bad_value,
                        name + ".steps: expected at least one actor, found []");
    return caf::none;
  };
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto steps = caf::get_or(ctx.args, "steps", std::vector<std::string>{});
    auto timeout =
      caf::get_or(ctx.args, "timeout",
                  caf::timespan{std::chrono::duration_cast<caf::timespan>(
                    ctx.node.request_timeout())});
    return ctx.node.system().spawn<chain>(ctx.node, ctx.name, std::move(steps),
                                          timeout);
  };
  return result;
}

} // namespace switchboard::actors

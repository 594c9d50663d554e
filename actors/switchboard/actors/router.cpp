// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/router.hpp"

#include <type_traits>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/errc.hpp>
#include <switchboard/loop_actor.hpp>
#include <switchboard/node.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/status.hpp>

namespace switchboard::actors {

namespace {

struct router_state {
  router_config cfg;
  // Resolves route targets, NODE/ACTOR included.
  const switchboard::node* names = nullptr;
  uint64_t forwarded = 0;
  uint64_t unrouted = 0;
};

std::string route_list(const router_config& cfg) {
  std::string result;
  for (auto& kvp : cfg.routes) {
    if (!result.empty())
      result += ", ";
    result += kvp.first;
  }
  return result;
}

// The behaviour, for a router on the scheduler or on the loop.
template<class Self>
router_actor::behavior_type router_behavior(Self* self) {
  return {
    [self](json_message& msg) -> caf::result<json_message> {
      auto& st = self->state;
      // The one place a router reads a message: the routing field.
      auto doc = nlohmann::json::parse(msg.text, nullptr, false);
      std::string target;
      if (doc.is_object()) {
        auto i = doc.find(st.cfg.field);
        if (i != doc.end() && i->is_string()) {
          auto r = st.cfg.routes.find(i->template get<std::string>());
          if (r != st.cfg.routes.end())
            target = r->second;
        }
      }
      if (target.empty())
        target = st.cfg.fallback;
      if (target.empty()) {
        ++st.unrouted;
        std::string what =
          doc.is_object() && doc.contains(st.cfg.field)
            ? "no route for " + st.cfg.field + " " + doc[st.cfg.field].dump()
            : "the message has no string field '" + st.cfg.field + "'";
        return make_error(errc::no_route,
                          what + " (routes: " + route_list(st.cfg) + ")");
      }
      auto h = st.names->lookup(target);
      if (h == caf::actor_cast<caf::actor>(self)) {
        ++st.unrouted;
        return make_error(errc::no_route,
                          "the route leads back to this router");
      }
      if (!h) {
        ++st.unrouted;
        return make_error(errc::unknown_actor,
                          "route target '" + target + "' is not running");
      }
      ++st.forwarded;
      return self->delegate(caf::actor_cast<json_actor>(h), std::move(msg));
    },
    [self](status_atom) {
      auto& st = self->state;
      std::vector<std::pair<std::string, std::string>> fields{
        {"forwarded", std::to_string(st.forwarded)},
        {"unrouted", std::to_string(st.unrouted)}};
      // On the loop, as echo does: where the handler runs, seen from it.
      if constexpr (std::is_base_of_v<loop_actor<router_actor::base>, Self>)
        fields.emplace_back("run_on", self->loop().in_loop_thread()
                                        ? "\"loop\""
                                        : "\"not the loop\"");
      return status_reply(self, "router", std::move(fields));
    },
  };
}

router_actor::behavior_type
router(caf::stateful_actor<router_state, metered<router_actor::base>>* self,
       router_config cfg, const switchboard::node* names) {
  self->state.cfg = std::move(cfg);
  self->state.names = names;
  return router_behavior(self);
}

// A router on the io loop (run-on = "loop").
class loop_router
    : public caf::stateful_actor<router_state, loop_actor<router_actor::base>> {
public:
  loop_router(caf::actor_config& cfg, io_loop& loop, router_config rc,
              const switchboard::node* names)
      : stateful_actor(cfg, loop) {
    state.cfg = std::move(rc);
    state.names = names;
  }

  behavior_type make_behavior() override {
    return router_behavior(this);
  }
};

} // namespace

kind_spec router_kind() {
  kind_spec result;
  result.name = "router";
  result.doc = "forwards a JSON request by the value of one field";
  result.forwards = true;
  result.keys = {
    {"routes", value_type::actor_ref_map, true,
     "field value -> actor name, e.g. { calculate = \"calc\" }"},
    {"field", value_type::string, false,
     "the field whose value picks the route (default \"type\")"},
    {"default", value_type::actor_ref, false,
     "where messages without a matching route go (default: error reply)"},
    run_on_key(),
  };
  result.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    router_config cfg;
    cfg.field = caf::get_or(ctx.args, "field", "type");
    cfg.fallback = caf::get_or(ctx.args, "default", "");
    if (auto routes = caf::get_if<caf::settings>(&ctx.args, "routes"))
      for (auto& [key, value] : *routes)
        cfg.routes.emplace(key, caf::get<std::string>(value));
    if (runs_on_loop(ctx.args))
      return caf::actor_cast<caf::actor>(spawn_on_loop<loop_router>(
        ctx.node.system(), ctx.node.loop(), std::move(cfg), &ctx.node));
    auto h = ctx.node.system().spawn(router, std::move(cfg), &ctx.node);
    return caf::actor_cast<caf::actor>(h);
  };
  return result;
}

} // namespace switchboard::actors

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/redis/common.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <hiredis/hiredis.h>

#include <switchboard/errc.hpp>
#include <switchboard/log.hpp>
#include <switchboard/node.hpp>

#include "switchboard/bridges/redis/reply.hpp"

namespace switchboard::bridges::redis {

using json = nlohmann::json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

reporter::reporter(switchboard::node& owner, std::string bridge,
                   std::string events)
    : node_(owner), bridge_(std::move(bridge)), events_(std::move(events)) {}

void reporter::operator()(json ev) {
  ev["bridge"] = bridge_;
  auto text = dump(ev);
  if (!node_.send_event(events_, cache_, text))
    node_.log(event_level(ev.value("event", "")), bridge_, text);
}

void link_reporter::on_up(int64_t down_ms) {
  report_(json{{"event", "up"}, {"link", role_}, {"down_ms", down_ms}});
  if (on_ready)
    on_ready();
}

void link_reporter::on_down(const std::string& reason) {
  if (on_lost)
    on_lost();
  report_(json{{"event", "down"}, {"link", role_}, {"reason", reason}});
}

void link_reporter::on_event(std::string json_text) {
  auto ev = json::parse(json_text, nullptr, false);
  ev["link"] = role_;
  report_(std::move(ev));
}

void link_reporter::on_push(const redisReply& r) {
  if (on_message)
    on_message(r);
}

void link_reporter::on_error(const std::string& reason) {
  if (errors != nullptr)
    ++*errors;
  report_(json{{"event", "error"}, {"link", role_}, {"reason", reason}});
}

std::string link_status(const link* l) {
  if (l == nullptr)
    return "null";
  return dump(json{{"state", l->state_name()},
                   {"in_flight", l->in_flight()},
                   {"held", l->held()},
                   {"restarts", l->restarts()}});
}

caf::result<json_message> forward(caf::event_based_actor* self, link& l,
                                  std::string wire, uint64_t* answered,
                                  std::function<void(std::string)> failed) {
  bool is_request = self->current_message_id().is_request();
  caf::typed_response_promise<json_message> rp;
  link::reply_fn fn;
  if (is_request) {
    // From here on the promise owns the request: every answer goes
    // through it, errors included.
    rp = self->make_response_promise<json_message>();
    fn = [rp, answered](const redisReply* r, const caf::error& why) mutable {
      if (r == nullptr) {
        rp.deliver(why);
      } else if (r->type == REDIS_REPLY_ERROR) {
        rp.deliver(make_error(errc::remote_error, std::string{r->str, r->len}));
      } else {
        ++*answered;
        rp.deliver(json_message::trusted(to_json(*r)));
      }
    };
  } else {
    fn = [failed, answered](const redisReply* r, const caf::error& why) {
      if (r == nullptr)
        failed(render(why));
      else if (r->type == REDIS_REPLY_ERROR)
        failed(std::string{r->str, r->len});
      else
        ++*answered;
    };
  }
  caf::error refused;
  switch (l.command_encoded(std::move(wire), std::move(fn))) {
    case link::outcome::full:
      refused =
        make_error(errc::queue_full,
                   l.options().name + " holds " + std::to_string(l.held())
                     + " commands already (max-held) while Redis is "
                     + (l.up() ? "busy" : "down"));
      break;
    case link::outcome::gave_up:
      refused = make_error(errc::no_channel, l.options().name
                                               + " gave up connecting to "
                                               + l.options().address);
      break;
    default: break;
  }
  if (refused) {
    if (is_request) {
      rp.deliver(refused);
      return rp;
    }
    failed(render(refused));
    return caf::delegated<json_message>{};
  }
  if (is_request)
    return rp;
  return caf::delegated<json_message>{};
}

} // namespace switchboard::bridges::redis

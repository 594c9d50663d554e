// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/restart_policy.hpp"

#include "switchboard/metered.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "switchboard/errc.hpp"

namespace switchboard {

namespace {

std::string ms(caf::timespan x) {
  auto n = std::chrono::duration_cast<std::chrono::milliseconds>(x).count();
  if (n >= 1000 && n % 1000 == 0)
    return std::to_string(n / 1000) + "s";
  return std::to_string(n) + "ms";
}

const char* mode_name(restart_mode x) {
  switch (x) {
    case restart_mode::never: return "never";
    case restart_mode::always: return "always";
    default: return "on-failure";
  }
}

std::string number(double x) {
  auto s = std::to_string(x);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.')
    s.pop_back();
  return s;
}

} // namespace

std::vector<key_spec> restart_policy::keys(const std::string& what,
                                           const restart_policy& d) {
  return {
    {"restart",
     value_type::string,
     false,
     "when " + what + " is restarted (default " + mode_name(d.mode) + ")",
     {"never", "on-failure", "always"}},
    {"restart-delay", value_type::timespan, false,
     "the first restart's delay (default " + ms(d.delay) + ")"},
    {"restart-delay-max", value_type::timespan, false,
     "the longest restart delay (default " + ms(d.max_delay) + ")"},
    {"restart-factor", value_type::real, false,
     "how much the delay grows per consecutive restart (default "
       + number(d.factor) + ")"},
    {"restart-reset", value_type::timespan, false,
     "after running this long, the delays start afresh (default "
       + ms(d.reset_after) + ")"},
    {"max-restarts",
     value_type::integer,
     false,
     "restarts allowed within restart-window before giving up (default "
       + std::to_string(d.max_restarts) + ")",
     {},
     0},
    {"restart-window", value_type::timespan, false,
     "the window of max-restarts (default " + ms(d.window) + ")"},
  };
}

caf::expected<restart_policy> restart_policy::from(const caf::settings& args,
                                                   const std::string& name,
                                                   restart_policy result) {
  auto mode = caf::get_or(args, "restart", std::string{mode_name(result.mode)});
  result.mode = mode == "never"    ? restart_mode::never
                : mode == "always" ? restart_mode::always
                                   : restart_mode::on_failure;
  result.delay = caf::get_or(args, "restart-delay", result.delay);
  result.max_delay = caf::get_or(args, "restart-delay-max", result.max_delay);
  // A whole number is a factor too (CAF reads `2` as an integer).
  if (auto i = caf::get_if<int64_t>(&args, "restart-factor"))
    result.factor = static_cast<double>(*i);
  else
    result.factor = caf::get_or(args, "restart-factor", result.factor);
  result.reset_after = caf::get_or(args, "restart-reset", result.reset_after);
  result.max_restarts = caf::get_or(args, "max-restarts", result.max_restarts);
  result.window = caf::get_or(args, "restart-window", result.window);
  if (result.factor < 1.0)
    return make_error(errc::config_bad_value,
                      name + ": restart-factor must be at least 1");
  if (result.max_delay < result.delay)
    return make_error(errc::config_bad_value,
                      name
                        + ": restart-delay-max is shorter than restart-delay");
  return result;
}

std::string restart_decision::event() const {
  using json = nlohmann::json;
  switch (action) {
    case restart:
      return json{
        {"event", "restarting"},
        {"attempt", attempt},
        {"delay_ms",
         std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()}}
        .dump();
    case give_up:
      return json{{"event", "gave-up"}, {"reason", reason}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
    default: return {};
  }
}

restart_decision restart_tracker::next(bool failed, caf::timespan uptime,
                                       const std::string& last) {
  restart_decision d;
  if (policy_.mode == restart_mode::never
      || (policy_.mode == restart_mode::on_failure && !failed))
    return d;
  // Intensity: at most max-restarts within the window, then give up.
  auto now = std::chrono::steady_clock::now();
  while (!recent_.empty() && now - recent_.front() > policy_.window)
    recent_.pop_front();
  if (static_cast<int64_t>(recent_.size()) >= policy_.max_restarts) {
    d.action = restart_decision::give_up;
    d.reason =
      std::to_string(recent_.size()) + " restarts within "
      + std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(policy_.window)
          .count())
      + " ms (max-restarts)";
    if (!last.empty())
      d.reason += "; last: " + last;
    return d;
  }
  recent_.push_back(now);
  // Backoff: the delay grows by `factor` per consecutive restart and starts
  // over after a run of `restart-reset`.
  if (uptime >= policy_.reset_after)
    attempt_ = 0;
  auto delay = std::chrono::duration<double, std::nano>(policy_.delay).count();
  auto cap =
    std::chrono::duration<double, std::nano>(policy_.max_delay).count();
  for (unsigned k = 0; k < attempt_ && delay < cap; ++k)
    delay *= policy_.factor;
  d.delay = std::min(caf::timespan{static_cast<int64_t>(std::min(delay, cap))},
                     policy_.max_delay);
  d.attempt = ++attempt_;
  ++restarts_;
  // Counted for the metered actor that supervises (the one running now).
  if (auto self = metered_base::running())
    if (auto m = self->metrics())
      m->restarts.fetch_add(1, std::memory_order_relaxed);
  d.action = restart_decision::restart;
  return d;
}

void restart_tracker::reset() {
  recent_.clear();
  attempt_ = 0;
}

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

// One restart policy for everything that is supervised: worker threads,
// child processes and reconnecting clients. The keys, their validation, the
// backoff and the intensity limit (at most `max-restarts` within
// `restart-window`, as Erlang/OTP's supervisors) live here once, so
// `restart-delay` means the same for a pool, a child and a TCP client.
//
// Usage:
// ~~~
// auto policy = restart_policy::from(args, name);     // validated keys
// restart_tracker tracker{*policy};
// ...  // the supervised thing stopped
// auto d = tracker.next(failed, uptime);
// if (d.what == restart_decision::restart) delayed_send(..., d.delay, ...);
// event(d.event());   // {"event":"restarting","attempt":1,"delay_ms":100}
// ~~~

#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/settings.hpp>
#include <caf/timespan.hpp>

#include "switchboard/kinds.hpp"

namespace switchboard {

/// When something that stopped is started again.
enum class restart_mode : uint8_t {
  /// Never: it stays stopped.
  never,
  /// Only when it failed (a non-zero exit, a crash, a lost connection).
  on_failure,
  /// Whenever it stops.
  always,
};

/// The keys `restart`, `restart-delay`, `restart-delay-max`,
/// `restart-factor`, `restart-reset`, `max-restarts`, `restart-window`.
struct restart_policy {
  restart_mode mode = restart_mode::on_failure;
  /// The first restart's delay.
  caf::timespan delay{std::chrono::milliseconds(100)};
  /// The longest delay.
  caf::timespan max_delay{std::chrono::seconds(10)};
  /// How much the delay grows per consecutive restart (at least 1).
  double factor = 2.0;
  /// Something that ran this long starts the delays afresh.
  caf::timespan reset_after{std::chrono::seconds(10)};
  /// Restarts allowed within `window` before giving up (0: none).
  int64_t max_restarts = 10;
  /// The window of `max_restarts`.
  caf::timespan window{std::chrono::seconds(60)};

  /// The keys, documented for `what` ("the child", "a worker", "the
  /// connection"), with `defaults`' values named as the defaults.
  static std::vector<key_spec> keys(const std::string& what,
                                    const restart_policy& defaults);

  /// Reads the keys from a kind's `args` over `defaults`; returns
  /// `errc::config_bad_value` naming `name` for a factor below 1.
  static caf::expected<restart_policy> from(const caf::settings& args,
                                            const std::string& name,
                                            restart_policy defaults);
};

/// What to do after a stop.
struct restart_decision {
  enum action_type : uint8_t {
    /// The policy does not restart this stop; stay stopped.
    stay_stopped,
    /// Too many restarts within the window: stay stopped, as failed.
    give_up,
    /// Start again after `delay`.
    restart,
  };
  action_type action = stay_stopped;
  /// Consecutive restarts so far, this one included.
  unsigned attempt = 0;
  caf::timespan delay{0};
  /// Why it gave up, for people.
  std::string reason;

  /// The event to report it: `{"event":"restarting","attempt":N,
  /// "delay_ms":D}` or `{"event":"gave-up","reason":"..."}` as JSON text
  /// (empty for stay_stopped). Add the subject's own fields after it.
  std::string event() const;
};

/// The backoff and intensity state of one supervised thing.
class restart_tracker {
public:
  explicit restart_tracker(restart_policy policy) : policy_(policy) {}

  /// Decides after a stop. `failed` says whether it failed (for
  /// `on-failure`); `uptime` how long it ran (a long run resets the
  /// backoff); `last` describes the stop for a give-up reason.
  restart_decision next(bool failed, caf::timespan uptime,
                        const std::string& last = {});

  /// Forgets the history (a manual start).
  void reset();

  /// Starts the delays afresh but keeps the restarts counted in the window
  /// (a manual restart).
  void reset_backoff() {
    attempt_ = 0;
  }

  /// Restarts decided so far.
  uint64_t restarts() const noexcept {
    return restarts_;
  }

  const restart_policy& policy() const noexcept {
    return policy_;
  }

private:
  restart_policy policy_;
  std::deque<std::chrono::steady_clock::time_point> recent_;
  unsigned attempt_ = 0;
  uint64_t restarts_ = 0;
};

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/restart_policy.hpp>

#include <catch2/catch.hpp>

#include <switchboard/errc.hpp>

using namespace switchboard;
using namespace std::chrono_literals;

TEST_CASE("the restart policy backs off by its factor up to the maximum") {
  restart_policy p;
  p.delay = 100ms;
  p.max_delay = 1s;
  p.factor = 3;
  p.max_restarts = 100;
  restart_tracker t{p};
  std::vector<caf::timespan> want = {100ms, 300ms, 900ms, 1s, 1s};
  for (size_t i = 0; i < want.size(); ++i) {
    auto d = t.next(true, 0ms);
    REQUIRE(d.action == restart_decision::restart);
    CHECK(d.attempt == i + 1);
    CHECK(d.delay == want[i]);
  }
  // A long run starts the delays afresh.
  auto d = t.next(true, p.reset_after);
  CHECK(d.delay == 100ms);
  CHECK(d.attempt == 1);
  CHECK(d.event() == R"({"attempt":1,"delay_ms":100,"event":"restarting"})");
  CHECK(t.restarts() == 6);
}

TEST_CASE("the restart policy gives up after max-restarts in its window") {
  restart_policy p;
  p.max_restarts = 2;
  restart_tracker t{p};
  CHECK(t.next(true, 0ms).action == restart_decision::restart);
  CHECK(t.next(true, 0ms).action == restart_decision::restart);
  auto d = t.next(true, 0ms, "exit code 3");
  REQUIRE(d.action == restart_decision::give_up);
  CHECK(d.reason
        == "2 restarts within 60000 ms (max-restarts); last: exit "
           "code 3");
  CHECK(d.event().find("\"gave-up\"") != std::string::npos);
  t.reset();
  CHECK(t.next(true, 0ms).action == restart_decision::restart);
  p.max_restarts = 0;
  CHECK(restart_tracker{p}.next(true, 0ms).action == restart_decision::give_up);
}

TEST_CASE("the restart mode decides which stops restart") {
  restart_policy p;
  p.mode = restart_mode::on_failure;
  CHECK(restart_tracker{p}.next(false, 0ms).action
        == restart_decision::stay_stopped);
  CHECK(restart_tracker{p}.next(true, 0ms).action == restart_decision::restart);
  p.mode = restart_mode::always;
  CHECK(restart_tracker{p}.next(false, 0ms).action
        == restart_decision::restart);
  p.mode = restart_mode::never;
  CHECK(restart_tracker{p}.next(true, 0ms).action
        == restart_decision::stay_stopped);
}

TEST_CASE("the restart keys are read and checked in one place") {
  caf::settings args;
  args["restart"] = "always";
  args["restart-delay"] = caf::timespan{50ms};
  args["restart-factor"] = int64_t{3};
  auto p = restart_policy::from(args, "x", restart_policy{});
  REQUIRE(p);
  CHECK(p->mode == restart_mode::always);
  CHECK(p->delay == 50ms);
  CHECK(p->factor == 3.0);
  args["restart-factor"] = 0.5;
  auto bad = restart_policy::from(args, "x", restart_policy{});
  REQUIRE(!bad);
  CHECK(is(bad.error(), errc::config_bad_value));
  args["restart-factor"] = 2.0;
  args["restart-delay-max"] = caf::timespan{10ms};
  CHECK(!restart_policy::from(args, "x", restart_policy{}));
  auto keys = restart_policy::keys("the child", restart_policy{});
  CHECK(keys.size() == 7);
  CHECK(keys[1].doc.find("100ms") != std::string::npos);
}

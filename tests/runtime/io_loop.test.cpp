// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/io_loop.hpp>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <uv.h>

#include <switchboard/loop_actor.hpp>

#include "process.hpp"

using namespace switchboard;

TEST_CASE("posted work runs on the loop thread in order per poster") {
  // libuv keeps a pipe pair from its first loop on: count after that.
  { io_loop warm_up; }
  auto fds = test::open_fds();
  {
    io_loop loop;
    loop.start();
    constexpr int per_thread = 10000;
    std::vector<int> seen[3];
    std::atomic<bool> off_thread{false};
    std::vector<std::thread> posters;
    for (int t = 0; t < 3; ++t)
      posters.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i)
          loop.post([&, t, i] {
            if (!loop.in_loop_thread())
              off_thread = true;
            seen[t].push_back(i);
          });
      });
    for (auto& p : posters)
      p.join();
    std::promise<void> done;
    loop.post([&] { done.set_value(); });
    REQUIRE(done.get_future().wait_for(std::chrono::seconds(10))
            == std::future_status::ready);
    CHECK(!off_thread);
    for (auto& xs : seen) {
      REQUIRE(xs.size() == per_thread);
      CHECK(std::is_sorted(xs.begin(), xs.end()));
    }
    CHECK(!loop.in_loop_thread());
    loop.stop();
    CHECK(loop.close_result() == 0);
    CHECK(loop.forced_closes() == 0);
    CHECK(!loop.post([] {}));
  }
  CHECK(test::open_fds() == fds);
}

TEST_CASE("stop runs the stop hooks, then closes handles left open") {
  io_loop loop;
  loop.start();
  auto closed_by_owner = new uv_timer_t;
  auto leaked = new uv_timer_t;
  bool hook_ran = false;
  std::promise<void> ready;
  loop.post([&] {
    uv_timer_init(loop.native(), closed_by_owner);
    uv_timer_init(loop.native(), leaked);
    uv_timer_start(
      leaked, [](uv_timer_t*) {}, 100000, 0);
    loop.on_stop([&] {
      hook_ran = true;
      uv_close(reinterpret_cast<uv_handle_t*>(closed_by_owner),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    });
    ready.set_value();
  });
  ready.get_future().wait();
  loop.stop();
  CHECK(hook_ran);
  CHECK(loop.forced_closes() == 1);
  CHECK(loop.close_result() == 0);
  delete leaked;
}

TEST_CASE("an unstarted loop closes cleanly") {
  { io_loop warm_up; }
  auto fds = test::open_fds();
  {
    io_loop loop;
    CHECK(!loop.running());
    CHECK(!loop.in_loop_thread());
  }
  CHECK(test::open_fds() == fds);
}

namespace {

using where_atom = caf::atom_constant<caf::atom("where")>;

struct probe : loop_actor<caf::event_based_actor> {
  using loop_actor::loop_actor;
  caf::behavior make_behavior() override {
    return {[this](where_atom) { return loop().in_loop_thread(); }};
  }
};

} // namespace

TEST_CASE("loop actors run on the loop thread and answer scheduler actors") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  io_loop loop;
  loop.attach(sys);
  loop.start();
  {
    auto p = spawn_on_loop<probe>(sys, loop);
    // A scheduler actor asks the loop actor many times; each answer must
    // come from the loop thread.
    auto asker = sys.spawn([p](caf::event_based_actor* self) -> caf::behavior {
      return {[=](int n) -> caf::result<int> {
        auto rp = self->make_response_promise<int>();
        auto ok = std::make_shared<int>(0);
        for (int i = 0; i < n; ++i)
          self->request(p, std::chrono::seconds(5), where_atom::value)
            .then([=](bool on_loop) mutable {
              *ok += on_loop ? 1 : 0;
              if (i == n - 1)
                rp.deliver(*ok);
            });
        return rp;
      }};
    });
    caf::scoped_actor self{sys};
    self->request(asker, std::chrono::seconds(10), 1000)
      .receive([](int ok) { CHECK(ok == 1000); },
               [](caf::error& e) { FAIL(caf::to_string(e)); });
    self->send_exit(p, caf::exit_reason::user_shutdown);
    self->send_exit(asker, caf::exit_reason::user_shutdown);
    self->wait_for(p, asker);
  }
  loop.stop();
  CHECK(loop.close_result() == 0);
}

TEST_CASE("stopping the loop ends loop actors that still run") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  io_loop loop;
  loop.attach(sys);
  loop.start();
  caf::actor_addr addr;
  {
    // Nobody tells this actor to exit: the loop's stop must.
    auto p = spawn_on_loop<probe>(sys, loop);
    addr = p.address();
    caf::scoped_actor self{sys};
    self->monitor(p);
    self->request(p, std::chrono::seconds(5), where_atom::value)
      .receive([](bool on_loop) { CHECK(on_loop); },
               [](caf::error& e) { FAIL(caf::to_string(e)); });
    loop.stop();
    bool down = false;
    self->receive([&](const caf::down_msg& dm) { down = dm.source == addr; },
                  caf::after(std::chrono::seconds(5)) >> [] {});
    CHECK(down);
  }
  CHECK(loop.close_result() == 0);
  // The actor system's destructor returns: no actor is left behind.
}

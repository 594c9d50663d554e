// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/io_loop.hpp>

#include <algorithm>
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

namespace {

using count_atom = caf::atom_constant<caf::atom("count")>;

// Counts its messages; the first message of each turn asks for a callback
// at the end of that turn, which records the count then and says when it
// has reached `target`.
class counter : public loop_actor<caf::event_based_actor> {
public:
  counter(caf::actor_config& cfg, io_loop& loop, int target,
          std::promise<void>* done, std::atomic<int>* seen,
          std::vector<int>* at_turn_end)
      : loop_actor(cfg, loop), target_(target), done_(done), seen_(seen),
        at_turn_end_(at_turn_end) {}

  caf::behavior make_behavior() override {
    return {[this](count_atom) {
      ++*seen_;
      if (pending_)
        return;
      pending_ = true;
      // The actor lives on until the test has seen `done`, which the last
      // turn's callback sets: `this` outlives every callback.
      io_loop::at_end_of_turn(
        [](void* self) {
          auto c = static_cast<counter*>(self);
          c->pending_ = false;
          auto seen = c->seen_->load();
          c->at_turn_end_->push_back(seen);
          if (seen == c->target_)
            c->done_->set_value();
        },
        this);
    }};
  }

private:
  int target_;
  std::promise<void>* done_;
  std::atomic<int>* seen_;
  std::vector<int>* at_turn_end_;
  bool pending_ = false;
};

} // namespace

TEST_CASE("a flood of mail to a loop actor leaves the loop time for I/O") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  io_loop loop;
  loop.attach(sys);
  loop.start();
  CHECK(!io_loop::at_end_of_turn([](void*) {}, nullptr));
  constexpr int n = 200000;
  std::atomic<int> seen{0};
  // The count each time the loop reaches its prepare phase, right before it
  // polls its fds.
  struct polls {
    std::atomic<int>* seen;
    std::vector<int> counts;
  } at_poll{&seen, {}};
  std::vector<int> at_turn_end;
  uv_prepare_t prepare;
  std::promise<void> ready;
  loop.post([&] {
    uv_prepare_init(loop.native(), &prepare);
    prepare.data = &at_poll;
    uv_prepare_start(&prepare, [](uv_prepare_t* h) {
      auto p = static_cast<polls*>(h->data);
      p->counts.push_back(p->seen->load());
    });
    ready.set_value();
  });
  ready.get_future().wait();
  std::promise<void> done;
  auto finished = done.get_future();
  {
    auto c = spawn_on_loop<counter>(sys, loop, n, &done, &seen, &at_turn_end);
    // All the mail is queued while a task holds the loop, then the loop
    // runs it.
    std::promise<void> go;
    auto gate = go.get_future().share();
    loop.post([gate] { gate.wait(); });
    for (int i = 0; i < n; ++i)
      caf::anon_send(c, count_atom::value);
    go.set_value();
    REQUIRE(finished.wait_for(std::chrono::seconds(30))
            == std::future_status::ready);
    std::promise<void> closed;
    loop.post([&] {
      uv_close(reinterpret_cast<uv_handle_t*>(&prepare), nullptr);
      closed.set_value();
    });
    closed.get_future().wait();
    caf::scoped_actor self{sys};
    self->send_exit(c, caf::exit_reason::user_shutdown);
    self->wait_for(c);
  }
  // The loop polled its fds many times while the mail ran, not only before
  // and after all of it.
  auto between = std::count_if(at_poll.counts.begin(), at_poll.counts.end(),
                               [](int x) { return x > 0 && x < n; });
  CHECK(between >= 20);
  // One end-of-turn callback per turn, not per message, in order, the last
  // after the last message.
  REQUIRE(at_turn_end.size() >= 2);
  CHECK(at_turn_end.size() < static_cast<size_t>(n) / 64);
  CHECK(std::is_sorted(at_turn_end.begin(), at_turn_end.end()));
  CHECK(at_turn_end.back() == n);
  loop.stop();
  CHECK(loop.close_result() == 0);
}

// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/channel.hpp>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <uv.h>

#include <switchboard/io_loop.hpp>

using namespace switchboard;
using namespace std::chrono_literals;

namespace {

// Runs `fn` on the loop thread and waits for it (assertions stay on the
// test's thread).
template<class F>
void on_loop(io_loop& loop, F fn) {
  std::promise<void> done;
  loop.post([&] {
    fn();
    done.set_value();
  });
  REQUIRE(done.get_future().wait_for(10s) == std::future_status::ready);
}

// Polls `pred` on the loop thread until it holds or 10 s pass.
template<class F>
bool eventually_on(io_loop& loop, F pred) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    bool ok = false;
    on_loop(loop, [&] { ok = pred(); });
    if (ok)
      return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

struct recorder final : channel_handler {
  std::vector<std::string> frames;
  int eofs = 0;
  int write_errors = 0;
  void on_frame(std::string frame) override {
    frames.push_back(std::move(frame));
  }
  void on_eof() override {
    ++eofs;
  }
  void on_write_error(caf::error) override {
    ++write_errors;
  }
};

} // namespace

TEST_CASE("a channel reads frames into its handler and writes a libuv "
          "callback's frames at the end of that turn") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  io_loop loop;
  loop.start();
  recorder rec;
  channel* ch = nullptr;
  on_loop(loop, [&] {
    ch = channel::open(loop.native(), sv[0], framing::lines, 1024, {});
    if (ch != nullptr) {
      ch->set_handler(&rec);
      ch->resume_reading();
    }
  });
  REQUIRE(ch != nullptr);
  REQUIRE(::write(sv[1], "a\nb\n", 4) == 4);
  REQUIRE(eventually_on(loop, [&] { return rec.frames.size() == 2; }));
  CHECK(rec.frames == std::vector<std::string>{"a", "b"});
  // A timer callback is outside any actor's mail: its writes go out in
  // the same turn, together.
  struct ctx {
    channel* ch;
    bool deferred;
  } c{ch, false};
  auto timer = new uv_timer_t;
  on_loop(loop, [&] {
    uv_timer_init(loop.native(), timer);
    timer->data = &c;
    uv_timer_start(
      timer,
      [](uv_timer_t* t) {
        auto& c = *static_cast<ctx*>(t->data);
        c.ch->write("x");
        c.ch->write("y");
        // Nothing is written yet: it waits for the end of the turn.
        c.deferred = c.ch->queued_bytes() == 4;
        uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) {
          delete reinterpret_cast<uv_timer_t*>(h);
        });
      },
      0, 0);
  });
  std::string got;
  char buf[16];
  while (got.size() < 4) {
    auto n = ::read(sv[1], buf, sizeof(buf));
    REQUIRE(n > 0);
    got.append(buf, static_cast<size_t>(n));
  }
  CHECK(got == "x\ny\n");
  bool deferred = false;
  on_loop(loop, [&] { deferred = c.deferred; });
  CHECK(deferred);
  // EOF reaches the handler; a detached handler hears nothing more.
  ::shutdown(sv[1], SHUT_WR);
  REQUIRE(eventually_on(loop, [&] { return rec.eofs == 1; }));
  on_loop(loop, [&] {
    ch->set_handler(nullptr);
    ch->close();
  });
  loop.stop();
  CHECK(loop.forced_closes() == 0);
  ::close(sv[1]);
}

TEST_CASE("a channel closing once flushed closes when the peer goes "
          "instead of waiting forever") {
  // A write to a closed socket: the error, not the signal (as in a node).
  ::signal(SIGPIPE, SIG_IGN);
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  io_loop loop;
  loop.start();
  recorder rec;
  size_t queued = 0;
  on_loop(loop, [&] {
    auto ch = channel::open(loop.native(), sv[0], framing::lines, 1 << 20, {});
    if (ch == nullptr)
      return;
    ch->set_handler(&rec);
    // More than the socket buffers take: the rest waits for the peer,
    // which never reads.
    std::string big(64 * 1024, 'z');
    for (int i = 0; i < 64; ++i)
      ch->write(big);
    ch->write_now();
    queued = ch->queued_bytes();
    ch->set_handler(nullptr);
    ch->close_when_flushed();
  });
  CHECK(queued > 0);
  // The peer goes: the pending write fails and the channel closes itself.
  ::close(sv[1]);
  // Give the loop turns to see it, then stop: nothing is left open.
  REQUIRE(eventually_on(loop, [&] {
    int open = 0;
    uv_walk(
      loop.native(),
      [](uv_handle_t* h, void* arg) {
        if (h->type == UV_NAMED_PIPE && !uv_is_closing(h))
          ++*static_cast<int*>(arg);
      },
      &open);
    return open == 0;
  }));
  loop.stop();
  CHECK(loop.forced_closes() == 0);
  CHECK(rec.write_errors == 0); // detached before
}

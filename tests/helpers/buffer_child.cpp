// switchboard: an embeddable C++ actor runtime. MIT License.

// A child built on switchboard that maps the shared buffer "shared" its
// parent node passed (child-process `buffers = ["shared"]`), for the
// process-shared buffer tests. Usage: buffer_child ADDS ROUNDS
//
// The int64 elements: 0 the counter both sides add to, 2 how many times a
// child started, 3 a marker the parent writes. The int32 elements: 8 "go"
// (the parent sets it to 1 when both sides may start), 10 the ball of a
// wait/notify ping-pong (the parent makes it odd, the child even).
//
// It prints one JSON line when it has mapped the buffer and one when it
// has done its share, then waits for its stop signal.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include <switchboard/actors/shared_buffer.hpp>
#include <switchboard/errc.hpp>

using namespace switchboard::actors;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: buffer_child ADDS ROUNDS\n");
    return 2;
  }
  auto adds = std::atoll(argv[1]);
  auto rounds = static_cast<int32_t>(std::atol(argv[2]));
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  auto buf = shared_buffer::from_parent("shared");
  if (!buf) {
    std::printf("{\"error\":\"%s\"}\n",
                switchboard::render(buf.error()).c_str());
    return 1;
  }
  auto v64 = *buf->view<int64_t>();
  auto v32 = *buf->view<int32_t>();
  auto starts = *v64.add(2, 1);
  std::printf("{\"started\":%lld,\"marker\":%lld,\"size\":%zu}\n",
              static_cast<long long>(starts),
              static_cast<long long>(*v64.load(3)), buf->size());
  // The parent says go once both sides are ready to add at the same time.
  while (*v32.load(8) != 1)
    v32.wait(8, 0, 10s);
  for (long long i = 0; i < adds; ++i)
    v64.add(0, 1);
  int stalls = 0;
  for (int32_t i = 0; i < rounds; ++i) {
    while (*v32.load(10) != 2 * i + 1)
      if (*v32.wait(10, 2 * i, 10s) == wait_result::timed_out)
        ++stalls;
    v32.store(10, 2 * i + 2);
    v32.notify(10);
  }
  std::printf("{\"added\":%lld,\"stalls\":%d,\"ball\":%d}\n", adds, stalls,
              *v32.load(10));
  pause();
  return 0;
}

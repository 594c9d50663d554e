// Shows: worker threads filling one shared buffer in parallel while the main
// thread waits for them with wait/notify (the twin of SharedArrayBuffer and
// Atomics.wait/notify in Node). The buffer handle travels in messages; the
// memory is never copied.
// Run: build/examples/embed_shared_buffer   (prints the sum, exits 0)

#include <cstdio>

#include <caf/all.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/actors/shared_buffer.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/node.hpp>

using namespace switchboard;
using actors::shared_buffer;

// -- constants ----------------------------------------------------------------

constexpr int64_t workers = 4;
constexpr int64_t elements = 1 << 20;

// Bytes 0..63: a header (int32 #0 counts finished workers); then the data.
constexpr size_t header_bytes = shared_buffer::alignment;

// -- configuration: what each worker does
// --------------------------------------

// Squares its share of the elements into the buffer, counts itself done,
// wakes the waiter and exits.
caf::behavior filler(caf::event_based_actor* self) {
  return {[self](shared_buffer buf, int64_t begin, int64_t end) {
    auto data = *buf.view<int64_t>(header_bytes);
    auto header = *buf.view<int32_t>(0, 1);
    for (auto i = begin; i < end; ++i)
      data.store(static_cast<size_t>(i), i * i);
    header.add(0, 1);
    header.notify(0);
    self->quit();
  }};
}

// -- main
// -----------------------------------------------------------------------

int main() {
  auto cfg =
    node_config::from_string("[node]\nname = \"filler\"\ncontrol = \"none\"\n");
  if (!cfg)
    return std::fprintf(stderr, "%s\n", render(cfg.error()).c_str()), 1;
  node n{std::move(*cfg)};
  actors::add_builtin_kinds(n.kinds());
  if (auto err = n.start())
    return std::fprintf(stderr, "%s\n", render(err).c_str()), 1;
  auto buf = shared_buffer::make(header_bytes + elements * sizeof(int64_t));
  if (!buf)
    return std::fprintf(stderr, "%s\n", render(buf.error()).c_str()), 1;
  // One OS thread per worker, as Node's worker_threads.
  for (int64_t w = 0; w < workers; ++w) {
    auto worker = n.system().spawn<caf::detached>(filler);
    caf::anon_send(worker, *buf, w * elements / workers,
                   (w + 1) * elements / workers);
  }
  // Wait until all have counted themselves done: sleep while the count is
  // unchanged, check again after every notify.
  auto header = *buf->view<int32_t>(0, 1);
  for (auto done = *header.load(0); done < workers; done = *header.load(0))
    if (*header.wait(0, done, std::chrono::seconds(10))
        == actors::wait_result::timed_out)
      return std::fprintf(stderr, "workers did not finish\n"), 1;
  auto data = *buf->view<int64_t>(header_bytes);
  int64_t sum = 0;
  for (size_t i = 0; i < data.length(); ++i)
    sum += *data.load(i);
  // The sum of squares 0..k-1 is (k-1)k(2k-1)/6.
  int64_t k = elements;
  std::printf("sum of %lld squares: %lld (expected %lld)\n",
              static_cast<long long>(k), static_cast<long long>(sum),
              static_cast<long long>((k - 1) * k * (2 * k - 1) / 6));
  n.stop();
  return sum == (k - 1) * k * (2 * k - 1) / 6 ? 0 : 1;
}

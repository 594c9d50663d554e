// switchboard: an embeddable C++ actor runtime. MIT License.

// frame_decoder under every framing but raw (SWITCHBOARD_FUZZ_FRAMING picks
// one; length-prefixed also covers length-prefixed-16). The input is a
// byte stream; the target checks that:
// - no frame is larger than max-frame, and no allocation is either;
// - the frames and the error do not depend on how the stream is cut into
//   reads (the whole stream at once against pieces the input chooses);
// - length-prefixed frames encode back to exactly the bytes they came from.

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include <switchboard/errc.hpp>
#include <switchboard/framing.hpp>

#include "bounded_allocations.hpp"

using namespace switchboard;

namespace {

struct outcome {
  std::vector<std::string> frames;
  std::string error;
};

// Decodes `stream` in pieces of the sizes in `cuts` (the rest at once).
outcome decode(framing how, size_t max_frame, const std::string& stream,
               const std::vector<size_t>& cuts) {
  outcome out;
  frame_decoder dec{how, max_frame};
  auto on_frame = [&](std::string&& f) {
    fuzz::unwatched off;
    if (f.size() > max_frame)
      std::abort();
    out.frames.push_back(std::move(f));
    return true;
  };
  caf::error err;
  {
    fuzz::watch w;
    size_t off = 0;
    for (auto cut : cuts) {
      if (off >= stream.size() || err)
        break;
      auto n = std::min(cut, stream.size() - off);
      err = dec.feed(stream.data() + off, n, on_frame);
      off += n;
    }
    if (!err && off < stream.size())
      err = dec.feed(stream.data() + off, stream.size() - off, on_frame);
    if (!err)
      err = dec.finish(on_frame);
    // The frames themselves are up to max-frame; the buffer that collects
    // one may not grow past it either. An error's text takes a few dozen
    // bytes.
    fuzz::check_largest(std::max<size_t>(max_frame + 1, 512), "frame_decoder");
  }
  if (err)
    out.error = render(err);
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in{data, size};
  auto how = SWITCHBOARD_FUZZ_FRAMING;
  if (how == framing::length_prefixed && in.ConsumeBool())
    how = framing::length_prefixed16;
  auto max_frame = in.ConsumeIntegralInRange<size_t>(1, 4096);
  std::vector<size_t> cuts(in.ConsumeIntegralInRange<size_t>(0, 16));
  for (auto& c : cuts)
    c = in.ConsumeIntegralInRange<size_t>(1, 64);
  auto stream = in.ConsumeRemainingBytesAsString();
  auto whole = decode(how, max_frame, stream, {});
  auto pieces = decode(how, max_frame, stream, cuts);
  if (whole.frames != pieces.frames || whole.error != pieces.error) {
    for (auto* o : {&whole, &pieces}) {
      std::fprintf(stderr, "%s: %zu frames, error '%s'\n",
                   o == &whole ? "at once" : "in pieces", o->frames.size(),
                   o->error.c_str());
      for (auto& f : o->frames)
        std::fprintf(stderr, "  frame of %zu bytes\n", f.size());
    }
    std::abort();
  }
  if (how != framing::json_stream && how != framing::lines
      && whole.error.empty()) {
    std::string again;
    for (auto& f : whole.frames)
      if (encode_frame(how, f, again))
        std::abort();
    if (again != stream)
      std::abort();
  }
  return 0;
}

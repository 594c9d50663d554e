// switchboard: an embeddable C++ actor runtime. MIT License.

// Node's IPC channel as a child-process or parent bridge reads it: lines,
// each either one of Node's internal messages, a JSON message, or an error.
// The target checks that no allocation passes max-frame while cutting, that
// is_json gives the standard's answer (nlohmann/json's), and that a line
// that passes is written back out as one line of valid JSON.

#include <algorithm>
#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include <nlohmann/json.hpp>

#include <switchboard/bridges/process/node_channel.hpp>
#include <switchboard/framing.hpp>
#include <switchboard/json_message.hpp>

#include "bounded_allocations.hpp"

using namespace switchboard;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in{data, size};
  auto max_frame = in.ConsumeIntegralInRange<size_t>(1, 4096);
  auto stream = in.ConsumeRemainingBytesAsString();
  frame_decoder dec{framing::lines, max_frame};
  auto on_line = [&](std::string&& line) {
    fuzz::unwatched off;
    bridges::is_node_internal(line);
    bool ok = is_json(line);
    // nlohmann/json 3.11 takes a NUL byte for the end of its input (it
    // accepts "[1]\0garbage"), so it is the standard's answer only
    // without one.
    if (line.find('\0') == std::string::npos
        && ok != nlohmann::json::accept(line)) {
      std::fprintf(stderr, "is_json says %d, nlohmann/json %d\n", ok, !ok);
      std::abort();
    }
    auto out = bridges::node_channel_line(line, "fuzz");
    if (out) {
      if (!ok || out->find('\n') != std::string::npos || !is_json(*out))
        std::abort();
    } else if (ok && !bridges::is_node_internal(line)) {
      std::abort(); // valid JSON that is not Node's own must pass
    }
    return true;
  };
  fuzz::watch w;
  if (!dec.feed(stream.data(), stream.size(), on_line))
    dec.finish(on_line);
  fuzz::check_largest(std::max<size_t>(max_frame + 1, 512), "node IPC lines");
  return 0;
}

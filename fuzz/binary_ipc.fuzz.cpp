// switchboard: an embeddable C++ actor runtime. MIT License.

// The binary IPC channel between two nodes as the receiving side reads it:
// length-prefixed frames, each a kind byte, an id and a CAF-serialized
// message. The target checks that garbage is refused, never trusted: no
// crash, no sanitizer report, and no allocation larger than the frame
// could describe (CAF 0.17 would resize a sequence to any size a frame
// claims).

#include <string>

#include <fuzzer/FuzzedDataProvider.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <switchboard/bridges/process/binary_link.hpp>
#include <switchboard/framing.hpp>
#include <switchboard/json_message.hpp>

#include "bounded_allocations.hpp"

using namespace switchboard;

namespace {

caf::actor_system& system() {
  static caf::actor_system_config cfg = [] {
    caf::actor_system_config c;
    c.add_message_type<json_message>("switchboard::json_message");
    c.set("scheduler.max-threads", 1);
    return c;
  }();
  // Never destroyed: CAF's globals may be gone by the time a static
  // actor_system would be.
  static auto sys = new caf::actor_system{cfg};
  return *sys;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& sys = system();
  FuzzedDataProvider in{data, size};
  auto max_frame = in.ConsumeIntegralInRange<size_t>(9, 65536);
  auto stream = in.ConsumeRemainingBytesAsString();
  frame_decoder dec{framing::length_prefixed, max_frame};
  fuzz::watch w;
  dec.feed(stream.data(), stream.size(), [&](std::string&& frame) {
    bridges::inbound msg;
    fuzz::largest = 0;
    bridges::decode_frame(sys, frame, msg);
    // A sequence may claim one element per bit left; an element of CAF's
    // builtin types takes at most 32 bytes in memory.
    fuzz::check_largest(std::max<size_t>(frame.size() * 8 * 32, 4096),
                        "binary frame");
    return true;
  });
  return 0;
}

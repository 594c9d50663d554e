// switchboard: an embeddable C++ actor runtime. MIT License.

// The config parser and its validation (what `switchboard check` runs) on
// any text: a config typo must be an error with a line, never a crash.

#include <string>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/config.hpp>
#include <switchboard/kinds.hpp>

using namespace switchboard;

namespace {

const kind_registry& kinds() {
  static kind_registry k = [] {
    kind_registry r;
    if (actors::add_builtin_kinds(r, actors::builtin_behaviors()))
      std::abort();
    return r;
  }();
  return k;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{reinterpret_cast<const char*>(data), size};
  auto cfg = node_config::from_string(std::move(text), "fuzz.conf");
  if (!cfg)
    return 0;
  for (auto& e : validate(*cfg, kinds()))
    if (e.line < 0)
      std::abort();
  return 0;
}

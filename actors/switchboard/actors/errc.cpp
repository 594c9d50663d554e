// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/errc.hpp"

#include <caf/message.hpp>

#include <switchboard/errc.hpp>

namespace switchboard::actors {

const char* to_string(errc x) {
  switch (x) {
    case errc::out_of_range: return "out_of_range";
    case errc::misaligned: return "misaligned";
    case errc::not_shareable: return "not_shareable";
    case errc::worker_failed: return "worker_failed";
    case errc::out_of_memory: return "out_of_memory";
    case errc::bad_calculation: return "bad_calculation";
    case errc::unknown_behavior: return "unknown_behavior";
    case errc::buffer_unavailable: return "buffer_unavailable";
  }
  return "unknown_errc";
}

caf::error make_error(errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), errc_category,
                    caf::make_message(std::move(context))};
}

namespace {

// Registers the category with switchboard's renderer when the library loads.
const bool registered = [] {
  add_error_category(errc_category, [](uint8_t code) -> std::string {
    return to_string(static_cast<errc>(code));
  });
  return true;
}();

} // namespace

} // namespace switchboard::actors

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/builtins.hpp"

#include "switchboard/actors/echo.hpp"
#include "switchboard/actors/room.hpp"
#include "switchboard/actors/router.hpp"

namespace switchboard::actors {

caf::error add_builtin_kinds(kind_registry& kinds) {
  for (auto make : {echo_kind, router_kind, room_kind})
    if (auto err = kinds.add(make()))
      return err;
  return caf::none;
}

} // namespace switchboard::actors

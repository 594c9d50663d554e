// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/status.hpp"

#include <nlohmann/json.hpp>

namespace switchboard {

json_message
status_reply(caf::scheduled_actor* self, const char* kind,
             std::vector<std::pair<std::string, std::string>> fields) {
  std::string text = "{\"kind\":" + nlohmann::json(kind).dump()
                     + ",\"mailbox\":" + std::to_string(self->mailbox().size());
  for (auto& [key, value] : fields)
    text += "," + nlohmann::json(key).dump() + ":" + value;
  text += "}";
  return json_message::trusted(std::move(text));
}

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace switchboard::cli {

/// `switchboard status` as a table for a terminal `width` columns wide:
/// one row per actor or bridge (kind, state, mailbox, messages in and out
/// per second, errors, restarts, and for children pid, memory and CPU), a
/// pool as one row (its workers' sum), a topology's nodes under its
/// supervisor. `status` is the JSON the control socket answers.
std::string status_table(const nlohmann::json& status, size_t width);

} // namespace switchboard::cli

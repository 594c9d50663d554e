// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/errc.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

#include <map>
#include <mutex>

namespace switchboard {

const char* to_string(errc x) {
  switch (x) {
    case errc::config_syntax: return "config_syntax";
    case errc::config_unknown_key: return "config_unknown_key";
    case errc::config_wrong_type: return "config_wrong_type";
    case errc::config_missing_key: return "config_missing_key";
    case errc::config_unknown_kind: return "config_unknown_kind";
    case errc::config_duplicate_name: return "config_duplicate_name";
    case errc::config_unknown_actor: return "config_unknown_actor";
    case errc::config_bad_value: return "config_bad_value";
    case errc::invalid_json: return "invalid_json";
    case errc::unknown_actor: return "unknown_actor";
    case errc::no_route: return "no_route";
    case errc::timeout: return "timeout";
    case errc::frame_too_large: return "frame_too_large";
    case errc::io_error: return "io_error";
    case errc::not_running: return "not_running";
    case errc::unexpected_message: return "unexpected_message";
    case errc::name_taken: return "name_taken";
    case errc::bad_message: return "bad_message";
    case errc::already_running: return "already_running";
    case errc::reload_busy: return "reload_busy";
    case errc::child_exited: return "child_exited";
    case errc::queue_full: return "queue_full";
    case errc::no_channel: return "no_channel";
    case errc::remote_error: return "remote_error";
    case errc::node_down: return "node_down";
  }
  return "unknown_errc";
}

caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), errc_category};
}

caf::error make_error(errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), errc_category,
                    caf::make_message(std::move(context))};
}

namespace {

using code_namer = std::string (*)(uint8_t);

std::mutex categories_mtx;

std::map<caf::atom_value, code_namer>& categories() {
  static std::map<caf::atom_value, code_namer> result{
    {errc_category, [](uint8_t code) -> std::string {
       return to_string(static_cast<errc>(code));
     }}};
  return result;
}

code_namer namer_of(caf::atom_value category) {
  std::lock_guard<std::mutex> guard{categories_mtx};
  auto i = categories().find(category);
  return i == categories().end() ? nullptr : i->second;
}

} // namespace

void add_error_category(caf::atom_value category,
                        std::string (*code_name)(uint8_t)) {
  std::lock_guard<std::mutex> guard{categories_mtx};
  categories()[category] = code_name;
}

void register_error_categories(caf::actor_system_config& cfg) {
  std::lock_guard<std::mutex> guard{categories_mtx};
  for (auto& kvp : categories())
    cfg.add_error_category(kvp.first, [](uint8_t code, caf::atom_value cat,
                                         const caf::message& ctx) {
      return render(caf::error{code, cat, ctx});
    });
}

std::string render(const caf::error& err) {
  if (!err)
    return "no error";
  if (auto namer = namer_of(err.category())) {
    std::string result = namer(err.code());
    if (!err.context().empty() && err.context().match_element<std::string>(0)) {
      result += ": ";
      result += err.context().get_as<std::string>(0);
    }
    return result;
  }
  if (err == caf::sec::request_timeout)
    return "timeout: no reply in time";
  if (err == caf::sec::unexpected_message)
    return "unexpected_message: the actor does not accept this message";
  return caf::actor_system_config::render(err);
}

std::string reason_of(const caf::error& err) {
  auto& ctx = err.context();
  if (err.category() == errc_category && ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return render(err);
}

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/buffers.hpp"

#include <map>
#include <memory>
#include <mutex>

#include <caf/settings.hpp>

#include <switchboard/errc.hpp>
#include <switchboard/node.hpp>

namespace switchboard::actors {

section_spec buffers_section() {
  section_spec result{
    "buffers",
    "shared buffers that worker pools and child processes list by name",
    {{"bytes",
      value_type::integer,
      false,
      "the buffer's size, rounded up to whole 64-byte cache lines "
      "(required, except with share = \"parent\")",
      {},
      1},
     {"share",
      value_type::string,
      false,
      "who shares it: \"node\" (default: this node's threads), \"process\" "
      "(also the child processes that list it, through a memfd) or "
      "\"parent\" (the block this node's parent passed under this name)",
      {"node", "process", "parent"}}}};
  result.check = [](const std::string&,
                    const caf::settings& args) -> caf::error {
    auto share = caf::get_or(args, "share", "node");
    auto bytes = caf::get_if<int64_t>(&args, "bytes");
    if (share != "parent" && !bytes)
      return switchboard::make_error(
        switchboard::errc::config_missing_key,
        "bytes is required (only share = \"parent\" takes "
        "the size the parent gave)");
    if (bytes && static_cast<uint64_t>(*bytes) > shared_buffer::max_size)
      return switchboard::make_error(
        switchboard::errc::config_bad_value,
        "bytes may be at most " + std::to_string(shared_buffer::max_size));
    return caf::none;
  };
  return result;
}

namespace {

// The node's named buffers, made on first use.
struct buffer_store {
  std::mutex mtx;
  std::map<std::string, shared_buffer> buffers;
};

caf::expected<shared_buffer> make_named(node& n, const std::string& name) {
  auto value = caf::get_if(&n.config().content(), "buffers." + name);
  auto entry = value != nullptr ? caf::get_if<caf::settings>(value) : nullptr;
  if (entry == nullptr)
    return switchboard::make_error(switchboard::errc::config_unknown_actor,
                                   "no buffer named '" + name
                                     + "' in [buffers]");
  auto share = caf::get_or(*entry, "share", "node");
  auto bytes = caf::get_if<int64_t>(entry, "bytes");
  if (share == "parent") {
    auto buf = shared_buffer::from_parent(name);
    if (buf && bytes && static_cast<size_t>(*bytes) > buf->size())
      return switchboard::make_error(switchboard::errc::config_bad_value,
                                     "buffer '" + name + "': the parent passed "
                                       + std::to_string(buf->size())
                                       + " bytes, fewer than bytes = "
                                       + std::to_string(*bytes));
    return buf;
  }
  if (!bytes || *bytes < 1)
    return switchboard::make_error(switchboard::errc::config_missing_key,
                                   "buffer '" + name + "' has no bytes");
  auto size = static_cast<size_t>(*bytes);
  if (share == "process")
    return shared_buffer::make_process_shared(size, "switchboard." + name);
  return shared_buffer::make(size);
}

} // namespace

caf::expected<shared_buffer> named_buffer(node& n, const std::string& name) {
  auto store = n.shared_state<buffer_store>("switchboard.actors.buffers", [] {
    return std::make_shared<buffer_store>();
  });
  std::lock_guard<std::mutex> guard{store->mtx};
  if (auto i = store->buffers.find(name); i != store->buffers.end())
    return i->second;
  auto buf = make_named(n, name);
  if (buf)
    store->buffers.emplace(name, *buf);
  return buf;
}

} // namespace switchboard::actors

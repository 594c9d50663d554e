// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/registry.hpp"

#include <mutex>

#include <caf/actor_addr.hpp>

#include "switchboard/errc.hpp"

namespace switchboard {

caf::error registry::put(registry_entry entry) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  auto name = entry.name;
  if (!entries_.emplace(name, std::move(entry)).second)
    return make_error(errc::name_taken,
                      "an actor named '" + name + "' exists already");
  return caf::none;
}

caf::actor registry::lookup(const std::string& name) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = entries_.find(name);
  return i == entries_.end() ? caf::actor{} : i->second.handle;
}

std::optional<registry_entry> registry::find(const std::string& name) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = entries_.find(name);
  if (i == entries_.end())
    return std::nullopt;
  return i->second;
}

void registry::erase_if(const std::string& name, const caf::actor_addr& addr) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  auto i = entries_.find(name);
  if (i != entries_.end() && i->second.handle.address() == addr)
    entries_.erase(i);
}

std::vector<registry_entry> registry::list() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  std::vector<registry_entry> result;
  result.reserve(entries_.size());
  for (auto& kvp : entries_)
    result.push_back(kvp.second);
  return result;
}

void registry::clear() {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  entries_.clear();
}

size_t registry::size() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  return entries_.size();
}

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/registry.hpp"

#include <mutex>

#include <caf/abstract_actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>

#include "switchboard/errc.hpp"

namespace switchboard {

namespace {

// An exiting actor's name is erased by a functor attached to it, but CAF
// runs attached functors newest first, so a monitor (or `wait_for`) may hear
// of the exit before the name is gone. CAF marks the actor terminated before
// any of them runs: an entry whose actor is marked counts as gone.
bool alive(const caf::actor& h) {
  auto ptr = caf::actor_cast<caf::abstract_actor*>(h);
  return ptr != nullptr && !ptr->getf(caf::abstract_actor::is_terminated_flag);
}

} // namespace

caf::error registry::put(registry_entry entry) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  auto name = entry.name;
  auto i = entries_.find(name);
  if (i != entries_.end()) {
    if (alive(i->second.handle))
      return make_error(errc::name_taken,
                        "an actor named '" + name + "' exists already");
    entries_.erase(i);
  }
  entries_.emplace(name, std::move(entry));
  return caf::none;
}

caf::actor registry::lookup(const std::string& name) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = entries_.find(name);
  if (i == entries_.end() || !alive(i->second.handle))
    return {};
  return i->second.handle;
}

std::optional<registry_entry> registry::find(const std::string& name) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = entries_.find(name);
  if (i == entries_.end() || !alive(i->second.handle))
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
    if (alive(kvp.second.handle))
      result.push_back(kvp.second);
  return result;
}

void registry::clear() {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  entries_.clear();
}

} // namespace switchboard

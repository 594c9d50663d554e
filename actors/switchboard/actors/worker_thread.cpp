// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/worker_thread.hpp"

#include <atomic>
#include <exception>
#include <limits>
#include <memory>
#include <unordered_map>

#include <caf/actor_pool.hpp>
#include <caf/actor_system.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/errc.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/status.hpp>

#include "switchboard/actors/calculator.hpp"
#include "switchboard/actors/errc.hpp"

namespace switchboard::actors {

namespace {

using worker_actor = json_actor::extend_with<status_actor>;

// Requests in flight per worker, for the least-loaded policy: the pool
// counts a request up when it dispatches it, the worker counts it down when
// it has answered.
// Filled while the pool is built, before anyone can send to it; read-only
// afterwards.
struct pool_load {
  std::vector<std::unique_ptr<std::atomic<int64_t>>> counters;
  std::unordered_map<caf::actor_id, std::atomic<int64_t>*> by_worker;

  std::atomic<int64_t>* of(caf::actor_id id) const {
    auto i = by_worker.find(id);
    return i == by_worker.end() ? nullptr : i->second;
  }
};

struct worker_state {
  worker_context ctx;
  const worker_behavior* fn = nullptr;
  // Keeps the pool's counters alive as long as a worker runs.
  std::shared_ptr<pool_load> pool;
  std::atomic<int64_t>* load = nullptr;
  uint64_t handled = 0;
  uint64_t failed = 0;
};

worker_actor::behavior_type
worker(worker_actor::stateful_pointer<worker_state> self, worker_context ctx,
       const worker_behavior* fn, std::shared_ptr<pool_load> pool) {
  auto& st = self->state;
  st.load = pool->counters.at(ctx.index).get();
  st.pool = std::move(pool);
  st.ctx = std::move(ctx);
  st.fn = fn;
  return {
    [self](json_message& request) -> caf::result<json_message> {
      auto& st = self->state;
      ++st.handled;
      caf::expected<json_message> reply = caf::error{};
      try {
        reply = (*st.fn)(request, st.ctx);
      } catch (const std::exception& e) {
        reply = make_error(errc::worker_failed,
                           st.ctx.pool + "[" + std::to_string(st.ctx.index)
                             + "]: " + e.what());
      } catch (...) {
        reply = make_error(errc::worker_failed,
                           st.ctx.pool + "[" + std::to_string(st.ctx.index)
                             + "]: an exception that is not std::exception");
      }
      if (st.load)
        --*st.load;
      if (!reply) {
        ++st.failed;
        return std::move(reply.error());
      }
      return std::move(*reply);
    },
    [self](status_atom) {
      auto& st = self->state;
      return status_reply(self, "worker-thread",
                          {{"index", std::to_string(st.ctx.index)},
                           {"handled", std::to_string(st.handled)},
                           {"failed", std::to_string(st.failed)}});
    },
  };
}

// Picks the worker with the fewest requests in flight (the first of equals).
caf::actor_pool::policy least_loaded(std::shared_ptr<pool_load> load) {
  return [load](caf::actor_system&, caf::actor_pool::uplock& guard,
                const caf::actor_pool::actor_vec& workers,
                caf::mailbox_element_ptr& ptr, caf::execution_unit* host) {
    size_t best = 0;
    int64_t best_load = std::numeric_limits<int64_t>::max();
    for (size_t i = 0; i < workers.size(); ++i) {
      auto counter = load->of(workers[i].id());
      auto n = counter ? counter->load(std::memory_order_relaxed) : 0;
      if (n < best_load) {
        best = i;
        best_load = n;
      }
    }
    auto selected = workers[best];
    guard.unlock();
    if (ptr->content().match_elements<json_message>())
      if (auto counter = load->of(selected.id()))
        ++*counter;
    selected->enqueue(std::move(ptr), host);
  };
}

// Joins broadcast replies into one JSON array, in the order they arrive; an
// error reply becomes {"error": "..."}.
struct join_replies {
  void operator()(json_message& acc, caf::message& reply) const {
    std::string item;
    if (reply.match_elements<json_message>())
      item = reply.get_as<json_message>(0).text;
    else if (reply.match_elements<caf::error>())
      item = nlohmann::json{{"error", render(reply.get_as<caf::error>(0))}}.dump();
    else
      item = "null";
    acc.text.pop_back(); // the closing ']'
    if (acc.text.size() > 1)
      acc.text += ',';
    acc.text += item;
    acc.text += ']';
  }
};

} // namespace

caf::error behavior_registry::add(const std::string& name, worker_behavior fn) {
  if (!behaviors_.emplace(name, std::move(fn)).second)
    return switchboard::make_error(switchboard::errc::name_taken,
                                   "behaviour '" + name + "' exists already");
  return caf::none;
}

const worker_behavior* behavior_registry::find(const std::string& name) const {
  auto i = behaviors_.find(name);
  return i == behaviors_.end() ? nullptr : &i->second;
}

std::vector<std::string> behavior_registry::names() const {
  std::vector<std::string> result;
  for (auto& kvp : behaviors_)
    result.push_back(kvp.first);
  return result;
}

behavior_registry builtin_behaviors() {
  behavior_registry result;
  result.add("calculator",
             [](const json_message& request, worker_context&) {
               return calculate(request);
             });
  return result;
}

kind_spec worker_thread_kind(behavior_registry behaviors) {
  auto shared = std::make_shared<behavior_registry>(std::move(behaviors));
  kind_spec result;
  result.name = "worker-thread";
  result.doc = "a pool of worker threads running a named behaviour";
  result.keys = {
    {"behavior", value_type::string, true,
     "the behaviour the workers run (registered in C++)", shared->names()},
    {"count", value_type::integer, false,
     "how many workers (threads) the pool has (default 1)", {}, 1},
    {"dispatch", value_type::string, false,
     "how the pool picks a worker (default round-robin)",
     {"round-robin", "least-loaded", "broadcast"}},
  };
  result.factory = [shared](const spawn_context& ctx)
    -> caf::expected<caf::actor> {
    auto name = caf::get_or(ctx.args, "behavior", "");
    auto fn = shared->find(name);
    if (!fn)
      return make_error(errc::unknown_behavior,
                        "no behaviour named '" + name + "'");
    auto count = static_cast<size_t>(caf::get_or(ctx.args, "count", int64_t{1}));
    auto dispatch = caf::get_or(ctx.args, "dispatch", "round-robin");
    auto load = std::make_shared<pool_load>();
    caf::actor_pool::policy policy;
    if (dispatch == "least-loaded")
      policy = least_loaded(load);
    else if (dispatch == "broadcast")
      policy = caf::actor_pool::split_join<json_message>(
        join_replies{}, caf::detail::nop_split{}, json_message::trusted("[]"));
    else
      policy = caf::actor_pool::round_robin();
    auto& sys = ctx.node.system();
    auto pool = caf::actor_pool::make(sys.dummy_execution_unit(), policy);
    // Every counter exists before the first worker starts reading them.
    for (size_t i = 0; i < count; ++i)
      load->counters.emplace_back(std::make_unique<std::atomic<int64_t>>(0));
    for (size_t i = 0; i < count; ++i) {
      auto w = sys.spawn<caf::detached>(worker, worker_context{ctx.name, i}, fn,
                                        load);
      load->by_worker.emplace(w.id(), load->counters[i].get());
      // The pool takes the worker at once, in this thread.
      caf::anon_send(pool, caf::sys_atom::value, caf::put_atom::value,
                     caf::actor_cast<caf::actor>(w));
    }
    return pool;
  };
  return result;
}

} // namespace switchboard::actors

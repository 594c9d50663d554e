// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/worker_thread.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <caf/actor_pool.hpp>
#include <caf/actor_system.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include <switchboard/defaults.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/log.hpp>
#include <switchboard/messages.hpp>
#include <switchboard/node.hpp>
#include <switchboard/restart_policy.hpp>
#include <switchboard/status.hpp>

#include "switchboard/actors/calculator.hpp"
#include "switchboard/actors/errc.hpp"
#include "switchboard/actors/thread_actor.hpp"

namespace switchboard::actors {

namespace {

using worker_actor = json_actor::extend_with<status_actor>;

// Requests in flight per worker, for the least-loaded policy: the pool
// counts a request up when it dispatches it, the worker counts it down when
// it has answered. One counter per worker index (a restarted worker takes
// over its predecessor's, from 0); `by_worker` maps the live workers to them
// and changes when a worker restarts, while senders read it.
struct pool_load {
  std::vector<std::unique_ptr<std::atomic<int64_t>>> counters;
  mutable std::shared_mutex mtx;
  std::unordered_map<caf::actor_id, std::atomic<int64_t>*> by_worker;

  std::atomic<int64_t>* of(caf::actor_id id) const {
    std::shared_lock<std::shared_mutex> guard{mtx};
    auto i = by_worker.find(id);
    return i == by_worker.end() ? nullptr : i->second;
  }

  void assign(caf::actor_id id, size_t index) {
    std::unique_lock<std::shared_mutex> guard{mtx};
    // Requests the previous worker never answered are not in flight.
    counters.at(index)->store(0);
    by_worker[id] = counters.at(index).get();
  }

  void forget(caf::actor_id id) {
    std::unique_lock<std::shared_mutex> guard{mtx};
    by_worker.erase(id);
  }

  // CAF ends an actor nobody holds a handle to; the workers (through this
  // struct) hold the pool's supervisor. It exits with the pool.
  caf::actor supervisor;
};

struct worker_state {
  worker_context ctx;
  caf::actor_addr pool_addr;
  const worker_behavior* fn = nullptr;
  // Keeps the pool's counters alive as long as a worker runs.
  std::shared_ptr<pool_load> pool;
  std::atomic<int64_t>* load = nullptr;
  uint64_t handled = 0;
  uint64_t failed = 0;
};

worker_actor::behavior_type
worker(worker_actor::stateful_pointer<worker_state> self, worker_context ctx,
       caf::actor_addr pool_addr, const worker_behavior* fn,
       std::shared_ptr<pool_load> pool) {
  auto& st = self->state;
  st.pool_addr = std::move(pool_addr);
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
        reply = make_error(errc::worker_failed, st.ctx.pool + "["
                                                  + std::to_string(st.ctx.index)
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
        // A throwing behaviour may have left its state half-changed: the
        // worker leaves the pool (at once: the pool handles this in the
        // sender's thread, so no new request reaches it), answers, then
        // exits with the error, and the supervisor decides on a restart.
        if (is(reply.error(), errc::worker_failed)) {
          if (auto pool = caf::actor_cast<caf::actor>(st.pool_addr))
            caf::anon_send(pool, caf::sys_atom::value, caf::delete_atom::value,
                           caf::actor_cast<caf::actor>(self));
          auto rp = self->make_response_promise<json_message>();
          rp.deliver(reply.error());
          self->quit(reply.error());
          return rp;
        }
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

// A worker on its own thread (thread_actor.hpp): polls its mailbox for
// `spin` after each request, with an optional stack size.
class worker_impl : public thread_actor<
                      caf::stateful_actor<worker_state, worker_actor::base>> {
public:
  worker_impl(caf::actor_config& cfg, thread_options opts, worker_context ctx,
              caf::actor_addr pool_addr, const worker_behavior* fn,
              std::shared_ptr<pool_load> pool)
      : thread_actor(cfg, std::move(opts)), ctx_(std::move(ctx)),
        pool_addr_(std::move(pool_addr)), fn_(fn), pool_(std::move(pool)) {}

  behavior_type make_behavior() override {
    return worker(this, std::move(ctx_), std::move(pool_addr_), fn_,
                  std::move(pool_));
  }

private:
  worker_context ctx_;
  caf::actor_addr pool_addr_;
  const worker_behavior* fn_;
  std::shared_ptr<pool_load> pool_;
};

// -- supervision
// ----------------------------------------------------------------

using deadline_atom = caf::atom_constant<caf::atom("deadline")>;

struct pool_config {
  std::string name;
  std::map<std::string, shared_buffer> buffers;
  const worker_behavior* fn = nullptr;
  std::shared_ptr<pool_load> load;
  restart_policy restart;
  caf::timespan stop_timeout;
  thread_options thread;
  switchboard::node* owner = nullptr;
  // The pool's block: every worker counts into it (null: metrics off).
  actor_metrics* metrics = nullptr;
};

struct supervisor_state {
  pool_config cfg;
  caf::actor pool;
  bool stopping = false;
  struct slot {
    caf::actor_addr worker;
    unsigned restarts = 0;
    restart_tracker tracker;
    std::chrono::steady_clock::time_point started;
  };
  std::vector<slot> slots;
};

using supervisor = caf::stateful_actor<supervisor_state>;

// Spawns the worker for `index` and hands it to the pool.
caf::actor start_worker(caf::actor_system& sys, const pool_config& cfg,
                        const caf::actor& pool, size_t index,
                        unsigned restarts) {
  auto opts = cfg.thread;
  opts.name = "sb." + cfg.name + "." + std::to_string(index);
  auto w = sys.spawn<worker_impl>(
    std::move(opts), worker_context{cfg.name, index, restarts, cfg.buffers},
    pool.address(), cfg.fn, cfg.load);
  cfg.load->assign(w.id(), index);
  auto h = caf::actor_cast<caf::actor>(w);
  attach_metrics(h, cfg.metrics);
  caf::anon_send(pool, caf::sys_atom::value, caf::put_atom::value, h);
  return h;
}

// Sends an urgent kill (ahead of the mailbox) to every worker still alive.
void kill_workers(supervisor* self) {
  for (auto& slot : self->state.slots)
    if (auto h = caf::actor_cast<caf::strong_actor_ptr>(slot.worker))
      h->enqueue(nullptr, caf::make_message_id(caf::message_priority::high),
                 caf::make_message(
                   caf::exit_msg{self->address(), caf::exit_reason::kill}),
                 nullptr);
}

bool all_down(supervisor* self) {
  auto& xs = self->state.slots;
  return std::all_of(xs.begin(), xs.end(),
                     [](auto& slot) { return !slot.worker; });
}

// Watches the workers of one pool. When the pool exits (they are linked),
// the workers drain their mailboxes (the pool passed the exit on); those
// still running after `[node] stop-timeout` are killed, then the
// supervisor exits.
caf::behavior supervise(supervisor* self, pool_config cfg, caf::actor pool,
                        std::vector<caf::actor> workers) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.pool = std::move(pool);
  self->link_to(st.pool);
  self->set_exit_handler([self](caf::exit_msg&) {
    auto& st = self->state;
    if (st.stopping)
      return;
    st.stopping = true;
    if (all_down(self)) {
      self->quit();
      return;
    }
    self->delayed_send(self, st.cfg.stop_timeout, deadline_atom::value);
  });
  auto now = std::chrono::steady_clock::now();
  for (auto& w : workers) {
    self->monitor(w);
    st.slots.push_back({w.address(), 0, restart_tracker{st.cfg.restart}, now});
  }
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    auto i = std::find_if(st.slots.begin(), st.slots.end(),
                          [&](auto& s) { return s.worker == dm.source; });
    if (i == st.slots.end())
      return;
    auto index = static_cast<size_t>(i - st.slots.begin());
    st.cfg.load->forget(dm.source.id());
    i->worker = caf::actor_addr{};
    if (st.stopping) {
      if (all_down(self))
        self->quit();
      return;
    }
    // The pool stopping takes its workers along: nothing to restart.
    if (dm.reason == caf::exit_reason::user_shutdown
        || dm.reason == caf::exit_reason::kill)
      return;
    bool failed = dm.reason && dm.reason != caf::exit_reason::normal;
    auto who = st.cfg.name + "[" + std::to_string(index) + "]";
    auto d = i->tracker.next(
      failed, std::chrono::steady_clock::now() - i->started, render(dm.reason));
    if (d.action == restart_decision::stay_stopped) {
      st.cfg.owner->log(log_level::warn, st.cfg.name,
                        who + " exited (" + render(dm.reason) + "); restart = "
                          + (st.cfg.restart.mode == restart_mode::never
                               ? "never"
                               : "on-failure")
                          + ": the pool goes on without it");
      return;
    }
    if (d.action == restart_decision::give_up) {
      st.cfg.owner->log(log_level::error, st.cfg.name,
                        who + " gave up: " + d.reason
                          + "; the pool goes on without it");
      return;
    }
    if (st.cfg.metrics != nullptr)
      st.cfg.metrics->restarts.fetch_add(1, std::memory_order_relaxed);
    st.cfg.owner->log(
      log_level::warn, st.cfg.name,
      who + " exited (" + render(dm.reason) + "); restarting in "
        + std::to_string(
          std::chrono::duration_cast<std::chrono::milliseconds>(d.delay)
            .count())
        + " ms");
    self->delayed_send(self, d.delay, restart_atom::value, index);
  });
  return {
    [self](deadline_atom) {
      auto& st = self->state;
      st.cfg.owner->log(log_level::warn, st.cfg.name,
                        "workers did not finish in time; "
                        "killing them");
      kill_workers(self);
      self->quit();
    },
    [self](restart_atom, size_t index) {
      auto& st = self->state;
      if (st.stopping)
        return;
      auto& slot = st.slots.at(index);
      ++slot.restarts;
      slot.started = std::chrono::steady_clock::now();
      auto w = start_worker(self->home_system(), st.cfg, st.pool, index,
                            slot.restarts);
      slot.worker = w.address();
      self->monitor(w);
    },
  };
}

// -- time limits --------------------------------------------------------------

// Stands in front of a pool whose config sets `timeout`: a request the pool
// does not answer in time gets a timeout error (the worker goes on with it;
// a thread cannot be interrupted). Linked to the pool: they exit together.
caf::behavior timed_front(caf::event_based_actor* self, caf::actor pool,
                          caf::timespan timeout, std::string name) {
  self->link_to(pool);
  auto ms = std::to_string(
    std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  return {
    [=](json_message& m) -> caf::result<json_message> {
      auto rp = self->make_response_promise<json_message>();
      self->request(caf::actor_cast<json_actor>(pool), timeout, std::move(m))
        .then([rp](json_message& r) mutable { rp.deliver(std::move(r)); },
              [rp, name, ms](caf::error& e) mutable {
                if (e == caf::sec::request_timeout)
                  e = switchboard::make_error(
                    switchboard::errc::timeout,
                    "'" + name + "' did not answer within " + ms + " ms");
                rp.deliver(std::move(e));
              });
      return rp;
    },
    [=](status_atom x) { return self->delegate(pool, x); },
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

// Answers one broadcast request: asks every worker (as requests, so a
// worker that exits with the request still queued answers with an error
// instead of dropping it) and replies with the JSON array of their answers,
// in the order they came; an error becomes {"error": "..."}.
caf::behavior collect(caf::event_based_actor* self,
                      caf::actor_pool::actor_vec workers) {
  return {[=](json_message& m) -> caf::result<json_message> {
    auto rp = self->make_response_promise<json_message>();
    auto acc = std::make_shared<std::string>("[");
    auto left = std::make_shared<size_t>(workers.size());
    auto add = [=](std::string item) mutable {
      if (acc->size() > 1)
        *acc += ',';
      *acc += item;
      if (--*left == 0) {
        *acc += ']';
        rp.deliver(json_message::trusted(std::move(*acc)));
        self->quit();
      }
    };
    for (auto& w : workers)
      self->request(caf::actor_cast<json_actor>(w), caf::infinite, m)
        .then([add](json_message& r) mutable { add(std::move(r.text)); },
              [add](caf::error& e) mutable {
                add(nlohmann::json{{"error", render(e)}}.dump());
              });
    return rp;
  }};
}

// Sends each JSON request to every worker through a collector of its own;
// anything else (status) goes to the first worker.
caf::actor_pool::policy broadcast_requests() {
  return [](caf::actor_system& sys, caf::actor_pool::uplock& guard,
            const caf::actor_pool::actor_vec& workers,
            caf::mailbox_element_ptr& ptr, caf::execution_unit* host) {
    auto copy = workers;
    guard.unlock();
    if (ptr->content().match_elements<json_message>())
      sys.spawn(collect, std::move(copy))->enqueue(std::move(ptr), host);
    else
      copy.front()->enqueue(std::move(ptr), host);
  };
}

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
  result.add("calculator", [](const json_message& request, worker_context&) {
    return calculate(request);
  });
  return result;
}

namespace {

// A worker thread restarts in milliseconds, so its delays start shorter
// than a child process's.
restart_policy pool_restart_defaults() {
  restart_policy p;
  p.delay = std::chrono::milliseconds(10);
  p.max_delay = std::chrono::seconds(2);
  p.reset_after = std::chrono::seconds(2);
  return p;
}

} // namespace

kind_spec worker_thread_kind(behavior_registry behaviors) {
  auto shared = std::make_shared<behavior_registry>(std::move(behaviors));
  kind_spec result;
  result.name = "worker-thread";
  result.doc = "a pool of worker threads running a named behaviour";
  result.keys = {
    {"behavior", value_type::string, true,
     "the behaviour the workers run (registered in C++)", shared->names()},
    {"count",
     value_type::integer,
     false,
     "how many workers (threads) the pool has (default 1)",
     {},
     1},
    {"dispatch",
     value_type::string,
     false,
     "how the pool picks a worker (default round-robin)",
     {"round-robin", "least-loaded", "broadcast"}},
    {"buffers",
     value_type::string_list,
     false,
     "the [buffers] entries the workers share",
     {},
     std::nullopt,
     "buffers"},
    {"timeout", value_type::timespan, false,
     "how long a request may take before the requester gets a timeout "
     "error (default: no limit)"},
    {"spin", value_type::timespan, false,
     "how long an idle worker keeps polling for the next request before "
     "it sleeps (default 20us; 0 sleeps at once)"},
    {"stack-size",
     value_type::integer,
     false,
     "each worker thread's stack in bytes (default: the system's, "
     "usually 8 MiB)",
     {},
     16384},
  };
  for (auto& k :
       restart_policy::keys("a worker that exited", pool_restart_defaults()))
    result.keys.push_back(std::move(k));
  result.factory =
    [shared](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto name = caf::get_or(ctx.args, "behavior", "");
    auto fn = shared->find(name);
    if (!fn)
      return make_error(errc::unknown_behavior,
                        "no behaviour named '" + name + "'");
    auto count =
      static_cast<size_t>(caf::get_or(ctx.args, "count", int64_t{1}));
    auto dispatch = caf::get_or(ctx.args, "dispatch", "round-robin");
    auto load = std::make_shared<pool_load>();
    caf::actor_pool::policy policy;
    if (dispatch == "least-loaded")
      policy = least_loaded(load);
    else if (dispatch == "broadcast")
      policy = broadcast_requests();
    else
      policy = caf::actor_pool::round_robin();
    pool_config cfg;
    cfg.name = ctx.name;
    if (auto names =
          caf::get_if<std::vector<std::string>>(&ctx.args, "buffers"))
      for (auto& b : *names) {
        auto buf = named_buffer(ctx.node, b);
        if (!buf)
          return std::move(buf.error());
        cfg.buffers.emplace(b, std::move(*buf));
      }
    cfg.fn = fn;
    cfg.load = load;
    auto restart =
      restart_policy::from(ctx.args, ctx.name, pool_restart_defaults());
    if (!restart)
      return std::move(restart.error());
    cfg.restart = *restart;
    cfg.owner = &ctx.node;
    cfg.metrics = ctx.metrics;
    cfg.thread.spin =
      caf::get_or(ctx.args, "spin", caf::timespan{defaults::worker_spin});
    cfg.thread.stack_size =
      static_cast<size_t>(caf::get_or(ctx.args, "stack-size", int64_t{0}));
    cfg.stop_timeout =
      caf::get_or(ctx.node.config().content(), "node.stop-timeout",
                  caf::timespan{defaults::stop_timeout});
    auto& sys = ctx.node.system();
    auto pool = caf::actor_pool::make(sys.dummy_execution_unit(), policy);
    // Every counter exists before the first worker starts reading them.
    for (size_t i = 0; i < count; ++i)
      load->counters.emplace_back(std::make_unique<std::atomic<int64_t>>(0));
    // The pool takes each worker at once, in this thread, so it never
    // answers a request without workers.
    std::vector<caf::actor> workers;
    for (size_t i = 0; i < count; ++i)
      workers.push_back(start_worker(sys, cfg, pool, i, 0));
    load->supervisor =
      sys.spawn(supervise, std::move(cfg), pool, std::move(workers));
    if (auto timeout = caf::get_if<caf::timespan>(&ctx.args, "timeout"))
      return sys.spawn(timed_front, pool, *timeout, ctx.name);
    return pool;
  };
  return result;
}

} // namespace switchboard::actors

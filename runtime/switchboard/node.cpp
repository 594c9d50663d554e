// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/node.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <condition_variable>
#include <csignal>
#include <future>
#include <cstdio>
#include <mutex>
#include <map>
#include <set>
#include <thread>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/after.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <uv.h>

#include "switchboard/defaults.hpp"
#include "switchboard/errc.hpp"
#include "switchboard/io_loop.hpp"
#include "switchboard/messages.hpp"
#include "switchboard/metered.hpp"
#include "switchboard/log.hpp"
#include "switchboard/metrics.hpp"
#include "switchboard/wiring.hpp"
#include "switchboard/registry.hpp"
#include "switchboard/remote.hpp"
#include "switchboard/scheduler.hpp"

namespace switchboard {

namespace {

// The CAF config every node's actor system starts from.
class system_config : public caf::actor_system_config {
public:
  system_config() {
    add_message_type<json_message>("switchboard::json_message");
    register_error_categories(*this);
  }
};

bool is_caf_section(const std::string& name) {
  return name != "node" && name != "actors" && name != "bridges";
}

std::string join_errors(const std::vector<config_error>& errors) {
  std::string result;
  for (auto& e : errors) {
    if (!result.empty())
      result += "\n";
    result += e.to_string();
  }
  return result;
}

} // namespace

class node::impl {
public:
  enum class state { idle, running, stopping, stopped };

  explicit impl(node_config cfg)
      : cfg_(std::move(cfg)), name_(cfg_.node_name()), metrics_(name_),
        metrics_on_(caf::get_or(cfg_.content(), "node.metrics", true)),
        log_(name_,
             parse_log_level(caf::get_or(cfg_.content(), "node.log-level",
                                         std::string{"info"}))
               .value_or(log_level::info),
             caf::get_or(cfg_.content(), "node.log-format", std::string{})
                 == "json"
               ? log_format::json
               : log_format::text) {}

  node_config cfg_;
  std::string name_;
  metrics_registry metrics_;
  bool metrics_on_;
  kind_registry kinds_;
  switchboard::registry registry_;
  std::unique_ptr<system_config> sys_cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<io_loop> loop_;

  mutable node_log log_;

  std::mutex stop_mtx_;
  mutable std::mutex state_mtx_;
  std::condition_variable state_cv_;
  state state_ = state::idle;
  bool stop_requested_ = false;

  // Loop thread only.
  int signals_seen_ = 0;

  std::mutex shared_mtx_;
  std::map<std::string, std::shared_ptr<void>> shared_;

  // The peer manager, while the node runs in a topology (remote.hpp).
  mutable std::mutex peers_mtx_;
  caf::actor peers_;

  // Configs a reload applied, kept until the node goes: config() hands out
  // references. `current_` is the one that runs (null: cfg_).
  std::vector<std::unique_ptr<node_config>> reloaded_;
  std::atomic<const node_config*> current_{nullptr};
  // One reload at a time; the thread of reload_in_background.
  std::mutex reload_mtx_;
  std::mutex reloader_mtx_;
  std::thread reloader_;
  std::atomic<bool> reloading_{false};

  ~impl() {
    if (reloader_.joinable())
      reloader_.join();
  }

  caf::actor peers() const {
    std::lock_guard<std::mutex> guard{peers_mtx_};
    return peers_;
  }
};

node::node(node_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

node::~node() {
  stop();
}

namespace {

// The names of `section` in the order they start: an entry after the
// entries it wires to (keys of an actor_ref type), so that an actor that
// sends at once (a child's first events) finds its targets; otherwise
// by name. Cycles (routers may wire to each other) start in name order.
std::vector<std::string> start_order(const caf::settings& section,
                                     const kind_registry& kinds) {
  std::vector<std::string> order;
  std::set<std::string> seen;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    if (!seen.insert(name).second)
      return;
    auto i = section.find(name);
    auto entry = caf::get_if<caf::settings>(&i->second);
    auto kind = entry ? caf::get_if<std::string>(entry, "kind") : nullptr;
    auto spec = kind ? kinds.find(*kind) : nullptr;
    if (spec != nullptr)
      for (auto& r : wired_names(*spec, *entry))
        if (section.find(r) != section.end())
          visit(r);
    order.push_back(name);
  };
  for (auto& kvp : section)
    visit(kvp.first);
  return order;
}

// Updates the metrics' rates once a second, on the loop thread.
void start_metrics_tick(io_loop& loop, metrics_registry& metrics) {
  loop.post([&loop, &metrics] {
    auto timer = new uv_timer_t;
    uv_timer_init(loop.native(), timer);
    timer->data = &metrics;
    uv_timer_start(
      timer,
      [](uv_timer_t* t) { static_cast<metrics_registry*>(t->data)->tick(); },
      1000, 1000);
    loop.on_stop([timer] {
      uv_close(reinterpret_cast<uv_handle_t*>(timer),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    });
  });
}

} // namespace

caf::error node::start() {
  auto& d = *impl_;
  {
    std::lock_guard<std::mutex> guard{d.state_mtx_};
    if (d.state_ != impl::state::idle)
      return make_error(errc::already_running, "a node starts only once");
  }
  if (auto errors = validate(d.cfg_, d.kinds_); !errors.empty())
    return make_error(errors.front().code, join_errors(errors));
  // Writing to a socket whose peer left must be an error, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  d.sys_cfg_ = std::make_unique<system_config>();
  for (auto& fn : d.kinds_.system_hooks())
    fn(*d.sys_cfg_);
  apply_scheduler_defaults(*d.sys_cfg_);
  bool in_topology = remote::enabled(d.cfg_.content());
  if (in_topology)
    remote::configure(*d.sys_cfg_, d.cfg_.content());
  for (auto& [section, value] : d.cfg_.content()) {
    if (!is_caf_section(section) || d.kinds_.sections().count(section) > 0)
      continue;
    if (auto xs = caf::get_if<caf::settings>(&value))
      for (auto& [key, val] : *xs)
        d.sys_cfg_->set(section + "." + key, val);
  }
  d.sys_ = std::make_unique<caf::actor_system>(*d.sys_cfg_);
  d.loop_ = std::make_unique<io_loop>();
  d.loop_->attach(*d.sys_);
  d.loop_->set_spin(caf::get_or(d.cfg_.content(), "node.io-spin",
                                caf::timespan{defaults::io_spin}));
  d.loop_->start();
  if (d.metrics_on_)
    start_metrics_tick(*d.loop_, d.metrics_);
  {
    std::lock_guard<std::mutex> guard{d.state_mtx_};
    d.state_ = impl::state::running;
  }
  log("starting with " + d.cfg_.file() + " ("
      + describe_scheduler(d.sys_->config()) + ")");
  if (in_topology) {
    auto mgr = remote::start(*this);
    if (mgr)
      if (auto err = add(remote::manager_name, *mgr, "peers",
                         kind_section::actors, false))
        mgr = std::move(err);
    if (!mgr) {
      auto err = std::move(mgr.error());
      log(log_level::error, {}, "cannot join the topology: " + render(err));
      stop();
      return err;
    }
    std::lock_guard<std::mutex> guard{d.peers_mtx_};
    d.peers_ = *mgr;
  }
  for (auto section : {"actors", "bridges"}) {
    auto xs =
      caf::get_if<caf::settings>(&d.cfg_.content(), std::string{section});
    if (!xs)
      continue;
    for (auto& name : start_order(*xs, d.kinds_)) {
      auto& args = caf::get<caf::settings>(xs->find(name)->second);
      auto kind = caf::get<std::string>(args, "kind");
      if (auto h = spawn_entry(name, kind, args, false); !h) {
        auto err = std::move(h.error());
        log(log_level::error, name, "cannot start: " + render(err));
        stop();
        return err;
      }
    }
  }
  return caf::none;
}

caf::expected<caf::actor> node::spawn(const std::string& name,
                                      const std::string& kind,
                                      caf::settings args) {
  return spawn_entry(name, kind, std::move(args), true);
}

caf::expected<caf::actor> node::spawn_entry(const std::string& name,
                                            const std::string& kind,
                                            caf::settings args,
                                            bool validate_args) {
  auto& d = *impl_;
  if (!running())
    return make_error(errc::not_running, "the node is not running");
  if (d.registry_.lookup(name))
    return make_error(errc::name_taken,
                      "an actor named '" + name + "' exists already");
  auto spec = d.kinds_.find(kind);
  if (!spec)
    return make_error(errc::config_unknown_kind,
                      "no kind named '" + kind + "'");
  args["kind"] = kind;
  if (validate_args) {
    // Check the entry as if it stood in a config file, knowing the names
    // that are registered now.
    node_config entry_cfg;
    auto section = spec->section == kind_section::actors ? "actors" : "bridges";
    caf::put(entry_cfg.content(), std::string{section} + "." + name, args);
    // Entries may name entries of library sections such as [buffers].
    for (auto& kvp : d.kinds_.sections())
      if (auto xs = caf::get_if(&config().content(), kvp.first))
        entry_cfg.content()[kvp.first] = *xs;
    std::vector<std::string> known;
    for (auto& e : d.registry_.list())
      known.push_back(e.name);
    if (auto errors = validate(entry_cfg, d.kinds_, known); !errors.empty())
      return make_error(errors.front().code, join_errors(errors));
  }
  auto block = d.metrics_on_ ? d.metrics_.block(name, kind) : nullptr;
  auto h = spec->factory(spawn_context{*this, name, std::move(args), block});
  if (!h)
    return h;
  attach_metrics(*h, block);
  registry_entry entry{name, kind, spec->section, spec->accepts_json, *h};
  if (auto err = d.registry_.put(std::move(entry))) {
    caf::anon_send_exit(*h, caf::exit_reason::user_shutdown);
    return err;
  }
  // The name goes away with the actor.
  (*h)->attach_functor([reg = &d.registry_, name, addr = h->address()] {
    reg->erase_if(name, addr);
  });
  log(log_level::info, name, "started (" + kind + ")");
  return h;
}

// -- reloading the config -----------------------------------------------------

namespace {

// Stops the registered actor `name` as the node's stop does (an exit that
// queues behind its mailbox, so it drains; a child process is stopped
// gracefully) and waits until it is gone, killing it after `wait`.
caf::error stop_entry(caf::actor_system& sys, registry& reg,
                      const std::string& name, caf::timespan wait) {
  auto h = reg.lookup(name);
  if (!h)
    return caf::none;
  bool down = false;
  {
    caf::scoped_actor self{sys};
    self->monitor(h);
    self->send_exit(h, caf::exit_reason::user_shutdown);
    self->receive([&](const caf::down_msg&) { down = true; },
                  caf::after(caf::duration{wait}) >> [] {});
    if (!down) {
      self->send_exit(h, caf::exit_reason::kill);
      self->receive([&](const caf::down_msg&) { down = true; },
                    caf::after(std::chrono::seconds(5)) >> [] {});
    }
  }
  // Its name is free at once for what replaces it (the actor's own
  // cleanup would free it too, a moment later).
  reg.erase_if(name, h.address());
  if (!down)
    return make_error(errc::timeout, "did not stop");
  return caf::none;
}

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

caf::expected<reload_plan> node::reload(const std::string& file, bool apply) {
  auto& d = *impl_;
  std::unique_lock<std::mutex> one{d.reload_mtx_, std::try_to_lock};
  if (!one.owns_lock())
    return make_error(errc::reload_busy, "a reload is under way");
  if (!running())
    return make_error(errc::not_running, "the node is not running");
  auto& now = config();
  auto path = file.empty() ? now.file() : file;
  auto next = node_config::from_file(path);
  if (!next)
    return std::move(next.error());
  if (auto err = next->apply_overrides(now.overrides()))
    return err;
  if (auto errors = validate(*next, d.kinds_); !errors.empty())
    return make_error(errors.front().code, join_errors(errors));
  std::vector<std::string> live;
  for (auto& e : d.registry_.list())
    live.push_back(e.name);
  auto plan = plan_reload(now.content(), next->content(), live);
  if (!apply)
    return plan;
  log("reloading " + path + ": " + std::to_string(plan.added.size())
      + " to start, " + std::to_string(plan.changed.size()) + " to restart, "
      + std::to_string(plan.removed.size()) + " to stop, "
      + std::to_string(plan.unchanged.size()) + " unchanged");
  for (auto& key : plan.needs_restart)
    log(log_level::warn, {},
        "reload: " + key
          + " changed; it takes effect when the node starts "
            "again");
  // A child process may take its kill-timeout to stop; one that takes far
  // longer is killed.
  auto wait = caf::timespan{std::chrono::seconds(30)};
  auto fail = [&](const std::string& key, const caf::error& err) {
    plan.failed.push_back(key + ": " + render(err));
    log(log_level::error, key.substr(key.find('.') + 1),
        "reload: " + render(err));
  };
  // What the file drops goes first, bridges before actors and each
  // section in the reverse of its start order, as the node stops.
  for (auto section : {"bridges", "actors"}) {
    auto xs = caf::get_if<caf::settings>(&now.content(), std::string{section});
    if (!xs)
      continue;
    auto order = start_order(*xs, d.kinds_);
    for (auto i = order.rbegin(); i != order.rend() && running(); ++i) {
      auto key = std::string{section} + "." + *i;
      if (!contains(plan.removed, key))
        continue;
      if (auto err = stop_entry(*d.sys_, d.registry_, *i, wait))
        fail(key, err);
      else
        log(log_level::info, *i, "stopped (reload)");
    }
  }
  // What needs a restart keeps running as it is: the sections a reload
  // does not apply keep their values, and a buffer that changed its size.
  // (caf::dictionary has no erase: what stays is copied.)
  caf::settings kept;
  for (auto& [section, value] : next->content())
    if (section == "actors" || section == "bridges" || section == "buffers"
        || now.content().count(section) > 0)
      kept[section] = value;
  auto& content = next->content();
  content = std::move(kept);
  for (auto& [section, value] : now.content()) {
    if (section == "actors" || section == "bridges")
      continue;
    if (section != "buffers") {
      content[section] = value;
      continue;
    }
    auto old = caf::get_if<caf::settings>(&value);
    auto fresh = caf::get_if<caf::settings>(&content, std::string{"buffers"});
    caf::settings merged = old ? *old : caf::settings{};
    if (fresh)
      for (auto& [name, entry] : *fresh)
        if (merged.count(name) == 0)
          merged[name] = entry;
    content["buffers"] = std::move(merged);
  }
  // From here on the node runs the new config: what starts now reads it
  // (a new [buffers] entry).
  d.reloaded_.push_back(std::make_unique<node_config>(std::move(*next)));
  auto& cfg = *d.reloaded_.back();
  d.current_.store(&cfg, std::memory_order_release);
  for (auto section : {"actors", "bridges"}) {
    auto xs = caf::get_if<caf::settings>(&cfg.content(), std::string{section});
    if (!xs)
      continue;
    for (auto& name : start_order(*xs, d.kinds_)) {
      if (!running())
        break; // the node stops: it starts nothing more
      auto key = std::string{section} + "." + name;
      bool changed = contains(plan.changed, key);
      if (!changed && !contains(plan.added, key))
        continue;
      if (changed)
        if (auto err = stop_entry(*d.sys_, d.registry_, name, wait)) {
          fail(key, err);
          continue;
        }
      auto& args = caf::get<caf::settings>(xs->find(name)->second);
      auto kind = caf::get<std::string>(args, "kind");
      auto h = spawn_entry(name, kind, args, false);
      if (!h) {
        fail(key, h.error());
        continue;
      }
      // A supervisor of processes is ready before the next entry goes, so
      // that a pool of children restarts one at a time.
      if (kind == "child-process" || kind == "cluster") {
        caf::scoped_actor self{*d.sys_};
        self->request(*h, std::chrono::seconds(60), start_atom::value)
          .receive([](caf::ok_atom) {},
                   [&](caf::error& err) { fail(key, err); });
      }
    }
  }
  log("reloaded " + path
      + (plan.failed.empty()
           ? std::string{}
           : " (" + std::to_string(plan.failed.size()) + " failed)"));
  return plan;
}

void node::reload_in_background(
  std::string file, bool apply,
  std::function<void(caf::expected<reload_plan>)> done) {
  auto& d = *impl_;
  if (d.reloading_.exchange(true)) {
    done(make_error(errc::reload_busy, "a reload is under way"));
    return;
  }
  std::lock_guard<std::mutex> guard{d.reloader_mtx_};
  if (!running()) {
    d.reloading_ = false;
    done(make_error(errc::not_running, "the node is stopping"));
    return;
  }
  // The last reload's thread has finished its work (reloading_ was false).
  if (d.reloader_.joinable())
    d.reloader_.join();
  d.reloader_ =
    std::thread{[this, file = std::move(file), apply, done = std::move(done)] {
      auto result = reload(file, apply);
      done(std::move(result));
      impl_->reloading_ = false;
    }};
}

caf::error node::add(const std::string& name, caf::actor handle,
                     std::string kind, kind_section section,
                     bool accepts_json) {
  auto& d = *impl_;
  if (!handle)
    return make_error(errc::bad_message, "cannot add an invalid handle");
  if (d.metrics_on_)
    attach_metrics(handle, d.metrics_.block(name, kind));
  registry_entry entry{name, std::move(kind), section, accepts_json, handle};
  if (auto err = d.registry_.put(std::move(entry)))
    return err;
  handle->attach_functor([reg = &d.registry_, name, addr = handle.address()] {
    reg->erase_if(name, addr);
  });
  return caf::none;
}

caf::actor node::lookup(const std::string& name) const {
  auto& d = *impl_;
  std::string node_name;
  std::string actor_name;
  if (!remote::split_address(name, node_name, actor_name))
    return d.registry_.lookup(name);
  if (node_name == d.name_)
    return actor_name.find('/') == std::string::npos
             ? d.registry_.lookup(actor_name)
             : caf::actor{};
  if (auto h = d.registry_.lookup(name))
    return h;
  auto mgr = d.peers();
  if (!mgr || node_name.empty() || actor_name.empty() || !running())
    return {};
  // The first lookup of an address makes its remote reference; a second
  // thread that raced this one finds the first's in the registry.
  auto self = const_cast<node*>(this);
  auto ref = remote::make_ref(*self, mgr, name);
  if (self->add(name, ref, "remote", kind_section::actors, true)) {
    caf::anon_send_exit(ref, caf::exit_reason::user_shutdown);
    return d.registry_.lookup(name);
  }
  return ref;
}

std::optional<registry_entry> node::entry(const std::string& name) const {
  std::string node_name;
  std::string actor_name;
  if (remote::split_address(name, node_name, actor_name)) {
    if (node_name == impl_->name_)
      return impl_->registry_.find(actor_name);
    if (!lookup(name))
      return std::nullopt;
  }
  return impl_->registry_.find(name);
}

caf::actor node::lookup(const std::string& name, caf::actor& cache) const {
  if (name.empty())
    return {};
  if (!cache || cache->getf(caf::abstract_actor::is_terminated_flag))
    cache = lookup(name);
  return cache;
}

bool node::send_event(const std::string& events, caf::actor& cache,
                      std::string text) const {
  auto to = lookup(events, cache);
  if (!to)
    return false;
  caf::anon_send(caf::actor_cast<json_actor>(to),
                 json_message::trusted(std::move(text)));
  return true;
}

void node::stop() {
  auto& d = *impl_;
  // Held throughout, so a second caller returns only once the node stopped.
  std::lock_guard<std::mutex> stopping{d.stop_mtx_};
  {
    std::lock_guard<std::mutex> guard{d.state_mtx_};
    if (d.state_ != impl::state::running)
      return;
    d.state_ = impl::state::stopping;
  }
  {
    // A reload under way finds the node stopping between two entries and
    // ends; none starts after this (reload_in_background checks under the
    // same lock).
    std::lock_guard<std::mutex> guard{d.reloader_mtx_};
    if (d.reloader_.joinable())
      d.reloader_.join();
  }
  using clock = std::chrono::steady_clock;
  auto timeout = caf::get_or(d.cfg_.content(), "node.stop-timeout",
                             caf::timespan{defaults::stop_timeout});
  auto deadline = clock::now() + timeout;
  auto remaining = [&] {
    auto left = deadline - clock::now();
    return caf::duration{std::max(left, clock::duration{0})};
  };
  auto entries = d.registry_.list();
  {
    caf::scoped_actor self{*d.sys_};
    for (auto& e : entries)
      self->monitor(e.handle);
    // Bridges first: no new work comes in while the rest drains. An exit
    // message queues behind everything already in a mailbox (CAF delivers
    // it with normal priority), so each actor works through what it has and
    // then exits; whatever reaches it later bounces back to its sender as an
    // error.
    for (auto& e : entries)
      if (e.section == kind_section::bridges)
        self->send_exit(e.handle, caf::exit_reason::user_shutdown);
    for (auto& e : entries)
      if (e.section == kind_section::actors)
        self->send_exit(e.handle, caf::exit_reason::user_shutdown);
    std::set<caf::actor_addr> down;
    bool timed_out = false;
    while (down.size() < entries.size() && !timed_out)
      self->receive([&](const caf::down_msg& dm) { down.insert(dm.source); },
                    caf::after(remaining()) >> [&] { timed_out = true; });
    if (timed_out) {
      // Whatever has not drained by now is killed: an urgent exit goes
      // ahead of its mailbox. One stuck in a computation ends when that
      // returns; the actor system waits for it.
      for (auto& e : entries) {
        if (down.count(e.handle.address()) > 0)
          continue;
        log(log_level::warn, e.name, "did not drain in time; killing it");
        caf::actor_cast<caf::strong_actor_ptr>(e.handle)->enqueue(
          nullptr, caf::make_message_id(caf::message_priority::high),
          caf::make_message(
            caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill}),
          nullptr);
      }
    }
  }
  d.registry_.clear();
  {
    std::lock_guard<std::mutex> guard{d.peers_mtx_};
    d.peers_ = nullptr;
  }
  d.loop_->stop();
  if (d.loop_->close_result() != 0)
    log(log_level::warn, {},
        "io loop closed with status "
          + std::to_string(d.loop_->close_result()));
  // The system's destructor waits for every remaining actor.
  d.sys_.reset();
  log("stopped");
  std::lock_guard<std::mutex> guard{d.state_mtx_};
  d.state_ = impl::state::stopped;
  d.stop_requested_ = true;
  d.state_cv_.notify_all();
}

void node::request_stop() {
  auto& d = *impl_;
  std::lock_guard<std::mutex> guard{d.state_mtx_};
  d.stop_requested_ = true;
  d.state_cv_.notify_all();
}

void node::wait_for_stop_request() {
  auto& d = *impl_;
  std::unique_lock<std::mutex> guard{d.state_mtx_};
  d.state_cv_.wait(guard, [&] { return d.stop_requested_; });
}

bool node::wait_for_stop_request(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  std::unique_lock<std::mutex> guard{d.state_mtx_};
  return d.state_cv_.wait_for(guard, timeout,
                              [&] { return d.stop_requested_; });
}

caf::error node::handle_signals() {
  auto& d = *impl_;
  if (!running())
    return make_error(errc::not_running, "start the node first");
  // Install on the loop thread, and return only once installed: a signal
  // that arrives after this call must find the handlers.
  std::promise<caf::error> installed;
  auto posted = d.loop_->post([this, &d, &installed] {
    // SIGHUP reloads the config file, as daemons do.
    auto hup = new uv_signal_t;
    uv_signal_init(d.loop_->native(), hup);
    hup->data = this;
    d.loop_->on_stop([hup] {
      uv_close(reinterpret_cast<uv_handle_t*>(hup), [](uv_handle_t* h) {
        delete reinterpret_cast<uv_signal_t*>(h);
      });
    });
    uv_signal_start(
      hup,
      [](uv_signal_t* h, int) {
        auto self = static_cast<node*>(h->data);
        self->log("reloading on SIGHUP");
        self->reload_in_background(
          "", true, [self](caf::expected<reload_plan> result) {
            if (!result)
              self->log(log_level::error, {},
                        "reload refused, nothing changed: "
                          + render(result.error()));
          });
      },
      SIGHUP);
    for (int signum : {SIGINT, SIGTERM}) {
      auto handle = new uv_signal_t;
      if (auto rc = uv_signal_init(d.loop_->native(), handle); rc != 0) {
        delete handle;
        installed.set_value(make_error(
          errc::io_error, std::string{"uv_signal_init: "} + uv_err_name(rc)));
        return;
      }
      handle->data = this;
      d.loop_->on_stop([handle] {
        uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) {
          delete reinterpret_cast<uv_signal_t*>(h);
        });
      });
      auto rc = uv_signal_start(
        handle,
        [](uv_signal_t* h, int sig) {
          auto self = static_cast<node*>(h->data);
          if (++self->impl_->signals_seen_ > 1) {
            self->log(log_level::warn, {},
                      std::string{"second signal ("} + strsignal(sig)
                        + "): exiting now");
            std::_Exit(128 + sig);
          }
          self->log(std::string{"stopping on "} + strsignal(sig));
          self->request_stop();
        },
        signum);
      if (rc != 0) {
        installed.set_value(make_error(
          errc::io_error, std::string{"uv_signal_start: "} + uv_err_name(rc)));
        return;
      }
    }
    installed.set_value(caf::none);
  });
  if (!posted)
    return make_error(errc::not_running, "the io loop is not running");
  return installed.get_future().get();
}

bool node::running() const noexcept {
  std::lock_guard<std::mutex> guard{impl_->state_mtx_};
  return impl_->state_ == impl::state::running;
}

kind_registry& node::kinds() noexcept {
  return impl_->kinds_;
}

registry& node::registry() noexcept {
  return impl_->registry_;
}

const node_config& node::config() const noexcept {
  auto p = impl_->current_.load(std::memory_order_acquire);
  return p != nullptr ? *p : impl_->cfg_;
}

const std::string& node::name() const noexcept {
  return impl_->name_;
}

caf::actor_system& node::system() {
  return *impl_->sys_;
}

io_loop& node::loop() {
  return *impl_->loop_;
}

metrics_registry& node::metrics() noexcept {
  return impl_->metrics_;
}

bool node::metrics_enabled() const noexcept {
  return impl_->metrics_on_;
}

std::chrono::milliseconds node::request_timeout() const {
  auto t = caf::get_or(impl_->cfg_.content(), "node.request-timeout",
                       caf::timespan{defaults::request_timeout});
  return std::chrono::duration_cast<std::chrono::milliseconds>(t);
}

std::shared_ptr<void>
node::shared_state_impl(const std::string& key,
                        const std::function<std::shared_ptr<void>()>& make) {
  auto& d = *impl_;
  std::lock_guard<std::mutex> guard{d.shared_mtx_};
  auto& slot = d.shared_[key];
  if (!slot)
    slot = make();
  return slot;
}

void node::log(const std::string& line) const {
  impl_->log_.write(log_level::info, {}, line);
}

void node::log(log_level level, const std::string& actor,
               const std::string& text) const {
  impl_->log_.write(level, actor, text);
}

const node_log& node::logs() const noexcept {
  return impl_->log_;
}

} // namespace switchboard

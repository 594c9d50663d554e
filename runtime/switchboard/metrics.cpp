// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/metrics.hpp"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <unistd.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace switchboard {

int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

namespace {

// Whether fast_stamp can read the TSC directly: where the kernel keeps
// time with it, or where the CPU says its TSC is invariant (constant_tsc
// and nonstop_tsc: one rate, in step across cores, on through sleep
// states). A virtual machine's kernel often keeps time with its
// hypervisor's clock (kvm-clock) although the TSC is invariant; reading
// that clock twice per message cost a quarter of a one-way message here.
bool tsc_is_clock() {
#if defined(__x86_64__)
  {
    std::ifstream in{"/sys/devices/system/clocksource/clocksource0/"
                     "current_clocksource"};
    std::string name;
    if (in >> name && name == "tsc")
      return true;
  }
  std::ifstream in{"/proc/cpuinfo"};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0)
      continue;
    // The first CPU's flags stand for all of them.
    line += ' ';
    return line.find(" constant_tsc ") != std::string::npos
           && line.find(" nonstop_tsc ") != std::string::npos;
  }
  return false;
#else
  return false;
#endif
}

// Nanoseconds per TSC tick, measured against the steady clock (2 ms).
double measure_ns_per_tick() {
#if defined(__x86_64__)
  auto t0 = now_ns();
  auto c0 = __rdtsc();
  while (now_ns() - t0 < 2'000'000) {
  }
  auto t1 = now_ns();
  auto c1 = __rdtsc();
  return static_cast<double>(t1 - t0) / static_cast<double>(c1 - c0);
#else
  return 1.0;
#endif
}

// Asked once, on first use (not at every program's start-up); the tick's
// length is known before any stamp is taken in ticks.
bool use_tsc() {
  static const bool result = [] {
    auto yes = tsc_is_clock();
    if (yes) {
      auto ns_per_tick = measure_ns_per_tick();
      detail::ns_per_tick.store(ns_per_tick, std::memory_order_relaxed);
      for (size_t i = 0; i < histogram::bounds_ns.size(); ++i)
        detail::bounds_ticks[i] = static_cast<uint64_t>(
          static_cast<double>(histogram::bounds_ns[i]) / ns_per_tick);
    }
    detail::tsc_clock.store(yes ? 1 : 0, std::memory_order_release);
    return yes;
  }();
  return result;
}

} // namespace

std::atomic<int> detail::tsc_clock{-1};
std::atomic<double> detail::ns_per_tick{1.0};
std::array<uint64_t, 22> detail::bounds_ticks = histogram::bounds_ns;

namespace {

// Which `sharded_counter` slots a thread holds now (bit i: slot i).
std::mutex counter_slots_mtx;
uint32_t counter_slots_taken = 0;

// Gives a thread's slot back when the thread ends. From then on, what the
// thread still counts (in later thread-local destructors) goes to the
// shared slot.
struct counter_slot_owner {
  uint32_t slot = 0;
  ~counter_slot_owner() {
    detail::counter_slot = sharded_counter::slots;
    if (slot == 0)
      return;
    std::lock_guard<std::mutex> guard{counter_slots_mtx};
    counter_slots_taken &= ~(1u << (slot - 1));
  }
};

} // namespace

thread_local uint32_t detail::counter_slot = 0;

uint32_t detail::pick_counter_slot() noexcept {
  // The lock orders a slot's last plain store by the thread that gave it
  // back before the first load of the thread that takes it.
  uint32_t slot = sharded_counter::slots;
  {
    std::lock_guard<std::mutex> guard{counter_slots_mtx};
    for (uint32_t i = 0; i + 1 < sharded_counter::slots; ++i)
      if ((counter_slots_taken & (1u << i)) == 0) {
        counter_slots_taken |= 1u << i;
        slot = i + 1;
        break;
      }
  }
  if (slot < sharded_counter::slots) {
    static thread_local counter_slot_owner owner;
    owner.slot = slot;
  }
  counter_slot = slot;
  return slot;
}

uint64_t detail::slow_stamp() noexcept {
#if defined(__x86_64__)
  if (use_tsc())
    return __rdtsc();
#endif
  return static_cast<uint64_t>(now_ns());
}

process_stats read_process(int64_t pid) {
  auto dir =
    pid == 0 ? std::string{"/proc/self"} : "/proc/" + std::to_string(pid);
  process_stats result;
  {
    std::ifstream in{dir + "/statm"};
    int64_t size = 0;
    int64_t resident = 0;
    if (in >> size >> resident)
      result.rss_bytes = resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
  }
  std::ifstream in{dir + "/stat"};
  std::string line;
  std::getline(in, line);
  // The name in parentheses may hold spaces: count fields after it.
  auto rp = line.rfind(')');
  if (rp == std::string::npos || rp + 2 > line.size())
    return result;
  std::istringstream rest{line.substr(rp + 2)};
  std::string field;
  double ticks = 0;
  // Fields after the name: state is the 3rd; utime and stime the 14th, 15th.
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i == 14 || i == 15)
      ticks += std::strtod(field.c_str(), nullptr);
  result.cpu_seconds = ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  return result;
}

const char* to_string(drop_reason x) {
  switch (x) {
    case drop_reason::overflow: return "overflow";
    case drop_reason::oversize: return "oversize";
    case drop_reason::undelivered: return "undelivered";
  }
  return "?";
}

histogram::snapshot histogram::read() const noexcept {
  snapshot result;
  uint64_t total = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    result.cumulative[i] = total;
  }
  auto sum = sum_ticks_.load(std::memory_order_relaxed);
  result.sum_ns = detail::tsc_clock.load(std::memory_order_acquire) == 1
                    ? static_cast<uint64_t>(
                      static_cast<double>(sum)
                      * detail::ns_per_tick.load(std::memory_order_relaxed))
                    : sum;
  return result;
}

uint64_t histogram::count() const noexcept {
  uint64_t total = 0;
  for (auto& b : buckets_)
    total += b.load(std::memory_order_relaxed);
  return total;
}

int64_t actor_metrics::mailbox_depth() const noexcept {
  // Read what is done first: the difference can then only come out high,
  // never below zero, while messages flow.
  auto done = processed() + dead_letters.load(std::memory_order_relaxed);
  auto in = received.load(std::memory_order_relaxed);
  return in > done ? static_cast<int64_t>(in - done) : 0;
}

std::pair<double, double> actor_metrics::rates() const {
  auto in_rate = in_per_s.load(std::memory_order_relaxed);
  auto out_rate = out_per_s.load(std::memory_order_relaxed);
  if (auto then = last_tick_ns_.load(); then != 0) {
    auto secs = (now_ns() - then) / 1e9;
    if (secs >= 0.25) {
      in_rate =
        (received.load(std::memory_order_relaxed) - last_in_.load()) / secs;
      out_rate =
        (sent.load(std::memory_order_relaxed) - last_out_.load()) / secs;
    }
  }
  return {in_rate, out_rate};
}

uint64_t actor_metrics::dropped_total() const noexcept {
  uint64_t total = 0;
  for (auto& d : dropped)
    total += d.load(std::memory_order_relaxed);
  return total;
}

bool actor_metrics::start_trace(std::shared_ptr<trace_sink> sink) {
  std::shared_ptr<trace_sink> none;
  if (!std::atomic_compare_exchange_strong(&tracer_, &none, std::move(sink)))
    return false;
  traced.store(true, std::memory_order_release);
  return true;
}

void actor_metrics::end_trace(const trace_sink* sink) {
  auto cur = std::atomic_load(&tracer_);
  if (cur.get() != sink)
    return;
  traced.store(false, std::memory_order_release);
  std::atomic_compare_exchange_strong(&tracer_, &cur,
                                      std::shared_ptr<trace_sink>{});
}

metrics_registry::metrics_registry(std::string node_name)
    : node_(std::move(node_name)), started_ns_(now_ns()) {}

actor_metrics* metrics_registry::block(const std::string& name,
                                       const std::string& kind) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& slot = blocks_[name];
  if (!slot)
    slot = std::make_unique<actor_metrics>(name, kind);
  return slot.get();
}

void metrics_registry::tick() {
  auto now = now_ns();
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& kvp : blocks_) {
    auto& m = *kvp.second;
    auto in = m.received.load(std::memory_order_relaxed);
    auto out = m.sent.load(std::memory_order_relaxed);
    auto then = m.last_tick_ns_.load(std::memory_order_relaxed);
    if (then != 0) {
      auto secs = (now - then) / 1e9;
      m.in_per_s.store((in - m.last_in_.load()) / secs,
                       std::memory_order_relaxed);
      m.out_per_s.store((out - m.last_out_.load()) / secs,
                        std::memory_order_relaxed);
    }
    m.last_in_.store(in);
    m.last_out_.store(out);
    m.last_tick_ns_.store(now);
  }
}

std::vector<metrics_registry::edge_count> metrics_registry::edges() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<edge_count> result;
  for (auto& kvp : blocks_)
    for (auto& e : kvp.second->edges)
      if (auto to = e.to.load(std::memory_order_acquire))
        result.push_back(
          {kvp.first, to->name, e.count.load(std::memory_order_relaxed)});
  return result;
}

actor_metrics* metrics_registry::find(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = blocks_.find(name);
  return i == blocks_.end() ? nullptr : i->second.get();
}

peer_metrics* metrics_registry::peer(const std::string& name) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& slot = peers_[name];
  if (!slot)
    slot = std::make_unique<peer_metrics>();
  return slot.get();
}

namespace {

// A label value with `\`, `"` and line breaks escaped.
std::string escape(const std::string& x) {
  std::string result;
  result.reserve(x.size());
  for (auto c : x) {
    if (c == '\\')
      result += "\\\\";
    else if (c == '"')
      result += "\\\"";
    else if (c == '\n')
      result += "\\n";
    else
      result += c;
  }
  return result;
}

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}

// Builds the text one family at a time: HELP and TYPE once, then samples.
class writer {
public:
  explicit writer(std::string node) : node_("node=\"" + escape(node) + "\"") {}

  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP switchboard_";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE switchboard_";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  // One sample; `labels` are extra `k="v"` pairs, already escaped.
  void sample(const char* name, const std::string& labels,
              const std::string& value) {
    out_ += "switchboard_";
    out_ += name;
    out_ += '{';
    out_ += node_;
    if (!labels.empty()) {
      out_ += ',';
      out_ += labels;
    }
    out_ += "} ";
    out_ += value;
    out_ += '\n';
  }

  std::string take() {
    return std::move(out_);
  }

private:
  std::string node_;
  std::string out_;
};

std::string actor_labels(const actor_metrics& m) {
  return "actor=\"" + escape(m.name) + "\",kind=\"" + escape(m.kind) + "\"";
}

} // namespace

std::string metrics_registry::prometheus() const {
  std::vector<const actor_metrics*> blocks;
  std::vector<std::pair<std::string, const peer_metrics*>> peers;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& kvp : blocks_)
      if (kvp.second->attached.load(std::memory_order_relaxed))
        blocks.push_back(kvp.second.get());
    for (auto& kvp : peers_)
      peers.emplace_back(kvp.first, kvp.second.get());
  }
  writer w{node_};
  auto now = now_ns();
  // The node itself.
  auto self = read_process(0);
  w.family("node_uptime_seconds", "gauge", "Seconds since the node started.");
  w.sample("node_uptime_seconds", "", number((now - started_ns_) / 1e9));
  w.family("node_resident_memory_bytes", "gauge",
           "Resident memory of the node's process.");
  w.sample("node_resident_memory_bytes", "", std::to_string(self.rss_bytes));
  w.family("node_cpu_seconds_total", "counter",
           "CPU time (user and system) of the node's process.");
  w.sample("node_cpu_seconds_total", "", number(self.cpu_seconds));
  // Counters of every actor.
  struct counter {
    const char* name;
    const char* help;
    const std::atomic<uint64_t> actor_metrics::*field;
  };
  w.family("messages_received_total", "counter",
           "Messages put in the actor's mailbox.");
  for (auto m : blocks)
    w.sample("messages_received_total", actor_labels(*m),
             std::to_string(m->received.load()));
  static const counter counters[] = {
    {"messages_sent_total", "Messages the actor sent to other actors.",
     &actor_metrics::sent},
    {"received_bytes_total", "Bytes a bridge read from the outside.",
     &actor_metrics::bytes_in},
    {"sent_bytes_total", "Bytes a bridge wrote to the outside.",
     &actor_metrics::bytes_out},
    {"errors_total", "Error replies the actor sent and bad input it met.",
     &actor_metrics::errors},
    {"dead_letters_total",
     "Messages the actor never handled: left in its mailbox when it ended, "
     "or arrived after.",
     &actor_metrics::dead_letters},
    {"restarts_total", "Restarts under the actor's restart policy.",
     &actor_metrics::restarts},
  };
  for (auto& c : counters) {
    w.family(c.name, "counter", c.help);
    for (auto m : blocks)
      w.sample(c.name, actor_labels(*m),
               std::to_string((m->*c.field).load(std::memory_order_relaxed)));
  }
  w.family("messages_processed_total", "counter",
           "Messages the actor handled.");
  for (auto m : blocks)
    w.sample("messages_processed_total", actor_labels(*m),
             std::to_string(m->processed()));
  w.family("dropped_total", "counter",
           "Messages or datagrams dropped, by reason (overflow, oversize, "
           "undelivered).");
  for (auto m : blocks)
    for (size_t i = 0; i < drop_reasons; ++i)
      w.sample("dropped_total",
               actor_labels(*m) + ",reason=\""
                 + to_string(static_cast<drop_reason>(i)) + "\"",
               std::to_string(m->dropped[i].load(std::memory_order_relaxed)));
  w.family("mailbox_depth", "gauge", "Messages waiting in the mailbox.");
  for (auto m : blocks)
    w.sample("mailbox_depth", actor_labels(*m),
             std::to_string(m->mailbox_depth()));
  w.family("connections", "gauge", "Open connections of a bridge.");
  for (auto m : blocks)
    w.sample("connections", actor_labels(*m),
             std::to_string(m->connections.load(std::memory_order_relaxed)));
  // Histograms.
  auto hist = [&](const char* name, const char* help,
                  const histogram actor_metrics::*field) {
    w.family(name, "histogram", help);
    std::string base = std::string{name};
    auto bucket = base + "_bucket";
    auto sum = base + "_sum";
    auto count = base + "_count";
    for (auto m : blocks) {
      auto labels = actor_labels(*m);
      auto snap = (m->*field).read();
      for (size_t i = 0; i < histogram::bounds_ns.size(); ++i)
        w.sample(bucket.c_str(),
                 labels + ",le=\"" + number(histogram::bounds_ns[i] / 1e9)
                   + "\"",
                 std::to_string(snap.cumulative[i]));
      w.sample(bucket.c_str(), labels + ",le=\"+Inf\"",
               std::to_string(snap.cumulative.back()));
      w.sample(sum.c_str(), labels, number(snap.sum_ns / 1e9));
      w.sample(count.c_str(), labels, std::to_string(snap.cumulative.back()));
    }
  };
  hist("processing_seconds",
       "Time the actor spent on one message (of a burst, one in 8).",
       &actor_metrics::processing);
  hist("request_duration_seconds",
       "Time from a request the actor sent to its answer.",
       &actor_metrics::requests);
  // Children.
  std::vector<const actor_metrics*> children;
  for (auto m : blocks)
    if (m->pid.load(std::memory_order_relaxed) >= 0)
      children.push_back(m);
  if (!children.empty()) {
    std::vector<std::pair<int64_t, process_stats>> stats;
    for (auto m : children) {
      auto pid = m->pid.load(std::memory_order_relaxed);
      stats.emplace_back(pid, pid > 0 ? read_process(pid) : process_stats{});
    }
    w.family("child_up", "gauge", "Whether the child process runs.");
    for (size_t i = 0; i < children.size(); ++i)
      w.sample("child_up", actor_labels(*children[i]),
               stats[i].first > 0 ? "1" : "0");
    w.family("child_pid", "gauge", "The child's pid, 0 while it is down.");
    for (size_t i = 0; i < children.size(); ++i)
      w.sample("child_pid", actor_labels(*children[i]),
               std::to_string(stats[i].first));
    w.family("child_uptime_seconds", "gauge",
             "Seconds since the child last started, 0 while it is down.");
    for (size_t i = 0; i < children.size(); ++i) {
      auto started = children[i]->started_ns.load(std::memory_order_relaxed);
      w.sample("child_uptime_seconds", actor_labels(*children[i]),
               number(stats[i].first > 0 ? (now - started) / 1e9 : 0.0));
    }
    w.family("child_resident_memory_bytes", "gauge",
             "Resident memory of the child process.");
    for (size_t i = 0; i < children.size(); ++i)
      w.sample("child_resident_memory_bytes", actor_labels(*children[i]),
               std::to_string(stats[i].second.rss_bytes));
    w.family("child_cpu_seconds", "gauge",
             "CPU time (user and system) of the running child process.");
    for (size_t i = 0; i < children.size(); ++i)
      w.sample("child_cpu_seconds", actor_labels(*children[i]),
               number(stats[i].second.cpu_seconds));
  }
  // Peers.
  if (!peers.empty()) {
    w.family("peer_up", "gauge", "Whether the peer node is connected.");
    for (auto& [name, p] : peers)
      w.sample("peer_up", "peer=\"" + escape(name) + "\"",
               p->up.load(std::memory_order_relaxed) ? "1" : "0");
    w.family("peer_round_trip_seconds", "gauge",
             "The last heartbeat round trip to the peer node.");
    for (auto& [name, p] : peers)
      w.sample("peer_round_trip_seconds", "peer=\"" + escape(name) + "\"",
               number(p->round_trip_ns.load(std::memory_order_relaxed) / 1e9));
  }
  return w.take();
}

} // namespace switchboard

// switchboard: an embeddable C++ actor runtime. MIT License.

// Resource limits for child processes through cgroup v2: a directory per
// child under the node's own cgroup, with cpu.max, memory.max and
// pids.max, which the child joins before it execs (spawn_spec::cgroup).
//
// A cgroup may enable controllers for its children only while it holds no
// processes itself (the root excepted), so the node first moves itself
// into a leaf of its own cgroup (`node`), then enables the controllers the
// limits need and makes one cgroup per child beside it. Where that cannot
// be done (no cgroup v2, a cgroup the node may not write, a controller
// that cgroup v1 holds), `make` says exactly why, naming the directory.
//
// Usage (on the loop thread, as spawn is):
// ~~~
// cgroup_limits limits;
// limits.memory_max = 256 << 20;
// auto cg = child_cgroup::make("job", limits);   // or the reason
// spec.cgroup = cg->path();                        // the child joins it
// ... after the child exited:
// if (cg->oom_kills() > 0) ...                     // killed by memory.max
// ~~~

#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/expected.hpp>

namespace switchboard::bridges {

/// What a child may use; 0 or empty: no limit.
struct cgroup_limits {
  /// CPU as a share of one core (0.5: half a core; 2: two cores).
  double cpus = 0;
  /// Memory in bytes (memory.max): past it the kernel reclaims, then kills.
  int64_t memory_max = 0;
  /// Processes and threads (pids.max): past it fork and clone fail.
  int64_t pids_max = 0;

  bool any() const noexcept {
    return cpus > 0 || memory_max > 0 || pids_max > 0;
  }
};

/// One child's cgroup, removed (once empty) when the last handle goes.
class child_cgroup {
public:
  /// Makes the cgroup `name` under the node's own and writes `limits` to
  /// it. Fails with `errc::io_error` and the reason when cgroup v2 is not
  /// there, not writable or lacks a controller the limits need.
  static caf::expected<std::shared_ptr<child_cgroup>>
  make(const std::string& name, const cgroup_limits& limits);

  ~child_cgroup();

  child_cgroup(const child_cgroup&) = delete;
  child_cgroup& operator=(const child_cgroup&) = delete;

  /// The cgroup's directory.
  const std::string& path() const noexcept {
    return path_;
  }

  /// How many processes of the cgroup the kernel killed for memory.max
  /// since it was made (memory.events, `oom_kill`).
  uint64_t oom_kills() const;

private:
  explicit child_cgroup(std::string path) : path_(std::move(path)) {}

  std::string path_;
};

/// `cpu.max` for `cpus` cores: "QUOTA PERIOD" in microseconds.
std::string cpu_max_text(double cpus);

} // namespace switchboard::bridges

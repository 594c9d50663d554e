// switchboard: an embeddable C++ actor runtime. MIT License.

// A node for a benchmark: started from config text with the built-in
// kinds; a node that cannot start ends the program with the reason.

#pragma once

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/errc.hpp>
#include <switchboard/node.hpp>

namespace switchboard::bench {

/// Starts a node on the config `text`, with the built-in kinds running
/// `behaviors`; `more_kinds` adds the program's own kinds. With
/// SWITCHBOARD_BENCH_METRICS=off the node does not count (`[node] metrics
/// = false`).
inline std::unique_ptr<node>
start_node(const std::string& text,
           actors::behavior_registry behaviors = actors::builtin_behaviors(),
           const std::function<void(kind_registry&)>& more_kinds = {}) {
  auto fail = [&](const caf::error& err) {
    std::fprintf(stderr, "%s\n", render(err).c_str());
    std::exit(1);
  };
  auto cfg = node_config::from_string(text, "bench.conf");
  if (!cfg)
    fail(cfg.error());
  // SWITCHBOARD_BENCH_METRICS=off: the same figures from nodes that do not
  // count, to compare with a run that does.
  if (auto m = std::getenv("SWITCHBOARD_BENCH_METRICS");
      m != nullptr && std::string{m} == "off")
    if (auto err = cfg->apply_overrides({"--node.metrics=false"}))
      fail(err);
  auto nd = std::make_unique<node>(std::move(*cfg));
  if (auto err = actors::add_builtin_kinds(nd->kinds(), std::move(behaviors)))
    fail(err);
  if (more_kinds)
    more_kinds(nd->kinds());
  if (auto err = nd->start())
    fail(err);
  return nd;
}

} // namespace switchboard::bench

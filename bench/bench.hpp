// switchboard: an embeddable C++ actor runtime. MIT License.

// What every benchmark program shares: a clock, a bounded run and one JSON
// line per figure on stdout, which bench/run.js collects into a table.

#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>
#include <cstdlib>
#include <string>

#include <sys/resource.h>

namespace switchboard::bench {

using clock = std::chrono::steady_clock;

/// Prints one figure: `{"bench":..,"impl":..,"value":..,"unit":..}`.
inline void report(const std::string& bench, const std::string& impl,
                   double value, const std::string& unit) {
  std::printf(
    "{\"bench\":\"%s\",\"impl\":\"%s\",\"value\":%.1f,\"unit\":\"%s\"}\n",
    bench.c_str(), impl.c_str(), value, unit.c_str());
  std::fflush(stdout);
}

/// Operations per second of `n` operations that took `elapsed`.
inline double per_second(size_t n, clock::duration elapsed) {
  return static_cast<double>(n)
         / std::chrono::duration<double>(elapsed).count();
}

/// The count given in $SWITCHBOARD_BENCH_SCALE (a factor, default 1) times
/// `n`: CI and quick runs use a smaller scale.
inline size_t scaled(size_t n) {
  auto s = std::getenv("SWITCHBOARD_BENCH_SCALE");
  auto f = s ? std::atof(s) : 1.0;
  return static_cast<size_t>(static_cast<double>(n) * (f > 0 ? f : 1.0));
}

/// The median of `xs` (rates of repeated rounds; the machine is noisy).
inline double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs.empty() ? 0.0 : xs[xs.size() / 2];
}

// CPU time of the whole process (every thread), user and system.
inline std::chrono::microseconds cpu_time() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return std::chrono::seconds(tv.tv_sec)
           + std::chrono::microseconds(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

} // namespace switchboard::bench

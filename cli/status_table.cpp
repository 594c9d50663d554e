// switchboard: an embeddable C++ actor runtime. MIT License.

#include "status_table.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace switchboard::cli {

namespace {

using json = nlohmann::json;
using row = std::vector<std::string>;

std::string num(const json& x) {
  if (x.is_number_integer())
    return std::to_string(x.get<int64_t>());
  if (x.is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f", x.get<double>());
    return buf;
  }
  if (x.is_string())
    return x.get<std::string>();
  if (x.is_boolean())
    return x.get<bool>() ? "yes" : "no";
  return "-";
}

// 12345678 -> "11.8M"
std::string bytes(const json& x) {
  if (!x.is_number())
    return "-";
  auto v = x.get<double>();
  char buf[32];
  if (v >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof(buf), "%.1fG", v / (1024.0 * 1024 * 1024));
  else if (v >= 1024.0 * 1024)
    std::snprintf(buf, sizeof(buf), "%.1fM", v / (1024.0 * 1024));
  else
    std::snprintf(buf, sizeof(buf), "%.0fK", v / 1024.0);
  return buf;
}

// A rate per second, short: 12, 3.4k, 1.2M.
std::string rate(const json& x) {
  if (!x.is_number())
    return "-";
  auto v = x.get<double>();
  char buf[32];
  if (v >= 1e6)
    std::snprintf(buf, sizeof(buf), "%.1fM", v / 1e6);
  else if (v >= 1e4)
    std::snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  return buf;
}

const json& field(const json& x, const char* key) {
  static const json none;
  if (!x.is_object())
    return none;
  auto i = x.find(key);
  return i == x.end() ? none : *i;
}

} // namespace

std::string status_table(const json& status, size_t width) {
  std::vector<row> rows{{"NAME", "KIND", "STATE", "MAILBOX", "IN/S", "OUT/S",
                         "ERRORS", "RESTARTS", "PID", "RSS", "CPU%", "CONNS"}};
  for (auto& a : field(status, "actors")) {
    auto& st = field(a, "status");
    auto& m = field(a, "metrics");
    std::string state = "up";
    if (!field(st, "error").is_null())
      state = "error";
    else if (field(st, "state").is_string())
      state = field(st, "state").get<std::string>();
    auto pick = [&](const char* metric, const char* status_key) {
      auto& x = field(m, metric);
      return num(x.is_null() ? field(st, status_key) : x);
    };
    auto conns = field(m, "connections");
    if (conns.is_null() || conns == 0)
      conns = field(st, "connections");
    rows.push_back({num(field(a, "name")), num(field(a, "kind")), state,
                    pick("mailbox", "mailbox"), rate(field(m, "in_per_s")),
                    rate(field(m, "out_per_s")), num(field(m, "errors")),
                    pick("restarts", "restarts"), num(field(st, "pid")),
                    bytes(field(st, "rss")), num(field(st, "cpu")),
                    num(conns)});
    // A topology's supervisor: its nodes under it.
    for (auto& n : field(st, "nodes"))
      rows.push_back({"  " + num(field(n, "node")), "node",
                      field(n, "ready") == true ? "ready" : "starting", "-",
                      "-", "-", "-", num(field(n, "restarts")),
                      num(field(n, "pid")), "-", "-", "-"});
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i)
      widths[i] = std::max(widths[i], r[i].size());
  // Too wide for the terminal: the names and kinds give way first (to 8
  // characters), then whole columns, the least telling first.
  std::vector<bool> shown(widths.size(), true);
  auto total = [&] {
    size_t sum = 0;
    for (size_t i = 0; i < widths.size(); ++i)
      if (shown[i])
        sum += widths[i] + 2;
    return sum - 2;
  };
  for (size_t col : {0u, 1u}) {
    if (total() <= width)
      break;
    auto cut = std::min(total() - width, widths[col] > 8 ? widths[col] - 8 : 0);
    widths[col] -= cut;
  }
  // CONNS, CPU%, RSS, OUT/S, ERRORS, RESTARTS, PID, MAILBOX
  for (size_t col : {11u, 10u, 9u, 5u, 6u, 7u, 8u, 3u}) {
    if (total() <= width)
      break;
    shown[col] = false;
  }
  std::string out;
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      if (!shown[i])
        continue;
      auto cell = r[i];
      if (cell.size() > widths[i])
        cell = cell.substr(0, widths[i] - 1) + "~";
      // Text left, numbers right.
      bool left = i < 3;
      auto pad = std::string(widths[i] - cell.size(), ' ');
      line += left ? cell + pad : pad + cell;
      line += "  ";
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out += line + "\n";
  }
  return out;
}

} // namespace switchboard::cli

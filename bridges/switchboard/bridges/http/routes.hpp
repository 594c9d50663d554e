// switchboard: an embeddable C++ actor runtime. MIT License.

// The `http` bridge's routes: a method, a path pattern with parameters
// (`/users/:id`) and a trailing wildcard (`/files/*`), and the actor that
// answers. Matching is pure, so it is tested on its own.

#pragma once

#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <caf/settings.hpp>
#include <caf/timespan.hpp>

namespace switchboard::bridges::http {

/// One `routes` entry.
struct route {
  /// Upper case; empty for any method.
  std::string method;
  /// As written, e.g. "/users/:id".
  std::string path;
  /// The path's segments; ":name" is a parameter.
  std::vector<std::string> segments;
  /// Ends in "/*": the rest of the path is parameter "*".
  bool wildcard = false;
  /// The actor that answers.
  std::string to;
  caf::timespan timeout{0};
  /// `deliver = "request"`: {method, path, params, query, headers, body};
  /// else the body alone.
  bool deliver_request = false;
  /// Headers beyond the standard ones to put in a delivered request
  /// (lower case).
  std::vector<std::string> headers;
};

/// What `match` found.
struct route_match {
  /// The route, or null.
  const route* found = nullptr;
  /// The path's parameters, in order.
  std::vector<std::pair<std::string, std::string>> params;
  /// When no route has the method but some have the path: their methods,
  /// for a 405's `Allow`.
  std::vector<std::string> allowed;
};

/// Reads one entry of `routes`; `index` and `bridge` name it in errors.
/// `timeout` is the default.
caf::expected<route> read_route(const caf::config_value& entry,
                                const std::string& bridge, size_t index,
                                caf::timespan timeout);

/// The first route with this method and a pattern that matches `path`
/// (a decoded path without its query).
route_match match(const std::vector<route>& routes, const std::string& method,
                  const std::string& path);

} // namespace switchboard::bridges::http

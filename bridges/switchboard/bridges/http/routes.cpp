// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/http/routes.hpp"

#include <algorithm>
#include <cctype>

#include <switchboard/errc.hpp>

namespace switchboard::bridges::http {

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> result;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string::npos)
      j = path.size();
    result.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return result;
}

const char* known_methods[] = {"GET",    "POST", "PUT",    "PATCH",
                               "DELETE", "HEAD", "OPTIONS"};

} // namespace

caf::expected<route> read_route(const caf::config_value& entry,
                                const std::string& bridge, size_t index,
                                caf::timespan timeout) {
  auto where = bridge + ": routes[" + std::to_string(index) + "]";
  auto bad = [&](const std::string& why) {
    return make_error(errc::config_bad_value, where + ": " + why);
  };
  auto map = caf::get_if<caf::settings>(&entry);
  if (map == nullptr)
    return bad("expected { method = \"POST\", path = \"/x\", to = \"actor\" "
               "}");
  for (auto& kvp : *map)
    if (kvp.first != "method" && kvp.first != "path" && kvp.first != "to"
        && kvp.first != "timeout" && kvp.first != "deliver"
        && kvp.first != "headers")
      return bad("unknown key '" + kvp.first
                 + "' (keys: method, path, to, timeout, deliver, headers)");
  route r;
  r.timeout = timeout;
  if (auto m = caf::get_if<std::string>(map, "method")) {
    r.method = *m;
    std::transform(r.method.begin(), r.method.end(), r.method.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    if (r.method == "*")
      r.method.clear();
    else if (std::find(std::begin(known_methods), std::end(known_methods),
                       r.method)
             == std::end(known_methods))
      return bad("method '" + *m
                 + "' is not one of GET, POST, PUT, PATCH, DELETE, HEAD, "
                   "OPTIONS, *");
  } else if (map->count("method") > 0) {
    return bad("method must be a string");
  }
  auto path = caf::get_if<std::string>(map, "path");
  if (!path || path->empty() || (*path)[0] != '/')
    return bad("path must be a string that starts with '/'");
  r.path = *path;
  r.segments = split_path(r.path);
  for (size_t i = 0; i < r.segments.size(); ++i) {
    auto& s = r.segments[i];
    if (s == "*") {
      if (i + 1 != r.segments.size())
        return bad("'*' may only end a path");
      r.wildcard = true;
      r.segments.pop_back();
      break;
    }
    if (s == ":")
      return bad("a parameter needs a name, as in /users/:id");
  }
  auto to = caf::get_if<std::string>(map, "to");
  if (!to || to->empty())
    return bad("to (the actor that answers) is missing");
  r.to = *to;
  if (auto t = caf::get_if<caf::timespan>(map, "timeout")) {
    if (t->count() <= 0)
      return bad("timeout must be above 0");
    r.timeout = *t;
  } else if (map->count("timeout") > 0) {
    return bad("timeout must be a duration such as 2s");
  }
  if (auto d = caf::get_if<std::string>(map, "deliver")) {
    if (*d != "body" && *d != "request")
      return bad("deliver must be \"body\" or \"request\"");
    r.deliver_request = *d == "request";
  } else if (map->count("deliver") > 0) {
    return bad("deliver must be \"body\" or \"request\"");
  }
  if (auto hs = caf::get_if<std::vector<std::string>>(map, "headers")) {
    for (auto h : *hs) {
      std::transform(h.begin(), h.end(), h.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      r.headers.push_back(std::move(h));
    }
  } else if (map->count("headers") > 0) {
    return bad("headers must be a list of header names");
  }
  return r;
}

route_match match(const std::vector<route>& routes, const std::string& method,
                  const std::string& path) {
  route_match result;
  auto segs = split_path(path);
  for (auto& r : routes) {
    if (segs.size() < r.segments.size()
        || (!r.wildcard && segs.size() != r.segments.size()))
      continue;
    std::vector<std::pair<std::string, std::string>> params;
    bool ok = true;
    for (size_t i = 0; i < r.segments.size() && ok; ++i) {
      auto& want = r.segments[i];
      if (want.size() > 1 && want[0] == ':')
        params.emplace_back(want.substr(1), segs[i]);
      else
        ok = want == segs[i];
    }
    if (!ok)
      continue;
    if (!r.method.empty() && r.method != method
        && !(method == "HEAD" && r.method == "GET")) {
      if (std::find(result.allowed.begin(), result.allowed.end(), r.method)
          == result.allowed.end())
        result.allowed.push_back(r.method);
      continue;
    }
    if (r.wildcard) {
      std::string rest;
      for (size_t i = r.segments.size(); i < segs.size(); ++i)
        rest += (rest.empty() ? "" : "/") + segs[i];
      params.emplace_back("*", rest);
    }
    result.found = &r;
    result.params = std::move(params);
    result.allowed.clear();
    return result;
  }
  return result;
}

} // namespace switchboard::bridges::http

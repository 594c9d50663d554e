// switchboard: an embeddable C++ actor runtime. MIT License.

// Typed messages shared by the binary IPC tests and their child node
// (binary_child.cpp).

#pragma once

#include <cstdint>
#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

namespace switchboard::test {

/// A user type; both nodes register it.
struct point {
  int32_t x = 0;
  int32_t y = 0;
};

inline bool operator==(const point& a, const point& b) {
  return a.x == b.x && a.y == b.y;
}

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, point& p) {
  return f(caf::meta::type_name("point"), p.x, p.y);
}

/// A type only the child registers: the parent cannot decode it.
struct secret {
  std::string text;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, secret& s) {
  return f(caf::meta::type_name("secret"), s.text);
}

/// A type nobody registers: it cannot be encoded.
struct unregistered {
  int32_t value = 0;
};

template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, unregistered& u) {
  return f(caf::meta::type_name("unregistered"), u.value);
}

using add_atom = caf::atom_constant<caf::atom("add")>;
using ask_parent_atom = caf::atom_constant<caf::atom("askparent")>;
using tell_parent_atom = caf::atom_constant<caf::atom("tell")>;
using fail_atom = caf::atom_constant<caf::atom("fail")>;
using die_atom = caf::atom_constant<caf::atom("die")>;
using secret_atom = caf::atom_constant<caf::atom("secret")>;
using echo_back_atom = caf::atom_constant<caf::atom("echoback")>;

inline void add_test_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<point>("point");
}

} // namespace switchboard::test

// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <cstdio>
#include <cstdlib>

/// Aborts with file and line when `cond` is false: a broken invariant, never
/// bad input. Active in every build type.
#define SWITCHBOARD_ASSERT(cond)                                               \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__,          \
                   __LINE__, #cond);                                           \
      std::abort();                                                            \
    }                                                                          \
  } while (false)

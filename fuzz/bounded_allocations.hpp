// switchboard: an embeddable C++ actor runtime. MIT License.

// Watches the size of every allocation a fuzz target makes while it calls
// the code under test, so a target can check that a decoder never
// allocates more than its limit allows (a length field that claims 4 GiB
// must be refused, not reserved). It uses the sanitizer allocator's hooks,
// which see malloc and new alike.

#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>

#include <sanitizer/allocator_interface.h>

namespace switchboard::fuzz {

/// The largest allocation seen while `watching` (a target's own
/// bookkeeping does not count).
inline thread_local bool watching = false;
inline thread_local size_t largest = 0;

inline void on_malloc(const volatile void*, size_t n) {
  if (watching && n > largest)
    largest = n;
}

inline void on_free(const volatile void*) {}

/// Watches the allocations of one scope.
struct watch {
  watch() {
    static bool installed = [] {
      __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
      return true;
    }();
    (void)installed;
    largest = 0;
    watching = true;
  }
  ~watch() {
    watching = false;
  }
};

/// Stops watching for one scope (a target's callback inside a decoder).
struct unwatched {
  bool was = watching;
  unwatched() {
    watching = false;
  }
  ~unwatched() {
    watching = was;
  }
};

/// Aborts (a finding) if an allocation in the watched scope passed `limit`.
inline void check_largest(size_t limit, const char* what) {
  if (largest > limit) {
    std::fprintf(stderr, "%s: allocated %zu bytes at once, limit %zu\n", what,
                 largest, limit);
    std::abort();
  }
}

} // namespace switchboard::fuzz

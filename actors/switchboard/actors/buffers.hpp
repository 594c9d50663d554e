// switchboard: an embeddable C++ actor runtime. MIT License.

// The `[buffers]` section: a node's named shared buffers. An entry is made
// on first use and then shared by everything that lists it: worker pools
// (`buffers` key: the threads of this node) and, for a buffer with
// `share = "process"`, child processes (the child-process kind's `buffers`
// key: the block's memfd at start). A node that is such a child reaches
// what its parent passed with `share = "parent"`.

#pragma once

#include <string>

#include <switchboard/fwd.hpp>
#include <switchboard/kinds.hpp>

#include "switchboard/actors/shared_buffer.hpp"

namespace switchboard::actors {

/// The `[buffers]` section: `NAME = { bytes = N, share = "node" |
/// "process" | "parent" }`.
section_spec buffers_section();

/// The buffer `name` of `[buffers]` in `n`'s config, made (or, with
/// `share = "parent"`, mapped) on first use and shared by everything that
/// lists it afterwards.
caf::expected<shared_buffer> named_buffer(node& n, const std::string& name);

} // namespace switchboard::actors

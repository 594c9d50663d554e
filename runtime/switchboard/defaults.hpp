// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace switchboard::defaults {

/// `[node] name`.
inline constexpr const char* node_name = "main";

/// `[node] stop-timeout`: how long a stopping node lets mailboxes drain.
/// Small enough that SIGTERM ends a node well within 2 s.
inline constexpr std::chrono::milliseconds stop_timeout{1500};

/// `[node] request-timeout`: how long the control endpoint waits for a reply.
inline constexpr std::chrono::milliseconds request_timeout{5000};

/// `[node] io-spin`: how long the io loop polls for more work before it
/// sleeps in epoll. 20 us turns most replies into no wake-up at all (the hop
/// runs about 3x faster, bench/hop.cpp) for at most 20 us of one core after
/// each burst, and nothing while idle.
inline constexpr std::chrono::microseconds io_spin{20};

/// A `worker-thread`'s `spin`: how long an idle worker polls its mailbox
/// before it sleeps on a futex. Back-to-back requests then find it awake.
inline constexpr std::chrono::microseconds worker_spin{20};

/// `[node] down-after`: how long a peer node may stay silent before it is
/// declared down (BASP heartbeats; Akka takes about 12 s, Erlang 45-75 s).
inline constexpr std::chrono::milliseconds down_after{3000};

/// `[node] max-held`: messages one `NODE/ACTOR` address holds while its node
/// is down.
inline constexpr size_t max_held = 1000;

/// `switchboard trace --rate`: a trace that sees more messages than this in
/// one second stops itself.
inline constexpr int64_t trace_rate = 1000;

/// Pending connections the control socket queues.
inline constexpr int control_backlog = 16;

/// The largest line the control endpoint accepts.
inline constexpr size_t max_control_line = 16 * 1024 * 1024;

} // namespace switchboard::defaults

// switchboard: an embeddable C++ actor runtime. MIT License.

// A connection handed from the bridge that accepted it to an actor that
// serves it elsewhere: a child process (over its IPC channel, as Node's
// cluster hands sockets to its workers), or, in that child, the stream
// bridge that adopts it. The message owns the socket: whoever drops the
// last copy closes it, so a hand-off that goes nowhere leaks nothing.

#pragma once

#include <memory>
#include <string>
#include <type_traits>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

namespace switchboard {

/// Tags a `handed_connection` sent to the actor that is to serve it.
using hand_atom = caf::atom_constant<caf::atom("hand")>;

/// An accepted connection on its way to the actor that serves it.
struct handed_connection {
  /// The socket, closed when the last copy of the message goes.
  std::shared_ptr<const int> socket;
  /// The client's address: `HOST:PORT`, or a Unix socket's path.
  std::string peer;
  /// The bridge that accepted it.
  std::string bridge;

  /// Takes `fd` over.
  static handed_connection take(int fd, std::string peer, std::string bridge);

  /// The socket's fd (still owned by the message), or -1.
  int fd() const noexcept {
    return socket ? *socket : -1;
  }

  /// A duplicate of the socket's fd that the caller owns (close-on-exec),
  /// or -1.
  int duplicate() const;
};

/// The error a serializer gets for a connection: it is not data.
caf::error not_serializable_connection();

/// A connection travels only between actors of one process (another
/// process gets it over an IPC channel, fd and all); printing shows the
/// peer and the bridge.
/// @relates handed_connection
template<class Inspector>
typename Inspector::result_type inspect(Inspector& f, handed_connection& x) {
  if constexpr (std::is_same_v<typename Inspector::result_type, void>) {
    f(caf::meta::type_name("handed_connection"), x.peer, x.bridge);
  } else {
    return not_serializable_connection();
  }
}

} // namespace switchboard

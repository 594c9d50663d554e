// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/handoff.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "switchboard/errc.hpp"

namespace switchboard {

handed_connection handed_connection::take(int fd, std::string peer,
                                          std::string bridge) {
  handed_connection result;
  result.socket = std::shared_ptr<const int>(new int{fd}, [](const int* p) {
    if (*p >= 0)
      ::close(*p);
    delete p;
  });
  result.peer = std::move(peer);
  result.bridge = std::move(bridge);
  return result;
}

int handed_connection::duplicate() const {
  auto x = fd();
  return x >= 0 ? ::fcntl(x, F_DUPFD_CLOEXEC, 0) : -1;
}

caf::error not_serializable_connection() {
  return make_error(errc::bad_message,
                    "a handed connection cannot be serialized: it goes to "
                    "another process over an IPC channel, fd and all");
}

} // namespace switchboard

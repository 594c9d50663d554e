// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/bridges/stream/bridge.hpp"

#include <switchboard/node.hpp>

namespace switchboard::bridges::stream {

namespace {

kind_spec stream_kind(bool unix_socket) {
  kind_spec result;
  result.name = unix_socket ? "uds" : "tcp";
  result.doc = unix_socket ? "a Unix domain socket server or client; each "
                             "connection an actor"
                           : "a TCP server or client; each connection an "
                             "actor";
  result.section = kind_section::bridges;
  result.keys = stream_keys(unix_socket);
  result.check = [unix_socket](const std::string& name,
                               const caf::settings& args) -> caf::error {
    auto opts =
      read_stream_options(args, name, unix_socket, std::chrono::seconds(5));
    return opts ? caf::error{} : std::move(opts.error());
  };
  result.factory =
    [unix_socket](const spawn_context& ctx) -> caf::expected<caf::actor> {
    auto opts = read_stream_options(ctx.args, ctx.name, unix_socket,
                                    ctx.node.request_timeout());
    if (!opts)
      return std::move(opts.error());
    if (opts->server)
      return spawn_server(ctx.node, std::move(*opts));
    return spawn_client(ctx.node, std::move(*opts));
  };
  return result;
}

} // namespace

kind_spec tcp_kind() {
  return stream_kind(false);
}

kind_spec uds_kind() {
  return stream_kind(true);
}

} // namespace switchboard::bridges::stream

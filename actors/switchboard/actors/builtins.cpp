// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/builtins.hpp"

#include "switchboard/actors/child_process.hpp"
#include "switchboard/actors/cluster.hpp"
#include "switchboard/actors/echo.hpp"
#include "switchboard/actors/room.hpp"
#include "switchboard/actors/balancer.hpp"
#include "switchboard/actors/chain.hpp"
#include "switchboard/actors/router.hpp"
#include "switchboard/actors/buffers.hpp"
#include "switchboard/actors/shared_buffer.hpp"

#include <caf/actor_system_config.hpp>

#include <switchboard/bridges/http/client.hpp>
#include <switchboard/bridges/http/server.hpp>
#include <switchboard/bridges/http/ws_client.hpp>
#include <switchboard/bridges/process/parent.hpp>
#include <switchboard/bridges/redis/redis.hpp>
#include <switchboard/bridges/stream/bridge.hpp>

namespace switchboard::actors {

caf::error add_builtin_kinds(kind_registry& kinds,
                             behavior_registry behaviors) {
  for (auto make : {echo_kind, router_kind, balancer_kind, chain_kind,
                    room_kind, child_process_kind, cluster_kind})
    if (auto err = kinds.add(make()))
      return err;
  for (auto make :
       {bridges::parent_kind, bridges::stream::tcp_kind,
        bridges::stream::uds_kind, bridges::stream::udp_kind,
        bridges::http::http_client_kind, bridges::http::http_server_kind,
        bridges::http::websocket_kind, bridges::http::websocket_client_kind,
        bridges::redis::redis_kind, bridges::redis::redis_stream_kind})
    if (auto err = kinds.add(make()))
      return err;
  if (auto err = kinds.add(worker_thread_kind(std::move(behaviors))))
    return err;
  if (auto err = kinds.add_section(buffers_section()))
    return err;
  kinds.configure_system([](caf::actor_system_config& cfg) {
    cfg.add_message_type<shared_buffer>("switchboard::shared_buffer");
  });
  return caf::none;
}

} // namespace switchboard::actors

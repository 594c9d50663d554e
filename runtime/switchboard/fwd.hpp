// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

namespace switchboard {

class io_loop;
class kind_registry;
class metrics_registry;
class node;
class node_log;
class node_config;
class registry;

struct actor_metrics;
struct config_error;
struct json_message;
struct key_spec;
struct kind_spec;
struct spawn_context;

enum class errc : unsigned char;
enum class log_level : unsigned char;

} // namespace switchboard

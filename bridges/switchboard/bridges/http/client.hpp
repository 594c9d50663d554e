// switchboard: an embeddable C++ actor runtime. MIT License.

// The `http-client` kind: Node's fetch as an actor. A request names a
// method, a URL, headers, a body and a timeout; the reply is the response
// ({status, headers, body}) or an error. Requests run on the kind's own
// threads (cpp-httplib blocks), never on the io loop or a scheduler
// thread; connections are kept alive and reused per host.
//
// Usage (config):
// ~~~
// [bridges]
// web = { kind = "http-client", base-url = "http://127.0.0.1:8080" }
// ~~~
// and from an actor or `switchboard send web`:
// ~~~
// {"method": "POST", "url": "/users", "body": {"name": "ada"}}
//   -> {"status": 201, "headers": {"content-type": "application/json"},
//       "body": {"id": 7}}
// ~~~

#pragma once

#include <switchboard/kinds.hpp>

namespace switchboard::bridges::http {

/// The `http-client` kind.
kind_spec http_client_kind();

} // namespace switchboard::bridges::http

// switchboard: an embeddable C++ actor runtime. MIT License.

// The http kind against real clients: curl for routes, statuses, files,
// CORS, tokens and HTTPS; raw sockets for what curl will not send.

#include <switchboard/bridges/http/routes.hpp>
#include <switchboard/bridges/http/server.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "node_fixture.hpp"
#include "process.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::test::node_fixture;
using switchboard::test::port_in_status;
using switchboard::test::reply_kind;
using switchboard::test::status_of;
using switchboard::test::temp_dir;
using json = nlohmann::json;
namespace http = switchboard::bridges::http;

namespace {

struct http_result {
  int status = 0;
  std::string body;
  std::string headers; // lower case
  json parsed() const {
    return json::parse(body, nullptr, false);
  }
};

// Runs curl with `args` (after `-s`) and splits its answer.
http_result curl(std::vector<std::string> args) {
  std::vector<std::string> argv{
    "curl", "-s",          "--max-time", "10",
    "-D",   "/dev/stderr", "-w",         "\n%{http_code}"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = test::run(argv, 15s);
  INFO(r.err);
  REQUIRE(r.status == 0);
  http_result result;
  auto nl = r.out.rfind('\n');
  REQUIRE(nl != std::string::npos);
  result.status = std::stoi(r.out.substr(nl + 1));
  result.body = r.out.substr(0, nl);
  result.headers = r.err;
  for (auto& ch : result.headers)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return result;
}

std::string base(node_fixture& f, const std::string& name = "api",
                 const std::string& scheme = "http") {
  return scheme
         + "://127.0.0.1:" + std::to_string(port_in_status(f, name, "listen"));
}

// A connected TCP socket to 127.0.0.1:`port`.
int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  return fd;
}

// What the peer sends until it closes or `timeout` passes.
std::string read_until_closed(int fd, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0)
      return got;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      return got + (n == 0 ? "<closed>" : "<reset>");
    got.append(buf, static_cast<size_t>(n));
  }
}

void send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    auto n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return; // the peer may close mid-way: what it answered is checked
    off += static_cast<size_t>(n);
  }
}

// Kinds the tests route to: one that answers with an error, one that
// never answers, one that answers with a full response.
void add_test_kinds(kind_registry& kinds) {
  kind_spec broken;
  broken.name = "broken";
  broken.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(ctx.node.system().spawn([] {
      return caf::behavior{[](json_message&) -> caf::result<json_message> {
        return make_error(errc::bad_message, "no such user");
      }};
    }));
  };
  REQUIRE(!kinds.add(std::move(broken)));
  kind_spec silent;
  silent.name = "silent";
  silent.factory = [](const spawn_context& ctx) -> caf::expected<caf::actor> {
    return caf::actor_cast<caf::actor>(
      ctx.node.system().spawn([](caf::event_based_actor* self) {
        // Holds every request; answers them all half a second after its
        // exit comes, and quits.
        using flush_atom = caf::atom_constant<caf::atom("flush")>;
        auto held = std::make_shared<std::vector<caf::response_promise>>();
        self->set_exit_handler([self](caf::exit_msg&) {
          self->delayed_send(self, 500ms, flush_atom::value);
        });
        return caf::behavior{[self, held](json_message&) {
                               held->push_back(self->make_response_promise());
                             },
                             [self, held](flush_atom) {
                               for (auto& rp : *held)
                                 rp.deliver(json_message::trusted("\"late\""));
                               held->clear(); // a promise holds its actor
                               self->quit();
                             }};
      }));
  };
  REQUIRE(!kinds.add(std::move(silent)));
  REQUIRE(
    !kinds.add(reply_kind("created", [](const json_message&, const std::string&,
                                        const caf::settings&) {
      return json_message::trusted(
        R"({"status":201,"headers":{"X-Id":"7","Content-Length":"1"},)"
        R"("body":{"ok":true}})");
    })));
  REQUIRE(
    !kinds.add(reply_kind("texter", [](const json_message&, const std::string&,
                                       const caf::settings&) {
      return json_message::trusted(R"({"status":200,"body":"plain words"})");
    })));
  REQUIRE(!kinds.add(
    reply_kind("injector", [](const json_message&, const std::string&,
                              const caf::settings&) {
      return json_message::trusted(
        R"({"status":200,"headers":{"x-a":"1\r\nset-cookie: evil=1"}})");
    })));
}

const char* routes_conf = R"(
[actors]
echo = { kind = "echo" }
broken = { kind = "broken" }
silent = { kind = "silent" }
created = { kind = "created" }
texter = { kind = "texter" }
injector = { kind = "injector" }
[bridges]
api = { kind = "http", listen = "127.0.0.1:0", max-body = 1000,
        routes = [{ method = "POST", path = "/echo", to = "echo" },
                  { method = "PUT", path = "/echo", to = "echo" },
                  { method = "GET", path = "/users/:id", to = "echo" },
                  { method = "GET", path = "/users/:id/posts/:post", to = "echo",
                    deliver = "request", headers = ["x-trace"] },
                  { path = "/files/*", to = "echo", deliver = "request" },
                  { method = "POST", path = "/raw", to = "echo",
                    deliver = "request" },
                  { method = "GET", path = "/broken", to = "broken" },
                  { method = "GET", path = "/slow", to = "silent",
                    timeout = 300ms },
                  { method = "GET", path = "/hold", to = "silent",
                    timeout = 30s },
                  { method = "GET", path = "/created", to = "created" },
                  { method = "GET", path = "/text", to = "texter" },
                  { method = "GET", path = "/inject", to = "injector" },
                  { method = "GET", path = "/ghost", to = "nobody" }] }
)";

} // namespace

TEST_CASE("http routes: parameters, a trailing wildcard, methods") {
  std::vector<http::route> routes;
  auto add = [&](const std::string& text) {
    auto cfg = node_config::from_string("[x]\nr = " + text, "t.conf");
    REQUIRE(cfg);
    auto v = caf::get_if(&cfg->content(), "x.r");
    REQUIRE(v != nullptr);
    auto r = http::read_route(*v, "api", routes.size(), 5s);
    INFO(text);
    REQUIRE(r);
    routes.push_back(std::move(*r));
  };
  add(R"({ method = "get", path = "/users/:id", to = "a" })");
  add(R"({ method = "POST", path = "/users/:id", to = "b" })");
  add(R"({ path = "/files/*", to = "c" })");
  add(R"({ method = "GET", path = "/", to = "d" })");
  auto m = http::match(routes, "GET", "/users/7");
  REQUIRE(m.found == &routes[0]);
  CHECK(m.params == decltype(m.params){{"id", "7"}});
  CHECK(http::match(routes, "POST", "/users/7/").found == &routes[1]);
  CHECK(http::match(routes, "HEAD", "/users/7").found == &routes[0]);
  m = http::match(routes, "DELETE", "/users/7");
  CHECK(m.found == nullptr);
  CHECK(m.allowed == std::vector<std::string>{"GET", "POST"});
  m = http::match(routes, "PUT", "/files/a/b.txt");
  REQUIRE(m.found == &routes[2]);
  CHECK(m.params == decltype(m.params){{"*", "a/b.txt"}});
  CHECK(http::match(routes, "GET", "/files").params
        == decltype(m.params){{"*", ""}});
  CHECK(http::match(routes, "GET", "/").found == &routes[3]);
  m = http::match(routes, "GET", "/users");
  CHECK(m.found == nullptr);
  CHECK(m.allowed.empty());
  auto bad = [&](const std::string& text, const std::string& why) {
    auto cfg = node_config::from_string("[x]\nr = " + text, "t.conf");
    REQUIRE(cfg);
    auto r =
      http::read_route(*caf::get_if(&cfg->content(), "x.r"), "api", 3, 5s);
    REQUIRE(!r);
    CHECK_THAT(render(r.error()), Catch::Contains(why));
    CHECK_THAT(render(r.error()), Catch::Contains("api: routes[3]"));
  };
  bad(R"({ path = "/x", to = "a", methd = "GET" })", "unknown key 'methd'");
  bad(R"({ path = "x", to = "a" })", "starts with '/'");
  bad(R"({ path = "/a/*/b", to = "a" })", "'*' may only end a path");
  bad(R"({ path = "/a", to = "a", method = "FETCH" })", "method 'FETCH'");
  bad(R"({ path = "/a" })", "to (the actor that answers) is missing");
  bad(R"({ path = "/a", to = "a", deliver = "all" })", "deliver must be");
}

TEST_CASE("http: routes deliver the body or the whole request, replies "
          "become responses") {
  node_fixture f{routes_conf, add_test_kinds};
  auto url = base(f);
  SECTION("the JSON body is the message; the reply is the 200 body") {
    auto r = curl({"-d", R"({"a":[1,2]})", url + "/echo"});
    CHECK(r.status == 200);
    CHECK(r.parsed() == json{{"a", {1, 2}}});
    CHECK_THAT(r.headers, Catch::Contains("content-type: application/json"));
    r = curl({"-X", "PUT", "-d", "3", url + "/echo"});
    CHECK(r.status == 200);
    CHECK(r.body == "3");
  }
  SECTION("without a body, the path's parameters are the message") {
    auto r = curl({url + "/users/42"});
    CHECK(r.status == 200);
    CHECK(r.parsed() == json{{"id", "42"}});
  }
  SECTION("deliver = request: method, path, params, query, headers, body") {
    auto r = curl({"-H", "X-Trace: t-1", "-H", "X-Other: no",
                   url + "/users/7/posts/9?q=a%20b&n=2"});
    REQUIRE(r.status == 200);
    auto j = r.parsed();
    CHECK(j["method"] == "GET");
    CHECK(j["path"] == "/users/7/posts/9");
    CHECK(j["params"] == json{{"id", "7"}, {"post", "9"}});
    CHECK(j["query"] == json{{"q", "a b"}, {"n", "2"}});
    CHECK(j["headers"]["x-trace"] == "t-1");
    CHECK(j["headers"]["host"] == url.substr(7));
    CHECK(!j["headers"].contains("x-other")); // not listed in `headers`
    CHECK(j["body"].is_null());
    r = curl({"-X", "DELETE", url + "/files/a/b/c.txt"});
    CHECK(r.parsed()["params"] == json{{"*", "a/b/c.txt"}});
    CHECK(r.parsed()["method"] == "DELETE");
  }
  SECTION("deliver = request: a body that is not JSON arrives as a string") {
    auto r = curl({"-d", "hello there", url + "/raw"});
    CHECK(r.parsed()["body"] == "hello there");
    r = curl({"-d", R"({"x":1})", url + "/raw"});
    CHECK(r.parsed()["body"] == json{{"x", 1}});
  }
  SECTION("a reply {status, headers, body} sets them") {
    auto r = curl({url + "/created"});
    CHECK(r.status == 201);
    CHECK(r.parsed() == json{{"ok", true}});
    CHECK_THAT(r.headers, Catch::Contains("x-id: 7"));
    // The bridge computes the length itself.
    CHECK_THAT(r.headers, Catch::Contains("content-length: 11"));
    r = curl({url + "/text"});
    CHECK(r.status == 200);
    CHECK(r.body == "plain words");
    CHECK_THAT(r.headers, Catch::Contains("content-type: text/plain"));
  }
  SECTION("one connection carries many requests (keep-alive)") {
    auto r = test::run({"curl", "-s", "-v", "-d", "1", url + "/echo", "--next",
                        "-d", "2", url + "/echo"},
                       15s);
    CHECK(r.out == "12");
    CHECK_THAT(r.err, Catch::Contains("Re-using existing connection"));
  }
  auto st = status_of(f, "api");
  CHECK(st["requests"].get<int>() >= 1);
  CHECK(st["responses"]["2xx"].get<int>() >= 1);
  f.stop_and_check();
}

TEST_CASE("http: errors are JSON bodies with the usual statuses") {
  node_fixture f{routes_conf, add_test_kinds};
  auto url = base(f);
  auto error_of = [](const http_result& r) {
    auto j = r.parsed();
    REQUIRE(j.is_object());
    REQUIRE(j.contains("error"));
    return j["error"].get<std::string>();
  };
  SECTION("404: no route") {
    auto r = curl({url + "/nowhere"});
    CHECK(r.status == 404);
    CHECK_THAT(error_of(r), Catch::Contains("GET /nowhere"));
  }
  SECTION("405 with Allow: the path exists, the method does not") {
    auto r = curl({"-X", "DELETE", url + "/echo"});
    CHECK(r.status == 405);
    CHECK_THAT(r.headers, Catch::Contains("allow: post, put"));
    CHECK_THAT(error_of(r), Catch::Contains("DELETE"));
  }
  SECTION("400: malformed JSON, with the parser's message") {
    auto r = curl({"-d", R"({"a":)", url + "/echo"});
    CHECK(r.status == 400);
    CHECK_THAT(error_of(r), Catch::Contains("malformed JSON"));
    CHECK_THAT(error_of(r), Catch::Contains("column"));
  }
  SECTION("413: a body over max-body") {
    auto r = curl({"-d", "[" + std::string(2000, '1') + "]", url + "/echo"});
    CHECK(r.status == 413);
    CHECK_THAT(error_of(r), Catch::Contains("max-body is 1000"));
  }
  SECTION("411: a chunked body") {
    auto r =
      curl({"-H", "Transfer-Encoding: chunked", "-d", "[1]", url + "/echo"});
    CHECK(r.status == 411);
  }
  SECTION("500: the actor's error, with its message") {
    auto r = curl({url + "/broken"});
    CHECK(r.status == 500);
    CHECK_THAT(error_of(r), Catch::Contains("no such user"));
  }
  SECTION("504: the actor did not answer within the route's timeout") {
    auto start = std::chrono::steady_clock::now();
    auto r = curl({url + "/slow"});
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(r.status == 504);
    CHECK_THAT(error_of(r), Catch::Contains("silent did not answer within "
                                            "300 ms"));
    CHECK(took >= 300ms);
  }
  SECTION("500: a reply whose header would split the response") {
    auto r = curl({url + "/inject"});
    CHECK(r.status == 500);
    CHECK(r.headers.find("set-cookie") == std::string::npos);
    CHECK_THAT(error_of(r), Catch::Contains("not a valid HTTP header"));
  }
  SECTION("503: the route's actor is not running") {
    auto r = curl({url + "/ghost"});
    CHECK(r.status == 503);
    CHECK_THAT(error_of(r), Catch::Contains("nobody is not running"));
  }
  SECTION("after an error the connection still serves") {
    auto r = test::run(
      {"curl", "-s", url + "/nowhere", "--next", "-d", "7", url + "/echo"},
      15s);
    CHECK_THAT(r.out, Catch::EndsWith("7"));
  }
  f.stop_and_check();
}

TEST_CASE("http: /health, /status, static files, CORS and a bearer token") {
  temp_dir dir;
  REQUIRE(::mkdir((dir.path() + "/www").c_str(), 0700) == 0);
  dir.write("www/index.html", "<h1>hi</h1>");
  dir.write("www/app.js", "let x = 1;");
  dir.write("secret.txt", "do not serve");
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
api = { kind = "http", listen = "127.0.0.1:0", static = ")"
                   + dir.path() + R"(/www",
        cors = ["http://app.example"],
        routes = [{ method = "POST", path = "/echo", to = "echo" }] }
locked = { kind = "http", listen = "127.0.0.1:0", token = "s3cret",
           health = false,
           routes = [{ method = "POST", path = "/echo", to = "echo" }] }
)",
                 add_test_kinds};
  auto url = base(f);
  SECTION("GET /health and GET /status (the node's status as JSON)") {
    auto r = curl({url + "/health"});
    CHECK(r.status == 200);
    CHECK(r.parsed() == json{{"status", "ok"}});
    r = curl({url + "/status"});
    CHECK(r.status == 200);
    auto j = r.parsed();
    CHECK(j["node"].is_string());
    std::vector<std::string> names;
    for (auto& a : j["actors"])
      names.push_back(a["name"]);
    CHECK(names == std::vector<std::string>{"api", "echo", "locked"});
    CHECK(j["actors"][0]["status"]["kind"] == "http");
  }
  SECTION("static files with their content types; no path escape") {
    auto r = curl({url + "/"});
    CHECK(r.status == 200);
    CHECK(r.body == "<h1>hi</h1>");
    CHECK_THAT(r.headers, Catch::Contains("content-type: text/html"));
    r = curl({url + "/app.js"});
    CHECK(r.body == "let x = 1;");
    CHECK_THAT(r.headers, Catch::Contains("text/javascript"));
    for (auto path : {"/../secret.txt", "/%2e%2e/secret.txt",
                      "/..%2fsecret.txt", "/a/../../secret.txt"}) {
      INFO(path);
      r = curl({"--path-as-is", url + path});
      CHECK(r.status == 404);
      CHECK(r.body.find("do not serve") == std::string::npos);
    }
    r = curl({url + "/missing.css"});
    CHECK(r.status == 404);
    // HEAD, then a request on the same connection: nothing stays in flight.
    auto both = test::run(
      {"curl", "-s", "-I", url + "/app.js", "--next", "-d", "5", url + "/echo"},
      15s);
    CHECK_THAT(both.out, Catch::Contains("content-length: 10"));
    CHECK_THAT(both.out, Catch::EndsWith("5"));
    CHECK(status_of(f, "api")["in_flight"] == 0);
  }
  SECTION("CORS: a preflight from an allowed origin, headers on replies") {
    auto r =
      curl({"-X", "OPTIONS", "-H", "Origin: http://app.example", "-H",
            "Access-Control-Request-Method: POST", "-H",
            "Access-Control-Request-Headers: content-type", url + "/echo"});
    CHECK(r.status == 204);
    CHECK_THAT(r.headers, Catch::Contains("access-control-allow-origin: "
                                          "http://app.example"));
    CHECK_THAT(r.headers,
               Catch::Contains("access-control-allow-methods: post"));
    r = curl({"-H", "Origin: http://app.example", "-d", "1", url + "/echo"});
    CHECK(r.status == 200);
    CHECK_THAT(r.headers, Catch::Contains("access-control-allow-origin: "
                                          "http://app.example"));
    r = curl({"-H", "Origin: http://evil.example", "-d", "1", url + "/echo"});
    CHECK(r.status == 200);
    CHECK(r.headers.find("access-control-allow-origin") == std::string::npos);
  }
  SECTION("a token: 401 without it, served with it") {
    auto locked = base(f, "locked");
    auto r = curl({"-d", "1", locked + "/echo"});
    CHECK(r.status == 401);
    CHECK_THAT(r.headers, Catch::Contains("www-authenticate: bearer"));
    r =
      curl({"-H", "Authorization: Bearer wrong", "-d", "1", locked + "/echo"});
    CHECK(r.status == 401);
    r =
      curl({"-H", "Authorization: Bearer s3cret", "-d", "1", locked + "/echo"});
    CHECK(r.status == 200);
    CHECK(r.body == "1");
    // /status needs the token too; /health is switched off.
    CHECK(curl({locked + "/status"}).status == 401);
    CHECK(
      curl({"-H", "Authorization: Bearer s3cret", locked + "/health"}).status
      == 404);
  }
  f.stop_and_check();
}

TEST_CASE("http: HTTPS with a certificate and key, curl checks it against "
          "its CA") {
  temp_dir dir;
  auto [cert, key] = test::self_signed_cert(dir);
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
api = { kind = "http", listen = "127.0.0.1:0", cert-file = ")"
                 + cert + R"(", key-file = ")" + key + R"(",
        routes = [{ method = "POST", path = "/echo", to = "echo" }] }
)"};
  auto url = base(f, "api", "https");
  auto r = curl({"--cacert", cert, "-d", R"({"tls":true})", url + "/echo"});
  CHECK(r.status == 200);
  CHECK(r.parsed() == json{{"tls", true}});
  // HTTP/1.1 even though curl offers h2.
  CHECK_THAT(r.headers, Catch::StartsWith("http/1.1 200"));
  // Without the CA, curl refuses the certificate.
  auto plain =
    test::run({"curl", "-s", "--max-time", "10", url + "/health"}, 15s);
  CHECK(plain.status != 0);
  CHECK(status_of(f, "api")["tls"] == true);
  f.stop_and_check();
}

TEST_CASE("http: a certificate that does not load is the spawn's error") {
  temp_dir dir;
  auto bad = dir.write("cert.pem", "not a certificate");
  switchboard::node n{*node_config::from_string("", "t.conf")};
  REQUIRE(!actors::add_builtin_kinds(n.kinds()));
  REQUIRE(!n.start());
  caf::settings args;
  args["listen"] = std::string{"127.0.0.1:0"};
  args["cert-file"] = bad;
  args["key-file"] = bad;
  auto h = n.spawn("api", "http", args);
  REQUIRE(!h);
  CHECK_THAT(render(h.error()), Catch::Contains("cert-file"));
  caf::settings half;
  half["cert-file"] = bad;
  h = n.spawn("api2", "http", half);
  REQUIRE(!h);
  CHECK_THAT(render(h.error()), Catch::Contains("both cert-file and key-file"));
  n.stop();
}

TEST_CASE("http: garbage, a huge header and too many connections get an "
          "error or a close, and the node goes on") {
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
[bridges]
api = { kind = "http", listen = "127.0.0.1:0", max-connections = 3,
        routes = [{ method = "POST", path = "/echo", to = "echo" }] }
)"};
  auto port = port_in_status(f, "api", "listen");
  auto url = base(f);
  SECTION("a request line of garbage") {
    int fd = connect_to(port);
    send_all(fd, "\x16\x03\x01 garbage garbage\r\n\r\n");
    auto got = read_until_closed(fd, 5s);
    ::close(fd);
    CHECK_THAT(got, Catch::EndsWith("<closed>") || Catch::EndsWith("<reset>"));
  }
  SECTION("a header of 1 MiB") {
    int fd = connect_to(port);
    send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nX-Big: "
                   + std::string(1 << 20, 'a') + "\r\n\r\n");
    auto got = read_until_closed(fd, 5s);
    ::close(fd);
    CHECK_THAT(got, Catch::EndsWith("<closed>") || Catch::EndsWith("<reset>"));
    CHECK(got.find("200 OK") == std::string::npos);
  }
  SECTION("a body shorter than its content-length, then the peer goes") {
    int fd = connect_to(port);
    send_all(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                 "\r\n{\"a\":");
    ::close(fd);
  }
  SECTION("max-connections: the next one gets 503 and a close") {
    std::vector<int> held;
    for (int i = 0; i < 3; ++i)
      held.push_back(connect_to(port));
    // The node has taken them once it counts them.
    REQUIRE(test::eventually(
      [&] { return status_of(f, "api")["connections"] == 3; }));
    int fd = connect_to(port);
    auto got = read_until_closed(fd, 5s);
    ::close(fd);
    CHECK_THAT(got, Catch::StartsWith("HTTP/1.1 503"));
    CHECK_THAT(got, Catch::Contains("max-connections"));
    CHECK(status_of(f, "api")["refused"] == 1);
    for (auto h : held)
      ::close(h);
    REQUIRE(test::eventually(
      [&] { return status_of(f, "api")["connections"] == 0; }));
  }
  auto r = curl({"-d", "[1]", url + "/echo"});
  CHECK(r.status == 200);
  CHECK(r.body == "[1]");
  f.stop_and_check();
}

TEST_CASE("http: a stopping node finishes requests in flight and answers "
          "new ones with 503") {
  node_fixture f{routes_conf, add_test_kinds};
  auto port = port_in_status(f, "api", "listen");
  // Two keep-alive connections: one waits for `silent`, one asks later.
  int waiting = connect_to(port);
  int later = connect_to(port);
  send_all(waiting, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(
    test::eventually([&] { return status_of(f, "api")["in_flight"] == 1; }));
  // The client works on a thread of its own (sockets only: no Catch, no
  // CAF) while this one stops the node: the actor system must end on the
  // thread that used it.
  std::string got;
  std::string answer;
  std::thread client{[&] {
    // The bridge stops taking new work first; `silent` answers what it
    // holds half a second after its own exit.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      send_all(later, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      got = read_until_closed(later, 100ms);
      if (got.find("HTTP/1.1 503") != std::string::npos
          || got.find("<closed>") != std::string::npos)
        break;
    }
    answer = read_until_closed(waiting, 10s);
  }};
  f.node().stop();
  client.join();
  CHECK_THAT(got, Catch::StartsWith("HTTP/1.1 503"));
  CHECK_THAT(got, Catch::Contains("the node is stopping"));
  CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 200"));
  CHECK_THAT(answer, Catch::Contains("connection: close"));
  CHECK_THAT(answer, Catch::Contains("\"late\""));
  ::close(waiting);
  ::close(later);
  f.stop_and_check();
}

TEST_CASE("http-client against the node's own http bridge, plain and TLS") {
  temp_dir dir;
  auto [cert, key] = test::self_signed_cert(dir);
  // Ports picked before the config is written.
  auto plain = std::to_string(test::closed_port());
  auto tls = std::to_string(test::closed_port());
  node_fixture f{R"(
[actors]
echo = { kind = "echo" }
created = { kind = "created" }
[bridges]
api = { kind = "http", listen = "127.0.0.1:)"
                   + plain + R"(",
        routes = [{ method = "POST", path = "/echo", to = "echo" },
                  { method = "GET", path = "/created", to = "created" }] }
secure = { kind = "http", listen = "127.0.0.1:)"
                   + tls + R"(", cert-file = ")" + cert + R"(",
           key-file = ")"
                   + key + R"(",
           routes = [{ method = "POST", path = "/echo", to = "echo" }] }
web = { kind = "http-client", base-url = "http://127.0.0.1:)"
                   + plain + R"(" }
webs = { kind = "http-client", base-url = "https://127.0.0.1:)"
                   + tls + R"(", ca-file = ")" + cert + R"(" }
)",
                 add_test_kinds};
  auto ask = [&](const std::string& name, const json& request) {
    auto r = f.ask(name, request.dump(), 10s);
    INFO(request.dump());
    REQUIRE(r);
    return json::parse(r->text);
  };
  auto r = ask(
    "web", {{"method", "POST"}, {"url", "/echo"}, {"body", {{"a", {1, 2}}}}});
  CHECK(r["status"] == 200);
  CHECK(r["body"] == json{{"a", {1, 2}}});
  r = ask("web", {{"url", "/created"}});
  CHECK(r["status"] == 201);
  CHECK(r["headers"]["x-id"] == "7");
  CHECK(r["body"] == json{{"ok", true}});
  r = ask("web", {{"url", "/nowhere"}});
  CHECK(r["status"] == 404);
  CHECK(r["body"]["error"].is_string());
  r = ask("webs",
          {{"method", "POST"}, {"url", "/echo"}, {"body", {{"tls", true}}}});
  CHECK(r["status"] == 200);
  CHECK(r["body"] == json{{"tls", true}});
  // A string body goes as text, which a deliver = "body" route refuses.
  r = ask("webs", {{"method", "POST"}, {"url", "/echo"}, {"body", "text"}});
  CHECK(r["status"] == 400);
  CHECK_THAT(r["body"]["error"].get<std::string>(),
             Catch::Contains("malformed JSON"));
  f.stop_and_check();
}

// switchboard: an embeddable C++ actor runtime. MIT License.

// The http-client kind against real HTTP and HTTPS servers on 127.0.0.1
// (cpp-httplib's server, in this process, with a certificate made by the
// openssl command).

#include <switchboard/bridges/http/client.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "node_fixture.hpp"
#include "process.hpp"

using namespace switchboard;
using namespace std::chrono_literals;
using switchboard::test::node_fixture;
using switchboard::test::temp_dir;
using json = nlohmann::json;

namespace {

// An HTTP(S) server on a free port of 127.0.0.1, serving on its own
// threads until it goes.
template<class Server>
class test_server {
public:
  template<class... Ts>
  explicit test_server(Ts&&... xs) : svr_(std::forward<Ts>(xs)...) {}

  Server& routes() {
    return svr_;
  }

  // Listens on `port` of 127.0.0.1 (0: a free one).
  int start(int port = 0) {
    REQUIRE(svr_.is_valid());
    if (port == 0) {
      port_ = svr_.bind_to_any_port("127.0.0.1");
    } else {
      REQUIRE(svr_.bind_to_port("127.0.0.1", port));
      port_ = port;
    }
    REQUIRE(port_ > 0);
    thread_ = std::thread{[this] { svr_.listen_after_bind(); }};
    // `stop` works only once the server runs.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!svr_.is_running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    REQUIRE(svr_.is_running());
    return port_;
  }

  ~test_server() {
    stop();
  }

  void stop() {
    if (thread_.joinable()) {
      svr_.stop();
      thread_.join();
    }
  }

  std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }

private:
  Server svr_;
  int port_ = 0;
  std::thread thread_;
};

json ask_json(node_fixture& f, const std::string& name, const json& request) {
  auto r = f.ask(name, request.dump(), 10s);
  INFO(request.dump());
  REQUIRE(r);
  return json::parse(r->text);
}

std::string ask_error(node_fixture& f, const std::string& name,
                      const json& request) {
  INFO(request.dump());
  auto err = f.ask_error(name, request.dump(), 10s);
  REQUIRE(err.rfind("no error but", 0) != 0);
  return err;
}

} // namespace

// Each test starts its node before its server and stops the server after
// the node (which closes its connections first), so that the node's own
// descriptors are what the fixture counts.

TEST_CASE("http-client: GET and POST, JSON and text bodies, headers, "
          "statuses, base-url") {
  auto port = test::closed_port(); // the server takes it below
  node_fixture f{R"(
[bridges]
web = { kind = "http-client" }
api = { kind = "http-client", base-url = "http://127.0.0.1:)"
                 + std::to_string(port) + R"(/" }
)"};
  test_server<httplib::Server> server;
  std::mutex mx;
  std::set<int> client_ports;
  server.routes().Get(
    "/users/7", [&](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> guard{mx};
        client_ports.insert(req.remote_port);
      }
      res.set_header("X-Trace", req.get_header_value("X-Trace"));
      res.set_content(R"({"id":7,"name":"ada"})", "application/json");
    });
  server.routes().Post(
    "/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.status = 201;
      res.set_content(req.body, req.get_header_value("Content-Type").c_str());
    });
  server.routes().Get("/query",
                      [](const httplib::Request& req, httplib::Response& res) {
                        res.set_content(req.get_param_value("q"), "text/plain");
                      });
  server.start(port);
  auto base = server.url();
  SECTION("GET: status, headers in lower case, a JSON body as JSON") {
    auto r =
      ask_json(f, "web",
               {{"url", base + "/users/7"}, {"headers", {{"X-Trace", "abc"}}}});
    CHECK(r["status"] == 200);
    CHECK(r["headers"]["x-trace"] == "abc");
    CHECK(r["body"] == json{{"id", 7}, {"name", "ada"}});
  }
  SECTION("POST: a JSON body goes as JSON, a string as text") {
    auto r = ask_json(
      f, "web",
      {{"method", "post"}, {"url", base + "/echo"}, {"body", {{"a", {1, 2}}}}});
    CHECK(r["status"] == 201);
    CHECK(r["headers"]["content-type"] == "application/json");
    CHECK(r["body"] == json{{"a", {1, 2}}});
    r = ask_json(f, "web",
                 {{"method", "POST"}, {"url", base + "/echo"}, {"body", "hi"}});
    CHECK(r["body"] == "hi");
    CHECK(r["headers"]["content-type"].get<std::string>().rfind("text/plain", 0)
          == 0);
  }
  SECTION("a status the server chose is a reply, not an error") {
    auto r = ask_json(f, "web", {{"url", base + "/nowhere"}});
    CHECK(r["status"] == 404);
  }
  SECTION("base-url: a url starting with / is joined to it; the query goes "
          "as given") {
    auto r = ask_json(f, "api", {{"url", "/query?q=x%20y"}});
    CHECK(r["status"] == 200);
    CHECK(r["body"] == "x y");
  }
  SECTION("connections are kept alive and reused") {
    for (int i = 0; i < 3; ++i)
      CHECK(ask_json(f, "web", {{"url", base + "/users/7"}})["status"] == 200);
    std::lock_guard<std::mutex> guard{mx};
    CHECK(client_ports.size() == 1);
  }
  f.stop_and_check([&] { server.stop(); });
}

TEST_CASE("http-client: bad requests, refused connections, time-outs and "
          "oversized bodies are errors with reasons") {
  node_fixture f{R"(
[bridges]
web = { kind = "http-client", max-body = 1000 }
)"};
  test_server<httplib::Server> server;
  std::mutex mx;
  std::condition_variable cv;
  bool release = false;
  server.routes().Get("/slow",
                      [&](const httplib::Request&, httplib::Response& res) {
                        // Answers once the test is done with it (or after 5 s).
                        std::unique_lock<std::mutex> guard{mx};
                        cv.wait_for(guard, 5s, [&] { return release; });
                        res.set_content("late", "text/plain");
                      });
  server.routes().Get("/big",
                      [](const httplib::Request&, httplib::Response& res) {
                        res.set_content(std::string(2000, 'x'), "text/plain");
                      });
  server.start();
  auto base = server.url();
  CHECK(ask_error(f, "web", json{{"method", "GET"}}).find("\"url\"")
        != std::string::npos);
  CHECK(ask_error(f, "web", json{{"url", "ftp://127.0.0.1/x"}})
          .find("http or https")
        != std::string::npos);
  CHECK(ask_error(f, "web", json{{"url", "/x"}}).find("no base-url")
        != std::string::npos);
  CHECK(ask_error(f, "web", json::array()).find("bad_message")
        != std::string::npos);
  CHECK(ask_error(f, "web", json{{"url", base + "/x"}, {"timeout", "soon"}})
          .find("timeout must be")
        != std::string::npos);
  auto refused = ask_error(
    f, "web",
    {{"url", "http://127.0.0.1:" + std::to_string(test::closed_port())}});
  CHECK(refused.find("io_error") != std::string::npos);
  auto t0 = std::chrono::steady_clock::now();
  auto late = ask_error(f, "web", {{"url", base + "/slow"}, {"timeout", 200}});
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(late.find("timeout") != std::string::npos);
  CHECK(took < 3s);
  {
    std::lock_guard<std::mutex> guard{mx};
    release = true;
  }
  cv.notify_all();
  CHECK(ask_error(f, "web", {{"url", base + "/big"}}).find("max-body")
        != std::string::npos);
  // The node goes on: a good request after all of that.
  server.routes().Get("/ok",
                      [](const httplib::Request&, httplib::Response& res) {
                        res.set_content("{}", "application/json");
                      });
  CHECK(ask_json(f, "web", {{"url", base + "/ok"}})["status"] == 200);
  f.stop_and_check([&] { server.stop(); });
}

TEST_CASE("http-client: HTTPS against a certificate from ca-file, an "
          "unknown certificate is refused") {
  temp_dir dir;
  auto [cert, key] = test::self_signed_cert(dir);
  node_fixture f{R"(
[bridges]
trusting = { kind = "http-client", ca-file = ")"
                 + cert + R"(" }
system = { kind = "http-client" }
)"};
  test_server<httplib::SSLServer> server{cert.c_str(), key.c_str()};
  server.routes().Get("/hello",
                      [](const httplib::Request&, httplib::Response& res) {
                        res.set_content(R"({"tls":true})", "application/json");
                      });
  server.start();
  auto url = server.url("https") + "/hello";
  auto r = ask_json(f, "trusting", {{"url", url}});
  CHECK(r["status"] == 200);
  CHECK(r["body"] == json{{"tls", true}});
  // The system's store does not know a self-signed certificate.
  CHECK(ask_error(f, "system", {{"url", url}}).find("io_error")
        != std::string::npos);
  f.stop_and_check([&] { server.stop(); });
}

TEST_CASE("http-client: check refuses a base-url that is not http(s)") {
  auto errors = test::check_config(R"(
[bridges]
web = { kind = "http-client", base-url = "ftp://example.org" }
ok = { kind = "http-client", base-url = "https://example.org:8443/api/" }
)");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "bridges.web");
  CHECK(errors[0].found.find("http or https") != std::string::npos);
}

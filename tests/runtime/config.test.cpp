// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/config.hpp>

#include <algorithm>

#include <catch2/catch.hpp>

#include <switchboard/actors/builtins.hpp>
#include <switchboard/kinds.hpp>
#include <switchboard/reload.hpp>

#include "node_fixture.hpp"

using namespace switchboard;

namespace {

std::vector<config_error> check(const std::string& text) {
  return test::check_config(text, "t.conf");
}

std::string dump(const std::vector<config_error>& errors) {
  std::string result;
  for (auto& e : errors)
    result += e.to_string() + "\n";
  return result;
}

} // namespace

TEST_CASE("a config with every built-in kind wired up is valid") {
  auto errors = check(R"(
[node]
name = "gw"
stop-timeout = 2s
[actors]
echo = { kind = "echo" }
room = { kind = "room" }
api = { kind = "router", field = "op", default = "echo",
        routes = { chat = "room", ping = "echo" } }
[scheduler]
max-threads = 2
)");
  INFO(dump(errors));
  CHECK(errors.empty());
}

TEST_CASE("a syntax error names the file and line") {
  auto cfg = node_config::from_string("[node]\nname = \"x\n", "bad.conf");
  REQUIRE(!cfg);
  auto text = render(cfg.error());
  INFO(text);
  CHECK(text.find("bad.conf:2") != std::string::npos);
}

TEST_CASE("a NUL byte is an error with its line (CAF's parser would stop "
          "there and pass the rest unread)") {
  std::string text{"[node]\nname = \"x\"\n\0\n[actors]\nx = [}\n", 36};
  auto cfg = node_config::from_string(text, "nul.conf");
  REQUIRE(!cfg);
  auto why = render(cfg.error());
  INFO(why);
  CHECK(why.find("nul.conf:3") != std::string::npos);
  CHECK(why.find("NUL") != std::string::npos);
}

TEST_CASE("a '#' comment is a syntax error that points to the semicolon") {
  auto cfg = node_config::from_string("[node]\n# hi\nname = \"x\"\n", "c.conf");
  REQUIRE(!cfg);
  CHECK(render(cfg.error()).find("';'") != std::string::npos);
}

TEST_CASE("an unknown key is an error with a suggestion") {
  auto errors = check("[node]\nnmae = \"x\"\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == errc::config_unknown_key);
  CHECK(errors[0].key == "node.nmae");
  CHECK(errors[0].line == 2);
  CHECK(errors[0].found.find("did you mean 'name'") != std::string::npos);
}

TEST_CASE("a wrongly typed value is an error, not silently dropped") {
  auto errors = check("[node]\nname = 42\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == errc::config_wrong_type);
  CHECK(errors[0].key == "node.name");
  CHECK(errors[0].expected == "string");
  CHECK(errors[0].found == "integer 42");
}

TEST_CASE("a wrongly typed CAF setting is an error") {
  auto errors = check("[scheduler]\nmax-threads = \"eight\"\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == errc::config_wrong_type);
  CHECK(errors[0].key == "scheduler.max-threads");
  CHECK(errors[0].line == 2);
}

TEST_CASE("an unknown CAF key and an unknown section are errors") {
  auto errors = check("[scheduler]\nmax-thread = 2\n[shceduler]\nx = 1\n");
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].code == errc::config_unknown_key);
  CHECK(errors[0].key == "scheduler.max-thread");
  CHECK(errors[1].key == "shceduler");
  CHECK(errors[1].found.find("did you mean [scheduler]") != std::string::npos);
}

TEST_CASE("an unknown kind is an error that lists the kinds") {
  auto errors = check("[actors]\na = { kind = \"ecoh\" }\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == errc::config_unknown_kind);
  CHECK(errors[0].key == "actors.a.kind");
  CHECK(errors[0].expected.find("echo") != std::string::npos);
  CHECK(errors[0].found.find("did you mean \"echo\"") != std::string::npos);
}

TEST_CASE("a missing kind and a missing required key are errors") {
  auto errors = check("[actors]\na = { }\nr = { kind = \"router\" }\n");
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].code == errc::config_missing_key);
  CHECK(errors[0].key == "actors.a.kind");
  CHECK(errors[0].line == 2);
  CHECK(errors[1].code == errc::config_missing_key);
  CHECK(errors[1].key == "actors.r.routes");
  CHECK(errors[1].line == 3);
}

TEST_CASE("a name defined twice is an error even though CAF keeps the last") {
  auto errors =
    check("[actors]\na = { kind = \"echo\" }\na = { kind = \"room\" }\n");
  INFO(dump(errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == errc::config_duplicate_name);
  CHECK(errors[0].key == "actors.a");
  CHECK(errors[0].line == 3);
}

TEST_CASE("wiring to a name that does not exist is an error") {
  auto errors = check(R"([actors]
r = { kind = "router", routes = { x = "nobody" }, default = "ghost" }
)");
  REQUIRE(errors.size() == 2);
  for (auto& e : errors)
    CHECK(e.code == errc::config_unknown_actor);
  std::vector<std::string> keys{errors[0].key, errors[1].key};
  std::sort(keys.begin(), keys.end());
  CHECK(keys
        == std::vector<std::string>{"actors.r.default", "actors.r.routes.x"});
}

TEST_CASE("every error is reported, not only the first") {
  auto errors = check(R"([node]
name = 1
[actors]
a = { kind = "nope" }
b = { kind = "echo", extra = true }
)");
  INFO(dump(errors));
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].line == 2);
  CHECK(errors[1].line == 4);
  CHECK(errors[2].line == 5);
  CHECK(errors[2].key == "actors.b.extra");
}

TEST_CASE("an error renders as file:line: key: expected, found") {
  auto errors = check("[node]\nname = 42\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string()
        == "t.conf:2: node.name: expected string, found integer 42");
}

TEST_CASE("command-line overrides replace and add keys") {
  auto cfg = node_config::from_string("[node]\nname = \"a\"\n");
  REQUIRE(cfg);
  REQUIRE(
    !cfg->apply_overrides({"--node.name=gw", "--scheduler.max-threads=3"}));
  CHECK(cfg->node_name() == "gw");
  CHECK(caf::get_or(cfg->content(), "scheduler.max-threads", int64_t{0}) == 3);
  CHECK(cfg->apply_overrides({"--nodot=1"}));
}

TEST_CASE("the control path defaults per node name and can be turned off") {
  auto cfg = node_config::from_string("[node]\nname = \"n1\"\n");
  REQUIRE(cfg);
  CHECK(cfg->control_path() == default_control_path("n1"));
  CHECK(cfg->control_path().find("/n1.sock") != std::string::npos);
  REQUIRE(!cfg->apply_overrides({"--node.control=none"}));
  CHECK(cfg->control_path().empty());
}

TEST_CASE("a missing file is an error naming it") {
  auto cfg = node_config::from_file("/nonexistent/x.conf");
  REQUIRE(!cfg);
  CHECK(render(cfg.error()).find("/nonexistent/x.conf") != std::string::npos);
}

TEST_CASE("routers that forward in a cycle are an error") {
  auto self_loop =
    check("[actors]\napi = { kind = \"router\", routes = { x = \"api\" } }\n");
  REQUIRE(self_loop.size() == 1);
  CHECK(self_loop[0].code == errc::config_bad_value);
  CHECK(self_loop[0].key == "actors.api.routes.x");
  CHECK(self_loop[0].found == "a cycle: api -> api");
  auto pair = check(R"([actors]
e = { kind = "echo" }
a = { kind = "router", routes = { x = "b", y = "e" } }
b = { kind = "router", routes = { z = "e" }, default = "a" }
)");
  INFO(dump(pair));
  REQUIRE(pair.size() == 1);
  CHECK(pair[0].found == "a cycle: a -> b -> a");
  // Two routers in a row without a cycle are fine.
  CHECK(check(R"([actors]
e = { kind = "echo" }
a = { kind = "router", routes = { x = "b" } }
b = { kind = "router", routes = { z = "e" } }
)")
          .empty());
}

TEST_CASE("a remote address needs [node] peers or listen") {
  auto errors = check(
    "[actors]\nr = { kind = \"router\", routes = { x = \"n2/echo\" } }\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == errc::config_unknown_actor);
  CHECK(errors[0].expected.find("[node] peers or listen") != std::string::npos);
  CHECK(check("[node]\npeers = [\"127.0.0.1:4100\"]\n[actors]\nr = { kind "
              "= \"router\", routes = { x = \"n2/echo\" } }\n")
          .empty());
}

TEST_CASE("plan_reload sorts entries into added, removed, changed and "
          "unchanged, and lists what needs a restart") {
  auto now = switchboard::node_config::from_string(
    "[node]\nname = \"a\"\n[buffers]\nold = { bytes = 64 }\n[actors]\nx = { "
    "kind = \"echo\" }\ny = { kind = \"echo\" }\nz = { kind = \"room\" "
    "}\n[bridges]\nb = { kind = \"udp\", bind = \"127.0.0.1:0\", to = \"x\" "
    "}\n");
  auto next = switchboard::node_config::from_string(
    "[node]\nname = \"b\"\n[buffers]\nold = { bytes = 128 }\nnew = { bytes = "
    "64 }\n[actors]\nx = { kind = \"echo\" }\nz = { kind = \"room\", extra "
    "= 1 }\nw = { kind = \"echo\" }\n[bridges]\nb = { kind = \"udp\", bind = "
    "\"127.0.0.1:0\", to = \"x\" }\n");
  REQUIRE(now);
  REQUIRE(next);
  // b is in both files but not running: it counts as added.
  auto plan =
    switchboard::plan_reload(now->content(), next->content(), {"x", "y", "z"});
  using v = std::vector<std::string>;
  CHECK(plan.added == v{"actors.w", "bridges.b"});
  CHECK(plan.removed == v{"actors.y"});
  CHECK(plan.changed == v{"actors.z"});
  CHECK(plan.unchanged == v{"actors.x"});
  // A new buffer is made on first use; a changed one needs a restart.
  CHECK(plan.needs_restart == v{"buffers.old", "node.name"});
  CHECK(!plan.empty());
  auto same = switchboard::plan_reload(now->content(), now->content(),
                                       {"x", "y", "z", "b"});
  CHECK(same.empty());
  CHECK(same.needs_restart.empty());
  CHECK(same.to_text().find("no entry changes") != std::string::npos);
}

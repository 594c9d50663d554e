// switchboard: an embeddable C++ actor runtime. MIT License.

// What is written on Node's IPC channel: one line of valid JSON, never one
// of Node's internal messages.

#include <switchboard/bridges/process/node_channel.hpp>

#include <catch2/catch.hpp>

#include <switchboard/errc.hpp>

using namespace switchboard;
using namespace switchboard::bridges;

TEST_CASE("node_channel_line passes JSON, flattens lines, refuses the rest") {
  CHECK(node_channel_line(R"({"a":1})", "c") == std::string{R"({"a":1})"});
  CHECK(node_channel_line("{\n\"a\": 1\n}", "c") == std::string{R"({"a":1})"});
  auto bad = node_channel_line("{\"a\":", "c");
  REQUIRE(!bad);
  CHECK(is(bad.error(), errc::invalid_json));
  auto internal = node_channel_line(R"({"cmd":"NODE_HANDLE"})", "c");
  REQUIRE(!internal);
  CHECK(is(internal.error(), errc::bad_message));
  CHECK(node_channel_line(R"({"cmd":"NOT_NODE_"})", "c"));
}

TEST_CASE("a NUL byte after a value is not JSON, even next to NODE_ (found "
          "by fuzzing: nlohmann/json stops reading at the NUL)") {
  std::string text{"{\"cmd\":\"NODE_X\"}\0garbage", 24};
  auto line = node_channel_line(text, "c");
  REQUIRE(!line);
  CHECK(is(line.error(), errc::invalid_json));
  CHECK(!is_node_internal(text));
  std::string plain{"[1]\0{", 5};
  CHECK(!node_channel_line(plain, "c"));
  CHECK(is_node_internal(R"({"cmd":"NODE_X"})"));
}

// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/json_message.hpp>

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <switchboard/errc.hpp>

using namespace switchboard;

TEST_CASE("valid JSON values are kept as text, unchanged") {
  for (auto text : {"{\"a\":1}", "[1, 2]", "\"plain string\"", "42", "null",
                    "{ \"spaced\" : true }"}) {
    auto msg = json_message::parse(text);
    REQUIRE(msg);
    CHECK(msg->text == text);
  }
}

TEST_CASE("invalid JSON is an error that says where") {
  auto msg = json_message::parse("{\"a\":}");
  REQUIRE(!msg);
  CHECK(is(msg.error(), errc::invalid_json));
  CHECK(render(msg.error()).find("column 6") != std::string::npos);
  CHECK(!json_message::parse(""));
  CHECK(!json_message::parse("{\"a\":1} trailing"));
}

TEST_CASE("is_json follows the standard, also where simdjson stops") {
  // Valid, with surrounding whitespace, escapes and UTF-8.
  for (std::string text :
       {"{}", " [1,2.5e3,-0] \n", "\"caf\\u00e9 \xc3\xa9\"", "true", "0"}) {
    INFO(text);
    CHECK(is_json(text));
  }
  // Invalid: syntax, control characters, bad UTF-8, two values, nothing.
  for (std::string text : {"{\"a\":}", "[1,]", "\"a\nb\"", "\"\xff\"", "1 2",
                           "", "   ", "nul", "01", "1."}) {
    INFO(text);
    CHECK(!is_json(text));
  }
  // Valid JSON beyond simdjson's limits: a huge integer, deep nesting.
  CHECK(is_json("123456789012345678901234567890"));
  CHECK(is_json("-123456789012345678901234567890"));
  std::string deep(2000, '[');
  deep += std::string(2000, ']');
  CHECK(is_json(deep));
  CHECK(!is_json(deep.substr(1)));
  // Larger than the parser a thread keeps.
  std::string big = "[" + std::string(3 << 20, ' ') + "\"x\"]";
  CHECK(is_json(big));
  big.back() = ',';
  CHECK(!is_json(big));
}

TEST_CASE("a json_message survives CAF's binary serialization") {
  caf::actor_system_config cfg;
  cfg.add_message_type<json_message>("switchboard::json_message");
  caf::actor_system sys{cfg};
  auto original = json_message::trusted("{\"bytes\":\"\\u0000\\u00ff\"}");
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE(!sink(original));
  json_message copy;
  caf::binary_deserializer source{sys, buf};
  REQUIRE(!source(copy));
  CHECK(copy == original);
}

// switchboard: an embeddable C++ actor runtime. MIT License.

#include <switchboard/actors/calculator.hpp>

#include <catch2/catch.hpp>

#include <switchboard/actors/errc.hpp>
#include <switchboard/errc.hpp>

using switchboard::json_message;
using switchboard::render;
using switchboard::actors::calculate;
namespace actors = switchboard::actors;

namespace {

// The reply text, or "error: ..." with the rendered error.
std::string calc(const std::string& text) {
  auto r = calculate(json_message::trusted(text));
  return r ? r->text : "error: " + render(r.error());
}

std::string op(const std::string& name, const std::string& operands) {
  return calc(R"({"type":"calculate","operation":")" + name + R"(","operands":)"
              + operands + "}");
}

} // namespace

TEST_CASE("the calculator does every operation, folded left") {
  CHECK(op("add", "[1,2,3]") == R"({"result":6})");
  CHECK(op("add", "[5]") == R"({"result":5})");
  CHECK(op("subtract", "[10,3,2]") == R"({"result":5})");
  CHECK(op("multiply", "[2,3,4]") == R"({"result":24})");
  CHECK(op("multiply", "[7]") == R"({"result":7})");
  CHECK(op("divide", "[9,2]") == R"({"result":4.5})");
  CHECK(op("divide", "[100,5,2]") == R"({"result":10})");
  CHECK(op("add", "[0.1,0.2]") == R"({"result":0.30000000000000004})");
  CHECK(op("subtract", "[-1.5,2]") == R"({"result":-3.5})");
}

TEST_CASE("a message with an operation and no type is a calculate") {
  CHECK(calc(R"({"operation":"add","operands":[2,2]})") == R"({"result":4})");
}

TEST_CASE("every bad calculation is an error that says what was wrong") {
  auto is_bad = [](const std::string& text) {
    auto r = calculate(json_message::trusted(text));
    return !r && actors::is(r.error(), actors::errc::bad_calculation);
  };
  CHECK(is_bad(R"({"operation":"power","operands":[2,3]})"));
  CHECK(op("power", "[2,3]")
        == "error: bad_calculation: unknown operation \"power\" (add, "
           "subtract, multiply or divide)");
  CHECK(op("subtract", "[1]")
        == "error: bad_calculation: subtract needs at least 2 operands, got 1");
  CHECK(op("divide", "[]")
        == "error: bad_calculation: divide needs at least 2 operands, got 0");
  CHECK(op("add", "[]")
        == "error: bad_calculation: add needs at least 1 operand, got 0");
  CHECK(op("add", R"([1,"2"])")
        == "error: bad_calculation: operand 2 is not a number: \"2\"");
  CHECK(op("add", "[1,null]")
        == "error: bad_calculation: operand 2 is not a number: null");
  CHECK(op("divide", "[1,2,0]")
        == "error: bad_calculation: division by zero (operand 3)");
  CHECK(op("multiply", "[1e308,10]")
        == "error: bad_calculation: the result is not a finite number");
  CHECK(
    calc(R"({"type":"calculate","operation":"add"})")
    == "error: bad_calculation: missing \"operands\" (an array of numbers)");
  CHECK(calc(R"({"type":"calculate","operands":[1]})")
        == "error: bad_calculation: missing \"operation\" (add, subtract, "
           "multiply or divide)");
  CHECK(calc(R"({"type":"dance"})")
        == "error: bad_message: unknown type \"dance\" (calculate or "
           "batchCalculate)");
  CHECK(calc("[1,2]")
        == "error: bad_message: a calculator request is a JSON object");
  CHECK(calc("{oops") == "error: invalid_json: the request is not JSON");
}

TEST_CASE("a batch answers every item, successes and failures mixed") {
  auto reply = calc(R"({"type":"batchCalculate","operations":[
    {"id":1,"operation":"add","operands":[1,2]},
    {"id":"b","operation":"divide","operands":[1,0]},
    {"id":3,"operation":"nope","operands":[1]},
    {"operation":"multiply","operands":[3,3]}]})");
  CHECK(
    reply
    == R"x({"results":[{"id":1,"result":3,"success":true},)x"
       R"x({"error":"bad_calculation: division by zero (operand 2)","id":"b","success":false},)x"
       R"x({"error":"bad_calculation: unknown operation \"nope\" (add, subtract, multiply or divide)","id":3,"success":false},)x"
       R"x({"result":9,"success":true}]})x");
  CHECK(calc(R"({"type":"batchCalculate"})")
        == "error: bad_calculation: batchCalculate needs \"operations\" (an "
           "array)");
  CHECK(calc(R"({"type":"batchCalculate","operations":[]})")
        == R"({"results":[]})");
}

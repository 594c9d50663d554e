// switchboard: an embeddable C++ actor runtime. MIT License.

#include "switchboard/actors/calculator.hpp"

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include <switchboard/errc.hpp>

#include "switchboard/actors/errc.hpp"

namespace switchboard::actors {

namespace {

using json = nlohmann::json;

// A JavaScript number as JSON: whole values without a fraction.
json number(double x) {
  if (std::floor(x) == x && std::fabs(x) < 9007199254740992.0) // 2^53
    return static_cast<int64_t>(x);
  return x;
}

// Computes one operation; an error says what was wrong.
caf::expected<double> compute(const json& op) {
  if (!op.is_object())
    return make_error(errc::bad_calculation, "an operation must be an object");
  auto name_it = op.find("operation");
  if (name_it == op.end() || !name_it->is_string())
    return make_error(errc::bad_calculation,
                      "missing \"operation\" (add, subtract, multiply or "
                      "divide)");
  auto name = name_it->get<std::string>();
  size_t min_operands;
  if (name == "add" || name == "multiply")
    min_operands = 1;
  else if (name == "subtract" || name == "divide")
    min_operands = 2;
  else
    return make_error(errc::bad_calculation,
                      "unknown operation \"" + name
                        + "\" (add, subtract, multiply or divide)");
  auto operands_it = op.find("operands");
  if (operands_it == op.end() || !operands_it->is_array())
    return make_error(errc::bad_calculation,
                      "missing \"operands\" (an array of numbers)");
  auto& operands = *operands_it;
  if (operands.size() < min_operands)
    return make_error(errc::bad_calculation,
                      name + " needs at least " + std::to_string(min_operands)
                        + " operand" + (min_operands == 1 ? "" : "s") + ", got "
                        + std::to_string(operands.size()));
  double acc = 0;
  for (size_t i = 0; i < operands.size(); ++i) {
    auto& x = operands[i];
    if (!x.is_number())
      return make_error(errc::bad_calculation,
                        "operand " + std::to_string(i + 1)
                          + " is not a number: " + x.dump());
    auto v = x.get<double>();
    if (i == 0) {
      acc = v;
      continue;
    }
    if (name == "add") {
      acc += v;
    } else if (name == "subtract") {
      acc -= v;
    } else if (name == "multiply") {
      acc *= v;
    } else {
      if (v == 0)
        return make_error(errc::bad_calculation, "division by zero (operand "
                                                   + std::to_string(i + 1)
                                                   + ")");
      acc /= v;
    }
  }
  if (!std::isfinite(acc))
    return make_error(errc::bad_calculation,
                      "the result is not a finite number");
  return acc;
}

} // namespace

caf::expected<json_message> calculate(const json_message& request) {
  auto req = json::parse(request.text, nullptr, false);
  if (req.is_discarded())
    return switchboard::make_error(switchboard::errc::invalid_json,
                                   "the request is not JSON");
  if (!req.is_object())
    return switchboard::make_error(switchboard::errc::bad_message,
                                   "a calculator request is a JSON object");
  auto type_it = req.find("type");
  std::string type;
  if (type_it != req.end()) {
    if (!type_it->is_string())
      return switchboard::make_error(switchboard::errc::bad_message,
                                     "\"type\" must be a string");
    type = type_it->get<std::string>();
  } else if (req.contains("operation")) {
    type = "calculate"; // as the REST service sends it
  }
  if (type == "calculate") {
    auto result = compute(req);
    if (!result)
      return std::move(result.error());
    return json_message::trusted(json{{"result", number(*result)}}.dump());
  }
  if (type == "batchCalculate") {
    auto ops = req.find("operations");
    if (ops == req.end() || !ops->is_array())
      return make_error(errc::bad_calculation,
                        "batchCalculate needs \"operations\" (an array)");
    auto results = json::array();
    for (auto& op : *ops) {
      json item;
      if (op.is_object() && op.contains("id"))
        item["id"] = op["id"];
      if (auto r = compute(op)) {
        item["success"] = true;
        item["result"] = number(*r);
      } else {
        item["success"] = false;
        item["error"] = render(r.error());
      }
      results.push_back(std::move(item));
    }
    return json_message::trusted(json{{"results", std::move(results)}}.dump());
  }
  return switchboard::make_error(
    switchboard::errc::bad_message,
    type.empty()
      ? "no \"type\" (calculate or batchCalculate) and no "
        "\"operation\""
      : "unknown type \"" + type + "\" (calculate or batchCalculate)");
}

} // namespace switchboard::actors

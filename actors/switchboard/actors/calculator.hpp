// switchboard: an embeddable C++ actor runtime. MIT License.

#pragma once

#include <caf/expected.hpp>

#include <switchboard/json_message.hpp>

namespace switchboard::actors {

/// The calculator service's logic, a worker behaviour named "calculator".
///
/// Requests and replies:
/// ~~~
/// {"type":"calculate","operation":"add","operands":[1,2,3]} -> {"result":6}
/// {"operation":"divide","operands":[9,2]}                   -> {"result":4.5}
/// {"type":"batchCalculate","operations":[
///    {"id":1,"operation":"multiply","operands":[2,3]},
///    {"id":2,"operation":"divide","operands":[1,0]}]}
///   -> {"results":[{"id":1,"success":true,"result":6},
///                  {"id":2,"success":false,"error":"division by zero ..."}]}
/// ~~~
/// `add` and `multiply` take one or more operands, `subtract` and `divide`
/// two or more, folded left. Numbers are IEEE doubles, as in JavaScript; a
/// whole result prints without a fraction. An unknown operation, too few
/// operands, an operand that is not a number, division by zero and a result
/// that is not finite are errors (`errc::bad_calculation`) that say what was
/// wrong; in a batch they fail only their item.
caf::expected<json_message> calculate(const json_message& request);

} // namespace switchboard::actors

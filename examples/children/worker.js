// An unmodified Node IPC worker, as one would fork it from Node:
// answers {"type":"calculate","operation":"add","operands":[...]} with
// {"result": ...}, anything else with {"echo": message}.
'use strict';
process.on('message', (m) => {
  if (m && m.type === 'calculate' && m.operation === 'add' && Array.isArray(m.operands)) {
    process.send({ result: m.operands.reduce((a, b) => a + b, 0) });
  } else {
    process.send({ echo: m });
  }
});

// A Node child on an IPC channel (process.send / process.on('message')):
// answers every message with itself; {"cmd":"exit"} makes it exit with
// code 3; "garbage" makes it send nothing back.
'use strict';
process.on('message', (m) => {
  if (m && m.cmd === 'exit') process.exit(3);
  process.send(m);
});

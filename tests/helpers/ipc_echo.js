// A Node child on an IPC channel (process.send / process.on('message')):
// answers every message with itself; {"cmd":"exit"} makes it exit with
// code 3; "garbage" makes it send nothing back. With READY_AFTER=N it says
// "ready" (process.send('ready'), as PM2's wait_ready expects) N ms after
// it starts; READY_AFTER=never, never.
'use strict';
process.on('message', (m) => {
  if (m && m.cmd === 'exit') process.exit(3);
  process.send(m);
});
const readyAfter = process.env.READY_AFTER;
if (readyAfter !== undefined && readyAfter !== 'never') {
  setTimeout(() => process.send('ready'), Number(readyAfter));
}

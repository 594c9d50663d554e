// A cluster instance: serves on the socket it inherits at fd 3 (the
// systemd convention the cluster kind follows). Each connection gets this
// process's pid and is closed. On SIGTERM it stops accepting, lets open
// connections finish, and exits. With READY_AFTER=N it prints the JSON
// string "ready" on stdout N ms after it listens.
'use strict';
const net = require('net');
if (process.env.LISTEN_FDS !== '1' || process.env.LISTEN_PID !== String(process.pid)) {
  console.error(`LISTEN_FDS=${process.env.LISTEN_FDS} LISTEN_PID=${process.env.LISTEN_PID} pid=${process.pid}`);
  process.exit(1);
}
const server = net.createServer((c) => c.end(`${process.pid}\n`));
server.listen({ fd: 3 }, () => {
  if (process.env.READY_AFTER !== undefined) {
    setTimeout(() => process.stdout.write('"ready"\n'), Number(process.env.READY_AFTER));
  }
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

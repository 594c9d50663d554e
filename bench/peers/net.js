// The peer of bench/sockets.cpp: a Node `net` server that does what the
// tcp/uds bridge in front of `echo` does: it cuts the stream into lines,
// parses each as JSON and writes it back serialized, one line each.
//
//   node net.js tcp [pin]    listens on 127.0.0.1, a free port
//   node net.js uds PATH [pin]
//
// Prints "listening ADDRESS" once it accepts connections. With `pin`, every
// thread of the process runs on core 0, as the node in sockets.cpp does.
'use strict';
const { execFileSync } = require('child_process');
const net = require('net');

const [kind, where, pin] =
  process.argv[2] === 'uds' ? ['uds', process.argv[3], process.argv[4]]
                            : ['tcp', null, process.argv[3]];
if (pin === 'pin')
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let rest = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop();
    let out = '';
    for (const line of lines)
      out += JSON.stringify(JSON.parse(line)) + '\n';
    if (out) socket.write(out);
  });
  socket.on('error', () => {});
});
server.maxConnections = 20000;
const ready = () => {
  const a = server.address();
  console.log(`listening ${typeof a === 'string' ? a : a.port}`);
};
// Closing the server removes its socket file; a signal alone would not.
process.on('SIGTERM', () => { server.close(); process.exit(0); });
if (kind === 'uds') server.listen(where, 511, ready);
else server.listen(0, '127.0.0.1', 511, ready);

// The peer of bench/remote.cpp: two Node processes over TCP with JSON
// lines, what a Node service does to talk to another one without a
// framework.
//
//   node remote.js serve            listens on 127.0.0.1, a free port;
//                                   prints "listening PORT"
//   node remote.js rt PORT N        N round trips, one at a time
//   node remote.js one-way PORT N   N messages, then one that asks how
//                                   many arrived
//
// The server parses every line: {"echo":..} is written back serialized,
// {"done":true} is answered with {"count":N} (and the count starts over),
// anything else is counted. Clients print their rate as one number.
'use strict';
const net = require('net');

const message = { data: 'x'.repeat(40) };

function lines(socket, onLine) {
  let rest = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    const xs = (rest + chunk).split('\n');
    rest = xs.pop();
    for (const line of xs) onLine(line);
  });
}

const [mode, port, count] = process.argv.slice(2);
if (mode === 'serve') {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    let n = 0;
    lines(socket, (line) => {
      const m = JSON.parse(line);
      if (m.echo !== undefined) {
        socket.write(JSON.stringify(m) + '\n');
      } else if (m.done) {
        socket.write(JSON.stringify({ count: n }) + '\n');
        n = 0;
      } else {
        ++n;
      }
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
  process.on('SIGTERM', () => process.exit(0));
} else {
  const n = Number(count);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.setNoDelay(true);
  let t0;
  const finish = () => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log((n / seconds).toFixed(1));
    socket.end();
    process.exit(0);
  };
  if (mode === 'rt') {
    let left = n;
    const ping = JSON.stringify({ echo: 1, ...message }) + '\n';
    lines(socket, (line) => {
      JSON.parse(line);
      if (--left === 0) finish();
      else socket.write(ping);
    });
    socket.on('connect', () => {
      t0 = process.hrtime.bigint();
      socket.write(ping);
    });
  } else {
    lines(socket, (line) => {
      if (JSON.parse(line).count !== n) throw new Error(`lost messages: ${line}`);
      finish();
    });
    socket.on('connect', () => {
      t0 = process.hrtime.bigint();
      // Each message serialized; written in batches, as a busy producer's
      // writes coalesce.
      let sent = 0;
      const pump = () => {
        while (sent < n) {
          let batch = '';
          for (let i = 0; i < 256 && sent < n; ++i, ++sent)
            batch += JSON.stringify(message) + '\n';
          if (!socket.write(batch)) return socket.once('drain', pump);
        }
        socket.write('{"done":true}\n');
      };
      pump();
    });
  }
}

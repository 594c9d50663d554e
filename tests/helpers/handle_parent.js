// A Node parent that hands connections to a switchboard child node, as a
// cluster master hands them to its workers: child.send(message, socket).
// Usage: node handle_parent.js SWITCHBOARD CONFIG COUNT
// The child runs CONFIG (a parent bridge with connections = a server of
// listen = "parent" whose `to` echoes). The message carries fields of the
// wrong types, which the child must shrug off. Each of COUNT clients sends
// a line and must get it back; prints {"served": N} and exits 0 when all
// did, 1 otherwise.
'use strict';
const { spawn } = require('child_process');
const net = require('net');

const [cli, conf, countText] = process.argv.slice(2);
const count = Number(countText);
const child = spawn(cli, ['run', conf], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const deadline = setTimeout(() => finish(1, 'timed out'), 20000);
let served = 0;

function finish(code, why) {
  clearTimeout(deadline);
  if (why) console.error(`handle_parent: ${why}`);
  console.log(JSON.stringify({ served }));
  child.kill('SIGTERM');
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
}

const server = net.createServer({ pauseOnConnect: true }, (socket) => {
  child.send({ type: 'connection', peer: 1, bridge: ['not', 'a', 'string'] }, socket);
});

function ask(i) {
  if (i === count) {
    server.close();
    finish(served === count ? 0 : 1);
    return;
  }
  const line = JSON.stringify({ n: i }) + '\n';
  const c = net.connect(server.address().port, '127.0.0.1', () => c.write(line));
  let got = '';
  c.setEncoding('utf8');
  c.on('data', (d) => {
    got += d;
    if (got.endsWith('\n')) {
      if (got === line) served++;
      c.end();
      ask(i + 1);
    }
  });
  c.on('error', (e) => finish(1, e.message));
}

child.on('message', (m) => {
  if (m === 'ready') server.listen(0, '127.0.0.1', () => ask(0));
});
child.on('exit', (code) => {
  if (served < count) finish(1, `the child exited (${code})`);
});

// A Node parent that starts a switchboard node with an IPC channel
// (spawn with 'ipc', as fork does) and talks to its `parent` bridge:
//   node ipc_parent.js SWITCHBOARD CONFIG [N]
// Waits for the node's "ready" (its first message), then sends a string, an
// object and N (default 10,000) numbered objects; expects each back
// in order (the config wires the bridge to an echo), then disconnects and
// expects the node to stop with exit code 0. Prints one JSON line with the
// verdict and exits 0 only if everything held.
'use strict';
const { spawn } = require('child_process');
const assert = require('assert');

const [cli, conf, count] = process.argv.slice(2);
const child = spawn(cli, ['run', conf], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const n = Number(count || 10000);
const got = [];
const timer = setTimeout(() => {
  console.log(JSON.stringify({ ok: false, error: 'timeout', received: got.length }));
  child.kill('SIGKILL');
  process.exit(2);
}, 30000);

child.on('exit', (code, signal) => {
  clearTimeout(timer);
  const ok = got.length === n + 2 && code === 0;
  console.log(JSON.stringify({ ok, code, signal, received: got.length }));
  process.exit(ok ? 0 : 1);
});

let ready = false;
child.on('message', (m) => {
  if (!ready) {
    if (m !== 'ready') {
      console.log(JSON.stringify({ ok: false, error: 'first message not "ready"', got: m }));
      child.kill('SIGKILL');
      process.exit(1);
    }
    ready = true;
    send();
    return;
  }
  got.push(m);
  if (got.length < n + 2) return;
  try {
    assert.strictEqual(got[0], 'a plain string');
    assert.deepStrictEqual(got[1], { a: [1, { b: null }], s: 'line\nbreak' });
    for (let i = 0; i < n; ++i) assert.strictEqual(got[i + 2].i, i);
  } catch (e) {
    console.log(JSON.stringify({ ok: false, error: e.message }));
    child.kill('SIGKILL');
    process.exit(1);
  }
  child.disconnect(); // the node stops when its parent goes
});

function send() {
  child.send('a plain string');
  child.send({ a: [1, { b: null }], s: 'line\nbreak' });
  for (let i = 0; i < n; ++i) child.send({ i });
}

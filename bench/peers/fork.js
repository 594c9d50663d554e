// The peer of bench/children.cpp: Node's child_process.fork (json IPC) for
// round trips and one-way throughput, and spawn with JSON lines over
// stdio, parsed on both sides. The same payload as the C++ side.
// Prints one JSON line per figure, like the C++ benchmarks.
'use strict';
const { fork, spawn } = require('child_process');
const readline = require('readline');

const scale = Number(process.env.SWITCHBOARD_BENCH_SCALE || 1) || 1;
const payload = { ping: 1, data: 'abcdefghijklmnopqrstuvwxyz' };

function report(bench, impl, value, unit) {
  console.log(JSON.stringify({ bench, impl, value: Math.round(value * 10) / 10, unit }));
}

const mode = process.argv[2];
if (mode === 'ipc-child') {
  let expect = 0, seen = 0;
  process.on('message', (m) => {
    if (m.mode === 'one-way') { expect = m.n; seen = 0; return; }
    if (expect > 0) {
      if (++seen === expect) { expect = 0; process.send({ count: seen }); }
      return;
    }
    process.send(m);
  });
} else if (mode === 'lines-child') {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => process.stdout.write(JSON.stringify(JSON.parse(line)) + '\n'));
} else {
  main();
}

function roundTrips(child, n) {
  return new Promise((resolve) => {
    let i = 0;
    const start = process.hrtime.bigint();
    const onMessage = () => {
      if (++i === n) {
        child.off('message', onMessage);
        resolve(Number(process.hrtime.bigint() - start) / 1e9);
      } else {
        child.send(payload);
      }
    };
    child.on('message', onMessage);
    child.send(payload);
  });
}

function oneWay(child, n) {
  return new Promise((resolve) => {
    child.send({ mode: 'one-way', n });
    const start = process.hrtime.bigint();
    child.once('message', () => resolve(Number(process.hrtime.bigint() - start) / 1e9));
    for (let i = 0; i < n; ++i) child.send(payload);
  });
}

function jsonLines(n) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [__filename, 'lines-child'],
                        { stdio: ['pipe', 'pipe', 'inherit'] });
    const rl = readline.createInterface({ input: child.stdout });
    let got = 0;
    const start = process.hrtime.bigint();
    rl.on('line', (line) => {
      JSON.parse(line);
      if (++got === n) {
        const s = Number(process.hrtime.bigint() - start) / 1e9;
        child.stdin.end();
        resolve(s);
      }
    });
    // Written as fast as the pipe takes it.
    let i = 0;
    const line = JSON.stringify(payload) + '\n';
    const pump = () => {
      while (i < n) {
        ++i;
        if (!child.stdin.write(line)) { child.stdin.once('drain', pump); return; }
      }
    };
    pump();
  });
}

async function main() {
  const nRt = Math.round(20000 * scale);
  const nOw = Math.round(200000 * scale);
  const nLines = Math.round(200000 * scale);
  const child = fork(__filename, ['ipc-child']);
  await roundTrips(child, Math.round(nRt / 10));
  report('IPC round trip', 'Node fork (json)', nRt / (await roundTrips(child, nRt)), 'rt/s');
  report('IPC one-way', 'Node fork (json)', nOw / (await oneWay(child, nOw)), 'msg/s');
  child.disconnect();
  report('stdio JSON lines', 'Node spawn, JSON lines', nLines / (await jsonLines(nLines)), 'lines/s');
}

// The peer of bench/children.cpp: Node's child_process.fork (json IPC) for
// round trips and one-way throughput, and spawn with JSON lines over
// stdio, parsed on both sides. The same payload as the C++ side.
// Prints one JSON line per figure, like the C++ benchmarks.
'use strict';
const { execFileSync, fork, spawn } = require('child_process');
const os = require('os');
const readline = require('readline');

const scale = Number(process.env.SWITCHBOARD_BENCH_SCALE || 1) || 1;
const payload = { ping: 1, data: 'abcdefghijklmnopqrstuvwxyz' };
// Each figure is the median of `rounds` rounds of n, as in children.cpp.
const rounds = 9;

function report(bench, impl, value, unit) {
  console.log(JSON.stringify({ bench, impl, value: Math.round(value * 10) / 10, unit }));
}

// Round trips run with the parent (every thread) on core 0 and the child on
// core 1, as in children.cpp: where the scheduler puts the two sides decides
// a round trip's rate more than anything else.
function pinTo(cpus) {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
}
const allCpus = `0-${os.cpus().length - 1}`;

const mode = process.argv[2];
if (mode === 'ipc-child') {
  if (process.argv[3] === 'pinned') pinTo('1');
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

// Streams n lines through `lines` (a spawned lines-child and a line
// reader on its stdout), each parsed on its way back.
function jsonLines(lines, n) {
  return new Promise((resolve) => {
    let got = 0;
    const start = process.hrtime.bigint();
    const onLine = (line) => {
      JSON.parse(line);
      if (++got === n) {
        lines.rl.off('line', onLine);
        resolve(Number(process.hrtime.bigint() - start) / 1e9);
      }
    };
    lines.rl.on('line', onLine);
    // Written as fast as the pipe takes it.
    let i = 0;
    const line = JSON.stringify(payload) + '\n';
    const pump = () => {
      while (i < n) {
        ++i;
        if (!lines.child.stdin.write(line)) { lines.child.stdin.once('drain', pump); return; }
      }
    };
    pump();
  });
}

async function median(n, once) {
  const xs = [];
  for (let r = 0; r < rounds; ++r) xs.push(n / (await once(n)));
  xs.sort((a, b) => a - b);
  return xs[Math.floor(rounds / 2)];
}

async function main() {
  const nRt = Math.round(20000 * scale);
  const nOw = Math.round(200000 * scale);
  const nLines = Math.round(200000 * scale);
  pinTo('0');
  const pinned = fork(__filename, ['ipc-child', 'pinned']);
  await roundTrips(pinned, Math.round(nRt / 10));
  report('IPC round trip', 'Node fork (json)',
         await median(nRt, (n) => roundTrips(pinned, n)), 'rt/s');
  pinned.disconnect();
  pinTo(allCpus);
  const child = fork(__filename, ['ipc-child']);
  report('IPC one-way', 'Node fork (json)', await median(nOw, (n) => oneWay(child, n)), 'msg/s');
  child.disconnect();
  const linesChild = spawn(process.execPath, [__filename, 'lines-child'],
                           { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = { child: linesChild, rl: readline.createInterface({ input: linesChild.stdout }) };
  report('stdio JSON lines', 'Node spawn, JSON lines',
         await median(nLines, (n) => jsonLines(lines, n)), 'lines/s');
  linesChild.stdin.end();
}

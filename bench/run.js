// Runs every benchmark next to its peers in one run, prints a table and
// writes the figures to bench/results/<time>.json.
//
//   node bench/run.js [BUILD_DIR]      (scripts/bench.sh builds first)
//
// Each program prints one JSON line per figure: {bench, impl, value, unit}.
// The table compares switchboard's figure with every other one of the same
// benchmark; figures from different runs are not comparable on a noisy
// machine, so only ratios from one run are meaningful.
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const build = path.resolve(process.argv[2] || path.join(root, 'build'));

// [label, command, args]: each entry runs once, in this order.
const programs = [
  ['actors', path.join(build, 'bench', 'bench_actors'), []],
  ['actors peer', process.execPath, [path.join(__dirname, 'peers', 'postmessage.js')]],
  ['hop', path.join(build, 'bench', 'bench_hop'), []],
  // The same paths on a node that counts and on one with metrics off.
  ['metrics', path.join(build, 'bench', 'bench_metrics'), []],
  ['workers', path.join(build, 'bench', 'bench_workers'), []],
  ['workers peer (postMessage)', process.execPath,
   [path.join(__dirname, 'peers', 'postmessage.js'), '--workers']],
  ['workers peer (Atomics)', process.execPath, [path.join(__dirname, 'peers', 'atomics.js')]],
  ['children', path.join(build, 'bench', 'bench_children'), []],
  ['children peer (fork, spawn)', process.execPath, [path.join(__dirname, 'peers', 'fork.js')]],
  // Starts its peers itself (a raw C server, peers/net.js) to share one client.
  ['sockets', path.join(build, 'bench', 'bench_sockets'), [path.join(__dirname, 'peers')]],
  // A node with an http bridge and Node's http server, both under wrk.
  ['http', process.execPath, [path.join(__dirname, 'http.js'), build]],
  // A node's websocket bridges, Node + ws and a raw C echo, under one C++ client.
  ['websocket', process.execPath, [path.join(__dirname, 'websocket.js'), build]],
  // The redis bridges, ioredis (plain and auto-pipelining) and redis-benchmark
  // against one redis-server.
  ['redis', process.execPath, [path.join(__dirname, 'redis.js'), build]],
  // Two nodes over BASP (the other a child process), next to a raw TCP pair,
  // CAF as shipped and two Node processes with JSON lines (peers/remote.js).
  ['remote', path.join(build, 'bench', 'bench_remote'), [path.join(__dirname, 'peers')]],
];

// For these units a smaller value is better.
const lowerIsBetter = new Set(['us', '% of a core', 'bytes']);

const figures = [];
for (const [label, cmd, args] of programs) {
  process.stderr.write(`running ${label}...\n`);
  let out;
  try {
    out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
                                    timeout: 10 * 60 * 1000 });
  } catch (e) {
    console.error(`bench: ${label} failed: ${e.message}`);
    process.exit(1);
  }
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    try { figures.push(JSON.parse(line)); } catch { console.error(`bench: bad line from ${label}: ${line}`); }
  }
}

function fmt(v) {
  if (v >= 1e6) return (v / 1e6).toFixed(2) + 'M';
  if (v >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  return v.toFixed(1);
}

const rows = [['figure', 'ours (switchboard)', 'peer', 'peer value', 'ratio']];
const benches = [...new Set(figures.map((f) => f.bench))];
for (const bench of benches) {
  const group = figures.filter((f) => f.bench === bench);
  const ours = group.find((f) => f.impl === 'switchboard');
  for (const peer of group) {
    if (peer === ours) continue;
    let ratio = '';
    if (ours && peer.value > 0 && ours.value > 0) {
      const r = lowerIsBetter.has(peer.unit) ? peer.value / ours.value : ours.value / peer.value;
      ratio = r.toFixed(2) + 'x';
    }
    rows.push([`${bench} (${peer.unit})`, ours ? fmt(ours.value) : '-', peer.impl,
               fmt(peer.value), ratio]);
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const [i, r] of rows.entries()) {
  console.log(r.map((c, j) => c.padEnd(widths[j])).join(' | '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
}
console.log('\nratio: how many times better switchboard is (higher rate, or lower time/CPU).');

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const dir = path.join(__dirname, 'results');
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${stamp}.json`);
fs.writeFileSync(file, JSON.stringify({
  date: new Date().toISOString(), host: os.hostname(), cpus: os.cpus().length,
  node: process.version, scale: process.env.SWITCHBOARD_BENCH_SCALE || '1', figures,
}, null, 2));
console.log(`results: ${path.relative(root, file)}`);

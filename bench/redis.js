// Redis: the redis bridges (bench_redis) against ioredis doing the same
// (bench/peers/redis.js, plain and with enableAutoPipelining) and
// redis-benchmark (the ceiling: PUBLISH and XADD pipelined on one
// connection, a redis-cli subscriber reading the channel), all against one
// redis-server this script starts on a free port and stops by pid.
// Prints one JSON line per figure.
//
//   node bench/redis.js BUILD_DIR [N] [WINDOW]
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { freePort, waitForPort } = require('./ports');

const build = path.resolve(process.argv[2] || path.join(__dirname, '..', 'build'));
const scale = Number(process.env.SWITCHBOARD_BENCH_SCALE || 1);
const n = Math.round(Number(process.argv[3] || 200000) * scale);
const window = Number(process.argv[4] || 256);

function lines(out) {
  for (const line of out.split('\n'))
    if (line.trim()) process.stdout.write(line + '\n');
}

// redis-benchmark's requests/s for one command, pipelined WINDOW deep.
function ceiling(port, args) {
  const out = execFileSync('redis-benchmark',
                           ['-h', '127.0.0.1', '-p', String(port), '-n', String(n), '-c', '1',
                            '-P', String(window), '--csv', ...args],
                           { encoding: 'utf8', timeout: 120000 });
  const row = out.trim().split('\n').pop();
  return Number(/","([0-9.]+)",/.exec(row)[1]);
}

async function main() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-bench-redis-'));
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1',
                                       '--save', '', '--appendonly', 'no', '--dir', dir],
                      { stdio: 'ignore' });
  try {
    await waitForPort(port);
    lines(execFileSync(path.join(build, 'bench', 'bench_redis'),
                       [String(port), String(n), String(window)],
                       { encoding: 'utf8', timeout: 300000 }));
    for (const mode of ['plain', 'auto'])
      lines(execFileSync(process.execPath,
                         [path.join(__dirname, 'peers', 'redis.js'), String(port), String(n),
                          String(window), mode],
                         { encoding: 'utf8', timeout: 300000 }));
    let message = '{"ping":1,"data":"';
    while (message.length < 64 - 2) message += 'x';
    message += '"}';
    const sub = spawn('redis-cli', ['-p', String(port), 'subscribe', 'bench-ceiling'],
                      { stdio: 'ignore' });
    const report = (bench, value, unit) =>
      process.stdout.write(JSON.stringify({ bench, impl: 'redis-benchmark (ceiling)',
                                            value, unit }) + '\n');
    report('redis pub/sub (64 B JSON)', ceiling(port, ['PUBLISH', 'bench-ceiling', message]),
           'msg/s');
    sub.kill();
    report('redis stream XADD',
           ceiling(port, ['XADD', 'bench-ceiling-stream', '*', 'payload', message]), 'entry/s');
  } finally {
    redis.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench/redis.js: ${err.stack || err}\n`);
  process.exit(1);
});

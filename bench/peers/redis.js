// The peer of bench/redis.cpp: ioredis doing what the redis bridges do.
// - pub/sub: one client publishes N 64-byte JSON messages with WINDOW in
//   flight, a second is subscribed and JSON.parses each; messages/s until
//   all arrived;
// - stream: XADD N entries (WINDOW in flight); then one consumer of a
//   group reads them (XREADGROUP COUNT 64, BLOCK), parses each and XACKs
//   each batch; entries/s of each.
// With `auto`, both clients use enableAutoPipelining (one write per tick).
//
//   node peers/redis.js PORT N WINDOW plain|auto
'use strict';
const Redis = require('ioredis');

const [port, nArg, windowArg, mode] = process.argv.slice(2);
const n = Number(nArg);
const window = Number(windowArg);
const auto = mode === 'auto';
const impl = auto ? 'ioredis (auto-pipelining)' : 'ioredis';
const options = { port: Number(port), host: '127.0.0.1', enableAutoPipelining: auto };

let message = '{"ping":1,"data":"';
while (message.length < 64 - 2) message += 'x';
message += '"}';

function report(bench, value, unit) {
  process.stdout.write(JSON.stringify({ bench, impl, value: Math.round(value * 10) / 10, unit }) + '\n');
}

// Runs `op` n times with `window` in flight.
function pump(op, count) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    const one = () => {
      if (sent >= count) return;
      sent++;
      op().then(() => {
        if (++done === count) resolve();
        else one();
      }, reject);
    };
    for (let i = 0; i < window && i < count; i++) one();
  });
}

async function pubsub() {
  const pub = new Redis(options);
  const sub = new Redis(options);
  let got = 0;
  let finish;
  const all = new Promise((resolve) => { finish = resolve; });
  sub.on('message', (channel, text) => {
    JSON.parse(text);
    if (++got === n) finish();
  });
  await sub.subscribe('bench-node');
  const t0 = process.hrtime.bigint();
  await pump(() => pub.publish('bench-node', message), n);
  await all;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  report('redis pub/sub (64 B JSON)', n / secs, 'msg/s');
  pub.disconnect();
  sub.disconnect();
}

async function stream() {
  const key = `bench-node-stream-${mode}`;
  const r = new Redis(options);
  await r.del(key);
  let t0 = process.hrtime.bigint();
  await pump(() => r.xadd(key, '*', 'payload', message), n);
  let secs = Number(process.hrtime.bigint() - t0) / 1e9;
  report('redis stream XADD', n / secs, 'entry/s');
  const c = new Redis(options);
  t0 = process.hrtime.bigint();
  await c.xgroup('CREATE', key, 'bench', '0', 'MKSTREAM');
  let got = 0;
  while (got < n) {
    const res = await c.xreadgroup('GROUP', 'bench', 'node', 'COUNT', 64, 'BLOCK', 2000,
                                   'STREAMS', key, '>');
    if (!res) continue;
    const ids = [];
    for (const [id, fields] of res[0][1]) {
      JSON.parse(fields[1]);
      ids.push(id);
    }
    await c.xack(key, 'bench', ...ids);
    got += ids.length;
  }
  secs = Number(process.hrtime.bigint() - t0) / 1e9;
  report('redis stream consume + XACK', n / secs, 'entry/s');
  await r.del(key);
  r.disconnect();
  c.disconnect();
}

pubsub().then(stream).catch((err) => {
  process.stderr.write(`peers/redis.js: ${err}\n`);
  process.exit(1);
});

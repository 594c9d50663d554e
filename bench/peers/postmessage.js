// The peer of bench/actors.cpp: Node's worker_threads postMessage between
// the main thread and one worker, with the same JSON payload.
// Prints one JSON line per figure, like the C++ benchmarks.
'use strict';
const { Worker, isMainThread, parentPort } = require('worker_threads');

const scale = Number(process.env.SWITCHBOARD_BENCH_SCALE || 1) || 1;
const impl = 'Node worker_threads postMessage';
// With --workers the same figures are named after bench/workers.cpp's.
const prefix = process.argv.includes('--workers') ? 'worker' : 'actor';

function report(bench, value, unit) {
  console.log(JSON.stringify({ bench, impl, value: Math.round(value * 10) / 10, unit }));
}

if (!isMainThread) {
  // Echo every message; in one-way mode count and answer once at the end.
  let expect = 0, seen = 0;
  parentPort.on('message', (m) => {
    if (m.mode === 'one-way') { expect = m.n; seen = 0; return; }
    if (expect > 0) {
      if (++seen === expect) { expect = 0; parentPort.postMessage('done'); }
      return;
    }
    parentPort.postMessage(m);
  });
} else {
  const worker = new Worker(__filename);
  const payload = { ping: 1 };

  function roundTrips(n) {
    return new Promise((resolve) => {
      let i = 0;
      const start = process.hrtime.bigint();
      const onMessage = () => {
        if (++i === n) {
          worker.off('message', onMessage);
          resolve(Number(process.hrtime.bigint() - start) / 1e9);
        } else {
          worker.postMessage(payload);
        }
      };
      worker.on('message', onMessage);
      worker.postMessage(payload);
    });
  }

  function oneWay(n) {
    return new Promise((resolve) => {
      worker.postMessage({ mode: 'one-way', n });
      const start = process.hrtime.bigint();
      worker.once('message', () =>
        resolve(Number(process.hrtime.bigint() - start) / 1e9));
      for (let i = 0; i < n; ++i) worker.postMessage(payload);
    });
  }

  (async () => {
    const nRt = Math.round(50000 * scale);
    const nOw = Math.round(500000 * scale);
    await roundTrips(Math.round(nRt / 10));
    report(`${prefix} round trip`, nRt / await roundTrips(nRt), 'rt/s');
    report(`${prefix} one-way`, nOw / await oneWay(nOw), 'msg/s');
    await worker.terminate();
  })();
}

// The peer of the wait/notify ping-pong in bench/workers.cpp: two Node
// threads (main and one worker) take turns through one Int32 of a
// SharedArrayBuffer with Atomics.wait/notify.
'use strict';
const { Worker, isMainThread, workerData } = require('worker_threads');

const scale = Number(process.env.SWITCHBOARD_BENCH_SCALE || 1) || 1;
const n = Math.round(20000 * scale);

if (!isMainThread) {
  const v = new Int32Array(workerData);
  for (let i = 0; i < n; ++i) {
    let x;
    while (((x = Atomics.load(v, 0)) & 1) === 0) Atomics.wait(v, 0, x);
    Atomics.store(v, 0, x + 1);
    Atomics.notify(v, 0, 1);
  }
} else {
  const sab = new SharedArrayBuffer(64);
  const v = new Int32Array(sab);
  const worker = new Worker(__filename, { workerData: sab });
  // Atomics.wait is allowed on Node's main thread.
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; ++i) {
    let x = Atomics.load(v, 0);
    Atomics.store(v, 0, x + 1);
    Atomics.notify(v, 0, 1);
    while (((x = Atomics.load(v, 0)) & 1) === 1) Atomics.wait(v, 0, x);
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ bench: 'wait/notify ping-pong', impl: 'Node Atomics.wait/notify',
                               value: Math.round(n / secs * 10) / 10, unit: 'rt/s' }));
  worker.terminate();
}

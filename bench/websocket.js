// WebSocket: a node's websocket bridges against Node + ws doing the same
// (bench/peers/websocket.js), driven by one C++ load client
// (bench_ws_load) so that the client is not what sets the pace:
//   - broadcast: 50 clients in a room, one sends 40-byte JSON messages,
//     the 49 others receive them (messages delivered per second);
//   - echo with 1 and with 64 messages in flight on one connection
//     (messages per second), also with the echo actor on the io loop
//     (run-on = "loop") and against a blocking C echo server (the raw
//     limit);
//   - 10,000 idle connections: the server's resident memory per
//     connection.
// Prints one JSON line per figure.
//
//   node bench/websocket.js BUILD_DIR [SECONDS]
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { freePort, waitForPort, rssOf } = require('./ports');

const build = path.resolve(process.argv[2] || path.join(__dirname, '..', 'build'));
const seconds = Number(process.argv[3] || 5);
// `node bench/websocket.js BUILD 5 idle` runs only the figures whose name
// has "idle".
const only = process.argv[4] || '';
const load = path.join(build, 'bench', 'bench_ws_load');
const idleConnections = 10000;

function run(args) {
  const out = execFileSync(load, args.map(String),
                           { encoding: 'utf8', timeout: (seconds + 60) * 1000 });
  return Number(out.trim());
}

// Opens `n` idle connections to `port`; returns the growth of `pid`'s RSS
// per connection once all are open.
function idleCost(pid, port, n) {
  return new Promise((resolve, reject) => {
    const before = rssOf(pid);
    const c = spawn(load, ['idle', String(port), String(n)],
                    { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => { c.kill('SIGKILL'); reject(new Error('idle: timed out')); },
                             120000);
    c.stdout.on('data', (d) => {
      out += d;
      if (!out.includes('ready')) return;
      // Let the server finish the last handshakes' work.
      setTimeout(() => {
        const after = rssOf(pid);
        c.stdin.end();
        c.on('exit', () => { clearTimeout(timer); resolve((after - before) / n); });
      }, 500);
    });
    c.on('exit', (code) => { if (!out.includes('ready')) reject(new Error(`idle exited ${code}`)); });
  });
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-ws-'));
  const [sbRoom, sbEcho, sbLoopEcho, nodeRoom, nodeEcho, rawEcho] =
    [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(),
     await freePort()];
  const conf = path.join(dir, 'ws.conf');
  fs.writeFileSync(conf, `[node]\nname = "bench-ws"\ncontrol = "none"\n`
                   + `[actors]\necho = { kind = "echo" }\nlobby = { kind = "room" }\n`
                   + `loop-echo = { kind = "echo", run-on = "loop" }\n`
                   + `[bridges]\n`
                   + `chat = { kind = "websocket", listen = "127.0.0.1:${sbRoom}", room = "lobby", `
                   + `max-connections = 20000 }\n`
                   + `api = { kind = "websocket", listen = "127.0.0.1:${sbEcho}", to = "echo", `
                   + `max-connections = 20000 }\n`
                   + `loop-api = { kind = "websocket", listen = "127.0.0.1:${sbLoopEcho}", `
                   + `to = "loop-echo" }\n`);
  const sb = spawn(path.join(build, 'bin', 'switchboard'), ['run', conf], { stdio: 'ignore' });
  const node = spawn(process.execPath, [path.join(__dirname, 'peers', 'websocket.js'),
                                        String(nodeRoom), String(nodeEcho)],
                     { stdio: 'ignore' });
  const raw = spawn(load, ['serve', String(rawEcho)], { stdio: 'ignore' });
  const peers = [['switchboard', sbRoom, sbEcho, sb], ['node ws', nodeRoom, nodeEcho, node]];
  // Echo only.
  const echoes = [['switchboard', sbEcho], ['switchboard, echo with run-on = loop', sbLoopEcho],
                  ['node ws', nodeEcho], ['raw blocking C echo', rawEcho]];
  const emit = (bench, impl, value, unit) =>
    console.log(JSON.stringify({ bench, impl, value, unit }));
  const wanted = (bench) => bench.includes(only);
  try {
    for (const [, port] of echoes) await waitForPort(port);
    await waitForPort(sbRoom);
    await waitForPort(nodeRoom);
    // Alternating, so that both see the machine in the same state.
    if (wanted('broadcast'))
      for (const [impl, room] of peers)
        emit('websocket broadcast, 50 clients', impl, run(['broadcast', room, 50, seconds]),
             'msg/s');
    for (const window of [1, 64])
      if (wanted(`echo, window ${window}`))
        for (const [impl, echo] of echoes)
          emit(`websocket echo, window ${window}`, impl, run(['echo', echo, window, seconds]),
               'msg/s');
    if (wanted('idle'))
      for (const [impl, room, , child] of peers)
        emit(`websocket idle connections (${idleConnections}), RSS each`, impl,
             await idleCost(child.pid, room, idleConnections), 'bytes');
  } finally {
    for (const child of [sb, node, raw]) child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e.message); process.exit(1); });

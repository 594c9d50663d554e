// HTTP: POST /echo with a 100-byte JSON body, driven by wrk (2 threads),
// against a switchboard node (the http bridge routing to `echo` on CAF's
// scheduler) and against Node's http server doing the same, with 50 and
// with 1,000 keep-alive connections. Prints one JSON line per figure.
//
//   node bench/http.js BUILD_DIR [SECONDS]
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { freePort, waitForPort } = require('./ports');

const build = path.resolve(process.argv[2] || path.join(__dirname, '..', 'build'));
const seconds = Number(process.argv[3] || 5);
const body = JSON.stringify({ id: 1, name: 'switchboard', payload: 'a'.repeat(58) });
if (body.length !== 100) throw new Error(`body is ${body.length} bytes`);

function wrk(port, connections, script) {
  const out = execFileSync('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, '--latency',
                                   '-s', script, `http://127.0.0.1:${port}/echo`],
                           { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (errors) throw new Error(`wrk saw ${errors[1]} error responses on ${port}`);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const scale = { us: 1, ms: 1000, s: 1e6 }[p99[2]];
  return { rps, p99: Number(p99[1]) * scale };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sb-bench-http-'));
  const script = path.join(dir, 'post.lua');
  fs.writeFileSync(script, `wrk.method = "POST"\nwrk.body = '${body}'\n`
                   + 'wrk.headers["Content-Type"] = "application/json"\n');
  const sbPort = await freePort();
  const conf = path.join(dir, 'http.conf');
  fs.writeFileSync(conf, `[node]\nname = "bench-http"\ncontrol = "none"\n`
                   + `[actors]\necho = { kind = "echo" }\n`
                   + `[bridges]\napi = { kind = "http", listen = "127.0.0.1:${sbPort}",\n`
                   + `  routes = [{ method = "POST", path = "/echo", to = "echo" }] }\n`);
  const nodePort = await freePort();
  const peers = [
    ['switchboard', sbPort, spawn(path.join(build, 'bin', 'switchboard'), ['run', conf],
                                  { stdio: 'ignore' })],
    ['node http', nodePort, spawn(process.execPath, [path.join(__dirname, 'peers', 'http.js'),
                                                     String(nodePort)], { stdio: 'ignore' })],
  ];
  try {
    for (const [, port] of peers) await waitForPort(port);
    for (const connections of [50, 1000]) {
      // Alternating, so that both see the machine in the same state.
      for (const [impl, port] of peers) {
        const r = wrk(port, connections, script);
        console.log(JSON.stringify({ bench: `http POST /echo, ${connections} connections`,
                                     impl, value: r.rps, unit: 'req/s' }));
        console.log(JSON.stringify({ bench: `http POST /echo p99, ${connections} connections`,
                                     impl, value: r.p99, unit: 'us' }));
      }
    }
  } finally {
    for (const [, , child] of peers) child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e.message); process.exit(1); });

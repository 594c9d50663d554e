// The dashboard in a real browser: Debian's chromium, driven by
// playwright-core, against a running node with a child process and a
// worker pool, behind a token.
//
//   node tests/browser/dashboard.test.js SWITCHBOARD ARTIFACT_DIR
//
// Checks that the page loads with no request leaving 127.0.0.1, shows every
// actor of the config (in the table and in the graph), that a rate on the
// page rises after messages are sent, that the send form gets a reply, and
// that a child the test kills is shown restarting. Saves a screenshot as
// ARTIFACT_DIR/dashboard.png. Exits 0 when every check passed.
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
// Debian's node-ws lives in /usr/share/nodejs, which only Debian's own
// node searches by itself.
module.paths.push('/usr/share/nodejs');
const WebSocket = require('ws');

const [switchboard, artifacts] = process.argv.slice(2);
if (!switchboard || !artifacts) {
  console.error('usage: dashboard.test.js SWITCHBOARD ARTIFACT_DIR');
  process.exit(2);
}
let playwright;
try {
  playwright = require('playwright-core');
} catch (e) {
  console.error('playwright-core is missing: run scripts/setup.sh --tests (npm ci)');
  process.exit(1);
}
const chromiumPath = '/usr/bin/chromium';
if (!fs.existsSync(chromiumPath)) {
  console.error('chromium is missing: run scripts/setup.sh --tests');
  process.exit(1);
}

// The whole test is bounded.
const overall = setTimeout(() => {
  console.error('FAIL: the test did not finish within 120 s');
  cleanup().finally(() => process.exit(1));
}, 120000);

const token = 's3cret-' + process.pid;
let node = null;
let browser = null;

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = null;
  if (node && node.exitCode === null) {
    const exited = new Promise((r) => node.once('exit', r));
    node.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (node.exitCode === null) node.kill('SIGKILL');
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Resolves when `pred()` is truthy, polling; rejects with `what` at the
// deadline.
async function until(what, pred, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function post(port, p, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// GET without following redirects: the status (and the response).
function get(port, p, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(Object.assign(res.statusCode, { headers: res.headers })));
    }).on('error', reject);
  });
}

// The answer to a WebSocket upgrade at /dashboard/live: 101 or the refusal.
function upgrade(port, options) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/dashboard/live`, options);
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (req, res) => {
      res.resume();
      resolve(res.statusCode);
      req.destroy();
    });
    ws.on('error', () => resolve(-1));
  });
}

// Runs `switchboard ARGS...` to its end: [status, stdout + stderr].
function runCli(args) {
  return new Promise((resolve) => {
    const p = spawn(switchboard, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('exit', (code) => resolve([code, out]));
  });
}

// The dashboard's WebSocket and bad input: text that is not JSON, an
// unknown type, an actor that is none, each get a clear error reply; a
// message over 64 KiB closes that connection (1009); a page that vanishes
// mid-request costs nothing; the node goes on answering.
async function checkBadInput(port) {
  const opts = { headers: { cookie: 'switchboard_token=' + token } };
  const ws = new WebSocket(`ws://127.0.0.1:${port}/dashboard/live`, opts);
  const replies = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d);
    if (m.type === 'reply') replies.push(m);
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.send('{"type":"send", not json');
  ws.send(JSON.stringify({ type: 'frobnicate', id: 2 }));
  ws.send(JSON.stringify({ type: 'send', id: 3, to: 'nobody', message: {} }));
  ws.send(JSON.stringify({ type: 'send', id: 4, to: 'echo' }));
  await until('four error replies', () => replies.length >= 4);
  assert.match(replies[0].error, /one JSON object/);
  assert.match(replies[1].error, /unknown type/);
  assert.match(replies[2].error, /no actor named 'nobody'/);
  assert.match(replies[3].error, /no "message"/);
  assert.ok(replies.every((r) => r.ok === false));
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send(JSON.stringify({ type: 'send', id: 5, to: 'echo', message: 'x'.repeat(70 * 1024) }));
  assert.equal(await closed, 1009, 'a message over 64 KiB closes the connection');
  // A page that leaves with a request in flight.
  const gone = new WebSocket(`ws://127.0.0.1:${port}/dashboard/live`, opts);
  await new Promise((resolve) => gone.once('open', resolve));
  gone.send(JSON.stringify({ type: 'send', id: 1, to: 'echo', message: { bye: 1 } }));
  gone.terminate();
  const r = await post(port, '/echo', '{"still":"here"}');
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"still":"here"}');
}

// Without a token the dashboard listens on loopback only, and answers only
// to a Host naming it: a page whose name was rebound to 127.0.0.1 (DNS
// rebinding) is refused.
async function checkWithoutToken(dir) {
  const port = await freePort();
  const conf = path.join(dir, 'open.conf');
  fs.writeFileSync(conf, `[node]\nname = "open"\ncontrol = "none"\n[bridges]\n` +
    `http = { kind = "http", listen = "127.0.0.1:${port}", dashboard = true }\n`);
  const wide = path.join(dir, 'wide.conf');
  fs.writeFileSync(wide, `[bridges]\nhttp = { kind = "http", listen = "0.0.0.0:0", dashboard = true }\n`);
  const [code, text] = await runCli(['check', wide]);
  assert.equal(code, 1, 'check refuses a dashboard off loopback without a token');
  assert.match(text, /needs a token/);
  const open = spawn(switchboard, ['run', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  open.stderr.on('data', (d) => (log += d));
  try {
    await until('the second node to be ready', () => log.includes(': ready') || open.exitCode !== null);
    assert.equal(Number(await get(port, '/dashboard/')), 200);
    assert.equal(Number(await get(port, '/dashboard/', { host: `localhost:${port}` })), 200);
    assert.equal(Number(await get(port, '/dashboard/', { host: `rebound.example:${port}` })), 403);
    // A name that only starts like a loopback address is a name.
    assert.equal(Number(await get(port, '/dashboard/', { host: `127.0.0.1.rebound.example:${port}` })), 403);
    assert.equal(Number(await get(port, '/dashboard/', { host: `127.1.2.3:${port}` })), 200);
    assert.equal(await upgrade(port, { headers: { host: `rebound.example:${port}` },
      origin: `http://rebound.example:${port}` }), 403);
    assert.equal(await upgrade(port, { origin: `http://127.0.0.1:${port}` }), 101);
  } finally {
    const exited = open.exitCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => open.once('exit', resolve));
    open.kill('SIGTERM');
    await exited;
  }
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-dashboard-'));
  const port = await freePort();
  const conf = path.join(dir, 'dashboard.conf');
  fs.writeFileSync(conf, `
[node]
name = "dash"
control = "none"

[actors]
echo = { kind = "echo" }
calc = { kind = "worker-thread", behavior = "calculator", count = 2 }
api = { kind = "router", field = "type", routes = { echo = "echo", calculate = "calc" } }
kid = { kind = "child-process",
        command = ["${process.execPath}", "-e", "setInterval(() => {}, 1000)"],
        restart-delay = 200ms }

[bridges]
http = { kind = "http", listen = "127.0.0.1:${port}", token = "${token}",
         dashboard = true,
         routes = [{ method = "POST", path = "/echo", to = "echo" },
                   { method = "POST", path = "/api", to = "api" }] }
`);
  const names = ['echo', 'calc', 'api', 'kid', 'http'];

  node = spawn(switchboard, ['run', conf], { stdio: ['ignore', 'inherit', 'pipe'] });
  let log = '';
  node.stderr.on('data', (d) => {
    log += d;
    process.stderr.write(d);
  });
  await until('the node to be ready', () => log.includes(': ready') || node.exitCode !== null, 20000);
  assert.equal(node.exitCode, null, 'the node exited early');

  // Without the token: no page, no WebSocket; with it (or its cookie) from
  // this origin, both; from a page of another origin, no WebSocket.
  assert.equal(Number(await get(port, '/dashboard/')), 401, 'GET /dashboard/ without the token');
  const moved = await get(port, '/dashboard?token=' + token);
  assert.equal(Number(moved), 301);
  assert.equal(moved.headers.location, '/dashboard/?token=' + token, 'the redirect keeps the token');
  const page0 = await get(port, '/dashboard/?token=' + token);
  assert.equal(Number(page0), 200);
  assert.match(page0.headers['set-cookie'][0], /^switchboard_token=[^;]+; Path=\/dashboard; HttpOnly; SameSite=Strict$/);
  assert.equal(page0.headers['x-frame-options'], 'DENY');
  assert.equal(await upgrade(port, {}), 401, 'the WebSocket without the token');
  assert.equal(await upgrade(port, { headers: { cookie: 'switchboard_token=' + token } }), 101, 'with the cookie');
  assert.equal(await upgrade(port, { headers: { cookie: 'switchboard_token=' + token },
    origin: 'http://elsewhere.example' }), 403, 'from another origin');
  await checkBadInput(port);
  await checkWithoutToken(dir);

  browser = await playwright.chromium.launch({ executablePath: chromiumPath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const outside = [];
  const requests = [];
  // Anything not for 127.0.0.1 is refused and remembered (a CDN, a font).
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    requests.push(u.href);
    if (u.hostname !== '127.0.0.1') {
      outside.push(u.href);
      return route.abort();
    }
    return route.continue();
  });
  const page = await context.newPage();
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });

  await page.goto(`http://127.0.0.1:${port}/dashboard/?token=${token}`);
  await page.waitForFunction(() => Number(document.body.dataset.snapshots || 0) >= 2, null, { timeout: 15000 });
  assert.equal(await page.textContent('#node-name'), 'dash');
  assert.ok(!page.url().includes('token'), 'the token left the address bar: ' + page.url());
  assert.equal(await page.textContent('#conn-state'), 'live');

  // Every actor of the config: a row and a node of the graph.
  for (const n of names) {
    assert.equal(await page.locator(`#actors tr[data-name="${n}"]`).count(), 1, 'a row for ' + n);
    assert.equal(await page.locator(`#graph g.gnode[data-name="${n}"]`).count(), 1, 'a graph node for ' + n);
  }
  assert.equal(await page.locator('#actors tr[data-name="calc"] td.kind').textContent(), 'worker-thread');

  // A rate rises once messages flow: echo's in/s and the http -> echo edge.
  const inRate = async () => Number(await page.locator('#actors tr[data-name="echo"] td.in').textContent());
  const before = await inRate();
  assert.equal(before, 0, 'echo is idle before the test sends');
  const sendUntil = Date.now() + 3000;
  let sent = 0;
  while (Date.now() < sendUntil && sent < 2000) {
    const r = await post(port, '/echo', JSON.stringify({ i: sent }));
    assert.equal(r.status, 200);
    sent++;
  }
  const rateText = String(await until('echo\'s in/s to rise', async () => {
    const r = await inRate();
    return r > 0 ? r : 0;
  }));
  const edge = page.locator('#graph g.edge.counted[data-from="http"][data-to="echo"]');
  await until('the http -> echo edge', async () => (await edge.count()) === 1);
  await until('a rate on the http -> echo edge', async () => Number(await edge.getAttribute('data-rate')) > 0);
  await until('the edge to count every message', async () => Number(await edge.getAttribute('data-messages')) >= sent);

  // The form sends a message and shows the reply.
  await page.selectOption('#send-to', 'echo');
  await page.fill('#send-message', '{"from":"the form","n":42}');
  await page.click('#send-button');
  await until('the reply', async () => (await page.textContent('#send-reply')).includes('"the form"'));

  // A child the test kills is shown restarting, then running again.
  const pidCell = page.locator('#children tr[data-name="kid"] td.pid');
  const pid = Number(await until('the child\'s pid', async () => Number(await pidCell.textContent())));
  assert.ok(pid > 0);
  const restarts = page.locator('#children tr[data-name="kid"] td.restarts');
  assert.equal(await restarts.textContent(), '0');
  process.kill(pid, 'SIGKILL');
  await until('the restart to show', async () => Number(await restarts.textContent()) >= 1);
  await until('a new pid', async () => {
    const p = Number(await pidCell.textContent());
    return p > 0 && p !== pid;
  });
  const kidState = await page.locator('#children tr[data-name="kid"] td.state').textContent();

  // The log tail has the node's lines, the restart among them.
  await until('the log to show the restart', async () =>
    (await page.locator('#log .line').allTextContents()).some((t) => t.includes('kid') && t.includes('exited')));

  const shot = path.join(artifacts, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });

  assert.deepEqual(outside, [], 'requests that left 127.0.0.1');
  assert.ok(requests.length >= 8, 'the page, its scripts and its style were requested');
  assert.ok(sockets.length >= 1 && sockets.every((u) => new URL(u).hostname === '127.0.0.1'),
    'the WebSocket stays on 127.0.0.1: ' + sockets.join(', '));
  assert.deepEqual(pageErrors, [], 'errors on the page');

  console.log(`ok: ${names.length} actors shown; echo at ${rateText}/s after ${sent} requests; ` +
    `child ${pid} killed and shown restarting (now ${kidState}); ${requests.length} requests, ` +
    `all to 127.0.0.1; screenshot ${shot}`);
  fs.rmSync(dir, { recursive: true, force: true });
}

main()
  .then(async () => {
    await cleanup();
    clearTimeout(overall);
    process.exit(0);
  })
  .catch(async (e) => {
    console.error('FAIL:', e && e.stack ? e.stack : e);
    await cleanup();
    clearTimeout(overall);
    process.exit(1);
  });

// WebSocket clients for the websocket bridge's tests, on Node's `ws`
// (Debian's node-ws). Every mode ends by itself within its deadline.
//
//   node ws_client.js room URL N K    N clients; each sends K messages to the
//                                     room; prints what each one received
//   node ws_client.js echo URL N      one client sends N messages at once
//                                     (the 6th is not JSON); prints the
//                                     replies in arrival order
//   node ws_client.js hold URL [PROTOCOL]
//                                     one client; prints "open PROTOCOL
//                                     EXTENSIONS", "msg TEXT" per message
//                                     and "close CODE REASON"; stdin lines
//                                     "send TEXT", "big N", "close" act
//
// Environment: WS_CA (a CA file for wss://), WS_DEFLATE=1 (offer
// permessage-deflate), WS_TOKEN (sent as a bearer token), WS_ORIGIN.
'use strict';

// Debian's node-ws lives in /usr/share/nodejs, which only Debian's own
// Node.js searches by itself.
module.paths.push('/usr/share/nodejs');
const WebSocket = require('ws');
const fs = require('fs');

const [mode, url, a, b] = process.argv.slice(2);

function options() {
  const o = {perMessageDeflate: process.env.WS_DEFLATE === '1'};
  if (process.env.WS_CA)
    o.ca = fs.readFileSync(process.env.WS_CA);
  o.headers = {};
  if (process.env.WS_TOKEN)
    o.headers.authorization = 'Bearer ' + process.env.WS_TOKEN;
  if (process.env.WS_ORIGIN)
    o.origin = process.env.WS_ORIGIN;
  return o;
}

function deadline(ms, what) {
  return setTimeout(() => {
    console.log(JSON.stringify({timeout: what}));
    process.exit(2);
  }, ms);
}

function room(n, k) {
  const timer = deadline(20000, 'room');
  const clients = [];
  // got[i][from] = sequence numbers client i received from client `from`.
  const got = [];
  let open = 0;
  let probed = new Set();
  let started = false;
  for (let i = 0; i < n; ++i) {
    const ws = new WebSocket(url, options());
    clients.push(ws);
    got.push({});
    ws.on('error', e => console.log(JSON.stringify({error: e.message})));
    ws.on('open', () => {
      if (++open === n)
        probe();
    });
    ws.on('message', data => {
      const m = JSON.parse(data.toString());
      if (m.probe !== undefined) {
        probed.add(i);
        return;
      }
      (got[i][m.from] = got[i][m.from] || []).push(m.seq);
      check();
    });
  }
  // Client 0's probes show every other member has joined the room (joining
  // happens after the handshake).
  function probe() {
    if (started)
      return;
    if (probed.size === n - 1) {
      started = true;
      for (let i = 0; i < n; ++i)
        for (let s = 0; s < k; ++s)
          clients[i].send(JSON.stringify({from: i, seq: s}));
      return;
    }
    clients[0].send(JSON.stringify({probe: 1}));
    setTimeout(probe, 20);
  }
  function check() {
    let total = 0;
    for (const g of got)
      for (const f in g)
        total += g[f].length;
    if (total < n * (n - 1) * k)
      return;
    clearTimeout(timer);
    // Let a duplicate show up if there is one.
    // (A pipe takes stdout asynchronously: exit once it is written.)
    setTimeout(() => process.stdout.write(JSON.stringify({got}) + '\n',
                                          () => process.exit(0)),
               100);
  }
}

function echo(n) {
  const timer = deadline(10000, 'echo');
  const ws = new WebSocket(url, options());
  const replies = [];
  ws.on('open', () => {
    for (let i = 0; i < n; ++i)
      ws.send(i === 5 ? 'not json' : JSON.stringify({i}));
  });
  ws.on('message', data => {
    replies.push(data.toString());
    if (replies.length === n) {
      clearTimeout(timer);
      console.log(JSON.stringify({replies}));
      ws.close();
    }
  });
  ws.on('error', e => console.log(JSON.stringify({error: e.message})));
}

function hold(protocol) {
  deadline(30000, 'hold');
  const ws = protocol ? new WebSocket(url, protocol, options())
                      : new WebSocket(url, options());
  ws.on('open', () => console.log(
                  `open ${ws.protocol || '-'} ${ws.extensions || '-'}`));
  ws.on('message', (data, binary) =>
                     console.log(`msg${binary ? 'b' : ''} ${data.toString()}`));
  ws.on('close', (code, reason) => {
    console.log(`close ${code} ${reason.toString()}`);
    process.exit(0);
  });
  ws.on('unexpected-response', (req, res) => {
    console.log(`refused ${res.statusCode}`);
    process.exit(0);
  });
  ws.on('error', e => console.log(`error ${e.message}`));
  let buf = '';
  const act = () => {
    if (ws.readyState !== WebSocket.OPEN)
      return; // again at open
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('send '))
        ws.send(line.slice(5));
      else if (line.startsWith('sendb '))
        ws.send(Buffer.from(line.slice(6)), {binary: true});
      else if (line.startsWith('big '))
        ws.send(JSON.stringify('x'.repeat(Number(line.slice(4)))));
      else if (line === 'close')
        ws.close(1000, 'bye');
    }
  };
  ws.on('open', act);
  process.stdin.on('data', d => {
    buf += d.toString();
    act();
  });
}

if (mode === 'room')
  room(Number(a), Number(b));
else if (mode === 'echo')
  echo(Number(a));
else if (mode === 'hold')
  hold(a);
else {
  console.error('usage: ws_client.js room|echo|hold URL ...');
  process.exit(64);
}

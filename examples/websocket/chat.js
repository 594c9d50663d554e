// A terminal chat client for a node's websocket bridge: each line you type
// is sent as {"from": NAME, "text": LINE}; what others send is printed.
// Run two of them against conf/default.conf's chat room:
//
//   node examples/websocket/chat.js ws://127.0.0.1:7403/ alice
//   node examples/websocket/chat.js ws://127.0.0.1:7403/ bob
//
// It uses Debian's node-ws (scripts/setup.sh installs it).
'use strict';
module.paths.push('/usr/share/nodejs');
const WebSocket = require('ws');
const readline = require('readline');

const [url = 'ws://127.0.0.1:7403/', name = `user${process.pid}`] = process.argv.slice(2);
const ws = new WebSocket(url);
ws.on('open', () => {
  console.error(`connected to ${url} as ${name}; type a line and press Enter`);
  readline.createInterface({ input: process.stdin })
    .on('line', (text) => ws.send(JSON.stringify({ from: name, text })))
    .on('close', () => ws.close());
});
ws.on('message', (data) => {
  const m = JSON.parse(data);
  console.log(m.from !== undefined ? `${m.from}: ${m.text}` : JSON.stringify(m));
});
ws.on('close', (code, reason) => {
  console.error(`closed (${code}${reason.length ? ' ' + reason : ''})`);
  process.exit(0);
});
ws.on('error', (e) => { console.error(e.message); process.exit(1); });

// A WebSocket echo server on Node's `ws` (Debian's node-ws), for the
// websocket-client tests: every message goes back as it came; a client
// that connects gets {"hello": N} first (N counts the connections).
// Prints "listening" once it accepts.
//
//   node ws_server.js PORT
'use strict';
module.paths.push('/usr/share/nodejs');
const { WebSocketServer } = require('ws');

let connections = 0;
const server = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2]) });
server.on('listening', () => console.log('listening'));
server.on('connection', (ws, req) => {
  ws.send(JSON.stringify({ hello: ++connections, auth: req.headers.authorization || null }));
  ws.on('message', (data, binary) => ws.send(data, { binary }));
});
// Ends with the test that started it.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

// Node's way of a chat room and an echo over WebSocket, with `ws`
// (Debian's node-ws): the peer of bench/websocket.js. Each message is
// parsed as JSON, as the node's bridge checks it; the room sends it to
// every other client, the echo sends it back.
//
//   node bench/peers/websocket.js ROOM_PORT ECHO_PORT
'use strict';
module.paths.push('/usr/share/nodejs');
const { WebSocketServer, WebSocket } = require('ws');

const room = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2]) });
room.on('connection', (ws) => {
  ws.on('message', (data, binary) => {
    JSON.parse(data);
    for (const c of room.clients)
      if (c !== ws && c.readyState === WebSocket.OPEN)
        c.send(data, { binary });
  });
});

const echo = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[3]) });
echo.on('connection', (ws) => {
  ws.on('message', (data, binary) => {
    ws.send(JSON.stringify(JSON.parse(data)), { binary });
  });
});

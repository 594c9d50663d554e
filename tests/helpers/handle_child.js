// A Node child that serves the connections its switchboard parent hands
// over (a tcp bridge's hand-to), as a cluster worker serves Node's:
// process.on('message', (m, socket) => ...). Each line a client sends is
// answered with {"pid", "got", "peer", "bridge"}; plain messages come back
// as they are.
'use strict';
process.on('message', (m, socket) => {
  if (!socket) {
    process.send(m);
    return;
  }
  socket.setEncoding('utf8');
  let buf = '';
  socket.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      socket.write(JSON.stringify({ pid: process.pid, got: line, peer: m.peer, bridge: m.bridge }) + '\n');
    }
  });
  socket.on('error', () => {});
});

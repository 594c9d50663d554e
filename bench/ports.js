// What the benchmarks that start servers share: a free port of 127.0.0.1,
// waiting until something listens on one, and a process's resident memory.
'use strict';
const fs = require('fs');
const net = require('net');

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Resolves once something accepts on `port`, within 10 s.
function waitForPort(port) {
  const deadline = Date.now() + 10000;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(); });
      c.on('error', () => {
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

// The resident memory of process `pid`, in bytes.
function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

module.exports = { freePort, waitForPort, rssOf };

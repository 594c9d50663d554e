// Node's way of serving POST /echo: http.createServer, the JSON body parsed
// and sent back. The peer of bench/http.js.
//
//   node bench/peers/http.js PORT
'use strict';
const http = require('http');

http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let value;
    try {
      value = JSON.parse(Buffer.concat(chunks));
    } catch (e) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: e.message }));
      return;
    }
    const out = JSON.stringify(value);
    res.writeHead(200, { 'content-type': 'application/json',
                         'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
}).listen(Number(process.argv[2]), '127.0.0.1');

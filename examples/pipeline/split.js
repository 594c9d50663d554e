// The first stage of examples/pipeline, a Node.js child on Node's IPC
// channel: {"text": "..."} -> a calculator request adding the words'
// lengths. It says "ready" once it listens (text.conf: ready = "message").
'use strict';

process.on('message', (m) => {
  const words = String((m && m.text) || '').split(/\s+/).filter(Boolean);
  process.send({
    type: 'calculate',
    operation: 'add',
    operands: words.map((w) => w.length),
  });
});
process.send('ready');

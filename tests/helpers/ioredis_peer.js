// A Node.js program on ioredis, as seed applications talk to Redis: the
// redis bridge's tests exchange JSON with it both ways.
//
//   node ioredis_peer.js SOCKET publish CHANNEL N    publishes N messages
//   node ioredis_peer.js SOCKET subscribe CHANNEL N  prints N messages
//
// Prints "subscribed" once the subscription stands; exits 0 when done.
'use strict';
const Redis = require('ioredis');

const [socket, mode, channel, count] = process.argv.slice(2);
const n = Number(count);
const redis = new Redis({ path: socket, maxRetriesPerRequest: 1 });
const out = (line) => new Promise((resolve) => process.stdout.write(line + '\n', resolve));

async function main() {
  if (mode === 'publish') {
    for (let i = 0; i < n; i++)
      await redis.publish(channel, JSON.stringify({ from: 'ioredis', n: i }));
    await out('published ' + n);
    redis.disconnect();
    return;
  }
  let seen = 0;
  redis.on('message', async (ch, message) => {
    const value = JSON.parse(message); // the bridge sends JSON
    await out(JSON.stringify({ channel: ch, value }));
    if (++seen === n) {
      redis.disconnect();
      process.exit(0);
    }
  });
  await redis.subscribe(channel);
  await out('subscribed');
}

main().catch((err) => {
  process.stderr.write(String(err) + '\n');
  process.exit(1);
});

// Drives a redis-server with the npm ioredis client: plain commands, a pipeline (several commands in one
// write), an error reply and pub/sub, for the Redis e2e test.
//   node redis_ioredis_client.js <port>
const Redis = require('ioredis');
const port = Number(process.argv[2]);

async function main() {
  const opts = { host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 0 };
  const redis = new Redis(opts);
  await redis.connect();
  await redis.set('io:key', 'iosecret');
  if ((await redis.get('io:key')) !== 'iosecret') throw new Error('GET io:key');
  const results = await redis.pipeline().set('io:p1', 'pv1').incr('io:ctr').get('io:p1').lpush('io:list', 'a', 'b').exec();
  for (const [err] of results) if (err) throw err;
  let failed = false;
  try {
    await redis.hget('io:key', 'field');  // WRONGTYPE: io:key is a string
  } catch (e) {
    failed = /WRONGTYPE/.test(e.message);
  }
  if (!failed) throw new Error('HGET on a string should fail with WRONGTYPE');

  // Pub/sub: the message pushed to the subscriber answers no command.
  const sub = new Redis(opts);
  await sub.connect();
  const got = new Promise((resolve) => sub.on('message', (channel, message) => resolve(message)));
  await sub.subscribe('io:news');
  await redis.publish('io:news', 'hello subscribers');
  if ((await got) !== 'hello subscribers') throw new Error('pub/sub message');
  await sub.unsubscribe('io:news');
  await sub.ping();
  sub.disconnect();
  await redis.quit();
  console.log('ioredis client done');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

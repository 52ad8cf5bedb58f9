// Asserts the sys spans the agent made of real Redis traffic (redis-cli, redis-cli --pipe, redis-cli -3,
// ioredis) against a Debian redis-server: a CLIENT span per command in the client, a SERVER span in the
// server, paired by TCP sequence numbers, with command, obfuscated text and error status.
//   node redis_verify_sys_spans.js <agent export.jsonl> <redis port>
const assert = require('assert');
const { KIND, loadSpans, sysSpans, one: oneOf, assertChild, describe } = require('./spans_lib');
const [exported, portArg] = process.argv.slice(2);
const port = Number(portArg);
const STATUS_ERROR = 2;

const sys = sysSpans(loadSpans(exported)).filter((s) => s.attrs['otelbpf.l7.protocol'] === 'redis');
assert.ok(sys.length > 0, 'redis sys spans exported');
const clients = sys.filter((s) => s.kind === KIND.CLIENT && s.attrs['network.peer.port'] === port);
const servers = sys.filter((s) => s.kind === KIND.SERVER && s.attrs['network.local.port'] === port);
const exe = (s) => s.resource['process.executable.name'];
const one = (spans, desc, pred) => oneOf(spans, desc, pred);
const query = (s) => s.attrs['db.query.text'];

for (const s of sys) {
  assert.strictEqual(s.attrs['db.system.name'], 'redis');
  assert.strictEqual(s.name, s.attrs['db.operation.name'], 'span name = command');
  assert.ok(s.end >= s.start, `${s.name}: end after start`);
  assert.ok(s.attrs['otelbpf.req.bytes'] > 0, 'request bytes');
}

// The server end of each client command: same sequence numbers, nested under it by the assembler.
function pairOf(client, what) {
  assert.ok(client.attrs['otelbpf.resp.bytes'] > 0, `${what}: response bytes`);
  const server = one(servers, `server end of ${what}`, (s) =>
    s.attrs['otelbpf.tcp.req_seq'] === client.attrs['otelbpf.tcp.req_seq'] &&
    s.attrs['otelbpf.tcp.resp_seq'] === client.attrs['otelbpf.tcp.resp_seq']);
  assert.strictEqual(server.name, client.name, `${what}: same command at both ends`);
  assert.strictEqual(query(server), query(client), `${what}: same text at both ends`);
  assert.ok(server.resource['process.pid'] !== client.resource['process.pid'], `${what}: two processes`);
  assertChild(client, server, `${what}: server under client`);
  return server;
}

// 1. redis-cli SET/GET: obfuscated value, paired ends.
const cli = clients.filter((s) => exe(s) === 'redis-cli');
const set = one(cli, 'redis-cli SET e2e:key', (s) => s.name === 'SET' && query(s).startsWith('SET e2e:key'));
assert.strictEqual(query(set), 'SET e2e:key ?');
assert.ok(!require('fs').readFileSync(exported, 'utf8').includes('secretvalue'), 'the value never leaves the node');
pairOf(set, 'SET');
pairOf(one(cli, 'redis-cli GET e2e:key', (s) => s.name === 'GET' && query(s) === 'GET e2e:key'), 'GET');

// 2. An error reply: status ERROR with the message, at both ends.
const incr = one(cli, 'redis-cli INCR e2e:key', (s) => s.name === 'INCR' && query(s) === 'INCR e2e:key');
const incrServer = pairOf(incr, 'INCR');
for (const s of [incr, incrServer]) {
  assert.strictEqual((s.status || {}).code, STATUS_ERROR, 'INCR on a string is an error');
  assert.match(s.status.message, /not an integer/);
  assert.strictEqual(s.attrs['error.type'], 'ERR');
}

// 3. RESP3: HELLO 3 and a map reply.
const hello = one(cli, 'redis-cli -3 HELLO', (s) => s.name === 'HELLO');
pairOf(hello, 'HELLO');
const hgetall = one(cli, 'redis-cli -3 HGETALL', (s) => s.name === 'HGETALL');
pairOf(hgetall, 'HGETALL');
assert.ok(!(hgetall.status && hgetall.status.code === STATUS_ERROR), 'HGETALL ok');

// 4. redis-cli --pipe: four commands (one inline) and the ECHO redis-cli adds, in one write, FIFO replies.
const pipeSet = one(cli, 'pipe SET', (s) => s.name === 'SET' && query(s) === 'SET pipe:k1 ?');
const pipe = cli.filter((s) => s.resource['process.pid'] === pipeSet.resource['process.pid']);
const names = pipe.map((s) => s.name);
for (const n of ['SET', 'INCR', 'GET', 'ECHO']) assert.ok(names.includes(n), `pipe ${n}: ${names}`);
assert.strictEqual(pipe.filter((s) => s.name === 'INCR').length, 2, 'RESP and inline INCR');
assert.strictEqual(new Set(pipe.map((s) => s.attrs['otelbpf.tcp.req_seq'])).size, pipe.length, 'one span per command');
for (const s of pipe) pairOf(s, `pipe ${s.name}`);
const inline = one(pipe, 'inline INCR', (s) => query(s) === 'INCR pipe:ctr2');
assert.ok(!(inline.status && inline.status.code === STATUS_ERROR), 'inline INCR ok');

// 5. ioredis: pipeline, error, pub/sub.
const node = clients.filter((s) => exe(s) === 'node');
// ioredis writes command names in lower case; the text keeps what was sent, the operation is upper case.
const ioSet = one(node, 'ioredis SET io:key', (s) => s.name === 'SET' && query(s) === 'set io:key ?');
pairOf(ioSet, 'ioredis SET');
for (const [name, text] of [['SET', 'set io:p1 ?'], ['INCR', 'incr io:ctr'], ['GET', 'get io:p1'], ['LPUSH', 'lpush io:list ? ?']]) {
  const s = node.find((x) => x.name === name && query(x) === text);
  assert.ok(s, `ioredis pipeline ${text}\n${describe(node)}`);
  pairOf(s, `ioredis pipeline ${name}`);
}
const hget = one(node, 'ioredis HGET', (s) => s.name === 'HGET');
assert.strictEqual(hget.status.code, STATUS_ERROR);
assert.match(hget.status.message, /^WRONGTYPE/);
assert.strictEqual(pairOf(hget, 'HGET').attrs['error.type'], 'WRONGTYPE');
const subscribe = one(node, 'ioredis SUBSCRIBE', (s) => s.name === 'SUBSCRIBE');
pairOf(subscribe, 'SUBSCRIBE');
pairOf(one(node, 'ioredis PUBLISH', (s) => s.name === 'PUBLISH'), 'PUBLISH');
// The PING after UNSUBSCRIBE is answered by its own reply, not by the pushed message.
const ping = node.find((s) => s.name === 'PING' && s.resource['process.pid'] === subscribe.resource['process.pid'] &&
  s.attrs['otelbpf.tcp.req_seq'] !== undefined && s.start > subscribe.start);
assert.ok(ping, 'PING on the subscriber connection');
pairOf(ping, 'subscriber PING');
assert.ok(!(ping.status && ping.status.code === STATUS_ERROR));
console.log(`verified ${sys.length} redis sys spans (${clients.length} client, ${servers.length} server)`);

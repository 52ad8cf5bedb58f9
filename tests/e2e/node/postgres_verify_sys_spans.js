// Asserts the sys spans the agent made of real PostgreSQL traffic (psql and the npm pg client against a
// Debian PostgreSQL server): a CLIENT span per statement in the client, a SERVER span in the backend
// process, paired by TCP sequence numbers, with statement attributes, obfuscated text, error status and
// transaction ids shared inside a transaction block.
//   node postgres_verify_sys_spans.js <agent export.jsonl> <postgres port>
const fs = require('fs');
const assert = require('assert');
const { KIND, loadSpans, sysSpans, one: oneOf, assertChild, describe } = require('./spans_lib');
const [exported, portArg] = process.argv.slice(2);
const port = Number(portArg);
const STATUS_ERROR = 2;

const sys = sysSpans(loadSpans(exported)).filter((s) => s.attrs['otelbpf.l7.protocol'] === 'postgresql');
assert.ok(sys.length > 0, 'postgresql sys spans exported');
const clients = sys.filter((s) => s.kind === KIND.CLIENT && s.attrs['network.peer.port'] === port);
const servers = sys.filter((s) => s.kind === KIND.SERVER && s.attrs['network.local.port'] === port);
const exe = (s) => s.resource['process.executable.name'];
const query = (s) => s.attrs['db.query.text'];
const isError = (s) => (s.status || {}).code === STATUS_ERROR;
const raw = fs.readFileSync(exported, 'utf8');
for (const secret of ['secret-item', 'secret-gadget', 'widget', 'gizmo']) assert.ok(!raw.includes(secret), `literal ${secret} obfuscated`);

for (const s of sys) {
  assert.strictEqual(s.attrs['db.system.name'], 'postgresql');
  assert.ok(s.end >= s.start, `${s.name}: end after start`);
  assert.ok(s.attrs['otelbpf.req.bytes'] > 0, 'request bytes');
}
for (const s of servers) assert.strictEqual(exe(s), 'postgres', 'server spans in the backend process');

function pairOf(client, what) {
  assert.ok(client.attrs['otelbpf.resp.bytes'] > 0, `${what}: response bytes`);
  const server = oneOf(servers, `server end of ${what}`, (s) =>
    s.attrs['otelbpf.tcp.req_seq'] === client.attrs['otelbpf.tcp.req_seq'] &&
    s.attrs['otelbpf.tcp.resp_seq'] === client.attrs['otelbpf.tcp.resp_seq']);
  for (const k of ['db.operation.name', 'db.query.text', 'db.namespace', 'otelbpf.db.transaction_id', 'otelbpf.db.transaction_state'])
    assert.strictEqual(server.attrs[k], client.attrs[k], `${what}: same ${k} at both ends`);
  assert.strictEqual(isError(server), isError(client), `${what}: same status at both ends`);
  assertChild(client, server, `${what}: server under client`);
  return server;
}
const one = (spans, desc, pred) => oneOf(spans, desc, pred);

// 1. psql: CREATE DATABASE in "postgres", then everything in "shop".
const psql = clients.filter((s) => exe(s) === 'psql');
const createDb = one(psql, 'CREATE DATABASE', (s) => s.name === 'CREATE DATABASE');
assert.strictEqual(createDb.attrs['db.namespace'], 'postgres');
pairOf(createDb, 'CREATE DATABASE');
const createTable = one(psql, 'CREATE TABLE', (s) => s.name === 'CREATE TABLE');
assert.strictEqual(createTable.attrs['db.namespace'], 'shop');
pairOf(createTable, 'CREATE TABLE');

// 2. The transaction block: four statements, one transaction id, the state after each.
const begin = one(psql, 'psql BEGIN', (s) => s.name === 'BEGIN');
const block = psql.filter((s) => s.resource['process.pid'] === begin.resource['process.pid']).sort((a, b) => (a.start < b.start ? -1 : 1));
assert.deepStrictEqual(block.map((s) => s.name), ['BEGIN', 'INSERT', 'INSERT', 'COMMIT'], describe(block));
const txId = begin.attrs['otelbpf.db.transaction_id'];
assert.ok(txId, 'BEGIN opens a transaction id');
for (const s of block) {
  assert.strictEqual(s.attrs['otelbpf.db.transaction_id'], txId, `${s.name} in the transaction`);
  pairOf(s, `psql ${s.name}`);
}
assert.deepStrictEqual(block.map((s) => s.attrs['otelbpf.db.transaction_state']), ['in_transaction', 'in_transaction', 'in_transaction', 'idle']);
assert.strictEqual(block[1].attrs['otelbpf.db.affected_rows'], 1);
assert.strictEqual(query(block[1]), 'INSERT INTO orders VALUES (?, ?);', 'psql sends the statement as typed');

// 3. A simple query with rows.
const select = one(psql, 'psql SELECT count', (s) => s.name === 'SELECT' && /count/.test(query(s)));
assert.strictEqual(query(select), 'SELECT count(*) FROM orders WHERE item <> ?');
assert.strictEqual(select.attrs['db.response.returned_rows'], 1);
assert.strictEqual(select.attrs['otelbpf.db.transaction_id'], undefined, 'outside any transaction');
pairOf(select, 'psql SELECT');

// 4. An error.
const missing = one(psql, 'psql SELECT missing_table', (s) => /missing_table/.test(query(s) || ''));
assert.ok(isError(missing), 'error status');
// Quoted runs of a server's error text leave the node as ? (docs: redaction).
assert.strictEqual(missing.status.message, 'relation ? does not exist');
assert.strictEqual(missing.attrs['db.response.status_code'], '42P01');
assert.strictEqual(missing.attrs['db.operation.name'], 'SELECT');
pairOf(missing, 'psql error');

// 5. npm pg over the extended protocol.
const node = clients.filter((s) => exe(s) === 'node');
const unnamed = one(node, 'pg unnamed statement', (s) => query(s) === 'SELECT item FROM orders WHERE id = $1');
assert.strictEqual(unnamed.attrs['db.response.returned_rows'], 1);
assert.strictEqual(unnamed.attrs['db.namespace'], 'shop');
pairOf(unnamed, 'pg unnamed');
const named = node.filter((s) => query(s) === 'SELECT id FROM orders WHERE item = $1');
assert.strictEqual(named.length, 2, `named statement parsed once, executed twice\n${describe(node)}`);
for (const s of named) pairOf(s, 'pg named');
const nodeBegin = one(node, 'pg BEGIN', (s) => s.name === 'BEGIN');
const nodeTx = nodeBegin.attrs['otelbpf.db.transaction_id'];
assert.ok(nodeTx && nodeTx !== txId, 'a transaction id of its own');
const insert = one(node, 'pg INSERT in transaction', (s) => s.name === 'INSERT' && !isError(s));
const update = one(node, 'pg UPDATE', (s) => s.name === 'UPDATE');
const commit = one(node, 'pg COMMIT', (s) => s.name === 'COMMIT');
for (const s of [nodeBegin, insert, update, commit]) {
  assert.strictEqual(s.attrs['otelbpf.db.transaction_id'], nodeTx, `pg ${s.name} in the transaction`);
  pairOf(s, `pg ${s.name}`);
}
assert.strictEqual(query(insert), 'INSERT INTO orders VALUES ($1, $2)');
assert.strictEqual(update.attrs['otelbpf.db.affected_rows'], 1);
const dup = one(node, 'pg duplicate key', (s) => s.name === 'INSERT' && isError(s));
assert.strictEqual(dup.attrs['db.response.status_code'], '23505');
assert.match(dup.status.message, /duplicate key/);
assert.strictEqual(dup.attrs['otelbpf.db.transaction_id'], undefined);
pairOf(dup, 'pg duplicate key');
console.log(`verified ${sys.length} postgresql sys spans (${clients.length} client, ${servers.length} server)`);

// Asserts the sys spans the agent made of real MySQL-protocol traffic (the mariadb CLI and the npm mysql2
// client against a Debian mariadbd): a CLIENT span per statement in the client, a SERVER span in mariadbd
// with the same TCP sequence numbers, linked under the client by the assembler; obfuscated text, one
// transaction id for SET autocommit=0 / INSERT / COMMIT, returned rows, errors, prepared statements.
//   node mysql_verify_sys_spans.js <agent export.jsonl> <mysql port>
const assert = require('assert');
const fs = require('fs');
const { KIND, loadSpans, sysSpans, one, assertChild, START_SLACK_NS } = require('./spans_lib');
const [exported, portArg] = process.argv.slice(2);
const port = Number(portArg);
const STATUS_ERROR = 2;

const sys = sysSpans(loadSpans(exported)).filter((s) => s.attrs['otelbpf.l7.protocol'] === 'mysql');
assert.ok(sys.length > 0, 'mysql sys spans exported');
const clients = sys.filter((s) => s.kind === KIND.CLIENT && s.attrs['network.peer.port'] === port);
const servers = sys.filter((s) => s.kind === KIND.SERVER && s.attrs['network.local.port'] === port);
const exe = (s) => s.resource['process.executable.name'];
const text = (s) => s.attrs['db.query.text'];
const txn = (s) => s.attrs['otelbpf.db.transaction_id'];

for (const s of sys) {
  assert.strictEqual(s.attrs['db.system.name'], 'mysql');
  assert.strictEqual(s.attrs['db.system'], 'mysql');
  assert.ok(s.name.startsWith(s.attrs['db.operation.name']), `${s.name}: named after its operation`);
  assert.ok(s.end >= s.start, `${s.name}: end after start`);
  assert.ok(s.attrs['otelbpf.req.bytes'] > 0, `${s.name}: request bytes`);
}
for (const s of servers) assert.strictEqual(exe(s), 'mariadbd', 'the server end is in mariadbd');
assert.ok(!fs.readFileSync(exported, 'utf8').includes('secret-'), 'literals never leave the node');

// The server end of a client statement: same sequence numbers, nested under it by the assembler.
function pairOf(client, what, answered = true) {
  const server = one(servers, `server end of ${what}`, (s) =>
    s.attrs['otelbpf.tcp.req_seq'] === client.attrs['otelbpf.tcp.req_seq'] &&
    s.attrs['otelbpf.tcp.resp_seq'] === client.attrs['otelbpf.tcp.resp_seq']);
  assert.strictEqual(server.name, client.name, `${what}: same statement at both ends`);
  assert.strictEqual(text(server), text(client), `${what}: same text at both ends`);
  assert.notStrictEqual(server.resource['process.pid'], client.resource['process.pid'], `${what}: two processes`);
  if (answered) {
    assertChild(client, server, `${what}: server under client`);
  } else {
    // No answer: the client's span ends at its write, the server reads it afterwards.
    assert.strictEqual(server.traceId, client.traceId, `${what}: same trace`);
    assert.strictEqual(server.parentSpanId, client.spanId, `${what}: parent link`);
    // With assertChild's start slack: the write is timestamped when it returns, the read may come first.
    assert.ok(server.start + START_SLACK_NS >= client.start, `${what}: the server reads after the client wrote`);
  }
  return server;
}

// 1. The mariadb CLI's transaction: SET autocommit=0; INSERT; COMMIT; then a SELECT.
const cli = clients.filter((s) => exe(s) === 'mariadb');
const set = one(cli, 'CLI SET autocommit', (s) => text(s) === 'SET autocommit=?');
const insert = one(cli, 'CLI INSERT', (s) => text(s) === 'INSERT INTO t VALUES (?, ?)');
const commit = one(cli, 'CLI COMMIT', (s) => s.name === 'COMMIT');
const select = one(cli, 'CLI SELECT', (s) => text(s) === 'SELECT id, name FROM t');
assert.strictEqual(set.name, 'SET');
assert.strictEqual(insert.name, 'INSERT t');
assert.strictEqual(insert.attrs['db.operation.name'], 'INSERT');
assert.strictEqual(insert.attrs['db.collection.name'], 't');
assert.strictEqual(insert.attrs['otelbpf.db.affected_rows'], 1);
assert.strictEqual(insert.attrs['db.namespace'], 'e2e', 'namespace from the handshake');
assert.strictEqual(select.name, 'SELECT t');
assert.strictEqual(select.attrs['db.response.returned_rows'], 1);
const pairs = [set, insert, commit, select].map((c) => [c, pairOf(c, `CLI ${c.name}`)]);
for (const ends of [[set, insert, commit, select], pairs.map(([, s]) => s)]) {
  const [s, i, c, sel] = ends;
  assert.ok(txn(s), 'SET autocommit=0 opens a transaction');
  assert.strictEqual(txn(i), txn(s), 'INSERT in the transaction');
  assert.strictEqual(txn(c), txn(s), 'COMMIT ends the transaction');
  assert.notStrictEqual(txn(sel), txn(s), 'the SELECT after COMMIT is not in it');
}
assert.notStrictEqual(txn(set), txn(pairs[0][1]), 'each process has its own transaction ids');

// 2. An error: ERR 1146 for a missing table, at both ends.
const bad = one(cli, 'CLI SELECT missing_table', (s) => s.name === 'SELECT missing_table');
for (const s of [bad, pairOf(bad, 'CLI error')]) {
  assert.strictEqual((s.status || {}).code, STATUS_ERROR, 'ERR is an error');
  // The server's text names the table in quotes; quoted runs leave the node as ? (docs: redaction).
  assert.strictEqual(s.status.message, "Table ? doesn't exist");
  assert.strictEqual(s.attrs['db.response.status_code'], '1146');
  assert.strictEqual(s.attrs['otelbpf.db.sqlstate'], '42S02');
  assert.strictEqual(txn(s), undefined, 'autocommit: no transaction');
}

// 3. mysql2: PREPARE, EXECUTE carrying the prepared text, STMT_CLOSE, a query, a failed PREPARE.
const nodeSpans = clients.filter((s) => exe(s) === 'node');
const prepared = 'SELECT id, name FROM t WHERE id = ?';
const prep = one(nodeSpans, 'mysql2 PREPARE', (s) => s.name === 'PREPARE' && text(s) === prepared);
const exec = one(nodeSpans, 'mysql2 EXECUTE', (s) => s.attrs['otelbpf.mysql.command'] === 'COM_STMT_EXECUTE');
assert.strictEqual(exec.name, 'SELECT t');
assert.strictEqual(text(exec), prepared, 'EXECUTE carries the prepared text');
assert.strictEqual(exec.attrs['db.response.returned_rows'], 1);
assert.strictEqual(exec.attrs['otelbpf.db.statement_id'], prep.attrs['otelbpf.db.statement_id']);
// unprepare() closes the statement (mysql2 3.11 sends COM_STMT_CLOSE twice for it: once for unprepare,
// once when its statement cache drops the entry).
const closes = nodeSpans.filter((s) =>
  s.name === 'STMT_CLOSE' && s.attrs['otelbpf.db.statement_id'] === prep.attrs['otelbpf.db.statement_id']);
assert.ok(closes.length >= 1, 'mysql2 STMT_CLOSE of the prepared statement');
const close = closes[0];
assert.strictEqual(close.attrs['otelbpf.resp.bytes'], 0, 'COM_STMT_CLOSE has no answer');
const nodeInsert = one(nodeSpans, 'mysql2 INSERT', (s) => text(s) === 'INSERT INTO t VALUES (?, ?)');
const badPrep = one(nodeSpans, 'mysql2 failed PREPARE', (s) => s.name === 'PREPARE' && /nope/.test(text(s)));
assert.strictEqual(badPrep.attrs['db.response.status_code'], '1054');
for (const [c, what] of [[prep, 'PREPARE'], [exec, 'EXECUTE'], [close, 'STMT_CLOSE'], [nodeInsert, 'INSERT'], [badPrep, 'failed PREPARE']]) {
  const server = pairOf(c, `mysql2 ${what}`, c !== close);
  assert.strictEqual(server.attrs['otelbpf.mysql.command'], c.attrs['otelbpf.mysql.command']);
}
const execServer = servers.find((s) => s.attrs['otelbpf.tcp.req_seq'] === exec.attrs['otelbpf.tcp.req_seq']);
assert.strictEqual(text(execServer), prepared, 'the server end knows the prepared text too');
pairOf(one(nodeSpans, 'mysql2 QUIT', (s) => s.name === 'QUIT'), 'mysql2 QUIT', false);
console.log(`mysql sys spans verified: ${clients.length} client, ${servers.length} server`);

// Asserts the sys spans the agent made of TLS traffic (tests/e2e/tls_sys_spans.sh): psql -> PostgreSQL,
// mariadb -> MariaDB, curl -> nginx (HTTP/1.1 and HTTP/2) and an SDK-instrumented Node.js client -> a
// Node.js server, all over TLS.
//   node verify_tls_sys_spans.js <agent export.jsonl> <sdk ids.json> <postgres port> <nginx port> <node port>
//                                <mysql port> <nginx h2 port> <grpc port>
const fs = require('fs');
const assert = require('assert');
const { KIND, loadSpans, sysSpans, one: oneOf, assertChild } = require('./spans_lib');
const [exported, idsPath, pgPort, nginxPort, nodePort, mysqlPort, h2Port, grpcPort] = process.argv.slice(2);
const ids = JSON.parse(fs.readFileSync(idsPath, 'utf8'));

const spans = loadSpans(exported);
const sys = sysSpans(spans);
const one = (desc, pred) => oneOf(sys, desc, pred);
const exe = (s) => s.resource['process.executable.name'];
const port = (s, which) => s.attrs[`network.${which}.port`];

// Every sys span on the three TLS ports came from plaintext: the ciphertext never reached a parser, so
// no span of those connections is an unrecognised-traffic span and each is marked otelbpf.tls.
const tlsPorts = [pgPort, nginxPort, nodePort, mysqlPort, h2Port, grpcPort].map(Number);
const onTlsPorts = sys.filter((s) => tlsPorts.includes(port(s, 'peer')) || tlsPorts.includes(port(s, 'local')));
assert.ok(onTlsPorts.length >= 10, `sys spans on the TLS ports: ${onTlsPorts.length}`);
for (const s of onTlsPorts) {
  assert.strictEqual(s.attrs['otelbpf.tls'], true, `${exe(s)} "${s.name}": otelbpf.tls`);
  assert.ok(['http1', 'http2', 'postgresql', 'mysql'].includes(s.attrs['otelbpf.l7.protocol']), `${s.name}: a parsed protocol`);
}

function checkHttp(span, path, status) {
  assert.strictEqual(span.attrs['http.request.method'], 'GET');
  assert.strictEqual(span.attrs['url.path'], path);
  assert.strictEqual(span.attrs['http.response.status_code'], status);
  assert.strictEqual(span.attrs['otelbpf.l7.protocol'], 'http1');
  assert.ok(span.attrs['otelbpf.req.bytes'] > 0 && span.attrs['otelbpf.resp.bytes'] > 0, 'byte counts');
}

// 1. psql -> PostgreSQL over TLS: statement spans at both ends, paired by TCP sequence numbers.
const pg = onTlsPorts.filter((s) => s.attrs['otelbpf.l7.protocol'] === 'postgresql');
const select = one('psql SELECT', (s) => exe(s) === 'psql' && s.kind === KIND.CLIENT && s.attrs['db.query.text'] === 'SELECT ? + ?');
assert.strictEqual(select.attrs['db.namespace'], 'postgres');
const selectServer = one('postgres SERVER SELECT', (s) => exe(s) === 'postgres' && s.kind === KIND.SERVER &&
  s.attrs['otelbpf.tcp.req_seq'] === select.attrs['otelbpf.tcp.req_seq']);
assert.strictEqual(selectServer.attrs['db.query.text'], 'SELECT ? + ?');
assertChild(select, selectServer, 'postgres under psql');
const create = one('psql CREATE TABLE', (s) => exe(s) === 'psql' && s.kind === KIND.CLIENT && s.name === 'CREATE TABLE');
const createServer = one('postgres SERVER CREATE TABLE', (s) => s.kind === KIND.SERVER && s.name === 'CREATE TABLE');
assertChild(create, createServer, 'postgres under psql (CREATE)');
assert.ok(pg.length >= 6, `postgresql spans: ${pg.length}`);

// 2. mariadb -> MariaDB over TLS: the statements after the TLS switch, at both ends.
const mysqlSelect = one('mariadb CLIENT SELECT', (s) => exe(s) === 'mariadb' && s.kind === KIND.CLIENT && s.name === 'SELECT');
assert.strictEqual(mysqlSelect.attrs['otelbpf.l7.protocol'], 'mysql');
assert.strictEqual(port(mysqlSelect, 'peer'), Number(mysqlPort));
const mysqlServer = one('mariadbd SERVER SELECT', (s) => exe(s) === 'mariadbd' && s.kind === KIND.SERVER && s.name === 'SELECT');
assertChild(mysqlSelect, mysqlServer, 'mariadbd under mariadb');

// 3. curl -> nginx over HTTPS, both uninstrumented: linked by TCP sequence numbers.
const curl = one('curl CLIENT /secure/hello', (s) => exe(s) === 'curl' && s.kind === KIND.CLIENT && s.attrs['url.path'] === '/secure/hello');
checkHttp(curl, '/secure/hello', 200);
assert.strictEqual(port(curl, 'peer'), Number(nginxPort));
const nginx = one('nginx SERVER /secure/hello', (s) => exe(s) === 'nginx' && s.kind === KIND.SERVER && s.attrs['url.path'] === '/secure/hello');
checkHttp(nginx, '/secure/hello', 200);
assert.strictEqual(nginx.attrs['otelbpf.tcp.req_seq'], curl.attrs['otelbpf.tcp.req_seq']);
assertChild(curl, nginx, 'nginx under curl');
const missing = one('nginx SERVER /missing', (s) => exe(s) === 'nginx' && s.kind === KIND.SERVER && s.attrs['url.path'] === '/missing');
assert.strictEqual(missing.attrs['http.response.status_code'], 404);

// 4. HTTP/2 over TLS (ALPN h2): the HTTP/2 parser on the decrypted frames, at both ends.
const h2Client = one('curl CLIENT h2 /h2/hello', (s) => exe(s) === 'curl' && s.kind === KIND.CLIENT && s.attrs['url.path'] === '/h2/hello');
assert.strictEqual(h2Client.attrs['otelbpf.l7.protocol'], 'http2');
assert.strictEqual(h2Client.attrs['http.response.status_code'], 200);
const h2Server = one('nginx SERVER h2 /h2/hello', (s) => exe(s) === 'nginx' && s.kind === KIND.SERVER && s.attrs['url.path'] === '/h2/hello');
assert.strictEqual(h2Server.attrs['http.request.method'], 'GET');
assertChild(h2Client, h2Server, 'nginx under curl (HTTP/2)');

// 5. gRPC over TLS: service, method and status from the decrypted HTTP/2 frames, at both ends. Both ends
//    are Node.js (memory BIOs: ciphertext read and written outside SSL calls), and the five calls are
//    multiplexed on one connection: records that share one socket read or write share its sequence
//    number, so the TCP pairing of each stream is not asserted here (docs/design.md, TLS plaintext).
const grpcClients = onTlsPorts.filter((s) => s.kind === KIND.CLIENT && s.attrs['rpc.system'] === 'grpc');
const grpcServers = onTlsPorts.filter((s) => s.kind === KIND.SERVER && s.attrs['rpc.system'] === 'grpc');
assert.strictEqual(grpcClients.length, 5, `gRPC client spans: ${grpcClients.length}`);
assert.strictEqual(grpcServers.length, 5, `gRPC server spans: ${grpcServers.length}`);
for (const side of [grpcClients, grpcServers]) {
  const removed = oneOf(side, 'gRPC RemoveItem', (s) => s.attrs['rpc.method'] === 'RemoveItem');
  assert.strictEqual(removed.attrs['rpc.service'], 'shop.Catalog');
  assert.strictEqual(removed.attrs['rpc.grpc.status_code'], 5, 'NOT_FOUND');
  assert.strictEqual(side.filter((s) => s.attrs['rpc.method'] === 'GetItem' && s.attrs['rpc.grpc.status_code'] === 0).length, 3);
}

// 6. The SDK's traceparent, read from the decrypted request, puts the Node.js client's sys span under the
//    SDK's HTTP client span; the server's sys span lies under it by TCP.
const app = spans.filter((s) => s.attrs['otelbpf.span.source'] === 'app');
const checkout = app.find((s) => s.spanId === ids.checkoutSpanId);
assert.ok(checkout, 'the SDK checkout span was exported (batch processor, default settings)');
const sdkClient = app.find((s) => s.parentSpanId === ids.checkoutSpanId && s.kind === KIND.CLIENT);
assert.ok(sdkClient, 'the SDK HTTPS client span');
const nodeClient = one('node sys CLIENT /api/secure-items', (s) => exe(s) === 'node' && s.kind === KIND.CLIENT && s.attrs['url.path'] === '/api/secure-items');
checkHttp(nodeClient, '/api/secure-items', 200);
assert.strictEqual(nodeClient.resource['process.pid'], ids.pid);
assert.strictEqual(nodeClient.traceId, ids.traceId, 'trace id from the decrypted traceparent');
assert.strictEqual(nodeClient.parentSpanId, sdkClient.spanId, 'under the SDK client span');
assert.strictEqual(nodeClient.attrs['otelbpf.trace_context.source'], 'w3c');
const nodeServer = one('node sys SERVER /api/secure-items', (s) => exe(s) === 'node' && s.kind === KIND.SERVER && s.attrs['url.path'] === '/api/secure-items');
checkHttp(nodeServer, '/api/secure-items', 200);
assertChild(nodeClient, nodeServer, 'node server under node client');
console.log(`verified ${onTlsPorts.length} TLS sys spans: psql->postgres, mariadb->mariadbd, curl->nginx (h1, h2), grpc-js, SDK node->node (trace ${ids.traceId})`);

// Asserts the sys spans the agent made of real HTTP traffic through an uninstrumented nginx and an
// uninstrumented Node.js backend, and how they link with the SDK client's app spans.
//   node verify_http_sys_spans.js <agent export.jsonl> <sdk ids.json> <nginx port> <backend port>
const fs = require('fs');
const assert = require('assert');
const { KIND, loadSpans, sysSpans, one: oneOf, assertChild: checkChild } = require('./spans_lib');
const [exported, idsPath, nginxPort, backendPort] = process.argv.slice(2);
const ids = JSON.parse(fs.readFileSync(idsPath, 'utf8'));

const spans = loadSpans(exported);
const sys = sysSpans(spans);
const one = (desc, pred) => oneOf(sys, desc, pred);
const byExe = (exe, kind, path, extra = () => true) => (s) =>
  s.resource['process.executable.name'] === exe && s.kind === kind && s.attrs['url.path'] === path && extra(s);
function checkHttp(span, method, path, status) {
  assert.strictEqual(span.attrs['http.request.method'], method);
  assert.strictEqual(span.attrs['url.path'], path);
  assert.strictEqual(span.attrs['http.response.status_code'], status);
  assert.strictEqual(span.attrs['otelbpf.l7.protocol'], 'http1');
  assert.strictEqual(span.attrs['network.transport'], 'tcp');
  assert.ok(span.resource['process.pid'] > 0 && span.attrs['thread.id'] > 0, 'process and thread');
  assert.ok(span.end > span.start, `${span.name}: end after start`);
  assert.ok(span.attrs['otelbpf.req.bytes'] > 0 && span.attrs['otelbpf.resp.bytes'] > 0, 'byte counts');
}
// 1. curl -> nginx (both uninstrumented): a CLIENT span in curl, a SERVER span in nginx, one TCP exchange.
const curl = one('curl CLIENT GET /static/hello', byExe('curl', KIND.CLIENT, '/static/hello'));
checkHttp(curl, 'GET', '/static/hello', 200);
assert.strictEqual(curl.attrs['network.peer.address'], '127.0.0.1');
assert.strictEqual(curl.attrs['network.peer.port'], Number(nginxPort));
const nginxStatic = one('nginx SERVER GET /static/hello', byExe('nginx', KIND.SERVER, '/static/hello'));
checkHttp(nginxStatic, 'GET', '/static/hello', 200);
assert.strictEqual(nginxStatic.attrs['server.port'], Number(nginxPort));
assert.strictEqual(nginxStatic.attrs['otelbpf.tcp.req_seq'], curl.attrs['otelbpf.tcp.req_seq']);
assert.strictEqual(nginxStatic.attrs['otelbpf.tcp.resp_seq'], curl.attrs['otelbpf.tcp.resp_seq']);
checkChild(curl, nginxStatic, 'nginx under curl');
const notFound = one('nginx SERVER GET /missing', byExe('nginx', KIND.SERVER, '/missing'));
assert.strictEqual(notFound.attrs['http.response.status_code'], 404);

// 2. SDK client -> nginx -> backend -> nginx: the trace id comes from the SDK's traceparent.
const app = spans.filter((s) => s.attrs['otelbpf.span.source'] === 'app');
const checkout = app.find((s) => s.spanId === ids.checkoutSpanId);
assert.ok(checkout, 'checkout app span exported');
const sdkClient = app.find((s) => s.parentSpanId === ids.checkoutSpanId && s.kind === KIND.CLIENT);
assert.ok(sdkClient, 'the SDK HTTP client span');
const clientSys = one('node client sys CLIENT /api/items', byExe('node', KIND.CLIENT, '/api/items', (s) => s.resource['process.pid'] === ids.pid));
checkHttp(clientSys, 'GET', '/api/items', 200);
assert.strictEqual(clientSys.traceId, ids.traceId, 'trace id taken from traceparent');
assert.strictEqual(clientSys.parentSpanId, sdkClient.spanId, 'under the SDK client span');
assert.strictEqual(clientSys.attrs['otelbpf.trace_context.source'], 'w3c');
const nginxApi = one('nginx SERVER /api/items', byExe('nginx', KIND.SERVER, '/api/items'));
checkChild(clientSys, nginxApi, 'nginx under node client');
const nginxUpstream = one('nginx CLIENT /api/items', byExe('nginx', KIND.CLIENT, '/api/items'));
assert.strictEqual(nginxUpstream.attrs['network.peer.port'], Number(backendPort));
checkChild(nginxApi, nginxUpstream, 'nginx upstream call under nginx request');
const backend = one('backend SERVER /api/items', byExe('node', KIND.SERVER, '/api/items'));
checkHttp(backend, 'GET', '/api/items', 200);
checkChild(nginxUpstream, backend, 'backend under nginx upstream call');
// Thread link inside the uninstrumented backend: its outbound call belongs to the request it serves.
const backendCall = one('backend CLIENT /static/inner', byExe('node', KIND.CLIENT, '/static/inner'));
assert.ok(backend.attrs['otelbpf.syscall_trace_id'], 'inbound request has a syscall trace id');
assert.strictEqual(backendCall.attrs['otelbpf.syscall_trace_id'], backend.attrs['otelbpf.syscall_trace_id'], 'thread link');
assert.strictEqual(backendCall.attrs['thread.id'], backend.attrs['thread.id']);
checkChild(backend, backendCall, 'backend call under backend request');
const nginxInner = one('nginx SERVER /static/inner', byExe('nginx', KIND.SERVER, '/static/inner'));
checkChild(backendCall, nginxInner, 'nginx under backend call');
console.log(`verified ${sys.length} sys spans; trace ${ids.traceId}: client -> nginx -> backend -> nginx linked`);

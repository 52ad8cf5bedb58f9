// Asserts what tests/e2e/gateway_cross_node.sh made: for every cross-node call (pod i -> pod j, each phase),
// one trace holding the client's sys CLIENT span (exported by node i), the net spans of both nodes in path
// order, and the server's sys SERVER span (exported by the gateway), chained parent to child; every span
// exported exactly once (the gateways do not export their copies of client ends).
//   node verify_gateway_cross_node.js <work dir> <phase>...
const fs = require('fs');
const path = require('path');
const assert = require('assert');
const { KIND, loadSpans } = require('./spans_lib');
const [work, ...phases] = process.argv.slice(2);

const files = fs.readdirSync(work).filter((f) => /^(node\d|gw\d)\.jsonl$/.test(f));
const spans = [];
for (const f of files) for (const s of loadSpans(path.join(work, f))) spans.push({ ...s, file: f });
const byId = new Map();
for (const s of spans) {
  assert.ok(!byId.has(s.spanId), `span ${s.spanId} (${s.name}) exported twice: ${byId.get(s.spanId)?.file} and ${s.file}`);
  byId.set(s.spanId, s);
}
for (const s of spans) {
  assert.strictEqual(s.attrs['otelbpf.gateway.reference'], undefined, `${s.file}: a reference copy was exported`);
  assert.strictEqual(s.attrs['otelbpf.gateway.key'], undefined, `${s.file}: a routing mark was exported`);
}
const PATH_ORDER = ['client-pod-nic', 'client-tunnel', 'client-node-nic', 'tunnel', 'server-node-nic', 'server-tunnel', 'server-pod-nic'];

let checked = 0;
for (const phase of phases)
  for (let i = 1; i <= 3; ++i)
    for (let j = 1; j <= 3; ++j) {
      if (i === j) continue;
      const target = `/${phase}-${i}-${j}.txt`;
      const what = `${phase} pod${i} -> pod${j}`;
      const clients = spans.filter((s) => s.attrs['otelbpf.span.source'] === 'sys' && s.kind === KIND.CLIENT && s.attrs['url.path'] === target);
      const servers = spans.filter((s) => s.attrs['otelbpf.span.source'] === 'sys' && s.kind === KIND.SERVER && s.attrs['url.path'] === target);
      assert.strictEqual(clients.length, 1, `${what}: one sys CLIENT span (${clients.length})`);
      assert.strictEqual(servers.length, 1, `${what}: one sys SERVER span (${servers.length})`);
      const [client] = clients;
      const [server] = servers;
      assert.strictEqual(client.file, `node${i}.jsonl`, `${what}: the client end leaves from its own node`);
      assert.ok(server.file.startsWith('gw'), `${what}: the server end is assembled by a gateway (${server.file})`);
      assert.strictEqual(server.traceId, client.traceId, `${what}: one trace`);
      // Up from the server span: net spans in reverse path order, then the client span.
      const chain = [];
      let cur = server;
      for (let n = 0; n < 16 && cur && cur.spanId !== client.spanId; ++n) {
        cur = byId.get(cur.parentSpanId);
        if (cur && cur.spanId !== client.spanId) chain.push(cur);
      }
      assert.ok(cur && cur.spanId === client.spanId, `${what}: the server span's ancestors reach the client span`);
      for (const n of chain) {
        assert.strictEqual(n.attrs['otelbpf.span.source'], 'net', `${what}: only net spans between the ends`);
        assert.strictEqual(n.traceId, client.traceId, `${what}: net span in the trace`);
      }
      const sides = chain.map((n) => n.attrs['otelbpf.tap.side']).reverse();
      assert.ok(sides.length >= 2, `${what}: net spans of both nodes (${sides.join(', ')})`);
      const ranks = sides.map((side) => PATH_ORDER.indexOf(side));
      assert.ok(ranks.every((r) => r >= 0), `${what}: known tap sides (${sides.join(', ')})`);
      assert.deepStrictEqual([...ranks].sort((a, b) => a - b), ranks, `${what}: path order (${sides.join(' -> ')})`);
      assert.ok(sides.includes('client-node-nic') && sides.includes('server-node-nic'), `${what}: both nodes' NICs (${sides.join(', ')})`);
      console.log(`${what}: CLIENT -> ${sides.join(' -> ')} -> SERVER (${server.file})`);
      ++checked;
    }
console.log(`verified ${checked} cross-node calls`);

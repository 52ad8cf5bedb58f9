// Asserts the sys spans the agent made of real DNS traffic: dig (UDP, TCP) and Node's resolver asking an
// uninstrumented dnsmasq.   node verify_dns_sys_spans.js <agent export.jsonl> <dnsmasq port>
const assert = require('assert');
const { KIND, loadSpans, sysSpans, one: oneOf, assertChild, assertInsideInTime } = require('./spans_lib');
const [exported, dnsPort, digPids, nodePid] = process.argv.slice(2);
// Clients are told by pid: a process gone before the tracer read its executable is named by its thread.
const pids = { dig: new Set(digPids.split(',').map(Number)), node: new Set([Number(nodePid)]) };
const exeOf = (s) => {
  for (const [exe, set] of Object.entries(pids)) if (set.has(s.resource['process.pid'])) return exe;
  return s.resource['process.executable.name'];
};

const sys = sysSpans(loadSpans(exported)).filter((s) => s.attrs['otelbpf.l7.protocol'] === 'dns');
const one = (desc, pred) => oneOf(sys, desc, pred);
const STATUS_ERROR = 2;
const span = (exe, kind, name) =>
  one(`${exe} ${kind === KIND.CLIENT ? 'CLIENT' : 'SERVER'} "${name}"`, (s) =>
    exeOf(s) === exe && s.kind === kind && s.name === name);

function check(s, transport, qname, type, rcode, answers) {
  const what = `${exeOf(s)} "${s.name}"`;
  assert.strictEqual(s.attrs['dns.question.name'], qname, what);
  assert.strictEqual(s.attrs['otelbpf.dns.question.type'], type, what);
  assert.strictEqual(s.attrs['otelbpf.dns.rcode'], rcode, what);
  assert.strictEqual(s.attrs['otelbpf.dns.answer_count'], answers, what);
  assert.strictEqual(s.attrs['network.transport'], transport, what);
  assert.strictEqual(s.attrs['network.protocol.name'], 'dns', what);
  assert.strictEqual(s.attrs['server.port'], Number(dnsPort), what);
  assert.ok(!s.attrs['otelbpf.response_missing'], `${what}: response seen`);
  assert.ok(s.attrs['otelbpf.req.bytes'] > 12 && s.attrs['otelbpf.resp.bytes'] > 12, `${what}: byte counts`);
  assert.ok(s.end >= s.start, `${what}: end after start`);
  const error = rcode === 'SERVFAIL' || rcode === 'REFUSED';
  assert.strictEqual((s.status && s.status.code) === STATUS_ERROR, error, `${what}: status`);
  if (error) assert.strictEqual(s.attrs['error.type'], rcode, what);
}

// Both ends of one exchange: same question and transaction id; the server's time inside the client's.
function pair(clientExe, transport, qname, type, rcode, answers) {
  const name = `${type} ${qname}`;
  const client = span(clientExe, KIND.CLIENT, name);
  const server = span('dnsmasq', KIND.SERVER, name);
  check(client, transport, qname, type, rcode, answers);
  check(server, transport, qname, type, rcode, answers);
  assert.strictEqual(server.attrs['otelbpf.dns.id'], client.attrs['otelbpf.dns.id'], `${name}: same id`);
  assert.strictEqual(client.attrs['network.peer.port'], Number(dnsPort), `${name}: client peer`);
  assert.strictEqual(server.attrs['network.local.port'], Number(dnsPort), `${name}: server port`);
  assert.strictEqual(server.attrs['network.peer.port'], client.attrs['network.local.port'], `${name}: ports`);
  if (transport === 'tcp') {
    assert.ok(client.attrs['otelbpf.tcp.req_seq'] > 0, `${name}: seq`);
    assert.strictEqual(server.attrs['otelbpf.tcp.req_seq'], client.attrs['otelbpf.tcp.req_seq'], `${name}: seqs`);
    assert.strictEqual(server.attrs['otelbpf.tcp.resp_seq'], client.attrs['otelbpf.tcp.resp_seq'], `${name}: seqs`);
    assertChild(client, server, `${name}: dnsmasq under dig`);
  } else {
    // No link over UDP here, but the same clocks: the same slack as assertChild (a send is timestamped
    // when it returns, and the reader on the other CPU may be first; CI saw a Node query 4.3 us early).
    assertInsideInTime(client, server, `${name}: server time inside client time`);
  }
  return { client, server };
}

pair('dig', 'udp', 'udp.example.test', 'A', 'NOERROR', 1);
pair('dig', 'udp', 'udp.nx.test', 'A', 'NXDOMAIN', 0);
pair('dig', 'udp', 'refused.other', 'A', 'REFUSED', 0);
pair('dig', 'tcp', 'tcp.example.test', 'A', 'NOERROR', 1);
pair('dig', 'tcp', 'tcp.nx.test', 'AAAA', 'NXDOMAIN', 0);
pair('node', 'udp', 'node.example.test', 'A', 'NOERROR', 1);
pair('node', 'udp', 'node.nx.test', 'A', 'NXDOMAIN', 0);
console.log(`verified ${sys.length} DNS sys spans: dig (udp, tcp) and node resolver against dnsmasq`);

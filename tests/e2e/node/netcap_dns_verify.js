// Verifies tests/e2e/netcap_dns.sh: for each query of dig, the sys CLIENT (dig) and SERVER (dnsmasq) spans
// and the net spans the tc programs saw on both nodes share the query id, the client port and the
// question, and nest in one trace in the order the query crossed the capture points.
//   node netcap_dns_verify.js <agent A export> (agent B exports to agent A: A's file holds both nodes)
const assert = require('assert');
const { KIND, loadSpans } = require('./spans_lib');

const spans = loadSpans(process.argv[2]);
const source = (s) => s.attrs['otelbpf.span.source'];
const dns = spans.filter((s) => s.attrs['otelbpf.l7.protocol'] === 'dns');
const sys = dns.filter((s) => source(s) === 'sys');
const net = dns.filter((s) => source(s) === 'net');

function show(list) {
  return list
    .map((s) => `  ${source(s)} kind=${s.kind} "${s.name}" ${s.resource['host.name']}/${s.attrs['otelbpf.tap.interface'] || s.resource['process.executable.name']}` +
      ` side=${s.attrs['otelbpf.tap.side']} tunnel=${s.attrs['otelbpf.tunnel.type']} id=${s.attrs['otelbpf.dns.id']}` +
      ` client=${s.attrs['client.address']}:${s.attrs['client.port']} trace=${s.traceId} span=${s.spanId} parent=${s.parentSpanId}`)
    .join('\n');
}

const A = 'nodeA', B = 'nodeB';
const outer = ['192.168.101.1', '192.168.101.2'];
const PATH = [
  { node: A, iface: 'caliC', side: 'client-pod-nic', tunnel: 'none' },
  { node: A, iface: 'vxlan0', side: 'client-tunnel', tunnel: 'vxlan' },
  { node: A, iface: 'eth0', side: 'client-node-nic', tunnel: 'vxlan' },
  { node: B, iface: 'eth0', side: 'server-node-nic', tunnel: 'vxlan' },
  { node: B, iface: 'vxlan0', side: 'server-tunnel', tunnel: 'vxlan' },
  { node: B, iface: 'caliR', side: 'server-pod-nic', tunnel: 'none' },
];

function checkQuery(question, rcode, answers) {
  const mine = (s) => s.attrs['dns.question.name'] === question;
  // Only dig asks for this name. It is not told by its executable name: a dig gone before the tracer
  // read /proc/<pid>/exe is named by its thread (isc-net-0000).
  const clients = sys.filter((s) => mine(s) && s.kind === KIND.CLIENT);
  const servers = sys.filter((s) => mine(s) && s.kind === KIND.SERVER);
  const all = `\n${show(dns.filter(mine))}`;
  assert.strictEqual(clients.length, 1, `${question}: one sys CLIENT span of dig${all}`);
  assert.strictEqual(servers.length, 1, `${question}: one sys SERVER span of dnsmasq${all}`);
  const [client, server] = [clients[0], servers[0]];
  const id = client.attrs['otelbpf.dns.id'];
  const port = client.attrs['network.local.port'];  // dig's own end (client.* name a server's far end)
  assert.strictEqual(client.attrs['network.transport'], 'udp', `${question}: over UDP`);
  assert.strictEqual(server.attrs['otelbpf.dns.id'], id, `${question}: the resolver saw the same id`);
  const path = net.filter((s) => mine(s) && s.attrs['otelbpf.dns.id'] === id && s.attrs['client.port'] === port);
  assert.strictEqual(path.length, PATH.length, `${question}: ${PATH.length} net spans${all}`);
  let parent = client;
  for (const want of PATH) {
    const found = path.filter((s) => s.resource['host.name'] === want.node && s.attrs['otelbpf.tap.interface'] === want.iface);
    assert.strictEqual(found.length, 1, `${question}: one net span at ${want.node}/${want.iface}${all}`);
    const s = found[0];
    const where = `${question} ${want.node}/${want.iface}`;
    assert.strictEqual(s.attrs['otelbpf.tap.side'], want.side, `${where}: side`);
    assert.strictEqual(s.attrs['network.transport'], 'udp', `${where}: transport`);
    assert.strictEqual(s.name, `A ${question}`, `${where}: name`);
    assert.strictEqual(s.attrs['otelbpf.dns.rcode'], rcode, `${where}: rcode`);
    assert.strictEqual(s.attrs['otelbpf.dns.answer_count'], answers, `${where}: answers`);
    assert.strictEqual(s.attrs['client.address'], '10.246.1.11', `${where}: client address`);
    assert.strictEqual(s.attrs['network.peer.address'], '10.246.2.53', `${where}: resolver address`);
    assert.strictEqual(s.attrs['network.peer.port'], 53, `${where}: resolver port`);
    assert.strictEqual(s.attrs['otelbpf.tunnel.type'], want.tunnel, `${where}: tunnel type`);
    if (want.tunnel !== 'none') {
      assert.strictEqual(s.attrs['otelbpf.tunnel.vni'], 42, `${where}: VNI`);
      assert.deepStrictEqual([s.attrs['otelbpf.tunnel.outer.src_address'], s.attrs['otelbpf.tunnel.outer.dst_address']], outer,
        `${where}: outer addresses`);
    }
    // Seen on the wire between dig's send and its receive, give or take clock reads.
    assert.ok(s.start + 5000000n >= client.start && s.end <= client.end + 5000000n, `${where}: inside the client span in time`);
    assert.strictEqual(s.traceId, client.traceId, `${where}: in the trace of dig's span${all}`);
    assert.strictEqual(s.parentSpanId, parent.spanId, `${where}: under the previous capture point${all}`);
    parent = s;
  }
  assert.strictEqual(server.traceId, client.traceId, `${question}: dnsmasq's span in dig's trace${all}`);
  assert.strictEqual(server.parentSpanId, parent.spanId, `${question}: dnsmasq's span under the server pod NIC's${all}`);
  console.log(`${question}: dig -> ${PATH.map((p) => `${p.node}/${p.iface}`).join(' -> ')} -> dnsmasq, id ${id}, client port ${port}`);
}

checkQuery('api.svc.i15.test', 'NOERROR', 1);
checkQuery('nothing.missing.i15.test', 'NXDOMAIN', 0);
console.log('netcap_dns_verify: ok');

// Verifies tests/e2e/netcap_vxlan.sh: for each HTTP call, the sys CLIENT (curl) and SERVER (python3)
// spans and the chain of net spans the tc programs saw on both nodes, all with the same TCP sequence
// numbers.
//   node netcap_verify.js <agent A export> (agent B exports to agent A, so A's file holds both nodes' spans)
const assert = require('assert');
const { KIND, loadSpans } = require('./spans_lib');

const spans = process.argv.slice(2).flatMap((f) => loadSpans(f));
const source = (s) => s.attrs['otelbpf.span.source'];
const sys = spans.filter((s) => source(s) === 'sys');
const net = spans.filter((s) => source(s) === 'net');

function show(list) {
  return list
    .map((s) => `  ${source(s)} kind=${s.kind} "${s.name}" ${s.attrs['otelbpf.tap.interface'] || s.resource['process.executable.name']}` +
      ` side=${s.attrs['otelbpf.tap.side']} tunnel=${s.attrs['otelbpf.tunnel.type']} seq=${s.attrs['otelbpf.tcp.req_seq']}/${s.attrs['otelbpf.tcp.resp_seq']}` +
      ` client=${s.attrs['client.address']}:${s.attrs['client.port']} server=${s.attrs['server.address']}:${s.attrs['server.port']}`)
    .join('\n');
}

function checkCall(what, serverAddress, path, chain) {
  const isCall = (s) => s.attrs['url.path'] === path && s.attrs['http.request.method'] === 'GET';
  const clients = sys.filter((s) => isCall(s) && s.kind === KIND.CLIENT && s.attrs['network.peer.address'] === serverAddress);
  const servers = sys.filter((s) => isCall(s) && s.kind === KIND.SERVER && s.attrs['server.port'] === 8080);
  assert.strictEqual(clients.length, 1, `${what}: one sys CLIENT span\n${show(sys.filter(isCall))}`);
  assert.strictEqual(servers.length, 1, `${what}: one sys SERVER span\n${show(sys.filter(isCall))}`);
  const [client, server] = [clients[0], servers[0]];
  const reqSeq = client.attrs['otelbpf.tcp.req_seq'];
  const respSeq = client.attrs['otelbpf.tcp.resp_seq'];
  assert.ok(reqSeq > 0 && respSeq > 0, `${what}: sys spans carry sequence numbers`);
  assert.strictEqual(server.attrs['otelbpf.tcp.req_seq'], reqSeq, `${what}: sys SERVER req_seq`);
  assert.strictEqual(server.attrs['otelbpf.tcp.resp_seq'], respSeq, `${what}: sys SERVER resp_seq`);

  const mine = net.filter((s) => s.attrs['otelbpf.tcp.req_seq'] === reqSeq);
  const table = `\n${show([client, server, ...mine])}`;
  assert.strictEqual(mine.length, chain.length, `${what}: ${chain.length} net spans expected${table}`);
  for (const want of chain) {
    const found = mine.filter((s) => s.attrs['otelbpf.tap.interface'] === want.iface && s.attrs['otelbpf.tap.side'] === want.side &&
      s.resource['host.name'] === want.node);
    assert.strictEqual(found.length, 1, `${what}: net span at ${want.node}/${want.iface} side ${want.side}${table}`);
    const s = found[0];
    assert.strictEqual(s.attrs['otelbpf.tcp.resp_seq'], respSeq, `${what} ${want.iface}: resp_seq`);
    assert.strictEqual(s.kind, KIND.INTERNAL, `${what} ${want.iface}: kind`);
    assert.strictEqual(s.attrs['http.response.status_code'], 200, `${what} ${want.iface}: status`);
    assert.strictEqual(s.name, `GET ${path}`, `${what} ${want.iface}: name`);
    assert.strictEqual(s.attrs['client.address'], client.attrs['network.local.address'], `${what} ${want.iface}: client address`);
    assert.strictEqual(s.attrs['client.port'], client.attrs['network.local.port'], `${what} ${want.iface}: client port`);
    assert.strictEqual(s.attrs['network.peer.address'], serverAddress, `${what} ${want.iface}: server address`);
    assert.strictEqual(s.attrs['network.peer.port'], 8080, `${what} ${want.iface}: server port`);
    assert.strictEqual(s.attrs['otelbpf.tunnel.type'], want.tunnel, `${what} ${want.iface}: tunnel type`);
    if (want.tunnel === 'vxlan') assert.strictEqual(s.attrs['otelbpf.tunnel.vni'], 42, `${what} ${want.iface}: VNI`);
    if (want.outer) {
      assert.strictEqual(s.attrs['otelbpf.tunnel.outer.src_address'], want.outer[0], `${what} ${want.iface}: outer src`);
      assert.strictEqual(s.attrs['otelbpf.tunnel.outer.dst_address'], want.outer[1], `${what} ${want.iface}: outer dst`);
    }
    assert.strictEqual(s.attrs['otelbpf.l7.protocol'], 'http1');
    assert.ok(s.attrs['otelbpf.tcp.retransmissions'] >= 0 && s.attrs['otelbpf.tcp.zero_windows'] >= 0);
    // Seen on the wire between the client's write and the response's read, give or take clock reads.
    assert.ok(s.start + 5000000n >= client.start && s.end <= client.end + 5000000n, `${what} ${want.iface}: inside the client span in time`);
  }
  // Node B's agent exports to node A's (a gateway), so node A's assembler holds the whole path (the TCP rule, docs/design.md, Linking): one
  // trace, the sys CLIENT span, then every capture point in path order, then the sys SERVER span.
  // The chain is listed in the order the request crosses the capture points (the client's tunnel device
  // before its node NIC, the server's after its node NIC): the spans must nest in exactly that order.
  let parent = client;
  for (const want of chain) {
    const s = mine.find((n) => n.attrs['otelbpf.tap.interface'] === want.iface && n.resource['host.name'] === want.node);
    assert.strictEqual(s.traceId, client.traceId, `${what} ${s.resource['host.name']}/${s.attrs['otelbpf.tap.interface']}: trace of the sys CLIENT span${table}`);
    assert.strictEqual(s.parentSpanId, parent.spanId, `${what} ${s.resource['host.name']}/${s.attrs['otelbpf.tap.interface']}: under ${parent.attrs['otelbpf.tap.interface'] || 'the sys CLIENT span'}${table}`);
    parent = s;
  }
  assert.strictEqual(server.parentSpanId, parent.spanId, `${what}: the sys SERVER span under the last capture point${table}`);
  assert.strictEqual(server.traceId, client.traceId, `${what}: sys SERVER in the client's trace`);
  console.log(`${what}: sys CLIENT + SERVER and ${mine.length} net spans share req_seq ${reqSeq} / resp_seq ${respSeq}`);
}

// Each agent runs with --set node_name=nodeA / nodeB: the net spans' host.name says where they were seen.
const A = 'nodeA', B = 'nodeB';
const vx = ['192.168.100.1', '192.168.100.2'];
checkCall('pod A1 -> pod B1 (across the VXLAN)', '10.244.2.21', '/cross.txt', [
  { node: A, iface: 'vethA1', side: 'client-pod-nic', tunnel: 'none' },
  { node: A, iface: 'vxlan0', side: 'client-tunnel', tunnel: 'vxlan', outer: vx },
  { node: A, iface: 'eth0', side: 'client-node-nic', tunnel: 'vxlan', outer: vx },
  { node: B, iface: 'eth0', side: 'server-node-nic', tunnel: 'vxlan', outer: vx },
  { node: B, iface: 'vxlan0', side: 'server-tunnel', tunnel: 'vxlan', outer: vx },
  { node: B, iface: 'vethB1', side: 'server-pod-nic', tunnel: 'none' },
]);
checkCall('pod A1 -> pod A2 (same node)', '10.244.1.12', '/same.txt', [
  { node: A, iface: 'vethA1', side: 'client-pod-nic', tunnel: 'none' },
  { node: A, iface: 'vethA2', side: 'server-pod-nic', tunnel: 'none' },
]);
console.log('netcap_verify: ok');

// Asserts the sys spans the agent made of kafkajs producing to the Kafka broker test double.
//   node verify_kafka_sys_spans.js <agent export.jsonl> <broker port> <client pid> <broker pid>
const assert = require('assert');
const { KIND, loadSpans, sysSpans, one: oneOf, assertChild, describe } = require('./spans_lib');
const [exported, brokerPort, clientPid, brokerPid] = process.argv.slice(2);

const kafka = sysSpans(loadSpans(exported)).filter((s) => s.attrs['otelbpf.l7.protocol'] === 'kafka');
const STATUS_ERROR = 2;
const inClient = kafka.filter((s) => s.resource['process.pid'] === Number(clientPid));
const inBroker = kafka.filter((s) => s.resource['process.pid'] === Number(brokerPid));
assert.ok(inClient.length > 0 && inBroker.length > 0, `kafka spans in both processes\n${describe(kafka)}`);
assert.ok(inClient.every((s) => s.kind === KIND.CLIENT), 'kafkajs spans are CLIENT spans');
assert.ok(inBroker.every((s) => s.kind === KIND.SERVER), 'broker spans are SERVER spans');

function check(s, op, apiKey, topic) {
  const what = `${s.resource['process.pid']} "${s.name}"`;
  assert.strictEqual(s.attrs['messaging.system'], 'kafka', what);
  assert.strictEqual(s.attrs['messaging.operation.name'], op, what);
  assert.strictEqual(s.attrs['otelbpf.kafka.api_key'], apiKey, what);
  assert.strictEqual(s.attrs['messaging.client.id'], 'otelbpf-e2e', what);
  assert.strictEqual(s.attrs['network.transport'], 'tcp', what);
  assert.strictEqual(s.attrs['server.port'], Number(brokerPort), what);
  if (topic) assert.strictEqual(s.attrs['messaging.destination.name'], topic, what);
  assert.ok(!s.attrs['otelbpf.response_missing'], `${what}: response seen`);
  assert.ok(s.attrs['otelbpf.req.bytes'] > 0 && s.attrs['otelbpf.resp.bytes'] > 0, `${what}: byte counts`);
}

// The two ends of one request: same correlation id and TCP sequence numbers, the broker's span under
// the client's.
function pair(name, op, apiKey, topic) {
  const client = oneOf(inClient, `kafkajs CLIENT "${name}"`, (s) => s.name === name);
  const server = oneOf(inBroker, `broker SERVER "${name}"`, (s) => s.name === name);
  check(client, op, apiKey, topic);
  check(server, op, apiKey, topic);
  assert.strictEqual(server.attrs['otelbpf.kafka.correlation_id'], client.attrs['otelbpf.kafka.correlation_id'], name);
  assert.ok(client.attrs['otelbpf.tcp.req_seq'] > 0, `${name}: seq`);
  assert.strictEqual(server.attrs['otelbpf.tcp.req_seq'], client.attrs['otelbpf.tcp.req_seq'], `${name}: req seq`);
  assert.strictEqual(server.attrs['otelbpf.tcp.resp_seq'], client.attrs['otelbpf.tcp.resp_seq'], `${name}: resp seq`);
  assertChild(client, server, `${name}: broker under kafkajs`);
  return { client, server };
}

pair('api_versions', 'api_versions', 18);
const ok = pair('produce orders', 'produce', 0, 'orders');
for (const s of [ok.client, ok.server]) {
  assert.strictEqual(s.attrs['messaging.operation.type'], 'send');
  assert.strictEqual(s.attrs['otelbpf.kafka.api_version'], 3);
  assert.strictEqual(s.attrs['otelbpf.kafka.partition_count'], 1);
  assert.strictEqual(s.attrs['otelbpf.kafka.error_code'], 0);
  assert.ok(!(s.status && s.status.code === STATUS_ERROR), 'produce orders is not an error');
}
const denied = pair('produce denied-topic', 'produce', 0, 'denied-topic');
for (const s of [denied.client, denied.server]) {
  assert.strictEqual(s.attrs['otelbpf.kafka.error_code'], 29);
  assert.strictEqual(s.attrs['error.type'], 'TOPIC_AUTHORIZATION_FAILED');
  assert.strictEqual(s.status && s.status.code, STATUS_ERROR, 'denied produce is an error');
}
// Metadata: one for [orders], one naming both topics (kafkajs refreshes for the new topic).
const metadata = inClient.filter((s) => s.attrs['messaging.operation.name'] === 'metadata');
assert.ok(metadata.length >= 2, `metadata requests\n${describe(inClient)}`);
assert.ok(metadata.some((s) => /denied-topic/.test(s.attrs['otelbpf.kafka.topics'])), 'metadata for denied-topic');
for (const m of metadata) {
  const server = oneOf(inBroker, `broker metadata ${m.attrs['otelbpf.tcp.req_seq']}`,
    (s) => s.attrs['otelbpf.tcp.req_seq'] === m.attrs['otelbpf.tcp.req_seq']);
  assert.strictEqual(server.attrs['otelbpf.kafka.topics'], m.attrs['otelbpf.kafka.topics']);
  assertChild(m, server, 'metadata: broker under kafkajs');
}
console.log(`verified ${kafka.length} Kafka sys spans: kafkajs producer <-> broker double, paired`);

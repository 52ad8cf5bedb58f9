// A one-node Kafka broker test double: answers, in the real Kafka wire format, the requests kafkajs's
// producer sends (ApiVersions v0-2, Metadata v0-4, Produce v3) and a Fetch v4 for the unit fixtures.
// Requests are read and responses written with kafkajs's own protocol Decoder/Encoder, so the bytes are
// what a broker of those versions sends. Producing to "denied-topic" fails with
// TOPIC_AUTHORIZATION_FAILED (29).
//   node kafka_broker_double.js <port> [dump file: one "req|resp <hex>" line per message]
const net = require('net');
const fs = require('fs');
const Encoder = require('kafkajs/src/protocol/encoder');
const Decoder = require('kafkajs/src/protocol/decoder');

const API = { Produce: 0, Fetch: 1, Metadata: 3, ApiVersions: 18 };
const SUPPORTED = [
  [API.Produce, 0, 3],
  [API.Fetch, 0, 4],
  [API.Metadata, 0, 4],
  [API.ApiVersions, 0, 2],
];
const NODE_ID = 1;
const DENIED = 'denied-topic';
const TOPIC_AUTHORIZATION_FAILED = 29;

function apiVersionsBody(version) {
  const e = new Encoder().writeInt16(0);
  e.writeArray(SUPPORTED.map(([key, min, max]) => new Encoder().writeInt16(key).writeInt16(min).writeInt16(max)));
  if (version >= 1) e.writeInt32(0);  // throttle_time_ms
  return e;
}

function metadataBody(version, topics, port) {
  const e = new Encoder();
  if (version >= 3) e.writeInt32(0);
  const broker = new Encoder().writeInt32(NODE_ID).writeString('127.0.0.1').writeInt32(port);
  if (version >= 1) broker.writeString(null);  // rack
  e.writeArray([broker]);
  if (version >= 2) e.writeString('otelbpf-test-cluster');
  if (version >= 1) e.writeInt32(NODE_ID);
  e.writeArray(
    topics.map((name) => {
      const t = new Encoder().writeInt16(0).writeString(name);
      if (version >= 1) t.writeBoolean(false);
      const p = new Encoder().writeInt16(0).writeInt32(0).writeInt32(NODE_ID);
      p.writeArray([NODE_ID], 'int32').writeArray([NODE_ID], 'int32');
      return t.writeArray([p]);
    }),
  );
  return e;
}

// Produce v0-3 request: [transactional_id (v3)] acks timeout [topic [partition record_set]].
function readProduce(d, version) {
  if (version >= 3) d.readString();
  const acks = d.readInt16();
  d.readInt32();
  const topics = d.readArray((t) => ({
    topic: t.readString(),
    partitions: t.readArray((p) => ({ partition: p.readInt32(), records: p.readBytes() })),
  }));
  return { acks, topics };
}

function produceBody(version, topics, offsets) {
  const e = new Encoder();
  e.writeArray(
    topics.map(({ topic, partitions }) =>
      new Encoder().writeString(topic).writeArray(
        partitions.map(({ partition }) => {
          const key = `${topic}/${partition}`;
          const error = topic === DENIED ? TOPIC_AUTHORIZATION_FAILED : 0;
          const base = offsets.get(key) || 0;
          if (!error) offsets.set(key, base + 1);
          const p = new Encoder().writeInt32(partition).writeInt16(error).writeInt64(error ? -1 : base);
          if (version >= 2) p.writeInt64(-1);  // log_append_time: CreateTime topics say -1
          return p;
        }),
      ),
    ),
  );
  if (version >= 1) e.writeInt32(0);
  return e;
}

// Fetch v4 response with no records: [topic [partition error high_watermark last_stable aborted records]].
function fetchBody(version, topics) {
  const e = new Encoder();
  if (version >= 1) e.writeInt32(0);
  e.writeArray(
    topics.map(({ topic, partitions }) =>
      new Encoder().writeString(topic).writeArray(
        partitions.map((partition) => {
          const p = new Encoder().writeInt32(partition).writeInt16(topic === DENIED ? TOPIC_AUTHORIZATION_FAILED : 0);
          p.writeInt64(1);
          if (version >= 4) p.writeInt64(1).writeNullableArray([]);
          return p.writeBytes(Buffer.alloc(0));
        }),
      ),
    ),
  );
  return e;
}

function readFetch(d, version) {
  d.readInt32();  // replica_id
  d.readInt32();  // max_wait
  d.readInt32();  // min_bytes
  if (version >= 3) d.readInt32();
  if (version >= 4) d.readInt8();
  return d.readArray((t) => ({
    topic: t.readString(),
    partitions: t.readArray((p) => {
      const partition = p.readInt32();
      p.readInt64();
      if (version >= 5) p.readInt64();
      p.readInt32();
      return partition;
    }),
  }));
}

function handle(buf, port, offsets) {
  const d = new Decoder(buf);
  const apiKey = d.readInt16();
  const version = d.readInt16();
  const correlationId = d.readInt32();
  d.readString();  // client_id
  let body = null;
  switch (apiKey) {
    case API.ApiVersions:
      body = apiVersionsBody(version);
      break;
    case API.Metadata: {
      const topics = d.readArray((t) => t.readString()) || [];  // -1 (all topics, v1+) reads as none
      body = metadataBody(version, topics, port);
      break;
    }
    case API.Produce: {
      const { acks, topics } = readProduce(d, version);
      body = produceBody(version, topics, offsets);
      if (acks === 0) return null;
      break;
    }
    case API.Fetch:
      body = fetchBody(version, readFetch(d, version));
      break;
    default:
      throw new Error(`unsupported api key ${apiKey} v${version}`);
  }
  const payload = new Encoder().writeInt32(correlationId).writeEncoder(body).buffer;
  return new Encoder().writeInt32(payload.length).writeBuffer(payload).buffer;
}

function start(port, dumpPath) {
  const offsets = new Map();
  const dump = (kind, bytes) => dumpPath && fs.appendFileSync(dumpPath, `${kind} ${bytes.toString('hex')}\n`);
  const server = net.createServer((socket) => {
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const size = pending.readInt32BE(0);
        const message = pending.subarray(0, 4 + size);
        pending = pending.subarray(4 + size);
        dump('req', message);
        const response = handle(message.subarray(4), port, offsets);
        if (response) {
          dump('resp', response);
          socket.write(response);
        }
      }
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

module.exports = { start };
if (require.main === module) {
  const [port, dumpPath] = process.argv.slice(2);
  start(Number(port), dumpPath).then(() => console.log(`kafka broker double on 127.0.0.1:${port}`));
}

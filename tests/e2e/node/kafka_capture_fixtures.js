// Records the real bytes of a kafkajs <-> broker-double exchange for the Kafka unit fixtures
// (tests/unit/protocols/kafka/fixtures.h): the producer run of kafka_client.js, plus a Fetch v4 and a
// Metadata v0 request encoded by kafkajs's own request encoders.
//   node kafka_capture_fixtures.js <port> <dump file>
const net = require('net');
const { execFile } = require('child_process');
const { promisify } = require('util');
const path = require('path');
const { start } = require('./kafka_broker_double');
const encodeRequest = require('kafkajs/src/protocol/request');
const fetchV4 = require('kafkajs/src/protocol/requests/fetch/v4/request');
const metadataV0 = require('kafkajs/src/protocol/requests/metadata/v0/request');

async function roundTrip(port, bytes) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let got = Buffer.alloc(0);
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) {
        s.end();
        resolve(got);
      }
    });
    s.on('error', reject);
  });
}

async function main() {
  const [port, dumpPath] = process.argv.slice(2);
  const server = await start(Number(port), dumpPath);
  // Asynchronously: the broker double answers from this process's event loop.
  await promisify(execFile)(process.execPath, [path.join(__dirname, 'kafka_client.js'), port]);
  const fetch = fetchV4({
    replicaId: -1, maxWaitTime: 100, minBytes: 1, maxBytes: 10485760, isolationLevel: 1,
    topics: [{ topic: 'orders', partitions: [{ partition: 0, fetchOffset: '1', maxBytes: 1048576 }] },
             { topic: 'denied-topic', partitions: [{ partition: 0, fetchOffset: '0', maxBytes: 1048576 }] }],
  });
  await roundTrip(port, (await encodeRequest({ correlationId: 7, clientId: 'otelbpf-e2e', request: fetch })).buffer);
  const meta = metadataV0({ topics: ['orders'] });
  await roundTrip(port, (await encodeRequest({ correlationId: 8, clientId: 'otelbpf-e2e', request: meta })).buffer);
  server.close();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// Drives the Kafka broker test double with kafkajs (a real Kafka client): connects, produces to a topic,
// and produces to a topic the broker refuses.   node kafka_client.js <broker port> [topic]
const { Kafka, logLevel } = require('kafkajs');
const port = process.argv[2];
const topic = process.argv[3] || 'orders';

async function main() {
  const kafka = new Kafka({
    clientId: 'otelbpf-e2e',
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const sent = await producer.send({ topic, messages: [{ key: 'k1', value: 'hello kafka' }] });
  if (sent[0].errorCode !== 0) throw new Error(`produce failed: ${JSON.stringify(sent)}`);
  let refused = false;
  try {
    await producer.send({ topic: 'denied-topic', messages: [{ value: 'nope' }] });
  } catch (e) {
    refused = /authoriz/i.test(`${e.type} ${e.message}`);
    if (!refused) throw e;
  }
  if (!refused) throw new Error('denied-topic was accepted');
  await producer.disconnect();
  console.log('kafkajs producer: ok');
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// An uninstrumented gRPC client (grpc-js): several calls at once on ONE channel, so their HTTP/2 streams
// are multiplexed on one connection. Writes what it did (pid, outcomes) as JSON.
//   node grpc_client.js <port> <out.json>
// GRPC_TLS_CA (a PEM file; the server's certificate names localhost) makes it call over TLS.
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [port, outPath] = process.argv.slice(2);
const def = loader.loadSync(path.join(__dirname, 'grpc_shop.proto'), { keepCase: true });
const shop = grpc.loadPackageDefinition(def).shop;
const client = process.env.GRPC_TLS_CA
  ? new shop.Catalog(`127.0.0.1:${port}`, grpc.credentials.createSsl(fs.readFileSync(process.env.GRPC_TLS_CA)),
      { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' })
  : new shop.Catalog(`127.0.0.1:${port}`, grpc.credentials.createInsecure());

const unary = (method, req) =>
  new Promise((resolve) =>
    client[method](req, (err, reply) => resolve(err ? { code: err.code, details: err.details } : { code: 0, reply })));
const streaming = (req) =>
  new Promise((resolve) => {
    const items = [];
    const call = client.ListItems(req);
    call.on('data', (item) => items.push(item));
    call.on('error', (err) => resolve({ code: err.code, items }));
    call.on('end', () => resolve({ code: 0, items }));
  });

(async () => {
  // Open the connection first so that every call below shares it.
  await new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + 10000, (err) => (err ? reject(err) : resolve())));
  const results = await Promise.all([
    unary('GetItem', { id: 1 }),
    unary('GetItem', { id: 2 }),
    unary('RemoveItem', { id: 42 }),
    streaming({ count: 3 }),
    unary('GetItem', { id: 3 }),
  ]);
  client.close();
  fs.writeFileSync(outPath, JSON.stringify({ pid: process.pid, results }));
  const [a, b, removed, listed, c] = results;
  if (a.code || b.code || c.code || removed.code !== grpc.status.NOT_FOUND || listed.items.length !== 3) {
    console.error('unexpected results', JSON.stringify(results));
    process.exit(1);
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});

// An uninstrumented gRPC server (grpc-js) for the e2e test: GetItem answers, RemoveItem fails with
// NOT_FOUND, ListItems streams `count` items.
//   node grpc_server.js <port>
// GRPC_TLS_CERT and GRPC_TLS_KEY (PEM files) make it serve over TLS.
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const port = Number(process.argv[2]);
const def = loader.loadSync(path.join(__dirname, 'grpc_shop.proto'), { keepCase: true });
const shop = grpc.loadPackageDefinition(def).shop;

const server = new grpc.Server();
server.addService(shop.Catalog.service, {
  GetItem: (call, done) => done(null, { id: call.request.id, name: `item-${call.request.id}` }),
  RemoveItem: (call, done) =>
    done({ code: grpc.status.NOT_FOUND, details: `item ${call.request.id} not found` }),
  ListItems: (call) => {
    for (let i = 0; i < call.request.count; ++i) call.write({ id: i, name: `listed-${i}` });
    call.end();
  },
});
const fs = require('fs');
const credentials = process.env.GRPC_TLS_CERT
  ? grpc.ServerCredentials.createSsl(null, [
      { cert_chain: fs.readFileSync(process.env.GRPC_TLS_CERT), private_key: fs.readFileSync(process.env.GRPC_TLS_KEY) },
    ])
  : grpc.ServerCredentials.createInsecure();
server.bindAsync(`127.0.0.1:${port}`, credentials, (err) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(`grpc server pid ${process.pid} on ${port}`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));

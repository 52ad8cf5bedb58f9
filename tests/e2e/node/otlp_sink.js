// An OTLP endpoint that is not an otelbpf agent: OTLP/HTTP protobuf on /v1/traces and OTLP/gRPC
// TraceService/Export, both on port 0, decoding with the OpenTelemetry JS SDK's own generated protobuf
// classes (@opentelemetry/otlp-transformer). Each request is written as one OTLP/JSON line (hex ids, int64
// as strings) to the file of its transport, so an encode bug in the agent cannot be cancelled by its
// decode twin.
//   node otlp_sink.js <http-out.jsonl> <grpc-out.jsonl> [<tls dir>]
// With a TLS dir (server.pem, server.key, ca.pem), both listen with TLS and require a client certificate
// signed by ca.pem (mutual TLS), as a collector behind a service mesh or with client auth would.
// SINK_HTTP_PORT / SINK_GRPC_PORT bind fixed ports instead of 0 (an endpoint that goes away and comes back
// at the same address, scripts/soak). Prints "sink http <port> grpc <port>" once both listen; SIGTERM
// closes them.
const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const [httpOutPath, grpcOutPath, tlsDir] = process.argv.slice(2);
const tls = tlsDir && {
  key: fs.readFileSync(path.join(tlsDir, 'server.key')),
  cert: fs.readFileSync(path.join(tlsDir, 'server.pem')),
  ca: fs.readFileSync(path.join(tlsDir, 'ca.pem')),
};
const v1 = root.opentelemetry.proto.collector.trace.v1;
const Request = v1.ExportTraceServiceRequest;
const Response = v1.ExportTraceServiceResponse;
const outputs = { http: fs.openSync(httpOutPath, 'w'), grpc: fs.openSync(grpcOutPath, 'w') };

const hex = (bytes) => Buffer.from(bytes || []).toString('hex');
// The generated toObject names fields as OTLP/JSON does; ids are bytes, which OTLP/JSON writes as hex.
function toJson(request) {
  const obj = Request.toObject(request, { longs: String, enums: Number, bytes: Array, defaults: false });
  for (const rs of obj.resourceSpans || [])
    for (const ss of rs.scopeSpans || [])
      for (const span of ss.spans || []) {
        for (const key of ['traceId', 'spanId', 'parentSpanId']) if (span[key]) span[key] = hex(span[key]);
        for (const link of span.links || []) for (const key of ['traceId', 'spanId']) if (link[key]) link[key] = hex(link[key]);
      }
  return obj;
}
let requests = 0;
function record(transport, buffer) {
  const request = Request.decode(buffer);  // throws on malformed protobuf: the sender answers for it
  fs.writeSync(outputs[transport], JSON.stringify(toJson(request)) + '\n');
  requests++;
}

const handler = (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url.split('?')[0] !== '/v1/traces') {
      res.writeHead(404).end();
      return;
    }
    try {
      record('http', Buffer.concat(chunks));
    } catch (e) {
      console.error('sink: undecodable OTLP/HTTP body:', e.message);
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end(Buffer.from(Response.encode({}).finish()));
  });
};
const httpServer = tls
  ? https.createServer({ key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true }, handler)
  : http.createServer(handler);
httpServer.on('tlsClientError', (e) => console.error('sink: TLS client error:', e.message));

const grpcServer = new grpc.Server();
grpcServer.addService(
  {
    Export: {
      path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      requestStream: false,
      responseStream: false,
      requestSerialize: (x) => x,
      requestDeserialize: (buffer) => buffer,
      responseSerialize: () => Buffer.from(Response.encode({}).finish()),
      responseDeserialize: (buffer) => buffer,
    },
  },
  {
    Export(call, callback) {
      try {
        record('grpc', call.request);
        callback(null, {});
      } catch (e) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: e.message });
      }
    },
  },
);

httpServer.listen(Number(process.env.SINK_HTTP_PORT || 0), '127.0.0.1', () => {
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true)
    : grpc.ServerCredentials.createInsecure();
  grpcServer.bindAsync(`127.0.0.1:${process.env.SINK_GRPC_PORT || 0}`, credentials, (err, grpcPort) => {
    if (err) throw err;
    console.log(`sink http ${httpServer.address().port} grpc ${grpcPort}`);
  });
});
process.on('SIGTERM', () => {
  httpServer.close();
  grpcServer.tryShutdown(() => {
    fs.closeSync(outputs.http);
    fs.closeSync(outputs.grpc);
    console.error(`sink: ${requests} requests written`);
    process.exit(0);
  });
});

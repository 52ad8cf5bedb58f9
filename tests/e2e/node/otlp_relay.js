// A batching OTLP/HTTP relay, standing in for an otel-collector between SDKs and the agent: it takes
// protobuf ExportTraceServiceRequests, holds them for a period (a collector's batch processor) and
// forwards them as one request (concatenated protobuf messages are one merged message). The agent sees
// only the relay's address, never the sender's.
//   node otlp_relay.js <listen ip> <port> <agent /v1/traces url> <hold ms>
const http = require('http');

const [ip, port, target, holdMs] = process.argv.slice(2);
let held = [];
let forwarded = 0;

function forward() {
  if (held.length === 0) return;
  const body = Buffer.concat(held);
  held = [];
  const req = http.request(target, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' } }, (res) => {
    res.resume();
    res.on('end', () => {
      forwarded += 1;
      if (res.statusCode !== 200) console.error(`agent answered ${res.statusCode}`);
    });
  });
  req.on('error', (e) => console.error(`forward failed: ${e}`));
  req.end(body);
}
setInterval(forward, Number(holdMs));

http.createServer((req, res) => {
  if (req.url === '/stats') return res.end(JSON.stringify({ forwarded, held: held.length }));
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    held.push(Buffer.concat(chunks));
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    res.end();  // an empty ExportTraceServiceResponse
  });
}).listen(Number(port), ip, () => console.log(`relay on ${ip}:${port} -> ${target} every ${holdMs} ms`));
process.on('SIGTERM', () => { forward(); setTimeout(() => process.exit(0), 500); });

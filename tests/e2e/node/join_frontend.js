// The SDK-instrumented frontend of the app_sys_join e2e, set up as users set it up: the real Node SDK
// with its DEFAULT BatchSpanProcessor (5 s delay), the real HTTP, mysql2, pg and ioredis instrumentations,
// and a resource with only service.name (no process.pid, no resource detectors) unless JOIN_REPORT_PID=1.
// Spans go to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (a batching relay in front of the agent).
// GET /order/<id>?q=<id>: Redis SET, a MySQL and a PostgreSQL query (the id in an identifier, which the
// agent's literal obfuscation keeps), then GET /stock/<id>?q=<id> on the backend (traceparent injected).
//   node join_frontend.js <listen ip> <port> <backend url> <db host>
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { MySQL2Instrumentation } = require('@opentelemetry/instrumentation-mysql2');
const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg');
const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis');

const attributes = { 'service.name': 'join-frontend' };
if (process.env.JOIN_REPORT_PID === '1') attributes['process.pid'] = process.pid;  // the namespaced pid in a pod
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes(attributes),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],  // every option at its default
});
provider.register();
registerInstrumentations({
  instrumentations: [new HttpInstrumentation(), new MySQL2Instrumentation(), new PgInstrumentation(),
    new IORedisInstrumentation()],
});

// Required after the instrumentations are registered, so that they are patched.
const http = require('http');
const mysql = require('mysql2/promise');
const { Pool } = require('pg');
const Redis = require('ioredis');

const [ip, port, backendUrl, dbHost] = process.argv.slice(2);

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

(async () => {
  // Pools larger than the concurrency: a query that waits for a free connection runs in the async context
  // of the request that released it, so mysql2's and pg's instrumentations would parent its span under
  // that other request (the SDK's own mix-up, not the agent's).
  const my = mysql.createPool({ host: dbHost, port: 3306, user: 'root', connectionLimit: 16 });
  const pg = new Pool({ host: dbHost, port: 5432, user: 'postgres', database: 'postgres', max: 16 });
  const redis = new Redis({ host: dbHost, port: 6379, enableReadyCheck: false });
  // Warm the pools outside any request.
  await Promise.all([my.query('SELECT 1'), pg.query('SELECT 1'), redis.ping()]);
  http.createServer(async (req, res) => {
    if (req.url === '/ready') return res.end('ok');
    const m = /^\/order\/(u\d+z)\?q=(u\d+z)$/.exec(req.url);
    if (!m) {
      res.statusCode = 404;
      return res.end('not found');
    }
    const id = m[1];
    try {
      await redis.set(`sess:${id}`, 'open');
      await my.query(`SELECT 1 AS r_${id}`);
      await pg.query(`SELECT 1 AS p_${id}`);
      const stock = await get(`${backendUrl}/stock/${id}?q=${id}`);
      res.statusCode = stock.status;
      res.end(stock.body);
    } catch (e) {
      res.statusCode = 502;
      res.end(String(e));
    }
  }).listen(Number(port), ip, () => console.log(`frontend on ${ip}:${port} (pid ${process.pid})`));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

const shutdown = () => provider.forceFlush().then(() => provider.shutdown()).finally(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

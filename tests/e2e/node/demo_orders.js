// The demo webshop's order service: POST /orders stores the order in MariaDB in a transaction
// (SET autocommit=0, INSERT, COMMIT) and bumps a counter in Redis. The database calls get manual CLIENT
// spans (db.system etc.) around them; the SDK's HTTP instrumentation makes the SERVER span.
//   node demo_orders.js <listen ip> <port> <mysql host> <mysql port> <redis host> <redis port>
const { startTracing } = require('./demo_otel');
const tracer = startTracing('orders');
const http = require('http');
const { SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const mysql = require('mysql2/promise');
const Redis = require('ioredis');

const [ip, port, myHost, myPort, redisHost, redisPort] = process.argv.slice(2);

async function traced(name, attrs, fn) {
  return tracer.startActiveSpan(name, { kind: SpanKind.CLIENT, attributes: attrs }, async (span) => {
    try {
      return await fn();
    } catch (e) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(e) });
      throw e;
    } finally {
      span.end();
    }
  });
}
const sql = (conn, text, values) =>
  traced(text.split(' ')[0] + ' shop', { 'db.system': 'mysql', 'db.name': 'shop', 'db.statement': text,
    'server.address': myHost, 'server.port': Number(myPort) }, () => conn.query(text, values));

(async () => {
  const conn = await mysql.createConnection({ host: myHost, port: Number(myPort), user: 'root', database: 'shop' });
  const redis = new Redis({ host: redisHost, port: Number(redisPort), enableReadyCheck: false, lazyConnect: false });
  await redis.ping();
  let busy = Promise.resolve();
  http.createServer((req, res) => {
    if (req.url === '/ready') return res.end('ok');
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      // One order at a time on the one connection (a transaction is per connection).
      busy = busy.then(async () => {
        try {
          const cart = JSON.parse(body || '{}');
          const id = await tracer.startActiveSpan('place-order', async (span) => {
            try {
              await sql(conn, 'SET autocommit=0');
              const [r] = await sql(conn, 'INSERT INTO orders (item, qty) VALUES (?, ?)', [cart.item || 'x', cart.qty || 1]);
              await sql(conn, 'COMMIT');
              await traced('INCR', { 'db.system': 'redis', 'db.statement': 'INCR shop:orders', 'server.address': redisHost,
                'server.port': Number(redisPort) }, () => redis.incr('shop:orders'));
              span.setAttribute('shop.order.id', r.insertId);
              return r.insertId;
            } finally {
              span.end();
            }
          });
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ order: id }));
        } catch (e) {
          res.statusCode = 500;
          res.end(String(e));
        }
      });
    });
  }).listen(Number(port), ip, () => console.log(`orders on ${ip}:${port}`));
})().catch((e) => { console.error(e); process.exit(1); });

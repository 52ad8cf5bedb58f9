// The demo webshop's frontend: GET /checkout renders a cart (an app span of its own) and places the order
// with the orders service over HTTP (the SDK injects traceparent).
//   node demo_frontend.js <listen ip> <port> <orders url>
const { startTracing } = require('./demo_otel');
const tracer = startTracing('frontend');
const http = require('http');
const { SpanStatusCode } = require('@opentelemetry/api');

const [ip, port, ordersUrl] = process.argv.slice(2);

function post(url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

http.createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  if (!req.url.startsWith('/checkout')) { res.statusCode = 404; return res.end('not found'); }
  tracer.startActiveSpan('checkout', async (span) => {
    try {
      const cart = { item: 'teapot', qty: 1 + Math.floor(Math.random() * 3) };
      span.setAttribute('shop.cart.item', cart.item);
      const order = await post(ordersUrl, cart);
      res.writeHead(order.status, { 'content-type': 'application/json' });
      res.end(order.body);
    } catch (e) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(e) });
      res.statusCode = 502;
      res.end(String(e));
    } finally {
      span.end();
    }
  });
}).listen(Number(port), ip, () => console.log(`frontend on ${ip}:${port}`));

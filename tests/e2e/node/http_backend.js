// An uninstrumented Node.js HTTP service (no OTel SDK): it answers /api/items after calling another
// service itself, so the tracer must link that outbound call to the inbound request by thread.
//   node http_backend.js <listen port> <url of the call made while serving>
const http = require('http');
const [port, downstream] = process.argv.slice(2);

http
  .createServer((req, res) => {
    if (req.url !== '/api/items') {
      res.writeHead(404).end('not found\n');
      return;
    }
    http
      .get(downstream, (down) => {
        let body = '';
        down.on('data', (d) => (body += d));
        down.on('end', () => {
          const payload = JSON.stringify({ items: [1, 2, 3], downstream: body.trim() });
          res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
          res.end(payload);
        });
      })
      .on('error', (e) => res.writeHead(502).end(String(e)));
  })
  .listen(Number(port), '127.0.0.1', () => console.log(`backend listening on ${port}`));

// An uninstrumented Node.js HTTPS service (no OTel SDK; OpenSSL is linked into the node binary and works
// through memory BIOs, so its SSL_read/SSL_write make no socket calls of their own).
//   node https_server.js <listen port> <cert.pem> <key.pem>
const https = require('https');
const fs = require('fs');
const [port, cert, key] = process.argv.slice(2);

https
  .createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
    if (req.url === '/ready') return res.writeHead(200).end('ready\n');
    if (req.url !== '/api/secure-items') return res.writeHead(404).end('not found\n');
    const payload = JSON.stringify({ items: ['a', 'b'] });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
    res.end(payload);
  })
  .listen(Number(port), '127.0.0.1', () => console.log(`https server listening on ${port}`));

// The soak's OTLP client: a steady stream of app spans to the agent's OTLP/HTTP receiver (OTLP/JSON, as an
// SDK or collector would send), each span with a unique, numbered span id. A batch that is not acknowledged
// (agent down or restarting, 429/503) is sent again after a pause, as SDK exporters retry; acknowledged
// batches are logged as "<ms since epoch> <first span number> <count>", so the check can tell exactly
// which spans the agent took responsibility for, and when.
//   node otlp_load.js <url> <spans per second> <ack log> <stop file>
const fs = require('fs');
const [url, rateArg, ackPath, stopPath] = process.argv.slice(2);
const rate = Number(rateArg);
const tickMs = 100;
const perBatch = Math.max(1, Math.round((rate * tickMs) / 1000));
const ack = fs.openSync(ackPath, 'a');
const hex = (n, width) => n.toString(16).padStart(width, '0');
let next = 1;
let batchNo = 0;

function batch(first) {
  const traceId = hex(Date.now(), 16) + hex(batchNo++, 16);
  const now = BigInt(Date.now()) * 1000000n;
  const spans = [];
  for (let i = 0; i < perBatch; i++) {
    spans.push({
      traceId,
      spanId: hex(first + i, 16),
      name: 'soak-op',
      kind: 2,
      startTimeUnixNano: String(now - 2000000n),
      endTimeUnixNano: String(now),
      attributes: [{ key: 'soak.seq', value: { intValue: String(first + i) } }],
    });
  }
  return JSON.stringify({
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'soak-load' } }] },
      scopeSpans: [{ scope: { name: 'soak' }, spans }],
    }],
  });
}

async function send(body) {
  for (;;) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
                                     signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (res.ok) return;
    } catch (e) { /* agent down: retry */ }
    if (fs.existsSync(stopPath)) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

(async () => {
  let due = Date.now();
  while (!fs.existsSync(stopPath)) {
    const first = next;
    if ((await send(batch(first))) === false) break;
    fs.writeSync(ack, `${Date.now()} ${first} ${perBatch}\n`);
    next += perBatch;
    due += tickMs;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else due = Date.now();  // behind (agent was down): no burst to catch up
  }
  fs.closeSync(ack);
})();

// Sends N spans with distinct ids through the real OpenTelemetry JS SDK OTLP/HTTP protobuf exporter, in
// requests of a fixed size, one after another, and writes the sent span ids (lower-case hex) as a JSON array.
//   node spans_send.js <url> <spans> <spans-per-request> <ids-out.json> [tag]
// Fails (exit 1) if the agent refuses any request: an outage of the agent's own export endpoint must never
// push back on senders.
const fs = require('fs');
const api = require('@opentelemetry/api');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, SimpleSpanProcessor, InMemorySpanExporter } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');

const [url, totalArg, perRequestArg, idsPath, tag = 'outage'] = process.argv.slice(2);
const total = Number(totalArg);
const perRequest = Number(perRequestArg);
if (!url || !(total > 0) || !(perRequest > 0) || !idsPath) {
  console.error('usage: node spans_send.js <url> <spans> <spans-per-request> <ids-out.json> [tag]');
  process.exit(2);
}

const memory = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': `e2e-${tag}` }),
  spanProcessors: [new SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer(`otelbpf-e2e-${tag}`, '0.0.1');
const base = Math.floor(Date.now() / 1000) - 60;
for (let i = 0; i < total; i++) {
  const span = tracer.startSpan(`${tag} span ${i}`, {
    kind: api.SpanKind.INTERNAL,
    startTime: [base, i * 1000],
    attributes: { 'e2e.tag': tag, 'e2e.seq': i },
  });
  span.end([base, i * 1000 + 500]);
}
const spans = memory.getFinishedSpans();
const ids = spans.map((s) => s.spanContext().spanId.toLowerCase());
if (ids.length !== total) {
  console.error(`made ${ids.length} spans, wanted ${total}`);
  process.exit(1);
}
if (new Set(ids).size !== total) {
  console.error('the SDK made duplicate span ids; rerun');
  process.exit(1);
}

const exporter = new OTLPTraceExporter({ url, timeoutMillis: 10000 });
const exportOnce = (chunk) => new Promise((resolve) => exporter.export(chunk, resolve));

(async () => {
  let failures = 0;
  for (let i = 0; i < spans.length; i += perRequest) {
    const result = await exportOnce(spans.slice(i, i + perRequest));
    if (result.code !== 0) {
      failures++;
      console.error(`request at span ${i} failed: ${result.error && result.error.message}`);
    }
  }
  await exporter.shutdown();
  await provider.shutdown();
  fs.writeFileSync(idsPath, JSON.stringify(ids));
  console.log(`sent ${total} spans in ${Math.ceil(total / perRequest)} requests to ${url}; failures=${failures}`);
  process.exit(failures ? 1 : 0);
})();

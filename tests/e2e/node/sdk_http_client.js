// A Node.js client instrumented with the real OpenTelemetry SDK and its HTTP instrumentation: it makes
// one request inside a "checkout" span (the SDK injects traceparent) and exports its spans to the agent.
//   node sdk_http_client.js <otlp traces url> <request url> <ids-out.json>
const fs = require('fs');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const [otlpUrl, requestUrl, idsOut] = process.argv.slice(2);
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'shop-client', 'process.pid': process.pid }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: otlpUrl }))],
});
provider.register();
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });

const http = require('http');
const tracer = provider.getTracer('shop-client');

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

tracer.startActiveSpan('checkout', async (span) => {
  const result = await get(requestUrl);
  span.end();
  fs.writeFileSync(idsOut, JSON.stringify({ traceId: span.spanContext().traceId, checkoutSpanId: span.spanContext().spanId, status: result.status, body: result.body, pid: process.pid }));
  await provider.forceFlush();
  await provider.shutdown();
  console.log(`checkout ${span.spanContext().traceId}: ${result.status} ${result.body}`);
});

// A Node.js client instrumented with the real OpenTelemetry SDK with its default settings (batch span
// processor, OTLP/HTTP protobuf exporter): one HTTPS request inside a "checkout" span. The SDK injects
// traceparent into the request, which only the decrypted bytes show.
//   node sdk_https_client.js <otlp traces url> <https request url> <ids-out.json>
const fs = require('fs');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const [otlpUrl, requestUrl, idsOut] = process.argv.slice(2);
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'secure-shop-client' }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: otlpUrl }))],
});
provider.register();
registerInstrumentations({ instrumentations: [new HttpInstrumentation()] });

const https = require('https');
const tracer = provider.getTracer('secure-shop-client');

function get(url) {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent: false, rejectUnauthorized: false }, (res) => {
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
  const ids = { traceId: span.spanContext().traceId, checkoutSpanId: span.spanContext().spanId, status: result.status, pid: process.pid };
  fs.writeFileSync(idsOut, JSON.stringify(ids));
  await provider.shutdown();  // the batch processor exports what it holds
  console.log(`checkout ${ids.traceId}: ${result.status} ${result.body}`);
});

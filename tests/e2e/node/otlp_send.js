// Sends a rich set of spans with the real OpenTelemetry JS SDK exporters to an OTLP/HTTP endpoint and
// records what the SDK itself serialises (its own OTLP/JSON encoder) as the expectation.
//   node otlp_send.js <protocol: proto|json> <url> <expected-out.json> <tag>
const fs = require('fs');
const api = require('@opentelemetry/api');
const { TraceState } = require('@opentelemetry/core');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');

const [protocol, url, expectedPath, tag] = process.argv.slice(2);
const { OTLPTraceExporter } =
  protocol === 'proto' ? require('@opentelemetry/exporter-trace-otlp-proto') : require('@opentelemetry/exporter-trace-otlp-http');

const exporter = new OTLPTraceExporter({ url, timeoutMillis: 10000 });
const recorded = [];
let failures = 0;
// Keeps what was handed to the real exporter, so the test compares against exactly what was sent.
const tee = {
  export(spans, done) {
    recorded.push(...spans);
    exporter.export(spans, (result) => {
      if (result.code !== 0) {
        failures++;
        console.error('export failed:', result.error && result.error.message);
      }
      done(result);
    });
  },
  shutdown: () => exporter.shutdown(),
  forceFlush: () => exporter.forceFlush(),
};

const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({
    'service.name': `e2e-${tag}`,
    'service.version': '1.2.3',
    'deployment.environment': 'ci',
    'host.cores': 2,
    'process.runtime.ratio': 0.5,
    'feature.enabled': true,
    'list.of.strings': ['a', 'b'],
  }),
  spanLimits: { attributeCountLimit: 12, eventCountLimit: 3, linkCountLimit: 2 },
  spanProcessors: [new SimpleSpanProcessor(tee)],
});
const tracer = provider.getTracer(`otelbpf-e2e-${tag}`, '0.0.7');

const remoteParent = api.trace.setSpanContext(api.context.active(), {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: api.TraceFlags.SAMPLED,
  isRemote: true,
  traceState: new TraceState('vendor1=value1,vendor2=value2'),
});

const kinds = [api.SpanKind.SERVER, api.SpanKind.CLIENT, api.SpanKind.INTERNAL, api.SpanKind.PRODUCER, api.SpanKind.CONSUMER];
const count = Number(process.env.SPANS || 25);
const base = Date.now() - 60000;
for (let i = 0; i < count; i++) {
  const ctx = i % 3 === 0 ? remoteParent : api.context.active();
  const span = tracer.startSpan(
    `${tag} op ${i} ünïcødé "quoted" \\ back`,
    {
      kind: kinds[i % kinds.length],
      startTime: [Math.floor(base / 1000) + i, 123456789],
      attributes: {
        'http.request.method': 'GET',
        'http.response.status_code': 200 + i,
        'float.attr': i + 0.25,
        'bool.attr': i % 2 === 0,
        'array.str': ['x', `y${i}`],
        'array.int': [1, 2, i],
        'array.bool': [true, false],
        'array.double': [1.5, 2.5],
        'big.int': 9007199254740991,
        'negative.int': -42,
      },
      links: [
        { context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, traceState: new TraceState('k=v') }, attributes: { 'link.index': i } },
      ],
    },
    ctx,
  );
  span.setAttribute('later.attr', `value-${i}`);
  // Beyond the limit of 12: counted in droppedAttributesCount by the SDK.
  for (let extra = 0; extra < 3; extra++) span.setAttribute(`overflow.${extra}`, extra);
  for (let e = 0; e < 5; e++) span.addEvent(`event ${e}`, { 'event.n': e, 'event.s': `s${e}` }, [Math.floor(base / 1000) + i, 500000000 + e]);
  if (i % 4 === 1) span.setStatus({ code: api.SpanStatusCode.ERROR, message: `failure ${i}` });
  if (i % 4 === 2) span.setStatus({ code: api.SpanStatusCode.OK });
  span.end([Math.floor(base / 1000) + i + 1, 987654321]);
}

(async () => {
  await provider.forceFlush();
  await provider.shutdown();
  const expected = JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(recorded)).toString('utf8'));
  fs.writeFileSync(expectedPath, JSON.stringify(expected));
  console.log(`sent ${recorded.length} spans over ${protocol} to ${url}; failures=${failures}`);
  process.exit(failures ? 1 : 0);
})();

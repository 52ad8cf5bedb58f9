// Checks that every span an SDK sent arrived in an otelbpf export file unchanged, field by field.
//   node otlp_verify.js <exported.jsonl> <expected.json>...
const fs = require('fs');
const assert = require('assert');

const [exportedPath, ...expectedPaths] = process.argv.slice(2);

// OTLP/JSON allows several spellings of one value (int64 as number or string, defaults present or absent);
// this brings both sides to one canonical form.
function canonicalValue(v) {
  if (v === undefined || v === null) return undefined;
  if ('stringValue' in v) return { s: v.stringValue };
  if ('boolValue' in v) return { b: v.boolValue };
  if ('intValue' in v) return { i: String(v.intValue) };
  if ('doubleValue' in v) return { d: Number(v.doubleValue) };
  if ('arrayValue' in v) return { a: (v.arrayValue.values || []).map(canonicalValue) };
  if ('kvlistValue' in v) return { kv: canonicalAttrs(v.kvlistValue.values) };
  if ('bytesValue' in v) return { by: v.bytesValue };
  return {};
}
function canonicalAttrs(attrs, ignorePrefix) {
  const out = {};
  for (const kv of attrs || []) {
    if (ignorePrefix && kv.key.startsWith(ignorePrefix)) continue;
    out[kv.key] = canonicalValue(kv.value);
  }
  return out;
}
const n = (x) => (x === undefined || x === null ? '0' : String(x));
const s = (x) => x || '';
const id = (x) => (x || '').toLowerCase();
function canonicalSpan(span, resource, scope, ignorePrefix) {
  return {
    resource: { attributes: canonicalAttrs(resource && resource.attributes), dropped: n(resource && resource.droppedAttributesCount) },
    scope: { name: s(scope && scope.name), version: s(scope && scope.version), attributes: canonicalAttrs(scope && scope.attributes) },
    traceId: id(span.traceId), spanId: id(span.spanId), parentSpanId: id(span.parentSpanId),
    traceState: s(span.traceState), flags: n(span.flags), name: span.name, kind: n(span.kind),
    start: n(span.startTimeUnixNano), end: n(span.endTimeUnixNano),
    attributes: canonicalAttrs(span.attributes, ignorePrefix), droppedAttributes: n(span.droppedAttributesCount),
    events: (span.events || []).map((e) => ({ time: n(e.timeUnixNano), name: s(e.name), attributes: canonicalAttrs(e.attributes), dropped: n(e.droppedAttributesCount) })),
    droppedEvents: n(span.droppedEventsCount),
    links: (span.links || []).map((l) => ({ traceId: id(l.traceId), spanId: id(l.spanId), traceState: s(l.traceState), attributes: canonicalAttrs(l.attributes), dropped: n(l.droppedAttributesCount), flags: n(l.flags) })),
    droppedLinks: n(span.droppedLinksCount),
    status: { code: n(span.status && span.status.code), message: s(span.status && span.status.message) },
  };
}
// Every occurrence counts: a span exported twice, or one nobody sent, must not hide behind its id.
function collect(request, ignorePrefix, into, raw) {
  for (const rs of request.resourceSpans || [])
    for (const ss of rs.scopeSpans || [])
      for (const span of ss.spans || []) {
        const key = id(span.spanId);
        assert.ok(!into.has(key), `span ${key} (${span.name}) appears more than once`);
        into.set(key, canonicalSpan(span, rs.resource, ss.scope, ignorePrefix));
        if (raw) raw.set(key, span);
      }
}

const actual = new Map();
const actualRaw = new Map();
for (const line of fs.readFileSync(exportedPath, 'utf8').split('\n')) {
  if (line.trim()) collect(JSON.parse(line), 'otelbpf.', actual, actualRaw);
}
const unclaimed = new Set(actual.keys());
// Pod attribution (docs/design.md, Pod attribution) may add what the sender did not say about where it runs; nothing the
// sender did say may change. Extra resource attributes are accepted only from that set.
const ADDED_BY_ATTRIBUTION = /^(host\.name|k8s\..+|container\..+)$/;
function stripAttribution(actualSpan, expectedSpan) {
  const attrs = { ...actualSpan.resource.attributes };
  for (const key of Object.keys(attrs)) {
    if (!(key in expectedSpan.resource.attributes)) {
      assert.match(key, ADDED_BY_ATTRIBUTION, `unexpected resource attribute ${key} added`);
      delete attrs[key];
    }
  }
  return { ...actualSpan, resource: { ...actualSpan.resource, attributes: attrs } };
}
let checked = 0;
for (const path of expectedPaths) {
  const expected = new Map();
  collect(JSON.parse(fs.readFileSync(path, 'utf8')), null, expected);
  assert.ok(expected.size > 0, `${path} holds no spans`);
  for (const [spanId, want] of expected) {
    assert.ok(actual.has(spanId), `span ${spanId} (${want.name}) from ${path} missing in ${exportedPath}`);
    assert.deepStrictEqual(stripAttribution(actual.get(spanId), want), want, `span ${spanId} differs in ${exportedPath}`);
    const source = (actualRaw.get(spanId).attributes || []).find((kv) => kv.key === 'otelbpf.span.source');
    assert.ok(source && source.value.stringValue === 'app', `span ${spanId} lacks otelbpf.span.source=app`);
    unclaimed.delete(spanId);
    checked++;
  }
}
assert.strictEqual(unclaimed.size, 0, `${exportedPath} holds ${unclaimed.size} spans nobody sent: ${[...unclaimed].slice(0, 5)}`);
console.log(`${exportedPath}: ${checked} spans arrived unchanged, each once, and nothing else`);

// Prints one trace of an otelbpf export file as a tree: indentation by parent, then the source (app, sys,
// net), the pod, the kind, the name and the duration.
//   node demo_print_trace.js <export.jsonl> [trace id]
// Without a trace id: the trace of the load generator's request (the curl sys CLIENT span of the loadgen
// pod). Spans of the demo's pods that ended up in other traces in the same time span are listed after it,
// since each one is a link that did not form.
const { loadSpans, KIND } = require('./spans_lib');

const [file, wanted] = process.argv.slice(2);
const spans = loadSpans(file);
const KIND_NAME = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k]));
const source = (s) => s.attrs['otelbpf.span.source'] || s.resource['otelbpf.span.source'] || 'app';
const pod = (s) => s.resource['k8s.pod.name'] || s.attrs['k8s.pod.name'] || '-';
const ms = (s) => (Number(s.end - s.start) / 1e6).toFixed(2) + ' ms';

function rootSpan() {
  const curls = spans.filter((s) => source(s) === 'sys' && s.kind === KIND.CLIENT &&
    s.resource['process.executable.name'] === 'curl' && /checkout/.test(s.name));
  return curls.sort((a, b) => (a.start < b.start ? -1 : 1))[0];
}

function printTrace(traceId, title) {
  const members = spans.filter((s) => s.traceId === traceId);
  const ids = new Set(members.map((s) => s.spanId));
  const children = new Map();
  for (const s of members) {
    const p = ids.has(s.parentSpanId) ? s.parentSpanId : '';
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(s);
  }
  for (const list of children.values()) list.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const rows = [];
  const walk = (parent, depth) => {
    for (const s of children.get(parent) || []) {
      rows.push([`${'  '.repeat(depth)}${s.name}`, source(s), pod(s), KIND_NAME[s.kind] || '', ms(s),
        s.resource['service.name'] || s.resource['process.executable.name'] || '']);
      walk(s.spanId, depth + 1);
    }
  };
  walk('', 0);
  const head = ['span', 'source', 'pod', 'kind', 'duration', 'service/process'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(width[i])).join('  ').trimEnd();
  console.log(`${title} ${traceId} (${members.length} spans)`);
  console.log(line(head));
  console.log(width.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  return members;
}

let traceId = wanted;
if (!traceId) {
  const root = rootSpan();
  if (!root) {
    console.error(`no curl CLIENT span of /checkout in ${file}`);
    process.exit(1);
  }
  traceId = root.traceId;
}
const members = printTrace(traceId, 'trace');
if (!wanted) {
  const lo = members.reduce((m, s) => (s.start < m ? s.start : m), members[0].start);
  const hi = members.reduce((m, s) => (s.end > m ? s.end : m), members[0].end);
  const others = new Set(spans.filter((s) => s.traceId !== traceId && s.start >= lo && s.end <= hi &&
    (s.resource['k8s.namespace.name'] === 'shop' || s.resource['k8s.namespace.name'] === undefined)).map((s) => s.traceId));
  for (const t of others) { console.log(''); printTrace(t, 'NOT LINKED to it: trace'); }
}

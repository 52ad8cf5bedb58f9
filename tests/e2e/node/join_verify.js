// Verifies the app_sys_join e2e: every request (a unique id u<n>z in its path, query, SQL identifiers
// and Redis keys) must be ONE trace holding every hop, with one root, no dangling parent, and no span of
// the request under another request's span. Prints the counts the issue asks for.
//   node join_verify.js <export.jsonl> <requests> <label> [agent metrics url]
const { loadSpans } = require('./spans_lib');
const { execFileSync } = require('child_process');

const [file, requestCount, label, metricsUrl] = process.argv.slice(2);

const spans = loadSpans(file);
const source = (s) => s.attrs['otelbpf.span.source'] || 'app';
const exe = (s) => s.resource['process.executable.name'] || '';
const KIND = { SERVER: 2, CLIENT: 3 };
const ID = /u(\d+)z/g;

function idsOf(s) {
  const text = [s.name, ...Object.values(s.attrs).filter((v) => typeof v === 'string')].join(' ');
  return new Set([...text.matchAll(ID)].map((m) => m[0]));
}

const byId = new Map(spans.map((s) => [s.spanId, s]));
const byTrace = new Map();
for (const s of spans) {
  s.ids = idsOf(s);
  if (!byTrace.has(s.traceId)) byTrace.set(s.traceId, []);
  byTrace.get(s.traceId).push(s);
}

function describe(s) {
  return `${source(s)} ${['', 'INTERNAL', 'SERVER', 'CLIENT'][s.kind] || s.kind} "${s.name}" ${exe(s) || s.resource['service.name'] || ''} ` +
    `${s.attrs['url.path'] || s.attrs['http.target'] || s.attrs['db.query.text'] || s.attrs['db.statement'] || ''}`;
}
function tree(trace) {
  const members = byTrace.get(trace) || [];
  const children = new Map();
  for (const s of members) {
    const p = s.parentSpanId && byId.has(s.parentSpanId) ? s.parentSpanId : '';
    if (!children.has(p)) children.set(p, []);
    children.get(p).push(s);
  }
  const lines = [];
  const walk = (parent, depth) => {
    for (const c of (children.get(parent) || []).sort((a, b) => (a.start < b.start ? -1 : 1))) {
      lines.push('  '.repeat(depth + 1) + describe(c) + (c.parentSpanId && !byId.has(c.parentSpanId) ? '  [dangling parent]' : ''));
      walk(c.spanId, depth + 1);
    }
  };
  walk('', 0);
  return lines.join('\n');
}

// Every hop a request must show: [description, predicate(span, id)].
const hops = [
  ['loadgen sys CLIENT', (s, id) => source(s) === 'sys' && s.kind === KIND.CLIENT && exe(s) === 'curl' && s.attrs['url.path'] === `/order/${id}`],
  ['frontend sys SERVER', (s, id) => source(s) === 'sys' && s.kind === KIND.SERVER && exe(s) === 'node' && s.attrs['url.path'] === `/order/${id}`],
  ['frontend app SERVER', (s, id) => source(s) === 'app' && s.kind === KIND.SERVER && s.ids.has(id)],
  ['frontend app CLIENT HTTP', (s, id) => source(s) === 'app' && s.kind === KIND.CLIENT && String(s.attrs['http.url'] || s.attrs['url.full'] || s.attrs['url.path'] || '').includes(`/stock/${id}`)],
  ['frontend sys CLIENT HTTP', (s, id) => source(s) === 'sys' && s.kind === KIND.CLIENT && exe(s) === 'node' && s.attrs['url.path'] === `/stock/${id}`],
  ['backend sys SERVER', (s, id) => source(s) === 'sys' && s.kind === KIND.SERVER && exe(s).startsWith('python3') && s.attrs['url.path'] === `/stock/${id}`],
  ['backend sys CLIENT MySQL', (s, id) => source(s) === 'sys' && s.kind === KIND.CLIENT && exe(s).startsWith('python3') && String(s.attrs['db.query.text'] || '').includes(`b_${id}`)],
  ['backend sys CLIENT Redis', (s, id) => source(s) === 'sys' && s.kind === KIND.CLIENT && exe(s).startsWith('python3') && String(s.attrs['db.query.text'] || '').includes(`stock:${id}`)],
];
// The SDK's database client spans, each with the frontend's sys CLIENT span of the same call as child.
const sdkCalls = [
  ['ioredis', (id) => `sess:${id}`],
  ['mysql2', (id) => `r_${id}`],
  ['pg', (id) => `p_${id}`],
];

const problems = [];
let complete = 0, mislinked = 0, split = 0, incomplete = 0;
for (let n = 1; n <= Number(requestCount); ++n) {
  const id = `u${n}z`;
  const mine = spans.filter((s) => s.ids.has(id));
  const traces = new Set(mine.map((s) => s.traceId));
  const why = [];
  if (mine.length === 0) why.push('no span mentions it');
  if (traces.size > 1) { split += 1; why.push(`split over ${traces.size} traces`); }
  const trace = mine.length ? mine[0].traceId : '';
  const members = byTrace.get(trace) || [];
  const roots = members.filter((s) => !s.parentSpanId);
  if (traces.size === 1 && roots.length !== 1) why.push(`${roots.length} roots`);
  if (members.some((s) => s.parentSpanId && !byId.has(s.parentSpanId))) why.push('a dangling parent');
  let crossed = false;
  for (const s of members) {
    // Every span of the trace and each of its ancestors mentions this id or none.
    for (let a = s, depth = 0; a && depth < 64; a = byId.get(a.parentSpanId), ++depth) {
      if (a.ids.size > 0 && !a.ids.has(id)) crossed = true;
    }
  }
  if (crossed) { mislinked += 1; why.push("a span under another request's span"); }
  for (const [what, pred] of hops) {
    const found = members.filter((s) => pred(s, id));
    if (found.length === 0) why.push(`missing ${what}`);
  }
  for (const [lib, key] of sdkCalls) {
    const app = members.find((s) => source(s) === 'app' && s.kind === KIND.CLIENT &&
      String(s.attrs['db.statement'] || s.attrs['db.query.text'] || '').includes(key(id)));
    if (!app) { why.push(`missing the ${lib} SDK span`); continue; }
    const sys = members.find((s) => source(s) === 'sys' && s.kind === KIND.CLIENT && exe(s) === 'node' &&
      String(s.attrs['db.query.text'] || '').includes(key(id)));
    if (!sys) why.push(`missing the frontend's sys CLIENT span of the ${lib} call`);
    else if (sys.parentSpanId !== app.spanId) why.push(`the ${lib} sys CLIENT span is not under the SDK's span`);
  }
  if (why.length === 0) complete += 1;
  else {
    if (!crossed && traces.size <= 1) incomplete += 1;
    if (problems.length < 3) problems.push(`request ${id}: ${why.join('; ')}\n${[...traces].map(tree).join('\n  ---\n')}`);
  }
}

let ambiguous = 'n/a', late = 'n/a';
if (metricsUrl) {
  const text = execFileSync('curl', ['-fsS', metricsUrl]).toString();
  const sum = (name) => text.split('\n').filter((l) => l.startsWith(name)).reduce((a, l) => a + Number(l.split(' ').pop()), 0);
  ambiguous = sum('otelbpf_assembler_ambiguous_total');
  late = sum('otelbpf_assembler_late_spans_total');
}
for (const p of problems) console.log(p);
console.log(`${label}: requests=${requestCount} complete=${complete} mislinked=${mislinked} split=${split} ` +
  `incomplete=${incomplete} ambiguous=${ambiguous} late=${late} (spans=${spans.length}, traces=${byTrace.size})`);
process.exit(complete === Number(requestCount) && mislinked === 0 ? 0 : 1);

// Verifies the webshop demo's export file: ONE load-generator request must be ONE trace that connects
//   loadgen curl sys CLIENT -> frontend sys SERVER -> frontend app SERVER -> checkout -> app CLIENT
//   -> frontend sys CLIENT -> orders sys SERVER -> orders app SERVER -> place-order
//   -> for SET autocommit, INSERT, COMMIT: app CLIENT -> orders sys CLIENT -> mariadbd sys SERVER
//   -> for INCR: app CLIENT -> orders sys CLIENT -> redis sys SERVER
// and every span carries its pod's k8s.pod.name and k8s.namespace.name=shop. Every check is run and
// reported (so one broken link does not hide the others); the exit code is 1 if any failed.
//   node demo_verify.js <export.jsonl>
const { loadSpans, KIND } = require('./spans_lib');

const spans = loadSpans(process.argv[2]);
const source = (s) => s.attrs['otelbpf.span.source'] || 'app';
const pod = (s) => s.resource['k8s.pod.name'];
const exe = (s) => s.resource['process.executable.name'];
const failures = [];
let passes = 0;
const short = (s) => (s ? `${source(s)} ${Object.keys(KIND)[s.kind - 1] || s.kind} "${s.name}" (pod ${pod(s)}, ${exe(s) || s.resource['service.name']}, trace ${s.traceId.slice(0, 8)}, span ${s.spanId.slice(0, 8)}, parent ${(s.parentSpanId || '-').slice(0, 8)})` : 'missing');
function check(ok, what, detail) {
  if (ok) { passes++; console.log(`  ok   ${what}`); } else { failures.push(what); console.log(`  FAIL ${what}${detail ? `\n       ${detail}` : ''}`); }
}
function find(desc, pred) {
  const found = spans.filter(pred);
  check(found.length === 1, `exactly one ${desc}`, `found ${found.length}: ${found.map(short).join('; ')}`);
  return found[0];
}

const curl = find('curl sys CLIENT GET /checkout', (s) => source(s) === 'sys' && s.kind === KIND.CLIENT && exe(s) === 'curl' && /checkout/.test(s.name));
if (!curl) { console.log('no load-generator span: nothing else to check'); process.exit(1); }
// Selection only (the links are checked below): the SDK ends a SERVER span on "finish", after the answer is
// written, and its clock and the kernel's differ, so allow some slack past the end of curl's call.
const during = (s) => s.start >= curl.start - 5000000n && s.end <= curl.end + 25000000n;
const of = (podRe) => (s) => podRe.test(pod(s) || '') || false;

const feSys = find('frontend sys SERVER GET /checkout', (s) => source(s) === 'sys' && s.kind === KIND.SERVER && /checkout/.test(s.name) && exe(s) === 'node');
const feApp = find('frontend app SERVER', (s) => source(s) === 'app' && s.kind === KIND.SERVER && s.resource['service.name'] === 'frontend' && during(s));
const checkout = find('frontend app span checkout', (s) => source(s) === 'app' && s.name === 'checkout' && during(s));
const feAppClient = find('frontend app CLIENT POST', (s) => source(s) === 'app' && s.kind === KIND.CLIENT && s.resource['service.name'] === 'frontend' && during(s));
const feSysClient = find('frontend sys CLIENT POST /orders', (s) => source(s) === 'sys' && s.kind === KIND.CLIENT && /POST \/orders/.test(s.name) && during(s));
const orSys = find('orders sys SERVER POST /orders', (s) => source(s) === 'sys' && s.kind === KIND.SERVER && /POST \/orders/.test(s.name) && during(s));
const orApp = find('orders app SERVER', (s) => source(s) === 'app' && s.kind === KIND.SERVER && s.resource['service.name'] === 'orders' && during(s));
const place = find('orders app span place-order', (s) => source(s) === 'app' && s.name === 'place-order' && during(s));

const calls = [];
for (const [what, appName, sysRe, serverExe] of [
  ['SET autocommit', 'SET shop', /^SET/, 'mariadbd'], ['INSERT', 'INSERT shop', /^INSERT/, 'mariadbd'],
  ['COMMIT', 'COMMIT shop', /^COMMIT/, 'mariadbd'], ['Redis INCR', 'INCR', /^INCR/, null]]) {
  const app = find(`orders app CLIENT ${appName}`, (s) => source(s) === 'app' && s.kind === KIND.CLIENT && s.name === appName && during(s));
  const client = find(`orders sys CLIENT ${what}`, (s) => source(s) === 'sys' && s.kind === KIND.CLIENT && sysRe.test(s.name) && exe(s) === 'node' && during(s));
  const server = find(`${serverExe || 'redis-server'} sys SERVER ${what}`, (s) => source(s) === 'sys' && s.kind === KIND.SERVER && sysRe.test(s.name) && (serverExe ? exe(s) === serverExe : exe(s) !== 'mariadbd' && exe(s) !== 'node') && during(s));
  calls.push({ what, app, client, server });
}

console.log('links:');
function link(parent, child, what, rule) {
  if (!parent || !child) return check(false, `${what} [${rule}]`, 'a span is missing');
  check(child.traceId === parent.traceId && child.parentSpanId === parent.spanId, `${what} [${rule}]`,
    `parent ${short(parent)}\n       child  ${short(child)}`);
}
// A call between two pods: the net spans of the pods' veths sit between the client's and the server's
// sys spans (client pod NIC, then server pod NIC), all with the call's TCP sequence numbers.
const byId = new Map(spans.map((s) => [s.spanId, s]));
function linkOverWire(parent, child, what) {
  if (!parent || !child) return check(false, `${what} [tcp, net spans between]`, 'a span is missing');
  const path = [];
  let up = byId.get(child.parentSpanId);
  while (up && source(up) === 'net' && path.length < 8) {
    path.unshift(up);
    up = byId.get(up.parentSpanId);
  }
  const sides = path.map((n) => n.attrs['otelbpf.tap.side']).join(' -> ');
  check(up === parent && child.traceId === parent.traceId && path.length === 2 && sides === 'client-pod-nic -> server-pod-nic' &&
      path.every((n) => n.traceId === parent.traceId && n.attrs['otelbpf.tcp.req_seq'] === child.attrs['otelbpf.tcp.req_seq']) &&
      // each pod NIC capture belongs to its pod: the client's first, then the server's
      pod(path[0]) === pod(parent) && pod(path[1]) === pod(child) && path.every((n) => n.resource['k8s.namespace.name'] === 'shop'),
    `${what} [tcp: ${sides || 'no net spans'}]`, `parent ${short(parent)}\n       net    ${path.map(short).join('\n              ')}\n       child  ${short(child)}`);
}
linkOverWire(curl, feSys, 'loadgen curl CLIENT -> frontend sys SERVER');
link(feSys, feApp, 'frontend sys SERVER -> frontend app SERVER', 'app_server_under_sys_server');
link(feApp, checkout, 'frontend app SERVER -> checkout', 'SDK parent');
link(checkout, feAppClient, 'checkout -> frontend app CLIENT', 'SDK parent');
link(feAppClient, feSysClient, 'frontend app CLIENT -> frontend sys CLIENT', 'header (traceparent)');
linkOverWire(feSysClient, orSys, 'frontend sys CLIENT -> orders sys SERVER');
link(orSys, orApp, 'orders sys SERVER -> orders app SERVER', 'app_server_under_sys_server');
link(orApp, place, 'orders app SERVER -> place-order', 'SDK parent');
for (const c of calls) {
  link(place, c.app, `place-order -> app CLIENT ${c.what}`, 'SDK parent');
  link(c.app, c.client, `app CLIENT ${c.what} -> orders sys CLIENT`, 'thread_under_app_span');
  linkOverWire(c.client, c.server, `orders sys CLIENT ${c.what} -> server sys SERVER`);
}

console.log('pod attribution:');
const expected = [
  [curl, /^loadgen-/, 'cgroup'], [feSys, /^frontend-/, 'cgroup'], [feApp, /^frontend-/, 'peer address'],
  [checkout, /^frontend-/, 'peer address'], [feAppClient, /^frontend-/, 'peer address'], [feSysClient, /^frontend-/, 'cgroup'],
  [orSys, /^orders-/, 'cgroup'], [orApp, /^orders-/, 'peer address'], [place, /^orders-/, 'peer address'],
  ...calls.flatMap((c) => [[c.app, /^orders-/, 'peer address'], [c.client, /^orders-/, 'cgroup'],
    [c.server, c.what === 'Redis INCR' ? /^redis-0$/ : /^mariadb-0$/, 'cgroup']]),
];
for (const [s, re, how] of expected) {
  if (!s) continue;
  check(re.test(pod(s) || '') && s.resource['k8s.namespace.name'] === 'shop',
    `${short(s).split(' (')[0]}: k8s.pod.name ~ ${re} in namespace shop (${how})`,
    `has k8s.pod.name=${pod(s)} k8s.namespace.name=${s.resource['k8s.namespace.name']} process.pid=${s.resource['process.pid']}`);
}
const inTrace = spans.filter((s) => s.traceId === curl.traceId);
const all = [curl, feSys, feApp, checkout, feAppClient, feSysClient, orSys, orApp, place, ...calls.flatMap((c) => [c.app, c.client, c.server])].filter(Boolean);
check(all.every((s) => s.traceId === curl.traceId), `all ${all.length} spans of the request in the one trace ${curl.traceId}`,
  `traces: ${[...new Set(all.map((s) => s.traceId))].join(', ')}`);
console.log(`${passes} checks passed, ${failures.length} failed (the trace has ${inTrace.length} spans)`);
if (failures.length) { console.log('FAILED:\n  ' + failures.join('\n  ')); process.exit(1); }

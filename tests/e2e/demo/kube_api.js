// A Kubernetes API double for the demo: serves /api/v1/pods in the real wire format, enough for the agent's
// KubeClient (LIST with fieldSelector=spec.nodeName=..., limit/continue; WATCH with watch=1 as a chunked
// stream of newline-delimited WatchEvent JSON with BOOKMARKs, ended at timeoutSeconds).
//   node kube_api.js <port> <pods.json>
// pods.json: [{ name, namespace, uid, ip, node, ownerKind, ownerName, templateHash, container, containerId,
//               image, hostIP }]. SIGHUP re-reads it and sends ADDED/MODIFIED/DELETED to open watches.
const http = require('http');
const fs = require('fs');

const [port, podsFile] = [Number(process.argv[2]), process.argv[3]];
let rv = 1000;
let pods = new Map(); // uid -> { spec, rv }
const watchers = new Set();

function podObject(p, resourceVersion) {
  const labels = { app: p.app || p.name.replace(/-[^-]+$/, '') };
  if (p.templateHash) labels['pod-template-hash'] = p.templateHash;
  const metadata = {
    name: p.name, namespace: p.namespace, uid: p.uid, resourceVersion: String(resourceVersion),
    creationTimestamp: '2026-01-01T00:00:00Z', labels,
  };
  if (p.ownerKind) {
    metadata.generateName = p.ownerKind === 'ReplicaSet' ? p.ownerName + '-' : p.ownerName + '-';
    metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: p.ownerKind, name: p.ownerName,
      uid: 'owner-' + p.ownerName, controller: true, blockOwnerDeletion: true }];
  }
  return {
    kind: 'Pod', apiVersion: 'v1', metadata,
    spec: { nodeName: p.node, hostNetwork: false, restartPolicy: 'Always', serviceAccountName: 'default',
      containers: [{ name: p.container, image: p.image }] },
    status: {
      phase: 'Running', hostIP: p.hostIP || '10.244.1.1', podIP: p.ip, podIPs: [{ ip: p.ip }],
      startTime: '2026-01-01T00:00:00Z', qosClass: 'Burstable',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: p.container, ready: true, started: true, restartCount: 0, image: p.image,
        imageID: p.image + '@sha256:' + '0'.repeat(64), containerID: 'containerd://' + p.containerId,
        state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }],
    },
  };
}

function broadcast(type, obj) {
  const line = JSON.stringify({ type, object: obj }) + '\n';
  for (const w of watchers) if (!w.node || obj.spec.nodeName === w.node) w.res.write(line);
}

function load(initial) {
  const list = JSON.parse(fs.readFileSync(podsFile, 'utf8'));
  const next = new Map();
  for (const p of list) {
    const old = pods.get(p.uid);
    if (old && JSON.stringify(old.spec) === JSON.stringify(p)) { next.set(p.uid, old); continue; }
    const entry = { spec: p, rv: ++rv };
    next.set(p.uid, entry);
    if (!initial) broadcast(old ? 'MODIFIED' : 'ADDED', podObject(p, entry.rv));
  }
  for (const [uid, old] of pods)
    if (!next.has(uid)) broadcast('DELETED', podObject(old.spec, ++rv));
  pods = next;
}
load(true);
process.on('SIGHUP', () => load(false));

function nodeOf(query) {
  const fs_ = query.get('fieldSelector') || '';
  const m = /spec\.nodeName=([^,]*)/.exec(fs_);
  return m ? m[1] : '';
}

http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  console.log(new Date().toISOString(), req.method, req.url);
  if (url.pathname === '/healthz' || url.pathname === '/readyz') return res.end('ok');
  if (url.pathname !== '/api/v1/pods') {
    res.writeHead(404, { 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `the server could not find the requested resource`, reason: 'NotFound', code: 404 }));
  }
  const node = nodeOf(url.searchParams);
  const selected = [...pods.values()].filter((e) => !node || e.spec.node === node);
  if (url.searchParams.get('watch') === '1' || url.searchParams.get('watch') === 'true') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    const since = Number(url.searchParams.get('resourceVersion') || 0);
    for (const e of selected) if (e.rv > since) res.write(JSON.stringify({ type: 'ADDED', object: podObject(e.spec, e.rv) }) + '\n');
    const w = { res, node };
    watchers.add(w);
    const bookmark = setInterval(() => {
      res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1',
        metadata: { resourceVersion: String(rv) }, spec: { containers: null }, status: {} } }) + '\n');
    }, 10000);
    const timeout = setTimeout(() => res.end(), 1000 * Number(url.searchParams.get('timeoutSeconds') || 300));
    res.on('close', () => { clearInterval(bookmark); clearTimeout(timeout); watchers.delete(w); });
    return;
  }
  const limit = Number(url.searchParams.get('limit') || 0);
  const offset = Number(url.searchParams.get('continue') || 0);
  const page = limit ? selected.slice(offset, offset + limit) : selected.slice(offset);
  const more = limit && offset + limit < selected.length;
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1',
    metadata: { resourceVersion: String(rv), ...(more ? { continue: String(offset + limit) } : {}) },
    items: page.map((e) => podObject(e.spec, e.rv)) }));
}).listen(port, '127.0.0.1', () => console.log(`kube api double on 127.0.0.1:${port}`));

// Offline checks of what users deploy: every Kubernetes object validates against the API schema, and the
// properties the agent depends on hold (privileges, mounts, node name, RBAC, the Service the reference
// document's collector config points at, that config itself).
//   node validate_manifests.js <repo root>
const fs = require('fs');
const path = require('path');
const assert = require('assert');
const YAML = require('yaml');

const root = process.argv[2];
// kubernetes-models is ESM-only: load each kind's class with import().
const modelFor = async (apiVersion, kind) => {
  const mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
  assert.ok(mod[kind], `no schema for ${apiVersion} ${kind}`);
  return mod[kind];
};

(async () => {

const objects = [];
const dir = path.join(root, 'deploy/kubernetes');
for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
    assert.strictEqual(doc.errors.length, 0, `${file}: ${doc.errors.join('; ')}`);
    const obj = doc.toJS();
    if (!obj) continue;
    const Model = await modelFor(obj.apiVersion, obj.kind);
    new Model(obj).validate(); // throws with the schema violation
    objects.push({ file, obj });
  }
}
const find = (kind, name) => {
  const o = objects.find(({ obj }) => obj.kind === kind && obj.metadata.name === name);
  assert.ok(o, `${kind} ${name} present`);
  return o.obj;
};

const ds = find('DaemonSet', 'otelbpf-agent');
const pod = ds.spec.template.spec;
assert.ok(pod.hostPID && pod.hostNetwork, 'hostPID and hostNetwork');
assert.strictEqual(pod.dnsPolicy, 'ClusterFirstWithHostNet');
const agent = pod.containers[0];
assert.strictEqual(agent.securityContext.privileged, true, 'privileged');
assert.ok(agent.resources.requests && agent.resources.limits, 'resource requests and limits');
const nodeName = agent.env.find((e) => e.name === 'NODE_NAME');
assert.strictEqual(nodeName.valueFrom.fieldRef.fieldPath, 'spec.nodeName', 'NODE_NAME from the downward API');
const mounts = Object.fromEntries(agent.volumeMounts.map((m) => [m.mountPath, m.name]));
for (const p of ['/sys/kernel/tracing', '/sys/fs/bpf', '/sys/fs/cgroup', '/sys/kernel/btf', '/etc/otelbpf'])
  assert.ok(mounts[p], `mount ${p}`);
const volumes = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
assert.strictEqual(volumes[mounts['/sys/fs/bpf']].hostPath.path, '/sys/fs/bpf');
assert.strictEqual(agent.readinessProbe.httpGet.path, '/readyz');
assert.strictEqual(agent.livenessProbe.httpGet.path, '/healthz');
assert.strictEqual(pod.serviceAccountName, 'otelbpf-agent');

const role = find('ClusterRole', 'otelbpf-agent');
const podRule = role.rules.find((r) => r.resources.includes('pods'));
for (const verb of ['list', 'watch']) assert.ok(podRule.verbs.includes(verb), `RBAC ${verb} pods`);
const binding = find('ClusterRoleBinding', 'otelbpf-agent');
assert.strictEqual(binding.subjects[0].name, 'otelbpf-agent');

const svc = find('Service', 'otelbpf-agent');
assert.strictEqual(svc.spec.type, 'ClusterIP');
const port80 = svc.spec.ports.find((p) => p.port === 80);
assert.ok(port80 && port80.targetPort === 'otlp-http', 'port 80 -> the agent HTTP port (URL without a port)');
assert.ok(svc.spec.ports.find((p) => p.port === 38086), 'port 38086');
assert.deepStrictEqual(svc.spec.selector, ds.spec.template.metadata.labels);

// The collector config of the reference document, pointed at that Service.
const collector = YAML.parse(fs.readFileSync(path.join(root, 'deploy/otel-collector/otel-agent-config.yaml'), 'utf8'));
const endpoint = new URL(collector.exporters.otlphttp.traces_endpoint);
assert.strictEqual(endpoint.pathname, '/api/v1/otel/trace');
assert.strictEqual(endpoint.hostname, `${svc.metadata.name}.${svc.metadata.namespace}`);
assert.strictEqual(endpoint.port, '', 'no port: the Service answers on 80');
const hostIp = collector.processors.resource.attributes.find((a) => a.key === 'app.host.ip');
assert.strictEqual(hostIp.from_attribute, 'k8s.pod.ip');
const pipeline = collector.service.pipelines.traces;
assert.ok(pipeline.processors.indexOf('k8sattributes') < pipeline.processors.indexOf('resource'), 'k8sattributes first');
assert.ok(pipeline.exporters.includes('otlphttp'));

// The ConfigMap's agent config, extracted for the agent itself to check (see validate.sh).
const cm = find('ConfigMap', 'otelbpf-agent');
fs.writeFileSync(process.env.CONFIGMAP_OUT || '/dev/null', cm.data['otelbpf.yaml']);
console.log(`validated ${objects.length} Kubernetes objects and the collector config`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

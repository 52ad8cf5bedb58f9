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
// Least privilege (issue 13 item 12): not privileged, every capability dropped but the ones the agent
// uses; tests/e2e/least_privilege.sh runs the agent with exactly this list and checks it traces.
const sc = agent.securityContext;
assert.notStrictEqual(sc.privileged, true, 'not privileged');
assert.strictEqual(sc.allowPrivilegeEscalation, false, 'no privilege escalation');
assert.deepStrictEqual(sc.capabilities.drop, ['ALL'], 'drops every capability');
assert.deepStrictEqual([...sc.capabilities.add].sort(), ['BPF', 'NET_ADMIN', 'PERFMON', 'SYS_PTRACE', 'SYS_RESOURCE'],
  'adds only what the agent uses');
fs.writeFileSync(process.env.CAPABILITIES_OUT || '/dev/null', sc.capabilities.add.join(' ') + '\n');
assert.ok(agent.resources.requests && agent.resources.limits, 'resource requests and limits');
const nodeName = agent.env.find((e) => e.name === 'NODE_NAME');
assert.strictEqual(nodeName.valueFrom.fieldRef.fieldPath, 'spec.nodeName', 'NODE_NAME from the downward API');
const mounts = Object.fromEntries(agent.volumeMounts.map((m) => [m.mountPath, m.name]));
for (const p of ['/sys/kernel/tracing', '/sys/fs/cgroup', '/sys/kernel/btf', '/etc/otelbpf'])
  assert.ok(mounts[p], `mount ${p}`);
// Nothing the agent does not use: it pins no BPF object (no bpffs) and needs no debugfs; the host's
// filesystems are mounted read-only but for the spool.
for (const p of ['/sys/fs/bpf', '/sys/kernel/debug']) assert.ok(!mounts[p], `no mount of ${p}`);
for (const m of agent.volumeMounts) {
  assert.ok(!m.mountPropagation || m.mountPropagation === 'None', `${m.mountPath}: no mount propagation`);
  if (m.mountPath.startsWith('/sys/')) assert.strictEqual(m.readOnly, true, `${m.mountPath} read-only`);
}
assert.strictEqual(agent.readinessProbe.httpGet.path, '/readyz');
assert.strictEqual(agent.livenessProbe.httpGet.path, '/healthz');
assert.strictEqual(pod.serviceAccountName, 'otelbpf-agent');

const role = find('ClusterRole', 'otelbpf-agent');
// The agent lists and watches the pods of its node, and reads nothing else (userspace/k8s/kube_client.cc).
assert.deepStrictEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }],
  'RBAC: list and watch pods, nothing more');
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

// The gateway tier: a Deployment in mode gateway behind a headless Service the node agents resolve.
const gw = find('Deployment', 'otelbpf-gateway');
const gwService = find('Service', 'otelbpf-gateway');
assert.strictEqual(gwService.spec.clusterIP, 'None', 'headless: one address per replica, for the hash ring');
assert.deepStrictEqual(gwService.spec.selector, gw.spec.template.metadata.labels);
assert.ok(gw.spec.replicas >= 2, 'more than one replica');
const gwContainer = gw.spec.template.spec.containers[0];
assert.deepStrictEqual(gwContainer.securityContext.capabilities.drop, ['ALL'], 'a gateway needs no capability');
assert.ok(!gw.spec.template.spec.hostNetwork && !gw.spec.template.spec.hostPID, 'a gateway is an ordinary pod');
const gwConfig = YAML.parse(find('ConfigMap', 'otelbpf-gateway').data['otelbpf.yaml']);
assert.strictEqual(gwConfig.mode, 'gateway');
assert.ok(gwConfig.receiver.peer_agents.length > 0, 'the gateway trusts the node agents');
const agentConfig = YAML.parse(cm.data['otelbpf.yaml']);
const port = gwService.spec.ports.find((p) => p.name === 'otlp-http').port;
assert.strictEqual(agentConfig.gateway.dns, `${gwService.metadata.name}.${gwService.metadata.namespace}.svc.cluster.local:${port}`,
  'node agents resolve the gateway Service');
fs.writeFileSync(process.env.GATEWAY_CONFIG_OUT || '/dev/null', find('ConfigMap', 'otelbpf-gateway').data['otelbpf.yaml']);
console.log(`validated ${objects.length} Kubernetes objects and the collector config`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

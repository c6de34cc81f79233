// The shipped manifests cross-checked against each other, the config defaults, the server's flags
// and routes, and Istio's injection matrix (docs/istio-compatibility.md).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { loadManifests, shippedManifestsDir } from '../src/install/render.js'
import type { Manifest } from '../src/install/render.js'
import { defaultConfig, parseConfig } from '../src/core/config.js'
import { matchesSelector } from '../src/core/selectors.js'
import type { LabelSelector } from '../src/core/types.js'
import { createMetrics } from '../src/http/metrics.js'
import { buildServer } from '../src/http/server.js'
import { buildMetricsServer } from '../src/http/metrics-server.js'
import {
  defaultCaSecretName, defaultNamespace, defaultServiceName, defaultWebhookConfigName, webhookNameSuffix
} from '../src/kube/names.js'
import { parseServeSettings } from '../src/cli/serve.js'

const { objects, failurePolicy, monitoringNamespace } = await loadManifests()
const find = (kind: string, name?: string): Manifest => {
  const found = objects.filter(o => o.kind === kind && (name === undefined || o.metadata.name === name))
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name ?? ''}, found ${found.length}`)
  return found[0] as Manifest
}
const deployment = find('Deployment')
const podSpec = deployment.spec.template.spec
const container = podSpec.containers[0]
const service = find('Service')
const webhookConfig = find('MutatingWebhookConfiguration')
const webhooks: Manifest[] = webhookConfig.webhooks
const flag = (name: string): string | undefined => (container.args as string[]).find(a => a.startsWith(`--${name}=`))?.slice(name.length + 3)

t.test('kustomization.yaml lists every manifest file', async t => {
  const files = readdirSync(shippedManifestsDir).filter(f => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  const kinds = new Set(objects.map(o => o.kind))
  t.equal(files.length, 11)
  for (const kind of ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment',
    'PodDisruptionBudget', 'PriorityClass', 'Service', 'NetworkPolicy', 'MutatingWebhookConfiguration']) {
    t.ok(kinds.has(kind), `${kind} is installed`)
  }
  t.notOk(objects.some(o => o.metadata.name === 'sidecar-injector-webhook-settings'), 'the local-config settings are not installed')
})

t.test('names agree with src/kube/names.ts and across objects', async t => {
  t.equal(find('Namespace').metadata.name, defaultNamespace)
  for (const o of objects) {
    if (!['Namespace', 'PriorityClass', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'].includes(o.kind)) {
      t.equal(o.metadata.namespace, defaultNamespace, `${o.kind}/${o.metadata.name} is in the injector's namespace`)
    }
  }
  t.equal(service.metadata.name, defaultServiceName)
  t.equal(webhookConfig.metadata.name, defaultWebhookConfigName)
  t.equal(flag('service-name'), defaultServiceName)
  t.equal(flag('webhook-config-name'), defaultWebhookConfigName)
  t.equal(flag('ca-secret-name'), defaultCaSecretName)
  t.equal(flag('namespace'), '$(POD_NAMESPACE)')
  t.same(container.env.find((e: Manifest) => e.name === 'POD_NAMESPACE').valueFrom.fieldRef, { fieldPath: 'metadata.namespace' })

  const sa = find('ServiceAccount')
  t.equal(podSpec.serviceAccountName, sa.metadata.name)
  for (const binding of [find('ClusterRoleBinding'), find('RoleBinding')]) {
    t.same(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: defaultNamespace }])
  }
  t.equal(find('ClusterRoleBinding').roleRef.name, find('ClusterRole').metadata.name)
  t.equal(find('RoleBinding').roleRef.name, find('Role').metadata.name)
  t.equal(podSpec.priorityClassName, find('PriorityClass').metadata.name)
  const configMap = find('ConfigMap')
  t.same(podSpec.volumes.find((v: Manifest) => v.name === 'config').configMap, { name: configMap.metadata.name })
})

t.test('RBAC grants exactly what self-managed TLS and node watching use', async t => {
  const clusterRules = find('ClusterRole').rules
  t.same(clusterRules, [
    { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [defaultWebhookConfigName], verbs: ['get', 'list', 'watch', 'patch'] },
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }
  ])
  t.same(find('Role').rules, [
    { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    { apiGroups: [''], resources: ['secrets'], resourceNames: [defaultCaSecretName], verbs: ['get', 'update'] }
  ])
  for (const o of objects) t.notOk(JSON.stringify(o).includes('"*"'), `${o.kind} has no wildcard`)
})

t.test('ports and paths agree: Service → container → server flags → routes → probes → NetworkPolicy', async t => {
  // As the kubelet does: $(VAR) in args expands from the container's env (here the downward-API namespace).
  const args = (container.args as string[]).slice(1).map(a => a.replace('$(POD_NAMESPACE)', defaultNamespace))
  const settings = parseServeSettings(args, { KUBERNETES_SERVICE_HOST: '10.96.0.1' })
  if (settings === 'help') throw new Error('unexpected help')
  t.same(settings.kube, {
    selfManagedTls: true,
    namespace: defaultNamespace,
    serviceName: service.metadata.name,
    webhookConfigName: webhookConfig.metadata.name,
    caSecretName: defaultCaSecretName,
    detectNativeSidecars: true,
    extraSans: []
  }, 'serve accepts the Deployment\'s flags: self-managed TLS and, in a cluster, native-sidecar detection')
  t.equal(settings.tlsCertFile, undefined)
  const port = container.ports.find((p: Manifest) => p.name === 'https-webhook')
  t.equal(container.args[0], 'serve')
  t.equal(port.containerPort, settings.port, 'the container port is the one serve listens on')
  t.equal(settings.port, 9443, 'and the server default')
  t.equal(settings.configFile, '/etc/sidecar-injector/config.yaml')
  t.ok(settings.configFile?.startsWith(container.volumeMounts.find((m: Manifest) => m.name === 'config').mountPath + '/'))
  const [servicePort] = service.spec.ports
  t.equal(servicePort.port, 443)
  t.equal(servicePort.targetPort, port.name)
  t.same(service.spec.selector, deployment.spec.selector.matchLabels)
  for (const webhook of webhooks) {
    t.same(webhook.clientConfig.service, { name: service.metadata.name, namespace: service.metadata.namespace, path: '/inject', port: servicePort.port })
    t.equal(webhook.clientConfig.caBundle, undefined, 'no caBundle is shipped')
  }
  const metricsPort = container.ports.find((p: Manifest) => p.name === 'http-metrics')
  t.equal(metricsPort.containerPort, settings.metricsPort, 'the metrics container port is serve\'s --metrics-port')
  t.not(settings.metricsPort, settings.port)
  t.same(service.spec.ports[1], { name: 'http-metrics', port: metricsPort.containerPort, targetPort: metricsPort.name, protocol: 'TCP' })
  t.same(deployment.spec.template.metadata.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(metricsPort.containerPort), 'prometheus.io/path': '/metrics' },
    'the scrape annotations name the metrics port')
  const netpol = find('NetworkPolicy')
  t.same(netpol.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels)
  t.same(netpol.spec.ingress, [
    { ports: [{ protocol: 'TCP', port: port.containerPort }] },
    { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': monitoringNamespace } } }], ports: [{ protocol: 'TCP', port: metricsPort.containerPort }] }
  ], 'the webhook port from any source (the API server), the metrics port from the monitoring namespace only')
  t.equal(monitoringNamespace, 'monitoring', 'webhook-settings.yaml names it')

  const server = buildServer({
    logger: pino({ level: 'silent' }),
    config: () => defaultConfig(),
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    tls: null
  })
  t.teardown(() => server.app.close())
  t.ok(server.app.hasRoute({ method: 'POST', url: webhooks[0]?.clientConfig.service.path }), 'the server has the webhook path')
  t.notOk(server.app.hasRoute({ method: 'GET', url: '/metrics' }), 'the webhook port has no /metrics')
  const metricsServer = buildMetricsServer({ logger: pino({ level: 'silent' }), registry: new Registry() })
  t.teardown(() => metricsServer.close())
  t.ok(metricsServer.hasRoute({ method: 'GET', url: deployment.spec.template.metadata.annotations['prometheus.io/path'] }), 'the metrics listener serves the annotated path')
  for (const probe of [container.readinessProbe, container.livenessProbe]) {
    t.equal(probe.httpGet.scheme, 'HTTPS')
    t.equal(probe.httpGet.port, port.name)
    const res = await server.app.inject({ method: 'GET', url: probe.httpGet.path })
    t.equal(res.statusCode, 200, `${probe.httpGet.path} answers 200`)
  }
})

t.test('components/service-monitor: a ServiceMonitor that selects the Service and scrapes its metrics port', async t => {
  const dir = join(shippedManifestsDir, 'components', 'service-monitor')
  const component = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Manifest
  t.equal(component.kind, 'Component')
  const [monitor] = component.resources.map((file: string) => parseYaml(readFileSync(join(dir, file), 'utf8')) as Manifest)
  t.equal(monitor.kind, 'ServiceMonitor')
  t.equal(monitor.metadata.namespace, service.metadata.namespace)
  t.ok(matchesSelector(monitor.spec.selector, service.metadata.labels), 'it selects the Service by its labels')
  t.same(monitor.spec.endpoints, [{ port: 'http-metrics', path: '/metrics', scheme: 'http' }])
  t.ok(service.spec.ports.some((p: Manifest) => p.name === monitor.spec.endpoints[0].port), 'a port of the Service, by name')
})

t.test('the Deployment is highly available and locked down', async t => {
  const podLabels = deployment.spec.template.metadata.labels
  t.equal(deployment.spec.replicas, 2)
  t.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0)
  t.ok(matchesSelector(deployment.spec.selector, podLabels))
  const pdb = find('PodDisruptionBudget')
  t.equal(pdb.spec.minAvailable, 1)
  t.ok(matchesSelector(pdb.spec.selector, podLabels), 'the PDB covers the pods')
  const anti = podSpec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm
  t.equal(anti.topologyKey, 'kubernetes.io/hostname')
  t.ok(matchesSelector(anti.labelSelector, podLabels), 'anti-affinity spreads the replicas')
  t.equal(podLabels['sidecar.istio.io/inject'], 'false', 'the injector is never injected')

  t.equal(podSpec.securityContext.runAsNonRoot, true)
  t.equal(podSpec.securityContext.seccompProfile.type, 'RuntimeDefault')
  t.ok(podSpec.securityContext.runAsUser > 0)
  t.same(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } })
  t.ok(container.resources.requests.cpu !== undefined && container.resources.requests.memory !== undefined)
  const limitMi = Number(/^(\d+)Mi$/.exec(container.resources.limits.memory)?.[1])
  const heapMi = Number(/--max-old-space-size=(\d+)/.exec(container.env.find((e: Manifest) => e.name === 'NODE_OPTIONS')?.value ?? '')?.[1])
  t.ok(heapMi > 0 && heapMi * 2 <= limitMi, `V8's old space (${heapMi} MiB) is capped at half the memory limit (${limitMi} MiB)`)
  t.ok(find('PriorityClass').value >= 1_000_000, 'scheduled ahead of workloads')
  t.equal(find('Namespace').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted')
  t.ok(podSpec.terminationGracePeriodSeconds > 10, 'longer than the drain (--drain-seconds default 10)')
})

t.test('the injector config in the ConfigMap is valid and keeps the defaults it does not name', async t => {
  const text = find('ConfigMap').data['config.yaml']
  const parsed = parseConfig(text)
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems))
  const defaults = defaultConfig()
  t.same(parsed.config.ignoredNamespaces, [...defaults.ignoredNamespaces, defaultNamespace])
  t.same({ ...parsed.config, ignoredNamespaces: defaults.ignoredNamespaces }, defaults, 'every other field is the default')
})

t.test('webhook entries: protocol settings', async t => {
  t.equal(failurePolicy, 'Fail', 'the documented default')
  t.equal(webhooks.length, 4)
  for (const w of webhooks) {
    t.ok(w.name.endsWith(`.${webhookNameSuffix}`), `${w.name} ends with the suffix the caBundle patcher looks for`)
    t.same(w.rules, [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }])
    t.equal(w.failurePolicy, failurePolicy, 'the file agrees with webhook-settings.yaml')
    t.equal(w.sideEffects, 'None')
    t.same(w.admissionReviewVersions, ['v1'])
    t.ok(w.timeoutSeconds >= 1 && w.timeoutSeconds <= 30)
    t.equal(w.matchPolicy, 'Equivalent')
    t.equal(w.reinvocationPolicy, 'IfNeeded', 're-injection is idempotent (test/core/inject.test.ts), so later webhooks\' containers are seen')
    const exclusion = w.namespaceSelector.matchExpressions.find((e: Manifest) => e.key === 'kubernetes.io/metadata.name')
    t.same(exclusion, { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [defaultNamespace, ...defaultConfig().ignoredNamespaces] })
  }
  t.equal(new Set(webhooks.map(w => w.name)).size, webhooks.length, 'names are unique')
})

// Istio's effective matrix (docs/istio-compatibility.md), evaluated the way the API server does:
// called when any entry's namespaceSelector and objectSelector both match.
function called (nsLabels: Record<string, string>, podLabels: Record<string, string>, namespace = 'apps'): boolean {
  const ns = { 'kubernetes.io/metadata.name': namespace, ...nsLabels }
  return webhooks.some(w => matchesSelector(w.namespaceSelector as LabelSelector, ns) && matchesSelector(w.objectSelector as LabelSelector, podLabels))
}

t.test('the selectors reproduce Istio\'s injection matrix', async t => {
  const cases: Array<[Record<string, string>, Record<string, string>, boolean]> = [
    [{ 'istio-injection': 'enabled' }, {}, true],
    [{ 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'true' }, true],
    [{ 'istio-injection': 'enabled' }, { 'istio.io/rev': 'canary' }, true],
    [{ 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'false' }, false],
    [{ 'istio-injection': 'disabled' }, { 'sidecar.istio.io/inject': 'true' }, false],
    [{ 'istio-injection': 'disabled' }, { 'istio.io/rev': 'default' }, false],
    [{ 'istio.io/rev': 'default' }, {}, true],
    [{ 'istio.io/rev': 'default' }, { 'sidecar.istio.io/inject': 'true' }, true],
    [{ 'istio.io/rev': 'default' }, { 'sidecar.istio.io/inject': 'false' }, false],
    [{ 'istio.io/rev': 'canary' }, { 'istio.io/rev': 'default' }, false],
    [{ 'istio.io/rev': 'default', 'istio-injection': 'disabled' }, {}, false],
    [{}, { 'sidecar.istio.io/inject': 'true' }, true],
    [{}, { 'sidecar.istio.io/inject': 'true', 'istio.io/rev': 'default' }, true],
    [{}, { 'istio.io/rev': 'default' }, true],
    [{}, { 'istio.io/rev': 'canary' }, false],
    [{}, { 'sidecar.istio.io/inject': 'true', 'istio.io/rev': 'canary' }, false],
    [{}, {}, false],
    [{}, { 'sidecar.istio.io/inject': 'false' }, false]
  ]
  for (const [ns, pod, want] of cases) {
    t.equal(called(ns, pod), want, `namespace ${JSON.stringify(ns)}, pod ${JSON.stringify(pod)} → ${want ? 'called' : 'not called'}`)
  }
  for (const namespace of [defaultNamespace, 'kube-system', 'kube-public', 'kube-node-lease']) {
    t.notOk(called({ 'istio-injection': 'enabled' }, { 'sidecar.istio.io/inject': 'true' }, namespace), `${namespace} is never selected`)
    t.notOk(called({}, { 'sidecar.istio.io/inject': 'true' }, namespace))
  }
})

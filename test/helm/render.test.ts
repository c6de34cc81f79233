// The chart judged by real Helm and the real API server (make helm-test):
//  1. `helm lint`;
//  2. the chart and manifests/ render the same objects for the same settings: helm template against
//     kustomize (self-managed; cert-manager through manifests/components/cert-manager) and against
//     `sidecar-injector manifests --ca-bundle-file` (src/install/render.ts: static certificate);
//     a revision's webhook entries against src/core/webhook-selectors.ts;
//  3. every TLS mode, and a revision, through server-side dry-run on the local kube-apiserver
//     (cert-manager's CRDs installed from its Go module).
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import type { Test } from 'tap'
import { stringify } from 'yaml'
import { loadManifests, renderManifests } from '../../src/install/render.js'
import { webhookEntries } from '../../src/core/webhook-selectors.js'
import { createCertificateAuthority, issueServingCertificate } from '../../src/tls/certificates.js'
import { connectCluster, createNamespace } from '../e2e/lib/cluster.js'
import type { K8sObject } from './lib/chart.js'
import { byKey, certManagerComponentDir, certManagerCrdsDir, chartDir, helm, kustomize, objectKey, serviceMonitorComponentDir, template } from './lib/chart.js'

const run = promisify(execFile)

const dir = mkdtempSync(join(tmpdir(), 'helm-render-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
const ca = await createCertificateAuthority({ now: new Date(), validityMs: 3_600_000 })
const serving = await issueServingCertificate({ ca, dnsNames: ['sidecar-injector.sidecar-injector.svc'], ipAddresses: [], now: new Date(), validityMs: 3_600_000 })
const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }
writeFileSync(files.ca, ca.cert)
writeFileSync(files.cert, serving.cert)
writeFileSync(files.key, serving.key)

/** The settings of each TLS mode, as a user passes them. */
const modes: Record<string, { set: Record<string, string>, setFile?: Record<string, string> }> = {
  selfManaged: { set: {} },
  'static (existing Secret)': { set: { 'tls.mode': 'static', 'tls.static.existingSecret': 'sidecar-injector-tls' }, setFile: { 'tls.caBundle': files.ca } },
  'static (from files)': { set: { 'tls.mode': 'static' }, setFile: { 'tls.caBundle': files.ca, 'tls.static.cert': files.cert, 'tls.static.key': files.key } },
  certManager: { set: { 'tls.mode': 'certManager' } }
}

t.test('helm lint', async t => {
  for (const [mode, { set, setFile = {} }] of Object.entries(modes)) {
    const args = [...Object.entries(set).flatMap(([k, v]) => ['--set', `${k}=${v}`]), ...Object.entries(setFile).flatMap(([k, v]) => ['--set-file', `${k}=${v}`])]
    const out = await helm(['lint', '--strict', chartDir, ...args])
    t.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/, `${mode}: lint --strict passes`)
  }
  await t.rejects(helm(['template', 'x', chartDir, '--set', 'tls.mode=static']), /tls\.mode static needs tls\.caBundle/, 'static without a CA bundle: a message naming the value')
  await t.rejects(helm(['template', 'x', chartDir, '--set', 'tls.mode=vault']), /tls\.mode must be one of selfManaged, static, certManager/, 'an unknown mode: named')
  await t.rejects(helm(['template', 'x', chartDir, '--set', 'revision=Canary_1']), /revision must be a DNS label/, 'a revision that cannot name objects: named')
  for (const [value, problem] of [['9443', /metrics\.port must differ from the webhook port \(9443\)/], ['70000', /metrics\.port must be an integer from 0 \(no metrics listener\) to 65535; got 70000/],
    ['-1', /metrics\.port must be an integer/], ['http', /metrics\.port must be an integer/], ['80.5', /metrics\.port must be an integer/]] as const) {
    await t.rejects(helm(['template', 'x', chartDir, '--set', `metrics.port=${value}`]), problem, `metrics.port=${value}: named`)
  }
  await t.rejects(helm(['template', 'x', chartDir, '--set', 'metrics.port=0', '--set', 'metrics.serviceMonitor.enabled=true']),
    /metrics\.serviceMonitor\.enabled needs metrics\.port/, 'a ServiceMonitor without a metrics listener: named')
})

t.test('the chart and manifests/ render the same objects', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const withNamespace = { 'namespace.create': 'true' }
  const compare = (t: Test, chart: K8sObject[], other: K8sObject[], what: string): void => {
    const a = byKey(chart)
    const b = byKey(other)
    t.same(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: the same objects`)
    for (const key of Object.keys(b)) t.same(a[key], b[key], `${what}: ${key} is the same`)
  }

  compare(t, await template({ set: withNamespace }), await kustomize(cluster.kubectl), 'self-managed TLS (kubectl kustomize manifests/)')
  compare(t, await template({ set: { ...withNamespace, ...modes.certManager?.set } }), await kustomize(cluster.kubectl, [certManagerComponentDir]),
    'cert-manager (manifests/ + components/cert-manager)')

  const { objects, failurePolicy } = await loadManifests()
  const staticInstall = renderManifests(objects, { failurePolicy, caBundle: ca.cert })
  compare(t, await template({ set: { ...withNamespace, ...modes['static (existing Secret)']?.set }, setFile: modes['static (existing Secret)']?.setFile ?? {} }),
    staticInstall, 'static certificate (sidecar-injector manifests --ca-bundle-file)')
  const fromFiles = await template({ set: { ...withNamespace, ...modes['static (from files)']?.set }, setFile: modes['static (from files)']?.setFile ?? {} })
  const secret = fromFiles.find(o => o.kind === 'Secret')
  t.same(secret, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'sidecar-injector-tls', namespace: 'sidecar-injector', labels: { 'app.kubernetes.io/part-of': 'sidecar-injector' } },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(serving.cert).toString('base64'), 'tls.key': Buffer.from(serving.key).toString('base64') }
  }, 'static from files: the chart makes the Secret the Deployment mounts')
  compare(t, fromFiles.filter(o => o.kind !== 'Secret'), staticInstall, 'static certificate from files, apart from that Secret')

  // Another namespace: both renderers move every reference (subjects, selectors, config, Service).
  const moved = renderManifests(objects, { failurePolicy, namespace: 'mesh-injector' })
  compare(t, await template({ namespace: 'mesh-injector', set: withNamespace }), moved, 'namespace mesh-injector (sidecar-injector manifests --namespace)')
  compare(t, await template({ set: { ...withNamespace, failurePolicy: 'Ignore' } }), renderManifests(objects, { failurePolicy: 'Ignore' }), 'failurePolicy Ignore')
  compare(t, await template({ set: { ...withNamespace, 'networkPolicy.metricsNamespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name': 'observability' } }),
    renderManifests(objects, { failurePolicy, monitoringNamespace: 'observability' }), 'metrics scraped from namespace observability (sidecar-injector manifests --monitoring-namespace)')
  compare(t, await template({ set: { ...withNamespace, 'metrics.serviceMonitor.enabled': 'true' } }), await kustomize(cluster.kubectl, [serviceMonitorComponentDir]),
    'ServiceMonitor (manifests/ + components/service-monitor)')
})

t.test('metrics.port 0: no metrics listener, port, annotation or NetworkPolicy rule', async t => {
  const objects = await template({ set: { 'metrics.port': '0' } })
  const deployment = objects.find(o => o.kind === 'Deployment')
  const container = deployment?.spec.template.spec.containers[0]
  t.notOk((container.args as string[]).some(a => a.startsWith('--metrics-port')), 'serve gets no --metrics-port (its default: no metrics listener)')
  t.same(container.ports.map((p: K8sObject) => p.name), ['https-webhook'])
  t.equal(deployment?.spec.template.metadata.annotations, undefined, 'no scrape annotations')
  t.same(objects.find(o => o.kind === 'Service')?.spec.ports.map((p: K8sObject) => p.name), ['https-webhook'])
  t.same(objects.find(o => o.kind === 'NetworkPolicy')?.spec.ingress, [{ ports: [{ protocol: 'TCP', port: 9443 }] }])
  const moved = await template({ set: { 'metrics.port': '9090', 'metrics.podAnnotations': 'false' } })
  const movedDeployment = moved.find(o => o.kind === 'Deployment')
  t.ok(movedDeployment?.spec.template.spec.containers[0].args.includes('--metrics-port=9090'), 'another port reaches serve')
  t.equal(movedDeployment?.spec.template.metadata.annotations, undefined, 'podAnnotations false: none')
  t.same(moved.find(o => o.kind === 'NetworkPolicy')?.spec.ingress[1].ports, [{ protocol: 'TCP', port: 9090 }])
})

t.test('revision canary: its own names, and the istio.io/rev=canary entries of src/core/webhook-selectors.ts', async t => {
  const canary = await template({ set: { revision: 'canary' } })
  const main = await template({})
  const mainKeys = new Set(main.map(objectKey))
  t.same(canary.filter(o => mainKeys.has(objectKey(o))).map(objectKey), [], 'no object shares a name with the default revision: both install side by side')
  for (const o of canary) t.match(o.metadata.name, /^sidecar-injector-canary(-|$)/, `${objectKey(o)} is named after the revision`)
  const configuration = canary.find(o => o.kind === 'MutatingWebhookConfiguration')
  t.equal(configuration?.metadata.name, 'sidecar-injector-canary', 'a distinct webhook configuration name')
  const entries = (configuration?.webhooks ?? []).map((w: K8sObject) => ({ name: w.name, namespaceSelector: w.namespaceSelector, objectSelector: w.objectSelector }))
  t.same(entries, webhookEntries('canary'), 'exactly the entries the offline CLI evaluates for revision canary')
  t.same(canary.find(o => o.kind === 'Deployment')?.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'sidecar-injector', 'istio.io/rev': 'canary' }, 'pods selected per revision')
  const config = byKey(canary)['ConfigMap/sidecar-injector/sidecar-injector-canary-config']?.data['config.yaml']
  t.equal(config?.revision, 'canary', 'the injector records revision canary on the pods it injects')
  const args: string[] = canary.find(o => o.kind === 'Deployment')?.spec.template.spec.containers[0].args ?? []
  t.ok(args.includes('--webhook-config-name=sidecar-injector-canary') && args.includes('--ca-secret-name=sidecar-injector-canary-ca'),
    'self-managed TLS patches its own configuration and keeps its own CA', { args })
})

t.test('every mode through server-side dry-run on the real API server', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const kubectl = async (args: readonly string[], input?: string): Promise<string> => {
    const child = run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfigPath, ...args], { maxBuffer: 16 << 20 })
    if (input !== undefined) { child.child.stdin?.end(input) }
    return (await child).stdout
  }
  // cert-manager's CRDs, as its module ships them: the API server then validates Issuers and Certificates.
  await kubectl(['apply', '--server-side', '-f', certManagerCrdsDir()])
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/certificates.cert-manager.io', 'crd/issuers.cert-manager.io'])
  // A dry-run Namespace is not stored: the namespaced objects need a real one.
  const namespace = await createNamespace(cluster, 'helm-dry-run', {}, fn => { t.teardown(fn) })
  const cases: typeof modes = {
    ...modes,
    'revision canary, cert-manager with an issuer of the user': { set: { revision: 'canary', 'tls.mode': 'certManager', 'tls.certManager.issuerRef.name': 'corp-ca', 'tls.certManager.issuerRef.kind': 'ClusterIssuer' } },
    'metrics on port 9090, scraped from namespace monitoring if labelled team=observability': { set: { 'metrics.port': '9090', 'networkPolicy.metricsNamespaceSelector.matchLabels.team': 'observability' } },
    'no metrics listener': { set: { 'metrics.port': '0' } }
  }
  for (const [mode, { set, setFile = {} }] of Object.entries(cases)) {
    const objects = await template({ namespace, set, setFile })
    const out = await kubectl(['apply', '--dry-run=server', '-f', '-'], objects.map(o => stringify(o)).join('---\n'))
    const lines = out.trim().split('\n').filter(line => line !== '')
    t.equal(lines.length, objects.length, `${mode}: every object was accepted (${objects.length})`, { out })
    t.ok(lines.every(line => /\(server dry run\)$/.test(line)), `${mode}: by the server, in dry-run`, { out })
    if (mode === 'certManager') t.ok(lines.some(l => l.startsWith('certificate.cert-manager.io/')), 'Certificates validated against the CRD')
  }
  await t.rejects(kubectl(['apply', '--dry-run=server', '-f', '-'], stringify({
    ...(await template({ namespace, set: { 'tls.mode': 'certManager' } })).find(o => o.kind === 'Certificate' && o.metadata.name === 'sidecar-injector-tls'),
    spec: { secretName: 'x' }
  })), /issuerRef/, 'the server does judge the CRD schema: a Certificate without issuerRef is refused')
})

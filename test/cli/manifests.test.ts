import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import type { CliIo } from '../../src/cli/io.js'
import { UsageError } from '../../src/cli/io.js'
import { run } from '../../src/cli/manifests.js'
import type { Manifest } from '../../src/install/render.js'
import { loadManifests, renderManifests, shippedManifestsDir, staticTlsDir } from '../../src/install/render.js'
import { parseConfig } from '../../src/core/config.js'
import { createCertificateAuthority } from '../../src/tls/certificates.js'

function captureIo (cwd: string): CliIo & { out: string[], err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return { out, err, stdout: s => { out.push(s) }, stderr: s => { err.push(s) }, env: {}, stdin: Readable.from([]), cwd }
}

function parseStream (text: string): Manifest[] {
  return parseAllDocuments(text).map(d => d.toJS() as Manifest).filter(o => o !== null)
}

async function render (args: string[], cwd = tmpdir()): Promise<Manifest[]> {
  const io = captureIo(cwd)
  t.equal(await run(args, io), 0)
  return parseStream(io.out.join(''))
}

const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

t.test('with no flags it renders what kubectl apply -k installs', { skip: kubectl ? false : 'kubectl is not installed' }, async t => {
  const ours = await render([])
  const kustomized = parseStream(execFileSync('kubectl', ['kustomize', shippedManifestsDir], { encoding: 'utf8' }))
  const key = (o: Manifest): string => `${String(o.kind)}/${String(o.metadata.namespace ?? '')}/${String(o.metadata.name)}`
  t.same(ours.map(key).sort(), kustomized.map(key).sort(), 'the same objects')
  for (const object of kustomized) t.same(ours.find(o => key(o) === key(object)), object, `${key(object)} is identical`)
})

t.test('--namespace moves every namespaced object, reference and exclusion', async t => {
  const objects = await render(['--namespace', 'mesh-system', '--image', 'registry.example/injector:1.2.3', '--failure-policy', 'Ignore'])
  const text = JSON.stringify(objects)
  t.notMatch(text, /"namespace":"sidecar-injector"/, 'no object or reference is left in the old namespace')
  t.notMatch(text, /"values":\["sidecar-injector"/, 'nor the old namespace exclusion')
  t.equal(objects.find(o => o.kind === 'Namespace')?.metadata.name, 'mesh-system')
  for (const o of objects.filter(o => o.metadata.namespace !== undefined)) t.equal(o.metadata.namespace, 'mesh-system', `${String(o.kind)}`)
  const webhooks = objects.find(o => o.kind === 'MutatingWebhookConfiguration')?.webhooks as Manifest[]
  for (const w of webhooks) {
    t.equal(w.clientConfig.service.namespace, 'mesh-system')
    t.equal(w.failurePolicy, 'Ignore')
    t.same(w.namespaceSelector.matchExpressions.at(-1).values, ['mesh-system', 'kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'])
  }
  for (const b of objects.filter(o => o.kind.endsWith('RoleBinding'))) t.equal(b.subjects[0].namespace, 'mesh-system')
  const config = parseConfig(objects.find(o => o.kind === 'ConfigMap')?.data['config.yaml'])
  t.ok(config.ok && config.config.ignoredNamespaces.includes('mesh-system') && !config.config.ignoredNamespaces.includes('sidecar-injector'))
  const deployment = objects.find(o => o.kind === 'Deployment') as Manifest
  t.equal(deployment.spec.template.spec.containers[0].image, 'registry.example/injector:1.2.3')
  t.ok(deployment.spec.template.spec.containers[0].args.includes('--self-managed-tls'))
})

t.test('--ca-bundle-file renders the static-certificate install', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'manifests-cli-'))
  const a = await createCertificateAuthority({ now: new Date(), validityMs: 3_600_000, commonName: 'a' })
  const b = await createCertificateAuthority({ now: new Date(), validityMs: 3_600_000, commonName: 'b' })
  writeFileSync(join(dir, 'ca.crt'), a.cert + b.cert)
  const objects = await render(['--ca-bundle-file', 'ca.crt'], dir)
  const webhooks = objects.find(o => o.kind === 'MutatingWebhookConfiguration')?.webhooks as Manifest[]
  t.equal(webhooks.length, 4)
  for (const w of webhooks) t.equal(Buffer.from(w.clientConfig.caBundle, 'base64').toString(), a.cert + b.cert, `${String(w.name)} carries both CAs`)
  const podSpec = (objects.find(o => o.kind === 'Deployment') as Manifest).spec.template.spec
  const args: string[] = podSpec.containers[0].args
  t.notOk(args.some(a => a.startsWith('--self-managed-tls') || a.startsWith('--ca-secret-name') || a.startsWith('--webhook-config-name')))
  t.ok(args.includes(`--tls-cert-file=${staticTlsDir}/tls.crt`) && args.includes(`--tls-private-key-file=${staticTlsDir}/tls.key`))
  t.same(podSpec.volumes.find((v: Manifest) => v.name === 'tls'), { name: 'tls', secret: { secretName: 'sidecar-injector-tls' } })
  t.same(podSpec.containers[0].volumeMounts.find((m: Manifest) => m.name === 'tls'), { name: 'tls', mountPath: staticTlsDir, readOnly: true })
  t.notOk(objects.some(o => o.kind === 'Role' || o.kind === 'RoleBinding'), 'no Secret access is granted')
  const rules = objects.find(o => o.kind === 'ClusterRole')?.rules as Manifest[]
  t.same(rules.map(r => r.resources), [['nodes']], 'only node watching remains')
})

t.test('the metrics port\'s NetworkPolicy rule: monitoringNamespace of webhook-settings.yaml, or --monitoring-namespace', async t => {
  const metricsRule = (objects: Manifest[]): Manifest => (objects.find(o => o.kind === 'NetworkPolicy') as Manifest).spec.ingress[1]
  const shipped = await render([])
  t.same(metricsRule(shipped), { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ protocol: 'TCP', port: 8080 }] })
  t.same((shipped.find(o => o.kind === 'NetworkPolicy') as Manifest).spec.ingress[0], { ports: [{ protocol: 'TCP', port: 9443 }] }, 'the webhook port: any source')
  t.same(metricsRule(await render(['--monitoring-namespace', 'observability'])).from[0].namespaceSelector.matchLabels, { 'kubernetes.io/metadata.name': 'observability' })

  const dir = mkdtempSync(join(tmpdir(), 'manifests-settings-'))
  cpSync(shippedManifestsDir, dir, { recursive: true })
  const settingsFile = join(dir, 'webhook-settings.yaml')
  const settings = readFileSync(settingsFile, 'utf8')
  writeFileSync(settingsFile, settings.replace('monitoringNamespace: monitoring', 'monitoringNamespace: prom'))
  t.same(metricsRule(await render(['--manifests-dir', dir])).from[0].namespaceSelector.matchLabels, { 'kubernetes.io/metadata.name': 'prom' }, 'the settings file is read')
  t.same(metricsRule(await render(['--manifests-dir', dir, '--monitoring-namespace', 'obs'])).from[0].namespaceSelector.matchLabels, { 'kubernetes.io/metadata.name': 'obs' }, 'the flag wins')
  writeFileSync(settingsFile, settings.replace('monitoringNamespace: monitoring', 'monitoringNamespace: Not_A_Namespace'))
  await t.rejects(render(['--manifests-dir', dir]), /webhook-settings\.yaml data\.monitoringNamespace must be a namespace name \(a DNS-1123 label\), got 'Not_A_Namespace'/)
  writeFileSync(settingsFile, settings.replace('  monitoringNamespace: monitoring\n', ''))
  t.same(metricsRule(await render(['--manifests-dir', dir])), metricsRule(shipped), 'without the setting the NetworkPolicy stays as written')
})

t.test('renderManifests leaves its input alone', async t => {
  const { objects } = await loadManifests()
  const before = JSON.stringify(objects)
  renderManifests(objects, { namespace: 'x', failurePolicy: 'Ignore', caBundle: 'pem' })
  t.equal(JSON.stringify(objects), before)
})

t.test('bad flags are usage errors', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'manifests-cli-'))
  writeFileSync(join(dir, 'empty.crt'), 'nothing here')
  const io = captureIo(dir)
  await t.rejects(run(['--namespace', 'Bad_NS'], io), UsageError)
  await t.rejects(run(['--failure-policy', 'Maybe'], io), /--failure-policy must be Fail or Ignore/)
  await t.rejects(run(['--monitoring-namespace', 'a.b'], io), /--monitoring-namespace must be a DNS-1123 label, got 'a\.b'/)
  await t.rejects(run(['--monitoring-namespace', ''], io), UsageError)
  await t.rejects(run(['--ca-bundle-file', 'empty.crt'], io), /holds no PEM certificate/)
  await t.rejects(run(['--image', ''], io), UsageError)
  await t.rejects(run(['positional'], io), UsageError)
  t.equal(await run(['--help'], io), 0)
  t.match(io.out.join(''), /kubectl apply -f -/)
})

// src/kube against the real API server (kube-apiserver with RBAC), with the injector's own
// ServiceAccount and the RBAC of manifests/ and nothing more:
//  1. the adapters: two replicas sharing one CA Secret, the caBundle patched into every entry and
//     repaired after a re-apply, Nodes watched for native sidecars, 403 beyond what the Role grants;
//  2. `sidecar-injector serve --self-managed-tls` as a process: the API server calls it through a
//     caBundle the injector published itself, pods get the sidecar, SIGTERM ends it promptly.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node'
import type { KubernetesObject, V1MutatingWebhook } from '@kubernetes/client-node'
import t from 'tap'
import type { Test } from 'tap'
import { loadManifests, renderManifests } from '../../src/install/render.js'
import type { Manifest } from '../../src/install/render.js'
import { createKubeApi } from '../../src/kube/api.js'
import { startNativeSidecarDetector } from '../../src/kube/native-sidecars.js'
import { createSelfManagedTls } from '../../src/tls/self-managed.js'
import { createCertificateAuthority, issueServingCertificate } from '../../src/tls/certificates.js'
import type { Cluster } from './lib/cluster.js'
import { connectCluster, createNamespace, isApiError } from './lib/cluster.js'
import { httpsGet } from './lib/https.js'
import { appPod, isInjected, proxyContainer } from './lib/pods.js'
import { freePort, startProcess, waitFor } from './lib/processes.js'
import { cliPath } from './lib/repo.js'

/** A second mutating webhook that adds a container, to make the API server re-invoke ours. */
async function startLateWebhook (t: Test): Promise<{ port: number, ca: string }> {
  const ca = await createCertificateAuthority({ now: new Date(), validityMs: 3_600_000 })
  const pair = await issueServingCertificate({ ca, dnsNames: [], ipAddresses: ['127.0.0.1'], now: new Date(), validityMs: 3_600_000 })
  const server = createServer({ key: pair.key, cert: pair.cert }, (req, res) => {
    let body = ''
    req.on('data', chunk => { body += String(chunk) })
    req.on('end', () => {
      const review = JSON.parse(body) as { request: { uid: string, object: { spec: { containers: Array<{ name: string }> } } } }
      const has = review.request.object.spec.containers.some(c => c.name === 'late-app')
      const patch = has ? [] : [{ op: 'add', path: '/spec/containers/-', value: { name: 'late-app', image: 'docker.io/library/busybox:1.36' } }]
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: review.request.uid, allowed: true, ...(has ? {} : { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }) }
      }))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const address = server.address()
  return { port: typeof address === 'object' && address !== null ? address.port : 0, ca: ca.cert }
}

const inCluster = process.env.E2E_WEBHOOK === 'in-cluster'
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

async function eventually (condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

interface Installed {
  namespace: string
  configName: string
  /** A kubeconfig holding only a token of the injector's ServiceAccount. */
  injectorKc: KubeConfig
  bundles: () => Promise<string[]>
}

/**
 * Installs the shipped ServiceAccount and RBAC in a namespace of this run, with cluster-scoped names
 * of this run, plus a MutatingWebhookConfiguration of that name whose entries `webhooks` gives.
 */
async function install (t: Test, cluster: Cluster, tag: string, webhooks: (shipped: Manifest[]) => V1MutatingWebhook[]): Promise<Installed> {
  const namespace = `e2e-${tag}-${cluster.runId}`
  const configName = `sidecar-injector-${tag}-${cluster.runId}`
  const { objects } = await loadManifests()
  const wanted = new Set(['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'])
  const rendered = renderManifests(objects, { namespace, failurePolicy: 'Ignore' }).filter(o => wanted.has(o.kind)).map((o: Manifest) => {
    if (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') o.metadata.name = configName
    if (o.kind === 'ClusterRoleBinding') o.roleRef.name = configName
    if (o.kind === 'ClusterRole') for (const rule of o.rules) if (rule.resourceNames !== undefined) rule.resourceNames = [configName]
    if (o.kind === 'MutatingWebhookConfiguration') {
      o.metadata.name = configName
      o.webhooks = webhooks(o.webhooks)
    }
    return o
  })
  const admin = KubernetesObjectApi.makeApiClient(cluster.kc)
  for (const object of rendered) {
    await admin.create(object as KubernetesObject)
    if (object.metadata.namespace === undefined) t.teardown(async () => { await admin.delete(object as KubernetesObject).catch(() => {}) })
  }
  const token = await cluster.core.createNamespacedServiceAccountToken({ name: 'sidecar-injector', namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } })
  const server = cluster.kc.getCurrentCluster()
  if (server === null || token.status?.token === undefined) throw new Error('no cluster or token')
  const injectorKc = new KubeConfig()
  injectorKc.loadFromOptions({
    clusters: [server],
    users: [{ name: 'injector', token: token.status.token }],
    contexts: [{ name: 'injector', cluster: server.name, user: 'injector' }],
    currentContext: 'injector'
  })
  const bundles = async (): Promise<string[]> => {
    const config = await cluster.admission.readMutatingWebhookConfiguration({ name: configName })
    return (config.webhooks ?? []).map(w => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString())
  }
  return { namespace, configName, injectorKc, bundles }
}

t.test('the adapters with the shipped RBAC, against the real API server', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  // The shipped entries, with a selector that matches no namespace: other tests' pods never reach them.
  const { namespace, configName, injectorKc, bundles } = await install(t, cluster, 'tls', shipped => shipped.map(w => ({
    ...w, namespaceSelector: { matchExpressions: [...w.namespaceSelector.matchExpressions, { key: 'e2e.sidecar-injector.io/never', operator: 'Exists' }] }
  }) as V1MutatingWebhook))
  const api = createKubeApi(injectorKc)
  const replica = (): ReturnType<typeof createSelfManagedTls> => createSelfManagedTls({
    api, namespace, serviceName: 'sidecar-injector', webhookConfigName: configName, caSecretName: 'sidecar-injector-ca', logger: quiet, minRetryMs: 100, maxRetryMs: 1000
  })

  const [a, b] = [replica(), replica()]
  const [pairA, pairB] = await Promise.all([a.load(), b.load()])
  t.ok(pairA.cert !== pairB.cert, 'each replica has its own serving certificate')
  t.equal(a.bundle(), b.bundle(), 'both replicas trust one CA (create-if-absent on a real API server)')
  const secret = await cluster.core.readNamespacedSecret({ name: 'sidecar-injector-ca', namespace })
  t.equal(Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString(), a.bundle(), 'the CA is the Secret\'s')
  t.same(await bundles(), [a.bundle(), a.bundle(), a.bundle(), a.bundle()], 'every entry carries the CA bundle')

  const stops = [a.watch(() => {}), b.watch(() => {})]
  t.teardown(() => { for (const stop of stops) stop() })
  // Re-applied without caBundle (what a GitOps sync or `kubectl replace` does): repaired by the watch.
  const current = await cluster.admission.readMutatingWebhookConfiguration({ name: configName })
  for (const w of current.webhooks ?? []) delete w.clientConfig.caBundle
  await cluster.admission.replaceMutatingWebhookConfiguration({ name: configName, body: current })
  const began = Date.now()
  await eventually(async () => (await bundles()).every(bundle => bundle === a.bundle()), 10_000, 'the caBundle to be repaired')
  t.ok(Date.now() - began < 10_000, `repaired in ${Date.now() - began} ms`)

  // Least privilege: another Secret of the namespace, or another configuration, is out of reach.
  await cluster.core.createNamespacedSecret({ namespace, body: { metadata: { name: 'other' }, stringData: { x: 'y' } } })
  const status = async (call: Promise<unknown>): Promise<number | 'ok'> => {
    try {
      await call
      return 'ok'
    } catch (err) {
      return isApiError(err) ? err.code : -1
    }
  }
  t.equal(await status(api.readSecret(namespace, 'other')), 403, 'reading another Secret is forbidden')
  t.equal(await status(api.readWebhookConfiguration('some-other-configuration')), 403, 'so is another webhook configuration')
  t.equal(await status(api.replaceSecret(namespace, { metadata: { name: 'other', namespace } })), 403, 'and writing another Secret')

  // Nodes: list + watch with the same credentials.
  const nodeName = `e2e-node-${cluster.runId}`
  const detector = startNativeSidecarDetector({ api, logger: quiet, minBackoffMs: 100, maxBackoffMs: 1000 })
  t.teardown(detector.stop)
  await eventually(() => detector.synced(), 10_000, 'the Node list')
  if (inCluster) {
    // A real cluster's Nodes are not ours to add to: a fake kubelet-1.32 Node would flip the installed
    // injector to classic sidecars for every other test. Check the detector against the real Nodes.
    const nodes = (await cluster.core.listNode()).items
    t.ok(nodes.length > 0, 'the cluster has Nodes')
    for (const node of nodes) {
      const [major, minor] = (node.status?.nodeInfo?.kubeletVersion ?? '').replace(/^v/, '').split('.').map(Number)
      const expected = major !== undefined && minor !== undefined && (major > 1 || minor >= 33)
      t.same(detector.facts({ spec: { containers: [], nodeName: node.metadata?.name ?? '' } }), { nativeSidecarsSupported: expected }, `node ${node.metadata?.name ?? ''}: kubelet ${node.status?.nodeInfo?.kubeletVersion ?? '?'}`)
    }
    return
  }
  await cluster.core.createNode({ body: { metadata: { name: nodeName }, status: { nodeInfo: { kubeletVersion: 'v1.32.3' } as never } } })
  t.teardown(async () => { await cluster.core.deleteNode({ name: nodeName }).catch(() => {}) })
  await eventually(() => detector.facts({ spec: { containers: [], nodeName } }).nativeSidecarsSupported === false, 10_000, 'the node to be seen')
  t.same(detector.facts({ spec: { containers: [], nodeName } }), { nativeSidecarsSupported: false }, 'a kubelet 1.32 node: classic sidecars')
})

// The API server reaches this webhook at https://127.0.0.1: only a control plane on this machine can.
// In a kind cluster the installed injector runs self-managed TLS itself (scripts/e2e-kind.sh waits for
// the caBundle it publishes), which is what this case proves locally.
t.test('serve --self-managed-tls: the API server calls it through the caBundle it published', {
  skip: inCluster && 'the API server of an in-cluster run cannot reach 127.0.0.1 on this machine; e2e-kind.sh checks the installed injector\'s own caBundle'
}, async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const port = await freePort()
  const selector = 'e2e.sidecar-injector.io/self-managed'
  // One entry of ours, reached by URL (no Service routing on the local control plane), fail-closed.
  const { namespace, configName, injectorKc, bundles } = await install(t, cluster, 'serve', () => [{
    name: 'namespace.sidecar-injector.istio.io',
    clientConfig: { url: `https://127.0.0.1:${port}/inject` },
    rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
    namespaceSelector: { matchLabels: { [selector]: cluster.runId } },
    failurePolicy: 'Fail',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: 10,
    reinvocationPolicy: 'IfNeeded'
  }])
  const dir = mkdtempSync(join(tmpdir(), 'e2e-self-managed-'))
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(kubeconfig, injectorKc.exportConfig(), { mode: 0o600 })
  const serve = startProcess('sidecar-injector serve --self-managed-tls', process.execPath, [
    cliPath, 'serve', '--host', '127.0.0.1', '--port', String(port), '--drain-seconds', '1',
    '--self-managed-tls', '--namespace', namespace, '--webhook-config-name', configName, '--extra-sans', '127.0.0.1',
    '--detect-native-sidecars', 'true'
  ], join(dir, 'serve.log'), { ...process.env, KUBECONFIG: kubeconfig })
  t.teardown(async () => { await serve.stop() })
  const exited = (): string | undefined => serve.child.exitCode !== null ? `serve exited (${String(serve.child.exitCode)}):\n${serve.tail()}` : undefined

  const [bundle] = await waitFor('the caBundle', async () => {
    const found = await bundles()
    return found[0] !== '' ? found : undefined
  }, 30_000, exited)
  t.match(bundle, /BEGIN CERTIFICATE/, 'the injector patched its caBundle in at start')
  const ready = await waitFor('/readyz', async () => {
    const res = await httpsGet(`https://127.0.0.1:${port}/readyz`, { ca: bundle ?? '' })
    return res.status === 200 ? res : undefined
  }, 30_000, exited)
  t.equal(ready.body, 'ready\n', 'ready, with a certificate the bundle trusts')

  const apps = await createNamespace(cluster, 'self-managed-apps', { [selector]: cluster.runId }, fn => { t.teardown(fn) })
  const created = await cluster.core.createNamespacedPod({ namespace: apps, body: appPod('web') })
  t.ok(isInjected(created), 'the API server called the webhook over TLS it verified with the published caBundle, and the pod got the sidecar')

  // reinvocationPolicy IfNeeded: a later webhook adds a container after us; the API server calls us
  // again and re-injection takes the new container into account, without duplicating anything.
  const late = await startLateWebhook(t)
  const lateName = `zz-late-${cluster.runId}` // configurations run in name order: after ours
  await cluster.admission.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: lateName },
      webhooks: [{
        name: 'late.e2e.sidecar-injector.io',
        clientConfig: { url: `https://127.0.0.1:${late.port}/mutate`, caBundle: Buffer.from(late.ca).toString('base64') },
        rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
        namespaceSelector: { matchLabels: { [selector]: cluster.runId } },
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        reinvocationPolicy: 'Never'
      }]
    }
  })
  t.teardown(async () => { await cluster.admission.deleteMutatingWebhookConfiguration({ name: lateName }).catch(() => {}) })
  const reinvoked = await waitFor('the late webhook to be active', async () => {
    const pod = await cluster.core.createNamespacedPod({ namespace: apps, body: appPod('web', { generateName: true }) })
    return pod.spec?.containers.some(c => c.name === 'late-app') === true ? pod : undefined
  }, 30_000, exited)
  const names = [...(reinvoked.spec?.initContainers ?? []), ...(reinvoked.spec?.containers ?? [])].map(c => c.name)
  t.equal(names.filter(n => n === 'istio-proxy').length, 1, `one proxy (${names.join(', ')})`)
  t.equal(names.filter(n => n === 'istio-init').length, 1, 'one init container')
  const proxy = proxyContainer(reinvoked)?.container
  const appContainers = proxy?.env?.find(e => e.name === 'ISTIO_META_APP_CONTAINERS')?.value
  t.same(appContainers?.split(',').sort(), ['app', 'late-app'], 're-invoked: the proxy knows the container added after the first injection')

  const stopping = Date.now()
  await serve.stop()
  t.equal(await serve.exited, 0, 'SIGTERM: a clean exit')
  t.ok(Date.now() - stopping < 8000, `stopped in ${Date.now() - stopping} ms (drain 1 s), open watches did not hold it`)
})

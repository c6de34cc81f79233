// src/kube against the real API server (kube-apiserver with RBAC): the injector's own ServiceAccount
// and RBAC from manifests/ (nothing more), two replicas sharing one CA Secret, the caBundle patched
// into every entry and repaired after a re-apply, Nodes watched for native sidecars, and nothing
// beyond what the Role grants.
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node'
import type { KubernetesObject } from '@kubernetes/client-node'
import t from 'tap'
import { loadManifests, renderManifests } from '../../src/cli/manifests.js'
import type { Manifest } from '../../src/cli/manifests.js'
import { createKubeApi } from '../../src/kube/api.js'
import { startNativeSidecarDetector } from '../../src/kube/native-sidecars.js'
import { createSelfManagedTls } from '../../src/kube/self-managed-tls.js'
import { connectCluster, isApiError } from './lib/cluster.js'

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

async function eventually (condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

t.test('self-managed TLS with the shipped RBAC, against the real API server', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const namespace = `e2e-tls-${cluster.runId}`
  const configName = `sidecar-injector-e2e-${cluster.runId}`
  const { objects } = await loadManifests()
  // The shipped objects, moved to a namespace and cluster-scoped names of this run; the webhook
  // entries get a selector that matches no namespace, so other tests' pods are never sent to it.
  const wanted = new Set(['Namespace', 'ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'])
  const install = renderManifests(objects, { namespace, failurePolicy: 'Ignore' }).filter(o => wanted.has(o.kind)).map((o: Manifest) => {
    if (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') o.metadata.name = configName
    if (o.kind === 'ClusterRoleBinding') o.roleRef.name = configName
    if (o.kind === 'ClusterRole') for (const rule of o.rules) if (rule.resourceNames !== undefined) rule.resourceNames = [configName]
    if (o.kind === 'MutatingWebhookConfiguration') {
      o.metadata.name = configName
      for (const w of o.webhooks) w.namespaceSelector.matchExpressions.push({ key: 'e2e.sidecar-injector.io/never', operator: 'Exists' })
    }
    return o
  })
  const admin = KubernetesObjectApi.makeApiClient(cluster.kc)
  for (const object of install) {
    await admin.create(object as KubernetesObject)
    if (object.metadata.namespace === undefined) {
      t.teardown(async () => { await admin.delete(object as KubernetesObject).catch(() => {}) })
    }
  }

  // The injector's credentials: a token of its ServiceAccount, nothing else.
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
  const api = createKubeApi(injectorKc)
  const replica = (): ReturnType<typeof createSelfManagedTls> => createSelfManagedTls({
    api, namespace, serviceName: 'sidecar-injector', webhookConfigName: configName, caSecretName: 'sidecar-injector-ca', logger: quiet, minRetryMs: 100, maxRetryMs: 1000
  })

  const [a, b] = [replica(), replica()]
  const [pairA, pairB] = await Promise.all([a.load(), b.load()])
  t.ok(pairA.cert !== pairB.cert, 'each replica has its own serving certificate')
  t.equal(a.bundle(), b.bundle(), 'both replicas trust one CA (create-if-absent on a real API server)')
  const secret = await cluster.core.readNamespacedSecret({ name: 'sidecar-injector-ca', namespace })
  t.equal(Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString(), a.bundle())

  const bundles = async (): Promise<string[]> => {
    const config = await cluster.admission.readMutatingWebhookConfiguration({ name: configName })
    return (config.webhooks ?? []).map(w => Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString())
  }
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

  // Least privilege: another Secret of the namespace is out of reach.
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
  await cluster.core.createNode({ body: { metadata: { name: nodeName }, status: { nodeInfo: { kubeletVersion: 'v1.32.3' } as never } } })
  t.teardown(async () => { await cluster.core.deleteNode({ name: nodeName }).catch(() => {}) })
  await eventually(() => detector.facts({ spec: { containers: [], nodeName } }).nativeSidecarsSupported === false, 10_000, 'the node to be seen')
  t.same(detector.facts({ spec: { containers: [], nodeName } }), { nativeSidecarsSupported: false }, 'a kubelet 1.32 node: classic sidecars')
})

// The harness itself against the real API server, with no webhook: a namespace, its ServiceAccount
// and a pod are admitted, validated and stored, and the pod has the shape of a real cluster's pods
// (the ServiceAccount admission plugin is on). Runs wherever $KUBECONFIG points, or on a local
// control plane started for this file.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import type { Cluster } from './lib/cluster.js'
import { apiErrorMessage, connectCluster, createNamespace, isApiError } from './lib/cluster.js'
import { appPod, isInjected } from './lib/pods.js'
import { isLoopbackUrl } from './lib/suite.js'

const run = promisify(execFile)

/** True when the cluster is a local control plane (no controller-manager): started here or by `make e2e`. */
const localControlPlane = (cluster: Cluster): boolean => cluster.controlPlane !== undefined || process.env.E2E_CONTROL_PLANE === 'local'

t.test('the real API server, no webhook', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })

  await t.test('a pod is admitted and stored as the API server shapes it', async t => {
    const namespace = await createNamespace(cluster, 'smoke', {}, fn => { t.teardown(fn) })
    const created = await cluster.core.createNamespacedPod({ namespace, body: appPod('plain') })
    t.equal(created.metadata?.namespace, namespace, 'stored in the test namespace')
    const stored = await cluster.core.readNamespacedPod({ namespace, name: 'plain' })
    t.equal(stored.metadata?.uid, created.metadata?.uid, 'read back from etcd')
    t.equal(stored.spec?.serviceAccountName, 'default', 'the ServiceAccount admission plugin defaulted the service account')
    t.ok(stored.spec?.volumes?.some(v => v.name.startsWith('kube-api-access-') && v.projected !== undefined),
      'the pod has the projected kube-api-access volume, as in a real cluster')
    t.equal(stored.spec?.containers[0]?.terminationMessagePolicy, 'File', 'defaults were applied')
    t.notOk(isInjected(stored), 'no sidecar without a webhook')
    await t.rejects(cluster.core.createNamespacedPod({ namespace, body: { ...appPod('bad'), spec: { containers: [] } } }),
      'the API server validates pods (no containers is rejected)')
  })

  await t.test('kubectl talks to it with the kubeconfig', async t => {
    const { stdout } = await run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfigPath, 'get', 'namespace', 'default', '-o', 'name'])
    t.equal(stdout.trim(), 'namespace/default', `${cluster.kubectl} reaches the API server`)
  })

  await t.test('local control plane: no ServiceAccount default unless the suite creates it', { skip: !localControlPlane(cluster) && 'a real cluster has a ServiceAccount controller' }, async t => {
    const namespace = (await cluster.core.createNamespace({ body: { metadata: { generateName: 'e2e-nosa-' } } })).metadata?.name ?? ''
    t.teardown(async () => { await cluster.core.deleteNamespace({ name: namespace }).catch(() => {}) })
    try {
      await cluster.core.createNamespacedPod({ namespace, body: appPod('orphan') })
      t.fail('a pod was admitted with no ServiceAccount default')
    } catch (err) {
      t.ok(isApiError(err, 403), 'rejected with 403')
      t.match(apiErrorMessage(err), /serviceaccount "default" not found/, 'because no controller created ServiceAccount default')
    }
  })

  if (cluster.controlPlane !== undefined) {
    t.match(cluster.controlPlane.serverVersion, /^v1\.\d+\.\d+$/, 'the API server reports a release version')
  }
})

t.test('a local webhook is only registered with an API server on this machine', async t => {
  for (const url of ['https://127.0.0.1:6443', 'https://127.0.0.2:443/', 'https://localhost:8443', 'https://[::1]:6443']) {
    t.ok(isLoopbackUrl(url), `${url} can reach 127.0.0.1`)
  }
  for (const url of ['https://10.0.0.1:6443', 'https://my-cluster.example.com', 'https://128.0.0.1', 'not a url']) {
    t.notOk(isLoopbackUrl(url), `${url} cannot`)
  }
})

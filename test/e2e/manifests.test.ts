// The shipped manifests pass the real API server's validation as they are:
// `kubectl apply --dry-run=server -k manifests/` (kustomize is built into kubectl).
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { connectCluster, createNamespace, isApiError } from './lib/cluster.js'
import { repoRoot } from './lib/repo.js'
import { manifestsDir } from './lib/webhook-configuration.js'

const run = promisify(execFile)

t.test('manifests/ through server-side dry-run', { skip: !existsSync(join(manifestsDir, 'kustomization.yaml')) && 'manifests/kustomization.yaml is missing' }, async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const kubectl = async (...args: string[]) => await run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfigPath, ...args], { maxBuffer: 16 << 20 })

  const { stdout: rendered } = await kubectl('kustomize', manifestsDir)
  const objects = parseAllDocuments(rendered).map(d => d.toJS() as { kind?: string, metadata?: { name?: string, namespace?: string } })
  t.ok(objects.some(o => o.kind === 'MutatingWebhookConfiguration'), 'the kustomization renders the MutatingWebhookConfiguration')

  // A dry-run Namespace is not stored, so the namespaced objects' dry-run would fail with
  // "namespace not found": create the injector's namespace for real when the cluster lacks it.
  const namespaces = new Set(objects.filter(o => o.kind === 'Namespace').map(o => o.metadata?.name ?? ''))
  for (const name of namespaces) {
    try {
      await cluster.core.readNamespace({ name })
    } catch (err) {
      if (!isApiError(err, 404)) throw err
      await cluster.core.createNamespace({ body: { metadata: { name } } })
      t.teardown(async () => { await cluster.core.deleteNamespace({ name }).catch(() => {}) })
    }
  }

  const { stdout } = await kubectl('apply', '--dry-run=server', '-k', manifestsDir)
  const applied = stdout.trim().split('\n').filter(line => line !== '')
  t.equal(applied.length, objects.length, 'every object was accepted', { stdout })
  t.ok(applied.every(line => /\(server dry run\)$/.test(line)), 'by the server, in dry-run', { stdout })
})

t.test('the Bookinfo-like app of make e2e-kind through server-side dry-run', async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  const namespace = await createNamespace(cluster, 'kind-app', {}, fn => { t.teardown(fn) })
  const file = join(repoRoot, 'test', 'e2e', 'kind', 'bookinfo.yaml')
  const { stdout } = await run(cluster.kubectl, ['--kubeconfig', cluster.kubeconfigPath, 'apply', '--dry-run=server', '-n', namespace, '-f', file])
  const applied = stdout.trim().split('\n').filter(line => line !== '')
  t.equal(applied.length, parseAllDocuments(readFileSync(file, 'utf8')).length, 'every object was accepted', { stdout })
  t.ok(applied.every(line => /^deployment\.apps\/\S+ created \(server dry run\)$/.test(line)), 'as Deployments, by the server', { stdout })
})

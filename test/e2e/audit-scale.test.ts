// The audit at 10,000 pods on the real API server: 100 Deployments of 100 pods each, created without
// the webhook (all missing). Reports the audit's wall time and peak RSS next to a baseline measured
// in the same run — the same paginated list through the same client, with no analysis — and checks
// only the answer (never a timing): every pod found, grouped into its 100 Deployments.
import { join } from 'node:path'
import t from 'tap'
import { runAudit } from './lib/audit.js'
import { connectCluster, createNamespace } from './lib/cluster.js'
import { appPod } from './lib/pods.js'
import { repoRoot } from './lib/repo.js'

const deployments = 100
const perDeployment = 100
const concurrency = 16
const heapCapMiB = 64

t.test(`audit at ${deployments * perDeployment} pods`, async t => {
  const cluster = await connectCluster({ teardown: fn => { t.teardown(fn) }, failed: () => !t.passing() })
  // No webhook of this file selects the namespace (the run label is this process's own): pods stay uninjected.
  const ns = await createNamespace(cluster, 'scale', { 'istio-injection': 'enabled' }, fn => { t.teardown(fn) })
  const began = Date.now()
  const owners: Array<{ name: string, uid: string, hash: string, app: string }> = []
  for (let d = 0; d < deployments; d++) {
    const app = `svc-${d}`
    const hash = `6f${String(d).padStart(3, '0')}c7d9`
    const spec = appPod(app).spec ?? { containers: [] }
    const deployment = await cluster.apps.createNamespacedDeployment({
      namespace: ns, body: { metadata: { name: app }, spec: { replicas: perDeployment, selector: { matchLabels: { app } }, template: { metadata: { labels: { app } }, spec } } }
    })
    const rs = await cluster.apps.createNamespacedReplicaSet({
      namespace: ns,
      body: {
        metadata: { name: `${app}-${hash}`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: app, uid: deployment.metadata?.uid ?? '', controller: true }] },
        spec: { replicas: perDeployment, selector: { matchLabels: { app, 'pod-template-hash': hash } }, template: { metadata: { labels: { app, 'pod-template-hash': hash } }, spec } }
      }
    })
    owners.push({ name: rs.metadata?.name ?? '', uid: rs.metadata?.uid ?? '', hash, app })
  }
  const total = deployments * perDeployment
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < total; i = next++) {
      const owner = owners[i % deployments]
      if (owner === undefined) continue
      const pod = appPod(owner.name, { labels: { app: owner.app, 'pod-template-hash': owner.hash }, generateName: true })
      pod.metadata = { ...pod.metadata, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner.name, uid: owner.uid, controller: true }] }
      await cluster.core.createNamespacedPod({ namespace: ns, body: pod })
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  t.comment(`created ${total} pods in ${((Date.now() - began) / 1000).toFixed(1)} s`)

  const baseline = await runAudit(cluster, ['-n', ns], { script: join(repoRoot, 'dist-e2e', 'lib', 'list-pods.js') })
  t.equal(baseline.code, 0, baseline.stderr)
  t.equal(baseline.stdout.trim(), String(total), 'the baseline lists every pod')
  const audit = await runAudit(cluster, ['-n', ns, '-o', 'json'])
  t.equal(audit.code, 3, audit.stderr)
  const report = JSON.parse(audit.stdout) as { podsScanned: number, counts: Record<string, number>, workloads: Array<{ workload: { kind: string }, pods: number }> }
  t.equal(report.podsScanned, total)
  t.equal(report.counts.missing, total, 'every pod is missing its sidecar')
  t.equal(report.workloads.length, deployments, 'grouped into the Deployments')
  t.ok(report.workloads.every(w => w.workload.kind === 'Deployment' && w.pods === perDeployment))
  // Bounded memory, checked rather than assumed: with V8's old space capped, the audit still gives the
  // same answer (it holds one page of pods at a time).
  const capped = await runAudit(cluster, ['-n', ns, '-o', 'json'], { nodeOptions: [`--max-old-space-size=${heapCapMiB}`] })
  t.equal(capped.code, 3, capped.stderr)
  t.same(JSON.parse(capped.stdout), report, `the same report with a ${heapCapMiB} MiB heap`)
  const mib = (kib: number): string => (kib / 1024).toFixed(0)
  t.comment(`audit of ${total} pods: ${audit.seconds.toFixed(2)} s, peak RSS ${mib(audit.maxRssKiB)} MiB; ` +
    `baseline (paginated list only): ${baseline.seconds.toFixed(2)} s, peak RSS ${mib(baseline.maxRssKiB)} MiB; ` +
    `ratio time ×${(audit.seconds / baseline.seconds).toFixed(2)}, memory ×${(audit.maxRssKiB / baseline.maxRssKiB).toFixed(2)}; ` +
    `with --max-old-space-size=${heapCapMiB}: ${capped.seconds.toFixed(2)} s, peak RSS ${mib(capped.maxRssKiB)} MiB`)
})

import t from 'tap'
import type { Pod } from '../../src/core/types.js'
import type { Finding } from '../../src/audit/classify.js'
import { formatReport } from '../../src/audit/format.js'
import { createReportBuilder, owningWorkload, workloadsToRestart } from '../../src/audit/report.js'
import type { ControllerLookup } from '../../src/audit/report.js'

function pod (name: string, owner?: { kind: string, name: string }, labels: Record<string, string> = {}): Pod {
  return {
    metadata: {
      name,
      namespace: 'shop',
      labels,
      ...(owner === undefined ? {} : { generateName: `${owner.name}-`, ownerReferences: [{ apiVersion: 'v1', kind: owner.kind, name: owner.name, uid: 'u', controller: true }] })
    },
    spec: { containers: [{ name: 'app' }] }
  }
}

const lookup: ControllerLookup = (kind, _namespace, name) => {
  if (kind === 'ReplicaSet' && name === 'web-5d8f') return { kind: 'Deployment', name: 'web' }
  if (kind === 'ReplicaSet' && name === 'canary-77aa') return { kind: 'Rollout', name: 'canary' }
  if (kind === 'ReplicaSet' && name === 'lonely') return null
  if (kind === 'Job' && name === 'nightly-29000000') return { kind: 'CronJob', name: 'nightly' }
  return undefined
}

t.test('owningWorkload follows ReplicaSets and Jobs to their controllers', async t => {
  t.same(owningWorkload(pod('web-5d8f-x', { kind: 'ReplicaSet', name: 'web-5d8f' }), lookup), { kind: 'Deployment', namespace: 'shop', name: 'web' })
  t.same(owningWorkload(pod('c-1', { kind: 'ReplicaSet', name: 'canary-77aa' }), lookup), { kind: 'Rollout', namespace: 'shop', name: 'canary' })
  t.same(owningWorkload(pod('l-1', { kind: 'ReplicaSet', name: 'lonely' }), lookup), { kind: 'ReplicaSet', namespace: 'shop', name: 'lonely' })
  t.same(owningWorkload(pod('n-1', { kind: 'Job', name: 'nightly-29000000' }), lookup), { kind: 'CronJob', namespace: 'shop', name: 'nightly' })
  t.same(owningWorkload(pod('db-0', { kind: 'StatefulSet', name: 'db' }), lookup), { kind: 'StatefulSet', namespace: 'shop', name: 'db' })
  t.same(owningWorkload(pod('bare'), lookup), { kind: 'Pod', namespace: 'shop', name: 'bare' })
  t.same(owningWorkload(pod('x-1', { kind: 'Widget', name: 'x' }), lookup), { kind: 'Other', ownerKind: 'Widget', namespace: 'shop', name: 'x' })
  // Not indexed (e.g. no permission to list ReplicaSets): istiod's guess from pod-template-hash.
  t.same(owningWorkload(pod('api-6c9b-z', { kind: 'ReplicaSet', name: 'api-6c9b' }, { 'pod-template-hash': '6c9b' }), lookup),
    { kind: 'Deployment', namespace: 'shop', name: 'api' })
})

t.test('the report groups by workload, counts, keeps a few examples, and picks what a restart fixes', async t => {
  const builder = createReportBuilder()
  const stale: Finding = { kind: 'stale', code: 'injection-differs', message: 'today\'s injection differs: istio-proxy image (a → b)', differences: [{ container: 'istio-proxy', field: 'image', detail: 'a → b' }] }
  const missing: Finding = { kind: 'missing', code: 'not-injected', message: 'no sidecar' }
  const risky: Finding = { kind: 'at-risk', code: 'classic-sidecar-in-job', message: 'classic' }
  const web = { kind: 'Deployment', namespace: 'shop', name: 'web' } as const
  for (let i = 0; i < 5; i++) builder.add(pod(`web-${i}`), web, [stale])
  builder.add(pod('bare'), { kind: 'Pod', namespace: 'shop', name: 'bare' }, [missing])
  builder.add(pod('job-1'), { kind: 'Job', namespace: 'shop', name: 'job' }, [missing, risky])
  builder.add(pod('clean'), web, [])
  const report = builder.build(['shop'])
  t.equal(report.podsScanned, 8)
  t.equal(report.podsWithFindings, 7)
  t.same(report.counts, { missing: 2, stale: 5, foreign: 0, 'at-risk': 1 })
  const webReport = report.workloads.find(w => w.workload.name === 'web')
  t.equal(webReport?.pods, 5)
  t.equal(webReport?.findings.length, 1, 'equal findings are one group')
  t.equal(webReport?.findings[0]?.pods, 5)
  t.same(webReport?.findings[0]?.examples, ['web-0', 'web-1', 'web-2'])
  t.same(workloadsToRestart(report), [web], 'bare pods and Jobs are never restarted')

  const table = formatReport(report, 'table')
  t.match(table, /NAMESPACE\s+WORKLOAD\s+PODS\s+MISSING\s+STALE\s+FOREIGN\s+AT-RISK/)
  t.match(table, /shop\s+Deployment\/web\s+5\s+0\s+5\s+0\s+0/)
  t.match(table, /\[web-0, web-1, web-2, \+2 more\]/)
  t.match(table, /8 pods in 1 namespace: 2 missing, 5 stale, 0 foreign, 1 at risk\n$/)
  t.same(JSON.parse(formatReport(report, 'json')), JSON.parse(JSON.stringify(report)))
  t.match(formatReport(createReportBuilder().build(['a', 'b']), 'table'), /0 pods in 2 namespaces: 0 missing, 0 stale, 0 foreign, 0 at risk — clean/)
})

t.test('a pod the webhook would refuse is not restarted (its replacement would be refused too)', async t => {
  const builder = createReportBuilder()
  builder.add(pod('w-1'), { kind: 'Deployment', namespace: 'shop', name: 'w' }, [{ kind: 'missing', code: 'would-be-rejected', message: 'refused' }])
  t.same(workloadsToRestart(builder.build(['shop'])), [])
})

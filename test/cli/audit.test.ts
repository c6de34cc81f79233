import t from 'tap'
import type { V1PodDisruptionBudget, V1Pod } from '@kubernetes/client-node'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { Pod } from '../../src/core/types.js'
import { createAuditCommand, describeError } from '../../src/cli/audit.js'
import { UsageError } from '../../src/cli/io.js'
import { stateOf } from '../../src/kube/audit-api.js'
import { captureIo } from '../helpers/cli-io.js'
import { fakeAuditApi as fakeApi } from '../helpers/fake-audit-api.js'
import type { FakeCluster } from '../helpers/fake-audit-api.js'
import { loadPod } from '../helpers/fixtures.js'

function podOf (name: string, namespace: string, owner?: string, injected = false): V1Pod {
  const base = loadPod('simple.yaml')
  const pod: Pod = {
    ...base,
    metadata: {
      ...base.metadata,
      name,
      namespace,
      ...(owner === undefined ? {} : { generateName: `${owner}-`, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner, uid: 'u', controller: true }] })
    }
  }
  if (!injected) return pod
  const result = inject(pod, {}, defaultConfig())
  if (result.outcome !== 'injected') throw new Error('expected an injection')
  return result.pod
}

function cluster (extra: Partial<FakeCluster> = {}): FakeCluster {
  return {
    namespaces: [
      { metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } } },
      { metadata: { name: 'plain', labels: { 'istio-injection': 'disabled' } } },
      { metadata: { name: 'kube-system' } }
    ],
    pods: [
      podOf('web-1', 'shop', 'web-5d8f'), podOf('web-2', 'shop', 'web-5d8f'), podOf('lonely', 'shop'),
      podOf('ok-1', 'shop', 'ok-77', true), podOf('other', 'plain'), podOf('sys', 'kube-system')
    ],
    replicaSets: [{ namespace: 'shop', name: 'web-5d8f', controller: { kind: 'Deployment', name: 'web' } }, { namespace: 'shop', name: 'ok-77', controller: { kind: 'Deployment', name: 'ok' } }],
    pdbs: [],
    workloads: new Map([['Deployment/shop/web', { templateLabels: { app: 'hello' }, rolledOut: true, progress: '2 of 2 updated' }]]),
    patches: [],
    podPages: 0,
    readsUntilDone: 2,
    ...extra
  }
}

const command = (c: FakeCluster): ReturnType<typeof createAuditCommand> => createAuditCommand({
  api: async () => fakeApi(c),
  now: () => new Date('2026-01-02T03:04:05Z'),
  sleep: async () => {}
})

t.test('findings: exit 3, grouped by workload, in the selected namespaces only, page by page', async t => {
  const c = cluster()
  const io = captureIo()
  t.equal(await command(c)([], io), 3)
  t.match(io.out(), /shop\s+Deployment\/web\s+2\s+2\s+0\s+0\s+0/)
  t.match(io.out(), /shop\s+Pod\/lonely\s+1\s+1/)
  t.notMatch(io.out(), /other|sys/, 'plain (istio-injection=disabled) and kube-system are not selected')
  t.match(io.out(), /4 pods in 1 namespace: 3 missing, 0 stale, 0 foreign, 0 at risk/)
  t.match(io.err(), /no ConfigMap sidecar-injector\/sidecar-injector-config/)
  t.ok(c.podPages >= 3, 'pods were read in pages')

  const json = captureIo()
  t.equal(await command(cluster())(['-A', '-o', 'json'], json), 3)
  const report = JSON.parse(json.out()) as { namespaces: string[], counts: Record<string, number> }
  t.same(report.namespaces.sort(), ['kube-system', 'plain', 'shop'])
  t.equal(report.counts.missing, 3, 'all namespaces, but still only what the webhook would inject')
  const yaml = captureIo()
  t.equal(await command(cluster())(['-n', 'plain', '-o', 'yaml'], yaml), 0, 'a clean namespace: exit 0')
  t.match(yaml.out(), /podsWithFindings: 0/)
})

t.test('the config comes from the ConfigMap: a changed image makes injected pods stale', async t => {
  const io = captureIo()
  const c = cluster({ configYaml: 'images:\n  proxy: example.com/proxyv2:2.0\n' })
  t.equal(await command(c)(['-n', 'shop'], io), 3)
  t.match(io.out(), /shop\s+Deployment\/ok\s+1\s+0\s+1/)
  t.match(io.out(), /stale \(injection-differs\) 1 pod \[ok-1\]: today's injection differs: istio-proxy image \(.* → example\.com\/proxyv2:2\.0\)/)
  const bad = captureIo()
  t.equal(await command(cluster({ configYaml: 'policy: maybe\n' }))([], bad), 1)
  t.match(bad.err(), /^sidecar-injector audit: invalid config in ConfigMap sidecar-injector\/sidecar-injector-config: .*policy/)
  t.equal(bad.err().split('\n').length, 2, 'one line')
})

t.test('usage errors are exit 2 (thrown as UsageError for src/cli.ts)', async t => {
  for (const args of [['-o', 'wide'], ['-n', 'a', '-A'], ['--yes'], ['--restart', '--max-concurrent', '0'], ['--config-map', 'x'], ['--bogus']]) {
    await t.rejects(command(cluster())(args, captureIo()), UsageError, args.join(' '))
  }
  const help = captureIo()
  t.equal(await command(cluster())(['--help'], help), 0)
  t.match(help.out(), /Exit code: 0 clean, 3 findings, 2 usage error, 1 failure/)
})

t.test('failures are exit 1 with one line, no stack', async t => {
  const failing = createAuditCommand({ api: async () => { throw Object.assign(new Error('HTTP-Code: 403\nMessage: ...'), { code: 403, body: '{"kind":"Status","message":"pods is forbidden: User \\"x\\" cannot list"}' }) }, now: () => new Date(), sleep: async () => {} })
  const io = captureIo()
  t.equal(await failing([], io), 1)
  t.equal(io.err(), 'sidecar-injector audit: the API server answered 403: pods is forbidden: User "x" cannot list\n')
  t.equal(describeError(new Error('connect ECONNREFUSED 127.0.0.1:6443\n    at x')), 'connect ECONNREFUSED 127.0.0.1:6443')
})

t.test('--restart: a dry run by default; --yes patches and waits; bare pods are only reported', async t => {
  const dry = cluster()
  const io = captureIo()
  t.equal(await command(dry)(['--restart'], io), 3)
  t.same(dry.patches, [], 'nothing patched in a dry run')
  t.match(io.out(), /restart \(dry run; --yes restarts\):\n\s+shop Deployment\/web: would-restart/)
  t.match(io.out(), /shop Pod\/lonely: not restarted: a bare pod/)

  const real = cluster()
  const yes = captureIo()
  t.equal(await command(real)(['--restart', '--yes', '-o', 'json'], yes), 3, 'the findings were there when audited')
  t.same(real.patches, ['Deployment/shop/web@2026-01-02T03:04:05.000Z'])
  const out = JSON.parse(yes.out()) as { restart: { dryRun: boolean, workloads: Array<{ action: string }>, notRestartable: unknown[] } }
  t.equal(out.restart.dryRun, false)
  t.match(out.restart.workloads, [{ action: 'restarted' }])
  t.equal(out.restart.notRestartable.length, 1)

  const slow = cluster({ readsUntilDone: 1_000_000 })
  const timedOut = captureIo()
  const clock = { ms: 0 }
  const ticking = createAuditCommand({ api: async () => fakeApi(slow), now: () => new Date(clock.ms), sleep: async ms => { clock.ms += ms } })
  t.equal(await ticking(['--restart', '--yes', '--timeout', '5'], timedOut), 1, 'a rollout that does not finish is a failure')
  t.match(timedOut.out(), /Deployment\/web: timed-out: not rolled out after 5 s/)
})

t.test('--restart: a PodDisruptionBudget that allows no disruption blocks the workload', async t => {
  const pdb = (allowed: number, labels: Record<string, string>): V1PodDisruptionBudget => ({
    metadata: { name: `pdb-${allowed}`, namespace: 'shop' },
    spec: { minAvailable: 2, selector: { matchLabels: labels } },
    status: { disruptionsAllowed: allowed, currentHealthy: 2, desiredHealthy: 2, expectedPods: 2 }
  })
  const c = cluster({ pdbs: [pdb(0, { app: 'hello' }), pdb(0, { app: 'elsewhere' })] })
  const io = captureIo()
  t.equal(await command(c)(['--restart', '--yes'], io), 3)
  t.same(c.patches, [], 'not patched')
  t.match(io.out(), /Deployment\/web: blocked: PodDisruptionBudget pdb-0 allows 0 disruptions\n/)
  const ok = cluster({ pdbs: [pdb(1, { app: 'hello' })] })
  t.equal(await command(ok)(['--restart', '--yes'], captureIo()), 3)
  t.equal(ok.patches.length, 1, 'a budget with room lets it roll')
})

t.test('rollout status follows kubectl\'s rules', async t => {
  const labels = { metadata: { labels: { app: 'a' } } }
  t.equal(stateOf('Deployment', { metadata: { generation: 2 }, spec: { replicas: 2, template: labels }, status: { observedGeneration: 1, updatedReplicas: 2, replicas: 2, availableReplicas: 2 } }).rolledOut, false, 'not yet observed')
  t.equal(stateOf('Deployment', { metadata: { generation: 2 }, spec: { replicas: 2, template: labels }, status: { observedGeneration: 2, updatedReplicas: 2, replicas: 3, availableReplicas: 2 } }).rolledOut, false, 'old replicas remain')
  t.equal(stateOf('Deployment', { metadata: { generation: 2 }, spec: { replicas: 2, template: labels }, status: { observedGeneration: 2, updatedReplicas: 2, replicas: 2, availableReplicas: 2 } }).rolledOut, true)
  t.equal(stateOf('DaemonSet', { metadata: { generation: 1 }, spec: { template: labels }, status: { observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 2, numberAvailable: 3 } }).rolledOut, false)
  t.equal(stateOf('StatefulSet', { metadata: { generation: 1 }, spec: { replicas: 2, template: labels }, status: { observedGeneration: 1, updatedReplicas: 2, readyReplicas: 2, currentRevision: 'a', updateRevision: 'a' } }).rolledOut, true)
})

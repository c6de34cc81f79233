// `sidecar-injector audit` against the real API server: pods created while the webhook was away are
// found missing, a config change makes injected pods stale (and an unchanged one leaves them clean,
// through the API server's defaulting), and --restart rolls a Deployment, leaves a bare pod alone,
// and is blocked by a PodDisruptionBudget that allows no disruption. No controller-manager runs
// here: test/e2e/lib/audit.ts makes ReplicaSets and pods as the controllers would, and completes the
// rollout by writing the Deployment's status.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse, stringify } from 'yaml'
import { completeRollout, createBudget, createDeployment, runAudit } from './lib/audit.js'
import { appPod, isInjected } from './lib/pods.js'
import { waitFor } from './lib/processes.js'
import { setupSuite, webhookMode } from './lib/suite.js'

interface Report {
  counts: Record<string, number>
  workloads: Array<{ workload: { kind: string, name: string }, pods: number, counts: Record<string, number>, findings: Array<{ code: string, differences?: Array<{ container: string, field: string, detail: string }> }> }>
  restart?: { dryRun: boolean, workloads: Array<{ workload: { kind: string, name: string }, action: string, detail: string }>, notRestartable: Array<{ workload: { kind: string, name: string } }> }
}

const restartedAt = 'kubectl.kubernetes.io/restartedAt'

t.test('audit and restart on the real API server', { skip: webhookMode() !== 'local' && 'needs the local webhook (E2E_WEBHOOK=local)' }, async t => {
  const suite = await setupSuite(t, { name: 'audit' })
  const { cluster } = suite
  const config = suite.configFile
  if (config === undefined) throw new Error('the manifests ship no injector config')
  const auditArgs = (ns: string, ...more: string[]): string[] => ['-n', ns, '--config', config, '-o', 'json', ...more]
  const injected = await suite.namespace('injected', { 'istio-injection': 'enabled' })
  await createDeployment(cluster, injected, 'shop', 2)
  await suite.createPod(injected, appPod('solo'))

  await t.test('pods injected with today\'s config are clean: exit 0', async t => {
    const run = await runAudit(cluster, auditArgs(injected))
    t.equal(run.code, 0, `${run.stderr}${run.stdout}`)
    const report = JSON.parse(run.stdout) as Report
    t.same(report.counts, { missing: 0, stale: 0, foreign: 0, 'at-risk': 0 }, 'the digest survives the API server\'s defaulting')
  })

  await t.test('a config change makes them stale, and says what differs', async t => {
    const changed = parse(readFileSync(config, 'utf8')) as Record<string, unknown> | null
    const file = join(suite.workDir, 'changed-config.yaml')
    writeFileSync(file, stringify({ ...changed, images: { ...(changed?.images as object | undefined), proxy: 'example.com/istio/proxyv2:9.9.9' } }))
    const run = await runAudit(cluster, ['-n', injected, '--config', file, '-o', 'json'])
    t.equal(run.code, 3, run.stderr)
    const report = JSON.parse(run.stdout) as Report
    t.equal(report.counts.stale, 3)
    const shop = report.workloads.find(w => w.workload.name === 'shop')
    t.equal(shop?.workload.kind, 'Deployment', 'grouped by Deployment, through its ReplicaSet')
    t.equal(shop?.pods, 2)
    t.ok(shop?.findings[0]?.differences?.some(d => d.container === 'istio-proxy' && d.field === 'image' && d.detail.endsWith('proxyv2:9.9.9')), 'the image is named')
    const table = await runAudit(cluster, ['-n', injected, '--config', file])
    t.match(table.stdout, /Deployment\/shop\s+2\s+0\s+2/)
  })

  const away = await suite.namespace('away', { 'istio-injection': 'enabled' })
  await t.test('pods created while the webhook is away are missing', async t => {
    await suite.register({ failurePolicy: 'Ignore', timeoutSeconds: 5 })
    await suite.stopWebhook()
    await waitFor('pods to be admitted without the webhook', async () => {
      try {
        const pod = await suite.createPod(away, appPod('probe-away'), { dryRun: true })
        return isInjected(pod) ? undefined : true
      } catch {
        return undefined
      }
    }, 30_000)
    await createDeployment(cluster, away, 'web', 2)
    await createDeployment(cluster, away, 'db', 2)
    await suite.createPod(away, appPod('bare'))
    await suite.startWebhookAgain()
    await suite.register({ failurePolicy: 'Fail' })
    await suite.waitUntilInjecting()

    const run = await runAudit(cluster, auditArgs(away))
    t.equal(run.code, 3, run.stderr)
    const report = JSON.parse(run.stdout) as Report
    t.equal(report.counts.missing, 5)
    t.same(report.workloads.map(w => `${w.workload.kind}/${w.workload.name}:${w.counts.missing}`).sort(), ['Deployment/db:2', 'Deployment/web:2', 'Pod/bare:1'])
  })

  await t.test('--restart: a dry run by default, then --yes rolls web, is blocked on db by its budget, leaves the bare pod', async t => {
    await createBudget(cluster, away, 'db', { app: 'db' }, 2, 2)
    const dry = await runAudit(cluster, auditArgs(away, '--restart'))
    t.equal(dry.code, 3, dry.stderr)
    const plan = (JSON.parse(dry.stdout) as Report).restart
    t.equal(plan?.dryRun, true)
    t.match(plan?.workloads.find(w => w.workload.name === 'web'), { action: 'would-restart' })
    const untouched = await cluster.apps.readNamespacedDeployment({ namespace: away, name: 'web' })
    t.equal(untouched.spec?.template.metadata?.annotations?.[restartedAt], undefined, 'a dry run patches nothing')

    // The controller's part: once the restart patch lands, report the new generation as rolled out.
    let rolled = false
    const controller = waitFor('the restart patch on Deployment web', async () => {
      const d = await cluster.apps.readNamespacedDeployment({ namespace: away, name: 'web' })
      if (d.spec?.template.metadata?.annotations?.[restartedAt] === undefined) return undefined
      await completeRollout(cluster, away, 'web')
      rolled = true
      return true
    }, 120_000)
    const run = await runAudit(cluster, auditArgs(away, '--restart', '--yes', '--max-concurrent', '2', '--timeout', '120'))
    await controller
    t.ok(rolled)
    t.equal(run.code, 3, `findings were there when audited: ${run.stderr}`)
    const outcome = (JSON.parse(run.stdout) as Report).restart
    t.equal(outcome?.dryRun, false)
    t.match(outcome?.workloads.find(w => w.workload.name === 'web'), { action: 'restarted' })
    t.match(outcome?.workloads.find(w => w.workload.name === 'db'), { action: 'blocked', detail: /PodDisruptionBudget db allows 0 disruptions/ })
    t.same(outcome?.notRestartable.map(n => `${n.workload.kind}/${n.workload.name}`), ['Pod/bare'])

    const web = await cluster.apps.readNamespacedDeployment({ namespace: away, name: 'web' })
    t.match(web.spec?.template.metadata?.annotations?.[restartedAt], /^\d{4}-\d\d-\d\dT/, 'kubectl rollout restart\'s annotation, on web')
    const db = await cluster.apps.readNamespacedDeployment({ namespace: away, name: 'db' })
    t.equal(db.spec?.template.metadata?.annotations?.[restartedAt], undefined, 'db is not touched')
    const bare = await cluster.core.readNamespacedPod({ namespace: away, name: 'bare' })
    t.equal(bare.metadata?.deletionTimestamp, undefined, 'the bare pod is still there')
  })

  await t.test('errors: one line on stderr, exit 1; usage: exit 2', async t => {
    const bad = await runAudit(cluster, ['-n', away, '-o', 'wide'])
    t.equal(bad.code, 2, 'an unknown output format')
    t.match(bad.stderr, /^sidecar-injector audit: -o must be table, json or yaml, got 'wide'\n$/)
    const absent = await runAudit(cluster, ['-n', away, '--config', join(suite.workDir, 'absent.yaml')])
    t.equal(absent.code, 2, 'an unreadable config file')
    const denied = await runAudit(cluster, ['-n', away, '--config', config], { kubeconfig: join(suite.workDir, 'absent-kubeconfig') })
    t.equal(denied.code, 1)
    t.equal(denied.stderr.trimEnd().split('\n').length, 1, denied.stderr)
    t.notMatch(denied.stderr, /\n\s+at /, 'no stack trace')
  })
})

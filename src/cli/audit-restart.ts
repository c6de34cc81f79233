// `audit --restart`: rolls the Deployments, StatefulSets and DaemonSets whose pods miss the sidecar or
// run a stale one, with the patch `kubectl rollout restart` makes, a batch of --max-concurrent at a
// time, waiting for each rollout to finish before the next batch. A rollout replaces pods without the
// eviction API, so PodDisruptionBudgets are checked here: a workload whose pods are covered by a
// budget that allows no disruption now is not touched, and is reported as blocked. Bare pods and Jobs
// cannot be rolled; they are listed for their owners to recreate, never deleted.
import type { LabelSelector } from '../core/types.js'
import { matchesSelector } from '../core/selectors.js'
import { describeWorkload } from '../audit/format.js'
import { restartableKinds, workloadsToRestart } from '../audit/report.js'
import type { AuditReport, WorkloadRef } from '../audit/report.js'
import type { AuditApi, RestartableKind } from '../kube/audit-api.js'

export type RestartAction = 'would-restart' | 'restarted' | 'blocked' | 'gone' | 'failed' | 'timed-out'

export interface RestartResult {
  workload: WorkloadRef
  action: RestartAction
  detail: string
}

export interface RestartOutcome {
  dryRun: boolean
  workloads: RestartResult[]
  /** Workloads with missing/stale pods that no rollout can fix: bare pods, Jobs, ReplicaSets, … */
  notRestartable: Array<{ workload: WorkloadRef, detail: string }>
}

export interface RestartOptions {
  apply: boolean
  maxConcurrent: number
  timeoutSeconds: number
  now: () => Date
  sleep: (ms: number) => Promise<void>
}

const pollMs = 1000

export async function restartWorkloads (api: AuditApi, report: AuditReport, options: RestartOptions): Promise<RestartOutcome> {
  const targets = workloadsToRestart(report)
  const notRestartable = report.workloads
    .filter(w => !restartableKinds.includes(w.workload.kind) && (w.counts.missing > 0 || w.counts.stale > 0))
    .map(w => ({ workload: w.workload, detail: advice(w.workload) }))
  const budgets = new Map<string, Awaited<ReturnType<AuditApi['listPodDisruptionBudgets']>>>()
  const results: RestartResult[] = []
  for (let i = 0; i < targets.length; i += options.maxConcurrent) {
    const batch = targets.slice(i, i + options.maxConcurrent)
    results.push(...await Promise.all(batch.map(async workload => await restartOne(api, workload, budgets, options))))
  }
  return { dryRun: !options.apply, workloads: results, notRestartable }
}

function advice (w: WorkloadRef): string {
  switch (w.kind) {
    case 'Pod': return 'a bare pod: recreate it yourself (it is never deleted by audit)'
    case 'Job': case 'CronJob': return 'a Job: its next run gets the current sidecar; running pods are never deleted by audit'
    case 'ReplicaSet': return 'a ReplicaSet without a Deployment: it does not replace its pods on a template change'
    case 'Rollout': return 'an Argo Rollout: restart it with its own tooling (kubectl argo rollouts restart)'
    case 'Deployment': case 'StatefulSet': case 'DaemonSet': return 'rolled by --restart'
    case 'Other': return `owned by ${w.ownerKind ?? 'another controller'}: restart it with its own tooling`
  }
}

async function restartOne (api: AuditApi, workload: WorkloadRef, budgets: Map<string, Awaited<ReturnType<AuditApi['listPodDisruptionBudgets']>>>, options: RestartOptions): Promise<RestartResult> {
  const kind = workload.kind as RestartableKind
  const result = (action: RestartAction, detail: string): RestartResult => ({ workload, action, detail })
  try {
    const state = await api.readWorkload(kind, workload.namespace, workload.name)
    if (state === undefined) return result('gone', 'the workload no longer exists')
    let pdbs = budgets.get(workload.namespace)
    if (pdbs === undefined) {
      pdbs = await api.listPodDisruptionBudgets(workload.namespace)
      budgets.set(workload.namespace, pdbs)
    }
    const blocking = pdbs.filter(pdb => {
      const selector = pdb.spec?.selector
      // A budget without a selector covers no pods (policy/v1); an empty one covers all of the namespace.
      if (selector === undefined || selector === null) return false
      if (!matchesSelector(selector as LabelSelector, state.templateLabels)) return false
      return (pdb.status?.disruptionsAllowed ?? 0) < 1
    })
    if (blocking.length > 0) {
      return result('blocked', `PodDisruptionBudget ${blocking.map(p => `${p.metadata?.name ?? '?'} allows ${p.status?.disruptionsAllowed ?? 0} disruptions`).join(', ')}`)
    }
    if (!options.apply) return result('would-restart', 'dry run: add --yes to restart')
    await api.restartWorkload(kind, workload.namespace, workload.name, options.now().toISOString())
    const deadline = options.now().getTime() + options.timeoutSeconds * 1000
    let last = state.progress
    for (;;) {
      await options.sleep(pollMs)
      const now = await api.readWorkload(kind, workload.namespace, workload.name)
      if (now === undefined) return result('gone', 'deleted during the rollout')
      last = now.progress
      if (now.rolledOut) return result('restarted', `rolled out (${now.progress})`)
      if (options.now().getTime() >= deadline) return result('timed-out', `not rolled out after ${options.timeoutSeconds} s (${last})`)
    }
  } catch (err) {
    const e = err as { code?: unknown, message?: unknown }
    return result('failed', typeof e.code === 'number' ? `the API server answered ${e.code}` : String(e.message ?? err).split('\n')[0] ?? '')
  }
}

export function formatRestart (outcome: RestartOutcome): string {
  const lines = [outcome.dryRun ? 'restart (dry run; --yes restarts):' : 'restart:']
  if (outcome.workloads.length === 0) lines.push('  nothing to roll')
  for (const r of outcome.workloads) lines.push(`  ${r.workload.namespace} ${describeWorkload(r.workload)}: ${r.action}: ${r.detail}`)
  for (const n of outcome.notRestartable) lines.push(`  ${n.workload.namespace} ${describeWorkload(n.workload)}: not restarted: ${n.detail}`)
  return lines.join('\n') + '\n'
}

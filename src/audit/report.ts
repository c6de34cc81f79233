// The audit's result, grouped by owning workload. Pods are folded in one at a time and only counts,
// distinct findings and a few example pod names are kept, so memory grows with the number of
// workloads with findings, not with the number of pods (the CLI lists pods page by page).
import { findWorkload } from '../core/workload.js'
import type { Pod } from '../core/types.js'
import type { Finding, FindingCode, FindingKind } from './classify.js'
import type { Difference } from './compare.js'

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'ReplicaSet' | 'Rollout' | 'Job' | 'CronJob' | 'Pod' | 'Other'

export interface WorkloadRef {
  kind: WorkloadKind
  /** The owner's own kind when it is none of the above (kind 'Other'). */
  ownerKind?: string
  namespace: string
  name: string
}

/** The controller of an object (from its ownerReferences), as the CLI indexes ReplicaSets and Jobs. */
export interface ControllerRef { kind: string, name: string }

/** The controller of a ReplicaSet or Job by namespace and name: null when it has none, undefined when unknown. */
export type ControllerLookup = (kind: 'ReplicaSet' | 'Job', namespace: string, name: string) => ControllerRef | null | undefined

const known: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Rollout', 'Job', 'CronJob']

/** The workload that owns a pod: its controller, followed through ReplicaSets and Jobs to theirs. */
export function owningWorkload (pod: Pod, lookup: ControllerLookup): WorkloadRef {
  const namespace = pod.metadata?.namespace ?? ''
  const controller = (pod.metadata?.ownerReferences ?? []).find(ref => ref.controller === true)
  if (controller === undefined) return { kind: 'Pod', namespace, name: pod.metadata?.name ?? '' }
  let { kind, name } = controller
  if (kind === 'ReplicaSet' || kind === 'Job') {
    const parent = lookup(kind, namespace, name)
    if (parent != null) ({ kind, name } = parent)
    else if (parent === undefined) {
      // Not indexed (no permission to list it): istiod's guess from the names.
      const guess = findWorkload(pod, namespace).owner.split('/')
      kind = { deployments: 'Deployment', cronjobs: 'CronJob' }[guess.at(-2) ?? ''] ?? kind
      name = kind === controller.kind ? name : guess.at(-1) ?? name
    }
  }
  return known.includes(kind) ? { kind: kind as WorkloadKind, namespace, name } : { kind: 'Other', ownerKind: kind, namespace, name }
}

/** Workload kinds `audit --restart` can roll (the patch `kubectl rollout restart` makes). */
export const restartableKinds: readonly WorkloadKind[] = ['Deployment', 'StatefulSet', 'DaemonSet']

export interface FindingGroup {
  kind: FindingKind
  code: FindingCode
  message: string
  differences?: Difference[]
  pods: number
  /** Up to examplesKept pod names. */
  examples: string[]
}

export interface WorkloadReport {
  workload: WorkloadRef
  /** Pods of this workload that have findings. */
  pods: number
  counts: Record<FindingKind, number>
  findings: FindingGroup[]
}

export interface AuditReport {
  /** Pods looked at (all phases), and how many had at least one finding. */
  podsScanned: number
  podsWithFindings: number
  counts: Record<FindingKind, number>
  namespaces: string[]
  workloads: WorkloadReport[]
}

export const examplesKept = 3
const zero = (): Record<FindingKind, number> => ({ missing: 0, stale: 0, foreign: 0, 'at-risk': 0 })

export interface ReportBuilder {
  add: (pod: Pod, workload: WorkloadRef, findings: readonly Finding[]) => void
  build: (namespaces: readonly string[]) => AuditReport
}

export function createReportBuilder (): ReportBuilder {
  const workloads = new Map<string, WorkloadReport>()
  let podsScanned = 0
  let podsWithFindings = 0
  const counts = zero()
  return {
    add (pod, workload, findings) {
      podsScanned++
      if (findings.length === 0) return
      podsWithFindings++
      const key = `${workload.namespace}/${workload.kind}/${workload.ownerKind ?? ''}/${workload.name}`
      let entry = workloads.get(key)
      if (entry === undefined) {
        entry = { workload, pods: 0, counts: zero(), findings: [] }
        workloads.set(key, entry)
      }
      entry.pods++
      const name = pod.metadata?.name ?? ''
      for (const kind of new Set(findings.map(f => f.kind))) {
        entry.counts[kind]++
        counts[kind]++
      }
      for (const finding of findings) {
        let group = entry.findings.find(g => g.code === finding.code && g.message === finding.message)
        if (group === undefined) {
          group = { kind: finding.kind, code: finding.code, message: finding.message, pods: 0, examples: [] }
          if (finding.differences !== undefined && finding.differences.length > 0) group.differences = finding.differences
          entry.findings.push(group)
        }
        group.pods++
        if (group.examples.length < examplesKept) group.examples.push(name)
      }
    },
    build (namespaces) {
      const order = (w: WorkloadReport): string => `${w.workload.namespace}\u0000${w.workload.kind}\u0000${w.workload.name}`
      return {
        podsScanned,
        podsWithFindings,
        counts: { ...counts },
        namespaces: [...namespaces],
        workloads: [...workloads.values()].sort((a, b) => order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0)
      }
    }
  }
}

// A pod the webhook would refuse today is not fixed by a restart: its replacement would be refused.
const fixedByRestart: readonly FindingCode[] = ['not-injected', 'injection-differs', 'no-longer-injected']

/** Workloads whose pods miss the sidecar or run a stale one, and that a restart can fix. */
export function workloadsToRestart (report: AuditReport): WorkloadRef[] {
  return report.workloads
    .filter(w => restartableKinds.includes(w.workload.kind) && w.findings.some(f => fixedByRestart.includes(f.code)))
    .map(w => w.workload)
}

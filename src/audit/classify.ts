// One pod's audit: is its sidecar missing, stale, foreign, or at risk? Every answer comes from the
// core itself — the webhook's selectors (matchWebhook), its policy and injection (inject, which
// decides and re-injects through uninject) — so the webhook, the CLI and the audit cannot disagree.
import type { V1Container } from '@kubernetes/client-node'
import { annotations } from '../core/annotations.js'
import { classicSidecarInJobWarning, inject } from '../core/inject.js'
import { proxyName } from '../core/sidecar.js'
import type { ClusterFacts, InjectorConfig, Pod } from '../core/types.js'
import { readStatus } from '../core/uninject.js'
import { matchWebhook } from '../core/webhook-selectors.js'
import { compareInjection } from './compare.js'
import type { Difference } from './compare.js'

export type FindingKind = 'missing' | 'stale' | 'foreign' | 'at-risk'

/** Stable codes, one per situation, for scripts and for the docs' table. */
export type FindingCode =
  | 'not-injected'
  | 'would-be-rejected'
  | 'injection-differs'
  | 'no-longer-injected'
  | 'other-revision'
  | 'other-injector'
  | 'classic-sidecar-in-job'
  | 'probes-without-probers'
  | 'native-sidecar-unsupported'

export interface Finding {
  kind: FindingKind
  code: FindingCode
  message: string
  differences?: Difference[]
}

export interface AuditInput {
  config: InjectorConfig
  /** The pod's namespace labels as the API server has them; undefined when the namespace is unknown. */
  namespaceLabels: Readonly<Record<string, string>> | undefined
  /** What the webhook would be told about this pod (native-sidecar support of its node). */
  facts: ClusterFacts
  /** The kind of the pod's controller after following ReplicaSets (Deployment, Job, CronJob, …); 'Pod' for a bare pod. */
  ownerKind: string
}

const proberEnv = 'ISTIO_KUBE_APP_PROBERS'

/** The findings for one pod; none when its sidecar is what the injector would give it today. */
export function auditPod (pod: Pod, input: AuditInput): Finding[] {
  const phase = pod.status?.phase
  // Finished or leaving pods are never restarted with a new sidecar: nothing to act on.
  if (phase === 'Succeeded' || phase === 'Failed' || pod.metadata?.deletionTimestamp != null) return []
  const status = readStatus(pod)
  const proxy = findProxy(pod)
  const findings: Finding[] = []
  const revision = input.config.revision === '' ? 'default' : input.config.revision
  if (status === undefined) {
    if (proxy !== undefined) {
      findings.push({ kind: 'foreign', code: 'other-injector', message: `an ${proxyName} container without ${annotations.status}: injected by another tool or by hand` })
    } else if (otherMesh(pod) !== undefined) {
      findings.push({ kind: 'foreign', code: 'other-injector', message: `a sidecar of another mesh (${otherMesh(pod) ?? ''})` })
    } else {
      findings.push(...missing(pod, input))
    }
  } else if (status.revision !== revision) {
    findings.push({ kind: 'foreign', code: 'other-revision', message: `injected for revision ${status.revision}; this injector serves ${revision}` })
  } else {
    findings.push(...stale(pod, input, status))
  }
  if (proxy !== undefined) findings.push(...atRisk(pod, proxy, input))
  return findings
}

function selected (pod: Pod, input: AuditInput): { yes: boolean, message: string } {
  const namespace = pod.metadata?.namespace ?? ''
  if (input.namespaceLabels === undefined) return { yes: false, message: `namespace ${namespace} is unknown` }
  const match = matchWebhook(namespace, input.namespaceLabels, pod.metadata?.labels ?? {}, input.config.revision)
  return { yes: match.entry !== undefined, message: match.message }
}

function missing (pod: Pod, input: AuditInput): Finding[] {
  if (!selected(pod, input).yes) return []
  const result = inject(pod, {}, input.config, input.facts)
  switch (result.outcome) {
    case 'skipped': return []
    case 'injected': return [{ kind: 'missing', code: 'not-injected', message: `no sidecar, but the webhook would inject it now: ${result.decision.message}` }]
    case 'rejected': return [{ kind: 'missing', code: 'would-be-rejected', message: `no sidecar, and the webhook would refuse it now: ${result.message}` }]
  }
}

function stale (pod: Pod, input: AuditInput, status: NonNullable<ReturnType<typeof readStatus>>): Finding[] {
  const selection = selected(pod, input)
  if (!selection.yes) return [{ kind: 'stale', code: 'no-longer-injected', message: `injected, but the webhook would not inject it now: ${selection.message}` }]
  const result = inject(pod, {}, input.config, input.facts)
  switch (result.outcome) {
    case 'skipped':
      return [{ kind: 'stale', code: 'no-longer-injected', message: `injected, but the webhook would not inject it now: ${result.decision.message}` }]
    case 'rejected':
      return [{ kind: 'stale', code: 'would-be-rejected', message: `injected, but the webhook would refuse it now: ${result.message}` }]
    case 'injected': {
      const today = readStatus(result.pod)
      const differences = compareInjection(pod, result.pod, { running: status.volumes, today: today?.volumes ?? [] })
      // Our own pods carry the digest of what was injected: equal digests mean an equal injection, and
      // content differences are the API server's defaulting — except images, the one container field
      // a running pod may change (kubectl set image).
      if (status.digest !== undefined && status.digest === today?.digest) {
        const images = differences.filter(d => d.field === 'image')
        return images.length === 0 ? [] : [{ kind: 'stale', code: 'injection-differs', message: `today's injection differs: ${summarise(images)}`, differences: images }]
      }
      if (differences.length === 0 && status.digest === undefined) return [] // an older pod, equal by content
      const what = differences.length === 0
        ? `the injected parts differ (digest ${status.digest ?? '-'} → ${today?.digest ?? '-'})`
        : summarise(differences)
      return [{ kind: 'stale', code: 'injection-differs', message: `today's injection differs: ${what}`, differences }]
    }
  }
}

export function summarise (differences: readonly Difference[]): string {
  return differences.map(d => `${d.container === '' ? '' : `${d.container} `}${d.field}${d.field === 'image' || d.field === 'env' || d.field === 'placement' || d.field === 'volumes' || d.field === 'presence' ? ` (${d.detail})` : ''}`).join('; ')
}

function atRisk (pod: Pod, proxy: { container: V1Container, native: boolean }, input: AuditInput): Finding[] {
  const out: Finding[] = []
  if (!proxy.native && (input.ownerKind === 'Job' || input.ownerKind === 'CronJob')) {
    out.push({
      kind: 'at-risk',
      code: 'classic-sidecar-in-job',
      message: classicSidecarInJobWarning
    })
  }
  if (proxy.native && input.facts.nativeSidecarsSupported === false) {
    out.push({
      kind: 'at-risk',
      code: 'native-sidecar-unsupported',
      message: `${proxyName} is a native sidecar (init container with restartPolicy Always), but the pod's node runs a kubelet older than 1.33`
    })
  }
  const hasProbers = proxy.container.env?.some(e => e.name === proberEnv && (e.value ?? '') !== '') === true
  if (!hasProbers) {
    const pointing = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]
      .filter(c => c.name !== proxyName)
      .flatMap(c => (['readinessProbe', 'livenessProbe', 'startupProbe'] as const)
        .filter(kind => (c[kind]?.httpGet?.path ?? '').startsWith('/app-health/'))
        .map(kind => `${c.name} ${kind}`))
    if (pointing.length > 0) {
      out.push({
        kind: 'at-risk',
        code: 'probes-without-probers',
        message: `${pointing.join(', ')} point at the agent's /app-health/ path, but ${proxyName} has no ${proberEnv}: the agent cannot answer them`
      })
    }
  }
  return out
}

function findProxy (pod: Pod): { container: V1Container, native: boolean } | undefined {
  const native = pod.spec?.initContainers?.find(c => c.name === proxyName)
  if (native !== undefined) return { container: native, native: true }
  const classic = pod.spec?.containers.find(c => c.name === proxyName)
  return classic === undefined ? undefined : { container: classic, native: false }
}

/** Another mesh's sidecar: Linkerd's proxy container or its injection annotation. */
function otherMesh (pod: Pod): string | undefined {
  const names = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map(c => c.name)
  if (names.includes('linkerd-proxy') || pod.metadata?.annotations?.['linkerd.io/proxy-version'] !== undefined) return 'Linkerd'
  return undefined
}

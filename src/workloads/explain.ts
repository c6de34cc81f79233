// `explain`: per workload, the decision, the rule that made it, and the effective settings after the
// pod's annotations, as data (for -o json/yaml) and as text.
import { podNamespace } from '../core/policy.js'
import { resolveSettings } from '../core/settings.js'
import type { SidecarSettings } from '../core/settings.js'
import { grpcBootstrapImage } from '../core/profiles.js'
import type { ProfileName } from '../core/profiles.js'
import { excludedInboundPorts } from '../core/sidecar.js'
import type { Pod, ResourceList } from '../core/types.js'
import { uninject } from '../core/uninject.js'
import { matchWebhook } from '../core/webhook-selectors.js'
import type { WorkloadRef } from '../core/workload.js'
import { isRecord } from '../shared/records.js'
import type { JsonRecord } from '../shared/records.js'
import { checkPodShape, malformedPodMessage } from '../core/pod-shape.js'
import { declaredWorkload, describeWorkload, getPath, injectOffline, parseSources, podOf, templatePaths } from './templates.js'
import type { ManifestOptions, Source } from './templates.js'

/** What `explain` says of one workload; rendered as text, or given as is with -o json/yaml. */
export interface Explanation {
  workload: string
  source: string
  /** How the webhook's namespace and object selectors would route the pod. */
  webhook: string
  verdict: 'INJECT' | 'SKIP' | 'REJECT'
  /** The stable reason code of the verdict: the decision's, or `invalid-annotation` for a rejection. */
  reason: string
  message: string
  /** For a rejection: the injection decision that was overruled by invalid input. */
  decision?: { reason: string, message: string }
  reinjection: boolean
  /** `code`: a stable code where the annotation can be wrong in ways worth telling apart (`unknown-template`). */
  problems: Array<{ annotation: string, reason: string, code?: string }>
  warnings: string[]
  settings?: string[]
}

/** explain: per workload, the decision, the rule that made it, and the effective settings. */
export function explainManifests (sources: readonly Source[], options: ManifestOptions): { explanations: Explanation[], errors: string[] } {
  const { docs, errors } = parseSources(sources)
  const explanations: Explanation[] = []
  const visit = (doc: JsonRecord, where: string): void => {
    const kind = typeof doc.kind === 'string' ? doc.kind : ''
    if (kind.endsWith('List') && Array.isArray(doc.items)) {
      doc.items.forEach((item: unknown, i) => { if (isRecord(item)) visit(item, `${where}, item ${i + 1}`) })
      return
    }
    const path = templatePaths[kind]
    const template = path === undefined ? undefined : getPath(doc, path)
    if (!isRecord(template)) return
    const checked = checkPodShape(podOf(doc, kind, template, options))
    if (!checked.ok) {
      errors.push(`${describeWorkload(doc, kind, options)} (${where}): rejected: ${malformedPodMessage(checked)}`)
      return
    }
    try {
      explanations.push(explainPod(checked.value, describeWorkload(doc, kind, options), where, options, declaredWorkload(doc, kind)))
    } catch (err) {
      errors.push(`${where}: cannot explain: the object is malformed (${err instanceof Error ? err.message : String(err)})`)
    }
  }
  for (const { doc, where } of docs) visit(doc, where)
  return { explanations, errors }
}

export function explainPod (pod: Pod, workload: string, source: string, options: ManifestOptions, declared?: WorkloadRef): Explanation {
  const result = injectOffline(pod, options, declared)
  const webhook = options.namespaceLabels === undefined
    ? 'not evaluated: an enabled namespace is assumed (give --namespace-labels to evaluate the webhook selectors)'
    : matchWebhook(podNamespace(pod, {}), options.namespaceLabels, pod.metadata?.labels ?? {}, options.config.revision).message
  const common = {
    workload,
    source,
    webhook,
    reinjection: result.decision.inject && result.decision.reinjection,
    warnings: result.warnings,
    ...(result.outcome === 'skipped' ? {} : { settings: describeSettings(resolveSettings(uninject(pod).pod, options.config, options.facts).settings) })
  }
  if (result.outcome === 'rejected') {
    return {
      ...common,
      verdict: 'REJECT',
      reason: 'invalid-annotation',
      message: 'the pod would be refused: an annotation it sets is invalid',
      decision: { reason: result.decision.reason, message: result.decision.message },
      problems: result.problems.map(p => ({ annotation: p.annotation, reason: p.field === undefined || p.field === '' ? p.reason : `field ${p.field}: ${p.reason}`, ...(p.code === undefined ? {} : { code: p.code }) }))
    }
  }
  return {
    ...common,
    verdict: result.outcome === 'injected' ? 'INJECT' : 'SKIP',
    reason: result.decision.reason,
    message: result.decision.message,
    problems: []
  }
}

/** The text form of `explain`: one block per workload. */
export function formatExplanation (e: Explanation): string {
  const lines = [`${e.workload} (${e.source})`, `  webhook:   ${e.webhook}`]
  lines.push(`  decision:  ${e.verdict} [${e.reason}] ${e.message}${e.reinjection ? ' (already injected: re-injected idempotently)' : ''}`)
  if (e.decision !== undefined) lines.push(`  overruled: [${e.decision.reason}] ${e.decision.message}`)
  for (const p of e.problems) lines.push(`  problem:   ${p.annotation}: ${p.code === undefined ? '' : `[${p.code}] `}${p.reason}`)
  for (const w of e.warnings) lines.push(`  warning:   ${w}`)
  lines.push(...(e.settings ?? []))
  return `${lines.join('\n')}\n`
}

const profileWhat: Record<ProfileName, string> = {
  sidecar: 'Envoy as a sidecar, traffic captured',
  gateway: "the pod's istio-proxy filled in as Envoy in the router role; no init container",
  'grpc-agent': 'the agent without Envoy serves xDS to proxyless gRPC; nothing captured',
  'grpc-simple': 'an init container writes a gRPC xDS bootstrap; no proxy'
}

function describeSettings (s: SidecarSettings): string[] {
  const nativeWhy: Record<SidecarSettings['nativeSource'], string> = {
    annotation: 'sidecar.istio.io/nativeSidecar',
    config: `config nativeSidecars: ${s.nativeSidecarsMode}`,
    detected: 'nativeSidecars: auto, the nodes support native sidecars',
    unknown: 'nativeSidecars: auto, node support unknown',
    profile: `the ${s.proxyKind} profile's proxy is a regular container`
  }
  const quantities = (list: ResourceList | undefined): string =>
    Object.entries(list ?? {}).map(([k, v]) => `${k}=${v}`).join(' ') || '-'
  const c = s.capture
  const capture = s.proxyKind !== 'sidecar'
    ? [`  capture:   none (the ${s.proxyKind === 'none' ? 'grpc-simple' : s.proxyKind} profile captures no traffic)`]
    : s.interceptionMode === 'NONE'
      ? ['  capture:   none (interceptionMode NONE)']
      : [
        `  capture:   outbound to ${c.includeOutboundIPRanges === '' ? '(none)' : c.includeOutboundIPRanges}` +
          `${c.excludeOutboundIPRanges !== '' ? ` except ${c.excludeOutboundIPRanges}` : ''}` +
          `${c.includeOutboundPorts !== '' ? `, and ports ${c.includeOutboundPorts}` : ''}` +
          `${c.excludeOutboundPorts !== '' ? `, never ports ${c.excludeOutboundPorts}` : ''} → ${s.ports.outbound}`,
        `             inbound ports ${c.includeInboundPorts === '' ? '(none)' : c.includeInboundPorts}` +
          `${c.includeInboundPorts === '*' ? ` except ${excludedInboundPorts(s)}` : ''} → ${s.ports.inbound}`,
        ...(c.virtualInterfaces !== '' ? [`             inbound on ${c.virtualInterfaces} treated as outbound`] : []),
        ...(c.excludeInterfaces !== '' ? [`             interfaces never captured: ${c.excludeInterfaces}`] : [])
        ]
  const sidecar = s.proxyKind === 'sidecar'
  const mode = s.proxyKind === 'none'
    ? 'no proxy'
    : sidecar
      ? `${s.native ? 'native (proxy as an init container, restartPolicy Always)' : `classic (proxy ${s.hold ? 'first, holding the app' : 'last'})`} — ${nativeWhy[s.nativeSource]}`
      : `a regular container (proxy ${s.hold ? 'first, holding the app' : 'last'}) — ${nativeWhy[s.nativeSource]}`
  const images = [
    ...(s.proxyKind === 'none' ? [] : [`proxy ${s.proxyImage}`]),
    ...(sidecar ? [`init ${s.initImage}`] : []),
    ...(s.profiles.includes('grpc-simple') ? [`bootstrap ${grpcBootstrapImage}`] : [])
  ]
  return [
    // The default (the sidecar alone) says nothing new; other profiles are named.
    ...(s.profiles.join() === 'sidecar' ? [] : [`  profile:   ${s.profiles.map(p => `${p} (${profileWhat[p]})`).join(', then ')}`]),
    `  mode:      ${mode}`,
    `  images:    ${images.join('; ')}`,
    s.proxyKind === 'gateway'
      ? "  resources: the pod's own istio-proxy's"
      : `  resources: requests ${quantities(s.resources.requests)}; limits ${quantities(s.resources.limits)}`,
    ...capture,
    `  probes:    ${s.rewriteProbes && s.statusPort !== 0 ? `app probes rewritten to the agent on ${s.statusPort}` : 'not rewritten'}; proxy readiness ${s.statusPort === 0 ? 'off' : `on ${s.ports.health}`}`,
    `  metrics:   ${s.prometheusMerge ? `merged into the agent's on ${s.ports.agentStatus}` : 'not merged'}`
  ]
}

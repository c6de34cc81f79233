// The audit of a cluster: lists namespaces, ReplicaSets, Jobs and Nodes, then pods page by page,
// judging each with the pure core (src/audit/classify.ts) and folding it into the report, so memory
// follows the number of workloads with findings, not the number of pods. Shared by the `audit`
// command and the webhook's optional audit metric (src/kube/audit-metric.ts).
import { auditPod } from '../audit/classify.js'
import { createReportBuilder, owningWorkload } from '../audit/report.js'
import type { AuditReport, ControllerLookup, ControllerRef } from '../audit/report.js'
import type { ClusterFacts, InjectorConfig, Pod } from '../core/types.js'
import { selectsNamespace } from '../core/webhook-selectors.js'
import { injectorVersion } from '../version.js'
import type { AuditApi } from './audit-api.js'
import { supportsNativeSidecars } from './native-sidecars.js'

/** Named namespaces, all of them, or those the webhook's namespaceSelectors select. */
export type AuditScope = string[] | 'all' | 'selected'

/** Where notes go (a permission that is missing and what is assumed instead); one line each, newline-terminated. */
export type Note = (text: string) => void

const isForbidden = (err: unknown): boolean => (err as { code?: unknown }).code === 403

export async function auditCluster (api: AuditApi, config: InjectorConfig, which: AuditScope, note: Note): Promise<AuditReport> {
  const namespaceLabels = new Map<string, Record<string, string>>()
  for await (const page of api.listNamespaces()) {
    for (const ns of page) namespaceLabels.set(ns.metadata?.name ?? '', ns.metadata?.labels ?? {})
  }
  const audited = which === 'all'
    ? [...namespaceLabels.keys()]
    : which === 'selected'
      ? [...namespaceLabels].filter(([name, labels]) => selectsNamespace(name, labels, config.revision)).map(([name]) => name)
      : which
  const set = new Set(audited)
  // One list across the cluster unless namespaces were named (each then its own list).
  const scopes: Array<string | undefined> = Array.isArray(which) ? which : [undefined]

  const controllers = new Map<string, ControllerRef | null>()
  const indexed = new Set<string>()
  for (const kind of ['ReplicaSet', 'Job'] as const) {
    try {
      for (const scope of scopes) {
        for await (const page of api.listControllers(kind, scope)) {
          for (const item of page) controllers.set(`${kind}/${item.namespace}/${item.name}`, item.controller)
        }
      }
      indexed.add(kind)
    } catch (err) {
      if (!isForbidden(err)) throw err
      note(`note: may not list ${kind}s; their owners are guessed from pod names\n`)
    }
  }
  const lookup: ControllerLookup = (kind, namespace, name) => {
    if (!indexed.has(kind)) return undefined
    return controllers.get(`${kind}/${namespace}/${name}`) ?? null
  }
  const facts = await nodeFacts(api, note)

  const builder = createReportBuilder()
  for (const scope of scopes) {
    for await (const page of api.listPods(scope)) {
      for (const pod of page) {
        const namespace = pod.metadata?.namespace ?? ''
        if (!set.has(namespace)) continue
        const workload = owningWorkload(pod, lookup)
        const findings = auditPod(pod, {
          config,
          namespaceLabels: namespaceLabels.get(namespace),
          facts: facts(pod),
          ownerKind: workload.kind === 'Other' ? workload.ownerKind ?? 'Other' : workload.kind
        })
        builder.add(pod, workload, findings)
      }
    }
  }
  return builder.build(audited)
}

/** Native-sidecar support by node, as the webhook's detector sees it; unknown without permission. */
async function nodeFacts (api: AuditApi, note: Note): Promise<(pod: Pod) => ClusterFacts> {
  const nodes = new Map<string, boolean>()
  try {
    for await (const page of api.listNodes()) {
      for (const node of page) nodes.set(node.metadata?.name ?? '', supportsNativeSidecars(node.status?.nodeInfo?.kubeletVersion) === true)
    }
  } catch (err) {
    if (!isForbidden(err)) throw err
    note('note: may not list Nodes; native-sidecar support is unknown (classic, as the webhook assumes)\n')
    return () => ({ injectorVersion })
  }
  const all = nodes.size > 0 && [...nodes.values()].every(Boolean)
  return pod => {
    const node = pod.spec?.nodeName
    const supported = node === undefined ? (nodes.size === 0 ? undefined : all) : nodes.get(node)
    return supported === undefined ? { injectorVersion } : { nativeSidecarsSupported: supported, injectorVersion }
  }
}

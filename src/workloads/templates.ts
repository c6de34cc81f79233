// Workload documents and their pod templates: parsing the sources (multi-document YAML or JSON), where
// each kind keeps its pod template, the pod the API server would build from it and the way back, and
// inject() as the cluster would run it (the webhook's selectors first, when the namespace is known).
import { inject } from '../core/inject.js'
import { podNamespace } from '../core/policy.js'
import type { ClusterFacts, InjectorConfig, InjectResult, Pod } from '../core/types.js'
import { matchWebhook } from '../core/webhook-selectors.js'
import type { WorkloadRef } from '../core/workload.js'
import { isRecord } from '../shared/records.js'
import type { JsonRecord } from '../shared/records.js'
import { readDocuments } from '../yaml/read.js'
import type { ReadDocument } from '../yaml/read.js'

export interface Source {
  /** The file name (or "<stdin>"), used in every message. */
  name: string
  text: string
}

export interface ManifestOptions {
  config: InjectorConfig
  facts: ClusterFacts
  /** The namespace of documents that name none. */
  namespace: string
  /** Labels of the target namespace: when given, the webhook's selectors decide as in a cluster. */
  namespaceLabels?: Record<string, string>
  output: 'yaml' | 'json'
}

/** Where each kind keeps its pod template. */
export const templatePaths: Record<string, string[]> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template']
}

interface Located {
  where: string
  doc: JsonRecord
}

/** Parses every source into documents as kubectl reads them, or reports where it is not valid YAML or JSON. */
export function parseSources (sources: readonly Source[]): { docs: Located[], errors: string[] } {
  const docs: Located[] = []
  const errors: string[] = []
  for (const source of sources) {
    for (const read of readDocuments(source.text)) {
      const doc = checkDocument(read, source.name, errors)
      if (doc !== undefined) docs.push({ where: `${source.name}, document ${read.index}`, doc })
    }
  }
  return { docs, errors }
}

/** The document's object, or undefined (an error is recorded, or the document is empty). */
export function checkDocument (read: ReadDocument, name: string, errors: string[]): JsonRecord | undefined {
  const where = `${name}, document ${read.index}`
  if (read.error !== undefined) {
    const { line, col, message } = read.error
    errors.push(line !== undefined ? `${name}:${line}:${col ?? 1}: not valid YAML or JSON: ${message}` : `${where}: ${message}`)
    return undefined
  }
  const value = read.value
  if (value === null || value === undefined) return undefined
  if (!isRecord(value)) {
    errors.push(`${where}: expected a Kubernetes object (a mapping), got ${Array.isArray(value) ? 'a list' : typeof value}`)
    return undefined
  }
  return value
}

export type OfflineResult = InjectResult | { outcome: 'skipped', decision: { inject: false, reason: 'not-selected', message: string }, warnings: string[] }

/** inject(), preceded by the webhook's selectors when the namespace's labels are known. */
export function injectOffline (pod: Pod, options: ManifestOptions, workload?: WorkloadRef): OfflineResult {
  if (options.namespaceLabels !== undefined) {
    const match = matchWebhook(podNamespace(pod, {}), options.namespaceLabels, pod.metadata?.labels ?? {}, options.config.revision)
    if (match.entry === undefined) return { outcome: 'skipped', decision: { inject: false, reason: 'not-selected', message: match.message }, warnings: [] }
  }
  return inject(pod, workload === undefined ? {} : { workload }, options.config, options.facts)
}

/** The workload a manifest declares (a pod is its own, found from its metadata as the webhook does). */
export function declaredWorkload (doc: JsonRecord, kind: string): WorkloadRef | undefined {
  if (kind === 'Pod') return undefined
  const meta = isRecord(doc.metadata) ? doc.metadata : {}
  return { kind, apiVersion: typeof doc.apiVersion === 'string' ? doc.apiVersion : '', name: typeof meta.name === 'string' ? meta.name : '' }
}

/** The pod the API server would build from the workload's template, named after the workload. */
export function podOf (doc: JsonRecord, kind: string, template: JsonRecord, options: ManifestOptions): Pod {
  const meta = isRecord(doc.metadata) ? doc.metadata : {}
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : options.namespace
  if (kind === 'Pod') return { ...doc, metadata: { ...meta, namespace } } as Pod
  const templateMeta = isRecord(template.metadata) ? template.metadata : {}
  const name = typeof meta.name === 'string' ? meta.name : undefined
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...templateMeta, ...(name !== undefined ? { name } : {}), namespace },
    spec: template.spec
  } as Pod
}

/** Writes the pod's metadata and spec back into the template, leaving out the name and namespace podOf added. */
export function templateOf (pod: Pod, kind: string, template: JsonRecord): JsonRecord {
  if (kind === 'Pod') {
    const original = isRecord(template.metadata) ? template.metadata : {}
    const { namespace: _ns, ...meta } = pod.metadata ?? {}
    return { ...pod, metadata: 'namespace' in original ? pod.metadata : meta }
  }
  const { name: _name, namespace: _namespace, ...meta } = pod.metadata ?? {}
  const original = isRecord(template.metadata) ? template.metadata : {}
  // A name or namespace the template itself declares stays (Istio's own samples set a namespace there).
  const metadata = {
    ...meta,
    ...('name' in original ? { name: original.name } : {}),
    ...('namespace' in original ? { namespace: original.namespace } : {})
  }
  const { metadata: _old, ...rest } = template
  // An empty template metadata means what none means; leaving it out keeps uninject(inject(x)) == x.
  return Object.keys(metadata).length === 0
    ? { ...rest, spec: pod.spec }
    : { metadata, ...rest, spec: pod.spec }
}

export function getPath (doc: JsonRecord, path: readonly string[]): unknown {
  let at: unknown = doc
  for (const key of path) at = isRecord(at) ? at[key] : undefined
  return at
}

export function setPath (doc: JsonRecord, path: readonly string[], value: JsonRecord): JsonRecord {
  if (path.length === 0) return value
  const [head, ...rest] = path as [string, ...string[]]
  const child = isRecord(doc[head]) ? doc[head] : {}
  return { ...doc, [head]: setPath(child, rest, value) }
}

export function describeWorkload (doc: JsonRecord, kind: string, options: ManifestOptions): string {
  const meta = isRecord(doc.metadata) ? doc.metadata : {}
  const ns = typeof meta.namespace === 'string' ? meta.namespace : options.namespace
  const name = typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '(unnamed)'
  return `${kind} ${ns}/${name}`
}

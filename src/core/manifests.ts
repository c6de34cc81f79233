// Offline injection of manifests (the doors `inject`, `explain` and `uninject`): multi-document YAML
// or JSON, `List` objects, and the pod templates of every workload kind, through the same inject()
// the webhook calls. Untouched documents are written back as they were read, comments and key order
// included. Pure: the CLI adapter reads the files and prints.
import { isMap, isSeq } from 'yaml'
import { editDocument } from '../yaml/edit.js'
import { renderDocument } from '../yaml/emit.js'
import { readDocuments } from '../yaml/read.js'
import type { ReadDocument } from '../yaml/read.js'
import { inject } from './inject.js'
import { podNamespace } from './policy.js'
import { resolveSettings } from './settings.js'
import type { SidecarSettings } from './settings.js'
import { excludedInboundPorts, initName, proxyName } from './sidecar.js'
import { checkPodShape } from './pod-shape.js'
import type { ClusterFacts, InjectorConfig, InjectResult, Pod, ResourceList } from './types.js'
import { readStatus, uninject } from './uninject.js'
import { matchWebhook } from './webhook-selectors.js'
import type { WorkloadRef } from './workload.js'

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

export interface ManifestOutcome {
  /** The transformed manifests, or '' when there are errors (nothing is half-written). */
  output: string
  /** One line per skipped workload and per warning, for stderr. */
  notes: string[]
  errors: string[]
}

type Obj = Record<string, unknown>
type Operation = 'inject' | 'uninject'

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

function isObj (value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

interface Located {
  where: string
  doc: Obj
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
function checkDocument (read: ReadDocument, name: string, errors: string[]): Obj | undefined {
  const where = `${name}, document ${read.index}`
  if (read.error !== undefined) {
    const { line, col, message } = read.error
    errors.push(line !== undefined ? `${name}:${line}:${col ?? 1}: not valid YAML or JSON: ${message}` : `${where}: ${message}`)
    return undefined
  }
  const value = read.value
  if (value === null || value === undefined) return undefined
  if (!isObj(value)) {
    errors.push(`${where}: expected a Kubernetes object (a mapping), got ${Array.isArray(value) ? 'a list' : typeof value}`)
    return undefined
  }
  return value
}

/**
 * One document at a time (a stream of any length holds one syntax tree), written as it is read:
 * untouched documents byte for byte, injected ones edited in place (src/yaml/edit.ts).
 */
export function transformManifests (sources: readonly Source[], operation: Operation, options: ManifestOptions): ManifestOutcome {
  const notes: string[] = []
  const errors: string[] = []
  const chunks: string[] = []
  const objects: Obj[] = []
  for (const source of sources) {
    for (const read of readDocuments(source.text)) {
      const doc = checkDocument(read, source.name, errors)
      if (doc === undefined) continue
      const out = transformSafely(doc, `${source.name}, document ${read.index}`, operation, options, notes, errors)
      if (errors.length > 0) continue
      if (options.output === 'json') objects.push(out)
      else chunks.push(writeDocument(source.text, read, out, chunks.length === 0))
    }
  }
  if (errors.length > 0) return { output: '', notes, errors }
  if (options.output === 'json') {
    const value = objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects }
    return { output: `${JSON.stringify(value, null, 2)}\n`, notes, errors }
  }
  return { output: chunks.join(''), notes, errors }
}

const startsWithMarker = /^(?:[ \t]*(?:#.*)?\r?\n)*---(?:[ \t\r\n]|$)/

/**
 * A document's output text: as read when untouched, edited in place when changed, written whole
 * from its value when it cannot be edited in place (or was JSON: the output is YAML). A '---' goes
 * before every document but the first, unless the document's own text starts with one.
 */
function writeDocument (text: string, read: ReadDocument, out: Obj, first: boolean): string {
  const root = read.document.contents
  const json = root !== null && (isMap(root) || isSeq(root)) && root.flow === true
  let body = out === read.value && !json ? read.raw : (json ? undefined : editDocument(text, read, out))
  if (body === undefined) {
    // The text before the document's content: '---', directives, comments.
    const prefix = root === null || json ? '' : text.slice(read.rawStart, root.range[0])
    body = prefix + renderDocument(out)
  }
  if (!first && !startsWithMarker.test(body)) body = `---\n${body}`
  return /\n$/.test(body) ? body : `${body}\n`
}

// A document of a shape the core does not expect must cost its own error line, never the whole run
// (nor a stack trace): the file and document are named, and nothing is written.
function transformSafely (doc: Obj, where: string, operation: Operation, options: ManifestOptions, notes: string[], errors: string[]): Obj {
  try {
    return transformObject(doc, where, operation, options, notes, errors)
  } catch (err) {
    errors.push(`${where}: cannot ${operation}: the object is malformed (${err instanceof Error ? err.message : String(err)})`)
    return doc
  }
}

/** Returns the same object when nothing changes, so that untouched documents are written as read. */
function transformObject (doc: Obj, where: string, operation: Operation, options: ManifestOptions, notes: string[], errors: string[]): Obj {
  const kind = typeof doc.kind === 'string' ? doc.kind : ''
  if (kind.endsWith('List') && Array.isArray(doc.items)) {
    let changed = false
    const items = doc.items.map((item: unknown, i) => {
      if (!isObj(item)) return item
      const out = transformObject(item, `${where}, item ${i + 1}`, operation, options, notes, errors)
      changed ||= out !== item
      return out
    })
    return changed ? { ...doc, items } : doc
  }
  const path = templatePaths[kind]
  if (path === undefined) return doc
  const template = getPath(doc, path)
  if (!isObj(template)) return doc
  const label = describe(doc, kind, options)
  const checked = checkPodShape(podOf(doc, kind, template, options))
  if (!checked.ok) {
    errors.push(`${label} (${where}): rejected: ${malformedMessage(checked)}`)
    return doc
  }
  const pod = checked.value
  if (operation === 'uninject') {
    const status = readStatus(pod)
    if (status === undefined) return doc
    const restored = uninject(pod).pod
    // The user's own istio-proxy/istio-init (recorded in restore.overrides) are put back on purpose.
    const userDeclared = Array.isArray(status.restore?.overrides) && status.restore.overrides.length > 0
    for (const name of userDeclared ? [] : leftoverSidecars(restored)) {
      notes.push(`${label} (${where}): warning: container ${name} is still there: the status annotation sidecar.istio.io/status does not list it (edited by hand?); remove it yourself if it was injected`)
    }
    return setPath(doc, path, templateOf(restored, kind, template))
  }
  const outcome = injectOffline(pod, options, declaredWorkload(doc, kind))
  for (const w of outcome.warnings) notes.push(`${label} (${where}): warning: ${w}`)
  switch (outcome.outcome) {
    case 'skipped':
      notes.push(`${label} (${where}): skipped: ${outcome.decision.message} [${outcome.decision.reason}]`)
      return doc
    case 'rejected':
      errors.push(`${label} (${where}): rejected: ${outcome.message}`)
      return doc
    case 'injected':
      return setPath(doc, path, templateOf(outcome.pod, kind, template))
  }
}

/** Containers with the injected names that uninject left because the status annotation did not list them. */
function leftoverSidecars (pod: Pod): string[] {
  const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map(c => c.name)
  return names.filter(name => name === proxyName || name === initName)
}

export type OfflineResult = InjectResult | { outcome: 'skipped', decision: { inject: false, reason: 'not-selected', message: string }, warnings: string[] }

/** The same words as the webhook's malformed-pod answer; the path is the pod's (a template's for workloads). */
function malformedMessage (problem: { path: string, expected: string }): string {
  return `malformed-pod: ${problem.path === '' ? 'the object' : problem.path} must be ${problem.expected}`
}

/** inject(), preceded by the webhook's selectors when the namespace's labels are known. */
export function injectOffline (pod: Pod, options: ManifestOptions, workload?: WorkloadRef): OfflineResult {
  if (options.namespaceLabels !== undefined) {
    const match = matchWebhook(podNamespace(pod, {}), options.namespaceLabels, pod.metadata?.labels ?? {}, options.config.revision)
    if (match.entry === undefined) return { outcome: 'skipped', decision: { inject: false, reason: 'not-selected', message: match.message }, warnings: [] }
  }
  return inject(pod, workload === undefined ? {} : { workload }, options.config, options.facts)
}

/** The workload a manifest declares (a pod is its own, found from its metadata as the webhook does). */
function declaredWorkload (doc: Obj, kind: string): WorkloadRef | undefined {
  if (kind === 'Pod') return undefined
  const meta = isObj(doc.metadata) ? doc.metadata : {}
  return { kind, apiVersion: typeof doc.apiVersion === 'string' ? doc.apiVersion : '', name: typeof meta.name === 'string' ? meta.name : '' }
}

/** The pod the API server would build from the workload's template, named after the workload. */
function podOf (doc: Obj, kind: string, template: Obj, options: ManifestOptions): Pod {
  const meta = isObj(doc.metadata) ? doc.metadata : {}
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : options.namespace
  if (kind === 'Pod') return { ...doc, metadata: { ...meta, namespace } } as Pod
  const templateMeta = isObj(template.metadata) ? template.metadata : {}
  const name = typeof meta.name === 'string' ? meta.name : undefined
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { ...templateMeta, ...(name !== undefined ? { name } : {}), namespace },
    spec: template.spec
  } as Pod
}

/** Writes the pod's metadata and spec back into the template, leaving out the name and namespace podOf added. */
function templateOf (pod: Pod, kind: string, template: Obj): Obj {
  if (kind === 'Pod') {
    const original = isObj(template.metadata) ? template.metadata : {}
    const { namespace: _ns, ...meta } = pod.metadata ?? {}
    return { ...pod, metadata: 'namespace' in original ? pod.metadata : meta }
  }
  const { name: _name, namespace: _namespace, ...meta } = pod.metadata ?? {}
  const original = isObj(template.metadata) ? template.metadata : {}
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

function getPath (doc: Obj, path: readonly string[]): unknown {
  let at: unknown = doc
  for (const key of path) at = isObj(at) ? at[key] : undefined
  return at
}

function setPath (doc: Obj, path: readonly string[], value: Obj): Obj {
  if (path.length === 0) return value
  const [head, ...rest] = path as [string, ...string[]]
  const child = isObj(doc[head]) ? doc[head] : {}
  return { ...doc, [head]: setPath(child, rest, value) }
}

function describe (doc: Obj, kind: string, options: ManifestOptions): string {
  const meta = isObj(doc.metadata) ? doc.metadata : {}
  const ns = typeof meta.namespace === 'string' ? meta.namespace : options.namespace
  const name = typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '(unnamed)'
  return `${kind} ${ns}/${name}`
}

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
  problems: Array<{ annotation: string, reason: string }>
  warnings: string[]
  settings?: string[]
}

/** explain: per workload, the decision, the rule that made it, and the effective settings. */
export function explainManifests (sources: readonly Source[], options: ManifestOptions): { explanations: Explanation[], errors: string[] } {
  const { docs, errors } = parseSources(sources)
  const explanations: Explanation[] = []
  const visit = (doc: Obj, where: string): void => {
    const kind = typeof doc.kind === 'string' ? doc.kind : ''
    if (kind.endsWith('List') && Array.isArray(doc.items)) {
      doc.items.forEach((item: unknown, i) => { if (isObj(item)) visit(item, `${where}, item ${i + 1}`) })
      return
    }
    const path = templatePaths[kind]
    const template = path === undefined ? undefined : getPath(doc, path)
    if (!isObj(template)) return
    const checked = checkPodShape(podOf(doc, kind, template, options))
    if (!checked.ok) {
      errors.push(`${describe(doc, kind, options)} (${where}): rejected: ${malformedMessage(checked)}`)
      return
    }
    try {
      explanations.push(explainPod(checked.value, describe(doc, kind, options), where, options, declaredWorkload(doc, kind)))
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
    ...(result.outcome === 'skipped' ? {} : { settings: describeSettings(resolveSettings(uninject(pod).pod, options.config, options.facts).settings, options.config) })
  }
  if (result.outcome === 'rejected') {
    return {
      ...common,
      verdict: 'REJECT',
      reason: 'invalid-annotation',
      message: 'the pod would be refused: an annotation it sets is invalid',
      decision: { reason: result.decision.reason, message: result.decision.message },
      problems: result.problems.map(p => ({ annotation: p.annotation, reason: p.reason }))
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
  for (const p of e.problems) lines.push(`  problem:   ${p.annotation}: ${p.reason}`)
  for (const w of e.warnings) lines.push(`  warning:   ${w}`)
  lines.push(...(e.settings ?? []))
  return `${lines.join('\n')}\n`
}

function describeSettings (s: SidecarSettings, config: InjectorConfig): string[] {
  const nativeWhy: Record<SidecarSettings['nativeSource'], string> = {
    annotation: 'sidecar.istio.io/nativeSidecar',
    config: `config nativeSidecars: ${config.nativeSidecars}`,
    detected: 'nativeSidecars: auto, the nodes support native sidecars',
    unknown: 'nativeSidecars: auto, node support unknown'
  }
  const quantities = (list: ResourceList | undefined): string =>
    Object.entries(list ?? {}).map(([k, v]) => `${k}=${v}`).join(' ') || '-'
  const c = s.capture
  const capture = s.interceptionMode === 'NONE'
    ? ['  capture:   none (interceptionMode NONE)']
    : [
        `  capture:   outbound to ${c.includeOutboundIPRanges === '' ? '(none)' : c.includeOutboundIPRanges}` +
          `${c.excludeOutboundIPRanges !== '' ? ` except ${c.excludeOutboundIPRanges}` : ''}` +
          `${c.includeOutboundPorts !== '' ? `, and ports ${c.includeOutboundPorts}` : ''}` +
          `${c.excludeOutboundPorts !== '' ? `, never ports ${c.excludeOutboundPorts}` : ''} → ${config.ports.outbound}`,
        `             inbound ports ${c.includeInboundPorts === '' ? '(none)' : c.includeInboundPorts}` +
          `${c.includeInboundPorts === '*' ? ` except ${excludedInboundPorts(s, config)}` : ''} → ${config.ports.inbound}`,
        ...(c.virtualInterfaces !== '' ? [`             inbound on ${c.virtualInterfaces} treated as outbound`] : []),
        ...(c.excludeInterfaces !== '' ? [`             interfaces never captured: ${c.excludeInterfaces}`] : [])
      ]
  return [
    `  mode:      ${s.native ? 'native (proxy as an init container, restartPolicy Always)' : `classic (proxy ${s.hold ? 'first, holding the app' : 'last'})`} — ${nativeWhy[s.nativeSource]}`,
    `  images:    proxy ${s.proxyImage}; init ${s.initImage}`,
    `  resources: requests ${quantities(s.resources.requests)}; limits ${quantities(s.resources.limits)}`,
    ...capture,
    `  probes:    ${s.rewriteProbes && s.statusPort !== 0 ? `app probes rewritten to the agent on ${s.statusPort}` : 'not rewritten'}; proxy readiness ${s.statusPort === 0 ? 'off' : `on ${config.ports.health}`}`,
    `  metrics:   ${s.prometheusMerge ? `merged into the agent's on ${config.ports.agentStatus}` : 'not merged'}`
  ]
}

/** Parses `k=v,k2=v2` (the --namespace-labels flag). */
export function parseLabelList (text: string): Record<string, string> | string {
  const out: Record<string, string> = {}
  if (text.trim() === '') return out
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) return `'${pair}' is not key=value`
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim()
  }
  return out
}

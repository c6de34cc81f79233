// Offline injection of manifests (the doors `inject` and `uninject`): multi-document YAML or JSON,
// `List` objects, and the pod templates of every workload kind, through the same inject() the webhook
// calls. Untouched documents are written back as they were read, comments and key order included.
// Pure: the CLI adapter reads the files and prints.
import { isMap, isSeq } from 'yaml'
import { initName, proxyName } from '../core/sidecar.js'
import type { Pod } from '../core/types.js'
import { readStatus, uninject } from '../core/uninject.js'
import { isRecord } from '../shared/records.js'
import type { JsonRecord } from '../shared/records.js'
import { editDocument } from '../yaml/edit.js'
import { renderDocument } from '../yaml/emit.js'
import { readDocuments } from '../yaml/read.js'
import type { ReadDocument } from '../yaml/read.js'
import { checkPodShape, malformedPodMessage } from '../core/pod-shape.js'
import { checkDocument, declaredWorkload, describeWorkload, getPath, injectOffline, podOf, setPath, templateOf, templatePaths } from './templates.js'
import type { ManifestOptions, Source } from './templates.js'

export interface ManifestOutcome {
  /** The transformed manifests, or '' when there are errors (nothing is half-written). */
  output: string
  /** One line per skipped workload and per warning, for stderr. */
  notes: string[]
  errors: string[]
}

type Operation = 'inject' | 'uninject'

/**
 * One document at a time (a stream of any length holds one syntax tree), written as it is read:
 * untouched documents byte for byte, injected ones edited in place (src/yaml/edit.ts).
 */
export function transformManifests (sources: readonly Source[], operation: Operation, options: ManifestOptions): ManifestOutcome {
  const chunks: string[] = []
  const { notes, errors } = streamManifests(sources, operation, options, text => { chunks.push(text) })
  return { output: errors.length > 0 ? '' : chunks.join(''), notes, errors }
}

/**
 * transformManifests for a stream of any length: each document's output goes to `write` as soon as
 * it is transformed, so that only one document is held at a time. Every document is still read and
 * checked; after the first error nothing more is written, and the caller, which gets the errors at the
 * end, throws away what was written (the CLI keeps it in a bounded buffer: src/cli/output.ts).
 * JSON output is one List of every object: it is written at the end.
 */
export function streamManifests (sources: readonly Source[], operation: Operation, options: ManifestOptions, write: (text: string) => void): { notes: string[], errors: string[] } {
  const notes: string[] = []
  const errors: string[] = []
  const objects: JsonRecord[] = []
  let first = true
  for (const source of sources) {
    for (const read of readDocuments(source.text)) {
      const doc = checkDocument(read, source.name, errors)
      if (doc === undefined) continue
      const out = transformDocument(doc, `${source.name}, document ${read.index}`, operation, options, notes, errors)
      if (errors.length > 0) continue
      if (options.output === 'json') objects.push(out)
      else write(writeDocument(source.text, read, out, first))
      first = false
    }
  }
  if (errors.length === 0 && options.output === 'json') {
    const value = objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects }
    write(`${JSON.stringify(value, null, 2)}\n`)
  }
  return { notes, errors }
}

const startsWithMarker = /^(?:[ \t]*(?:#.*)?\r?\n)*---(?:[ \t\r\n]|$)/

/**
 * A document's output text: as read when untouched, edited in place when changed, written whole
 * from its value when it cannot be edited in place (or was JSON: the output is YAML). A '---' goes
 * before every document but the first, unless the document's own text starts with one.
 */
export function writeDocument (text: string, read: ReadDocument, out: JsonRecord, first: boolean): string {
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

/**
 * The document's object after the operation: the same object when nothing changes. A document of a
 * shape the core does not expect costs its own error line, never the whole run (nor a stack trace):
 * the file and document are named, and nothing is written.
 */
export function transformDocument (doc: JsonRecord, where: string, operation: Operation, options: ManifestOptions, notes: string[], errors: string[]): JsonRecord {
  try {
    return transformObject(doc, where, operation, options, notes, errors)
  } catch (err) {
    errors.push(`${where}: cannot ${operation}: the object is malformed (${err instanceof Error ? err.message : String(err)})`)
    return doc
  }
}

/** Returns the same object when nothing changes, so that untouched documents are written as read. */
function transformObject (doc: JsonRecord, where: string, operation: Operation, options: ManifestOptions, notes: string[], errors: string[]): JsonRecord {
  const kind = typeof doc.kind === 'string' ? doc.kind : ''
  if (kind.endsWith('List') && Array.isArray(doc.items)) {
    let changed = false
    const items = doc.items.map((item: unknown, i) => {
      if (!isRecord(item)) return item
      const out = transformObject(item, `${where}, item ${i + 1}`, operation, options, notes, errors)
      changed ||= out !== item
      return out
    })
    return changed ? { ...doc, items } : doc
  }
  const path = templatePaths[kind]
  if (path === undefined) return doc
  const template = getPath(doc, path)
  if (!isRecord(template)) return doc
  const label = describeWorkload(doc, kind, options)
  const checked = checkPodShape(podOf(doc, kind, template, options))
  if (!checked.ok) {
    errors.push(`${label} (${where}): rejected: ${malformedPodMessage(checked)}`)
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

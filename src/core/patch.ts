// The JSON Patch (RFC 6902) from a pod to its injected form, derived from only the subtrees an
// injection touches: labels, annotations, containers, initContainers, volumes, and the pod's
// securityContext (a gateway's sysctl). Diffing whole pods
// costs 2–4× a whole request on large pods (docs/architecture.md), and managedFields, never touched,
// never appear in the patch. Lists of named items are aligned by name, so prepending istio-init and
// the native proxy gives two `add`s rather than a rewrite of every user init container.
import jsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { isDeepStrictEqual } from 'node:util'
import type { Pod } from './types.js'

type Json = Record<string, unknown>

/** RFC 6901: '~' becomes '~0' and '/' becomes '~1', in that order. */
export function escapePointer (key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1')
}

const mapPaths = [['metadata', 'labels'], ['metadata', 'annotations']] as const
const namedListPaths = [['spec', 'containers'], ['spec', 'initContainers'], ['spec', 'volumes']] as const
const valuePaths = [['spec', 'securityContext']] as const

export function diffPatch (before: Pod, after: Pod): Operation[] {
  const ops: Operation[] = []
  for (const parent of ['metadata', 'spec'] as const) {
    const b = before[parent] as Json | undefined
    const a = after[parent] as Json | undefined
    if (b === a) continue
    if (b === undefined || a === undefined) {
      diffValue(`/${parent}`, b, a, ops)
      continue
    }
    for (const [p, field] of [...mapPaths, ...namedListPaths]) {
      if (p !== parent) continue
      const path = `/${parent}/${field}`
      if (field === 'labels' || field === 'annotations') diffMap(path, b[field] as Json | undefined, a[field] as Json | undefined, ops)
      else diffNamedList(path, b[field] as Json[] | undefined, a[field] as Json[] | undefined, ops)
    }
    for (const [p, field] of valuePaths) if (p === parent) diffValue(`/${parent}/${field}`, b[field], a[field], ops)
  }
  return ops
}

/** The patch as the AdmissionResponse carries it: base64 of the JSON array. */
export function encodePatch (ops: readonly Operation[]): string {
  return Buffer.from(JSON.stringify(ops)).toString('base64')
}

function diffValue (path: string, before: unknown, after: unknown, ops: Operation[]): void {
  if (before === after) return
  if (after === undefined) ops.push({ op: 'remove', path })
  else if (before === undefined) ops.push({ op: 'add', path, value: after })
  else if (!isDeepStrictEqual(before, after)) ops.push({ op: 'replace', path, value: after })
}

function diffMap (path: string, before: Json | undefined, after: Json | undefined, ops: Operation[]): void {
  if (before === undefined || after === undefined) {
    diffValue(path, before, after, ops)
    return
  }
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key)) ops.push({ op: 'remove', path: `${path}/${escapePointer(key)}` })
  }
  for (const [key, value] of Object.entries(after)) {
    const at = `${path}/${escapePointer(key)}`
    if (!Object.hasOwn(before, key)) ops.push({ op: 'add', path: at, value })
    else if (before[key] !== value && !isDeepStrictEqual(before[key], value)) ops.push({ op: 'replace', path: at, value })
  }
}

/**
 * Lists whose items have unique names (containers, volumes). Removed items go first, from the end;
 * then, walking the new list in order, new items are added at their index and kept items that
 * changed get a fine-grained diff. When the kept items changed order, the whole list is replaced.
 */
function diffNamedList (path: string, before: Json[] | undefined, after: Json[] | undefined, ops: Operation[]): void {
  if (before === after) return
  if (before === undefined || after === undefined || !uniquelyNamed(before) || !uniquelyNamed(after)) {
    diffValue(path, before, after, ops)
    return
  }
  const afterNames = new Set(after.map(item => item.name))
  const beforeByName = new Map(before.map(item => [item.name, item]))
  const kept = before.filter(item => afterNames.has(item.name))
  const keptInAfter = after.filter(item => beforeByName.has(item.name))
  if (kept.some((item, i) => item.name !== keptInAfter[i]?.name)) {
    ops.push({ op: 'replace', path, value: after })
    return
  }
  for (let i = before.length - 1; i >= 0; i--) {
    if (!afterNames.has((before[i] as Json).name)) ops.push({ op: 'remove', path: `${path}/${i}` })
  }
  after.forEach((item, i) => {
    const old = beforeByName.get(item.name)
    if (old === undefined) ops.push({ op: 'add', path: `${path}/${i}`, value: item })
    else if (old !== item) {
      for (const op of jsonPatch.compare(old, item)) ops.push({ ...op, path: `${path}/${i}${op.path}` })
    }
  })
}

function uniquelyNamed (list: Json[]): boolean {
  const names = new Set<unknown>()
  for (const item of list) {
    if (typeof item.name !== 'string' || names.has(item.name)) return false
    names.add(item.name)
  }
  return true
}

// Checks that a parsed JSON body is a well-formed AdmissionReview before anything reads it. Every "no"
// has a stable reason code and a sentence; the HTTP layer answers them with 400. Never recursive: the
// body is untrusted and a recursive walk overflows the stack from ~10k levels of nesting.
import { isRecord } from '../shared/records.js'
import type { AdmissionApiVersion, AdmissionRequest, AdmissionReviewRequest, GroupVersionKind, GroupVersionResource, Operation } from './types.js'

export type MalformedReason =
  | 'not-an-object'
  | 'unsupported-api-version'
  | 'wrong-kind'
  | 'missing-request'
  | 'missing-uid'
  | 'invalid-operation'
  | 'invalid-field'
  | 'missing-object'
  | 'too-deep'
  | 'forbidden-key'

export type ParsedReview =
  | { ok: true, review: AdmissionReviewRequest }
  | { ok: false, reason: MalformedReason, message: string }

/**
 * How deep `request.object` may nest. A real Pod is about 15 levels deep (managedFields included);
 * the core's clone and diff recurse, so a hostile depth must be refused before it reaches them.
 */
export const maxObjectDepth = 100

const apiVersions: readonly AdmissionApiVersion[] = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']
const operations: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT']

export function parseReview (body: unknown, options: { maxDepth?: number } = {}): ParsedReview {
  if (!isRecord(body)) return malformed('not-an-object', `the body is ${describe(body)}, not an AdmissionReview object`)
  const apiVersion = body.apiVersion
  if (!apiVersions.includes(apiVersion as AdmissionApiVersion)) {
    return malformed('unsupported-api-version', `apiVersion ${quote(apiVersion)} is not one of ${apiVersions.join(', ')}`)
  }
  if (body.kind !== 'AdmissionReview') {
    return malformed('wrong-kind', `kind ${quote(body.kind)} is not AdmissionReview`)
  }
  const request = body.request
  if (!isRecord(request)) return malformed('missing-request', 'the AdmissionReview has no request object')
  const uid = request.uid
  if (typeof uid !== 'string' || uid === '') return malformed('missing-uid', 'request.uid is missing or not a non-empty string')
  const operation = request.operation
  if (!operations.includes(operation as Operation)) {
    return malformed('invalid-operation', `request.operation ${quote(operation)} is not one of ${operations.join(', ')}`)
  }
  const parsed: AdmissionRequest = { uid, operation: operation as Operation }

  for (const field of ['name', 'namespace', 'subResource'] as const) {
    const value = request[field]
    if (value === undefined || value === null) continue
    if (typeof value !== 'string') return malformed('invalid-field', `request.${field} is ${describe(value)}, not a string`)
    parsed[field] = value
  }
  if (request.dryRun !== undefined && request.dryRun !== null) {
    if (typeof request.dryRun !== 'boolean') return malformed('invalid-field', `request.dryRun is ${describe(request.dryRun)}, not a boolean`)
    parsed.dryRun = request.dryRun
  }
  const kind = readTriple(request.kind, 'kind')
  if (kind === false) return malformed('invalid-field', 'request.kind is not a {group, version, kind} object of strings')
  if (kind !== undefined) parsed.kind = kind as unknown as GroupVersionKind
  const resource = readTriple(request.resource, 'resource')
  if (resource === false) return malformed('invalid-field', 'request.resource is not a {group, version, resource} object of strings')
  if (resource !== undefined) parsed.resource = resource as unknown as GroupVersionResource

  const object = request.object
  if (object === undefined || object === null) {
    // DELETE carries only oldObject; CREATE and UPDATE always carry the object.
    if (operation === 'CREATE' || operation === 'UPDATE') return malformed('missing-object', `request.object is missing for a ${operation}`)
  } else {
    if (!isRecord(object)) return malformed('invalid-field', `request.object is ${describe(object)}, not an object`)
    parsed.object = object
  }
  // One pass over the whole body (oldObject included) for the two things the core must never meet.
  // request.object sits two levels below the body, hence maxDepth + 2.
  // metadata.managedFields, often the largest part of a pod, is dropped unread before the core
  // (podToInject), so it is not walked: a third of the walk's time on a 200 KB review.
  const maxDepth = options.maxDepth ?? maxObjectDepth
  const metadata = isRecord(object) ? object.metadata : undefined
  const managedFields = isRecord(metadata) ? metadata.managedFields : undefined
  const problem = inspectTree(body, maxDepth + 2, typeof managedFields === 'object' && managedFields !== null ? managedFields : undefined)
  if (problem === 'too-deep') return malformed('too-deep', `the review nests deeper than ${maxDepth} levels inside request.object (or oldObject)`)
  if (problem === 'forbidden-key') return malformed('forbidden-key', 'the review holds a __proto__ key, or a constructor key with a prototype, which no Kubernetes object has')
  return { ok: true, review: { apiVersion: apiVersion as AdmissionApiVersion, kind: 'AdmissionReview', request: parsed } }
}

function malformed (reason: MalformedReason, message: string): ParsedReview {
  return { ok: false, reason, message }
}

/** A short string is quoted; anything else is only described (a body field can be megabytes, or nested 100,000 deep). */
function quote (value: unknown): string {
  return typeof value === 'string' && value.length <= 64 ? JSON.stringify(value) : describe(value)
}

function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value === undefined) return 'empty'
  return `a ${typeof value}`
}

// Reads {group, version, kind|resource}; undefined when absent, false when present but ill-typed.
function readTriple (value: unknown, last: 'kind' | 'resource'): Record<string, string> | undefined | false {
  if (value === undefined || value === null) return undefined
  if (!isRecord(value)) return false
  const out: Record<string, string> = {}
  for (const key of ['group', 'version', last]) {
    const v = value[key] ?? ''
    if (typeof v !== 'string') return false
    out[key] = v
  }
  return out
}

/**
 * The first problem of `root` for the core, in one linear pass: a container nested more than `limit`
 * levels deep (the core's clone and diff recurse), or a key that reaches an object's prototype when
 * code copies it with assignment (`__proto__`; `constructor` holding a `prototype`), the two checks
 * fastify's default JSON parser (secure-json-parse) made with a regular-expression scan of the text
 * and a second walk. Iterative (never overflows the stack), stops early, two parallel stacks rather
 * than a tuple per node; Object.keys rather than for…in, which has no enum cache for the fresh shapes
 * JSON.parse makes: 5 against 47 µs on the 5 KB review (BENCHMARKS.md). Object.keys lists
 * `__proto__` too, since JSON.parse defines it as an own property. `skip`: a subtree left unwalked.
 */
export function inspectTree (root: object, limit: number, skip?: object): 'too-deep' | 'forbidden-key' | undefined {
  const nodes: object[] = [root]
  const depths: number[] = [1]
  while (nodes.length > 0) {
    const node = nodes.pop() as Record<string, unknown> | unknown[]
    const depth = depths.pop() as number
    if (depth > limit) return 'too-deep'
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child = node[i]
        if (typeof child === 'object' && child !== null && child !== skip) {
          nodes.push(child)
          depths.push(depth + 1)
        }
      }
      continue
    }
    const keys = Object.keys(node)
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string
      if (key === '__proto__') return 'forbidden-key'
      const child = node[key]
      if (typeof child === 'object' && child !== null && child !== skip) {
        if (key === 'constructor' && Object.hasOwn(child, 'prototype')) return 'forbidden-key'
        nodes.push(child)
        depths.push(depth + 1)
      }
    }
  }
  return undefined
}

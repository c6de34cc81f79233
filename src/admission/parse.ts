// Checks that a parsed JSON body is a well-formed AdmissionReview before anything reads it. Every "no"
// has a stable reason code and a sentence; the HTTP layer answers them with 400. Never recursive: the
// body is untrusted and a recursive walk overflows the stack from ~10k levels of nesting.
import { exceedsDepth } from '../core/annotation-value.js'
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
    const maxDepth = options.maxDepth ?? maxObjectDepth
    if (exceedsDepth(object, maxDepth)) return malformed('too-deep', `request.object nests deeper than ${maxDepth} levels`)
    parsed.object = object
  }
  return { ok: true, review: { apiVersion: apiVersion as AdmissionApiVersion, kind: 'AdmissionReview', request: parsed } }
}

function malformed (reason: MalformedReason, message: string): ParsedReview {
  return { ok: false, reason, message }
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
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

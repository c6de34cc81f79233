// Answers one validated AdmissionReview: picks out the pod CREATEs, runs the injection core on them and
// turns its result into a response through the vocabulary of responses.ts. Pure: the facts the core
// cannot see (ClusterFacts) come in as data, and the caller logs and counts the verdict.
import type { ClusterFacts, InjectorConfig, Pod } from '../core/types.js'
import { inject } from '../core/inject.js'
import { diffPatch, encodePatch } from '../core/patch.js'
import { checkPodShape, malformedPodMessage } from '../core/pod-shape.js'
import { allowed, patched, rejected, toReview } from './responses.js'
import type { AdmissionRequest, AdmissionReviewRequest, AdmissionReviewResponse } from './types.js'

/** Why a review was allowed unchanged before the core was asked. */
export type PassReason = 'not-a-pod' | 'not-create'

export type VerdictDecision = 'allowed' | 'patched' | 'rejected'

export interface AdmissionVerdict {
  review: AdmissionReviewResponse
  decision: VerdictDecision
  /** A stable code: the core's skip/inject reason, or a PassReason. */
  reason: string
  message: string
  /** Length of the base64 patch sent back (0 without a patch). */
  patchBytes: number
  /** Number of JSON Patch operations. */
  operations: number
}

/** What a review gives the core: a checked pod, a reason to pass it unchanged, or a malformed pod. */
export type PodInput =
  | { kind: 'pod', pod: Pod }
  | { kind: 'pass', reason: PassReason }
  | { kind: 'malformed', path: string, expected: string }

/**
 * The pod the core should see, checked once here (src/core/pod-shape.ts), or why there is none: a
 * review that is not a CREATE of a pod is allowed unchanged. managedFields is dropped: the core has no
 * use for it, it is often the largest part of the object, and both sides of the diff then agree on it.
 */
export function podToInject (request: AdmissionRequest): PodInput {
  if (!isPodResource(request)) return { kind: 'pass', reason: 'not-a-pod' }
  if (request.operation !== 'CREATE' || request.object === undefined) return { kind: 'pass', reason: 'not-create' }
  let object = request.object
  const metadata = object.metadata
  if (typeof metadata === 'object' && metadata !== null && 'managedFields' in metadata) {
    const { managedFields: _dropped, ...rest } = metadata as Record<string, unknown>
    object = { ...object, metadata: rest }
  }
  const checked = checkPodShape(object)
  return checked.ok ? { kind: 'pod', pod: checked.value } : { kind: 'malformed', path: checked.path, expected: checked.expected }
}

export function reviewAdmission (
  review: AdmissionReviewRequest, config: InjectorConfig, facts: ClusterFacts = {}, input: PodInput = podToInject(review.request)
): AdmissionVerdict {
  const { request, apiVersion } = review
  if (input.kind === 'pass') {
    const message = input.reason === 'not-create'
      ? `${request.operation} is not mutated; only CREATE of pods is`
      : 'not a pod; only CREATE of pods is mutated'
    return verdict(toReview(apiVersion, allowed(request.uid)), 'allowed', input.reason, message)
  }
  if (input.kind === 'malformed') {
    const message = malformedPodMessage(input, 'request.object')
    return verdict(toReview(apiVersion, rejected(request.uid, message)), 'rejected', 'malformed-pod', message)
  }
  const { pod } = input

  // dryRun needs nothing special: the answer is the same and the webhook has no side effects.
  const result = inject(pod, request.namespace === undefined ? {} : { namespace: request.namespace }, config, facts)
  switch (result.outcome) {
    case 'skipped':
      return verdict(toReview(apiVersion, allowed(request.uid, result.warnings)), 'allowed', result.decision.reason, result.decision.message)
    case 'rejected':
      return verdict(toReview(apiVersion, rejected(request.uid, result.message, result.warnings)), 'rejected', 'invalid-annotation', result.message)
    case 'injected': {
      const ops = diffPatch(pod, result.pod)
      if (ops.length === 0) {
        return verdict(toReview(apiVersion, allowed(request.uid, result.warnings)), 'allowed', result.decision.reason, result.decision.message)
      }
      const patch = encodePatch(ops)
      return verdict(toReview(apiVersion, patched(request.uid, patch, result.warnings)), 'patched', result.decision.reason, result.decision.message, patch.length, ops.length)
    }
  }
}

function verdict (review: AdmissionReviewResponse, decision: VerdictDecision, reason: string, message: string, patchBytes = 0, operations = 0): AdmissionVerdict {
  return { review, decision, reason, message, patchBytes, operations }
}

// The API server names the resource (`pods` in the core group); subresources (pods/ephemeralcontainers,
// pods/binding, …) are other APIs whose object is not a Pod. Hand-made reviews may carry only `kind`.
function isPodResource (request: AdmissionRequest): boolean {
  if (request.subResource !== undefined && request.subResource !== '') return false
  if (request.resource !== undefined) return request.resource.group === '' && request.resource.resource === 'pods'
  if (request.kind !== undefined) return request.kind.group === '' && request.kind.kind === 'Pod'
  return request.object?.kind === 'Pod' && request.object.apiVersion === 'v1'
}

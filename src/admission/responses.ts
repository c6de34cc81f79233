// The response vocabulary: every answer the webhook gives is built here, so that the protocol rules
// (uid echoed, apiVersion/kind of the request, patchType exactly with patch) cannot be broken by a handler.
// https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#response
import type { AdmissionApiVersion, AdmissionResponse, AdmissionReviewResponse } from './types.js'

/** Allowed unchanged: a skip, a non-pod, a non-CREATE, or an injection that changed nothing. */
export function allowed (uid: string, warnings: readonly string[] = []): AdmissionResponse {
  return withWarnings({ uid, allowed: true }, warnings)
}

/** Allowed with a JSON Patch (already base64-encoded). */
export function patched (uid: string, patch: string, warnings: readonly string[] = []): AdmissionResponse {
  return withWarnings({ uid, allowed: true, patchType: 'JSONPatch', patch }, warnings)
}

/**
 * Denied as a policy decision (bad user input in the pod). The API server shows
 * `admission webhook "<name>" denied the request: <message>` and uses `code` when it is >= 400.
 */
export function rejected (uid: string, message: string, warnings: readonly string[] = []): AdmissionResponse {
  return withWarnings({ uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } }, warnings)
}

/** Wraps a response in the envelope of the version it was asked in (a v1 request needs a v1 answer). */
export function toReview (apiVersion: AdmissionApiVersion, response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion, kind: 'AdmissionReview', response }
}

/**
 * The review as the bytes of the answer. The patch, most of them, is base64, which holds no character
 * JSON escapes: it is appended as it is rather than scanned again by JSON.stringify (RFC 8259 §7).
 */
export function encodeReview (review: AdmissionReviewResponse): string {
  const { patch, ...rest } = review.response
  if (patch === undefined) return JSON.stringify(review)
  const head = JSON.stringify({ apiVersion: review.apiVersion, kind: review.kind, response: rest })
  // head ends with the two closing braces of response and of the review.
  return `${head.slice(0, -2)},"patch":"${patch}"}}`
}

function withWarnings (response: AdmissionResponse, warnings: readonly string[]): AdmissionResponse {
  return warnings.length === 0 ? response : { ...response, warnings: [...warnings] }
}

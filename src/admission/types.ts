// The AdmissionReview envelope, as the API server sends it and expects it back: only the fields the
// webhook reads or writes. https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
/** The two versions of the envelope we answer; the response is always in the version of the request. */
export type AdmissionApiVersion = 'admission.k8s.io/v1' | 'admission.k8s.io/v1beta1'

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT'

export interface GroupVersionKind { group: string, version: string, kind: string }
export interface GroupVersionResource { group: string, version: string, resource: string }

/** The request half of a review, after validation (see parse.ts): uid and operation are present. */
export interface AdmissionRequest {
  uid: string
  kind?: GroupVersionKind
  resource?: GroupVersionResource
  subResource?: string
  name?: string
  namespace?: string
  operation: Operation
  /** The object being admitted: absent for DELETE (and for CONNECT of some resources). */
  object?: Record<string, unknown>
  dryRun?: boolean
}

export interface AdmissionReviewRequest {
  apiVersion: AdmissionApiVersion
  kind: 'AdmissionReview'
  request: AdmissionRequest
}

/** metav1.Status, as much of it as a rejection needs. */
export interface Status {
  code: number
  reason: string
  message: string
}

export interface AdmissionResponse {
  uid: string
  allowed: boolean
  /** Present exactly when `patch` is: the API server refuses one without the other. */
  patchType?: 'JSONPatch'
  /** The base64 of a JSON Patch (RFC 6902) document. */
  patch?: string
  status?: Status
  warnings?: string[]
}

export interface AdmissionReviewResponse {
  apiVersion: AdmissionApiVersion
  kind: 'AdmissionReview'
  response: AdmissionResponse
}

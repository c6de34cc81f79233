import t from 'tap'
import jsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { parseReview } from '../../src/admission/parse.js'
import { encodeReview, patched, toReview } from '../../src/admission/responses.js'
import { podToInject, reviewAdmission } from '../../src/admission/review.js'
import type { AdmissionReviewRequest } from '../../src/admission/types.js'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { Pod } from '../../src/core/types.js'
import { reviewFor, samplePod } from '../helpers/webhook.js'
import type { ReviewOptions } from '../helpers/webhook.js'

function parsed (object: unknown, options: ReviewOptions = {}): AdmissionReviewRequest {
  const result = parseReview(reviewFor(object, options))
  if (!result.ok) throw new Error(`fixture review is malformed: ${result.message}`)
  return result.review
}

function decodePatch (patch: string): Operation[] {
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[]
}

function withoutManagedFields (pod: Pod): Pod {
  const copy = structuredClone(pod)
  delete copy.metadata?.managedFields
  return copy
}

const config = defaultConfig()

t.test('inject: the base64 JSON Patch turns the pod into the core\'s injected pod', async t => {
  const pod = samplePod()
  const { review, decision, reason, patchBytes, operations } = reviewAdmission(parsed(pod), config)
  t.equal(decision, 'patched')
  t.equal(reason, 'policy-enabled')
  t.equal(review.apiVersion, 'admission.k8s.io/v1')
  t.equal(review.kind, 'AdmissionReview')
  t.equal(review.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002')
  t.equal(review.response.allowed, true)
  t.equal(review.response.patchType, 'JSONPatch')
  const patch = review.response.patch ?? ''
  t.equal(patchBytes, patch.length)
  const ops = decodePatch(patch)
  t.equal(operations, ops.length)
  t.notOk(ops.some(op => op.path.startsWith('/metadata/managedFields')), 'managedFields is never touched')

  // Applied as the API server does: to the whole object, managedFields included.
  const patched = jsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument
  const expected = inject(withoutManagedFields(pod), { namespace: 'bookinfo' }, config)
  if (expected.outcome !== 'injected') throw new Error('the core did not inject the sample pod')
  t.same(withoutManagedFields(patched), expected.pod)
  t.same(patched.metadata?.managedFields, pod.metadata?.managedFields)
  t.ok(patched.spec?.containers.some(c => c.name === 'istio-proxy'), 'the proxy is in the patched pod')
})

t.test('v1beta1 is answered in v1beta1', async t => {
  const { review } = reviewAdmission(parsed(samplePod(), { apiVersion: 'admission.k8s.io/v1beta1', uid: 'beta-1' }), config)
  t.equal(review.apiVersion, 'admission.k8s.io/v1beta1')
  t.equal(review.response.uid, 'beta-1')
  t.equal(review.response.patchType, 'JSONPatch')
})

t.test('skip: allowed with no patch, the core\'s reason kept', async t => {
  const pod = samplePod()
  pod.metadata = { ...pod.metadata, labels: { ...pod.metadata?.labels, 'sidecar.istio.io/inject': 'false' } }
  const verdict = reviewAdmission(parsed(pod), config)
  t.equal(verdict.decision, 'allowed')
  t.equal(verdict.reason, 'label-false')
  t.same(verdict.review.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true })
  t.equal(verdict.patchBytes, 0)
})

t.test('reject: an invalid annotation denies the pod, naming annotation and value', async t => {
  const pod = samplePod()
  pod.metadata = { ...pod.metadata, annotations: { 'status.sidecar.istio.io/port': '99999' } }
  const verdict = reviewAdmission(parsed(pod), config)
  t.equal(verdict.decision, 'rejected')
  t.equal(verdict.reason, 'invalid-annotation')
  t.equal(verdict.review.response.allowed, false)
  t.equal(verdict.review.response.patch, undefined)
  t.equal(verdict.review.response.patchType, undefined)
  t.equal(verdict.review.response.status?.code, 400)
  t.match(verdict.review.response.status?.message, /status\.sidecar\.istio\.io\/port/)
  t.match(verdict.review.response.status?.message, /99999/)
})

t.test('warnings: an ignored invalid value is injected and reported', async t => {
  const pod = samplePod()
  pod.metadata = { ...pod.metadata, annotations: { 'sidecar.istio.io/rewriteAppHTTPProbers': 'maybe' } }
  const { review, decision } = reviewAdmission(parsed(pod), config)
  t.equal(decision, 'patched')
  t.match(review.response.warnings, [/rewriteAppHTTPProbers/])
})

t.test('dryRun gets the same answer', async t => {
  const wet = reviewAdmission(parsed(samplePod(), { dryRun: false }), config)
  const dry = reviewAdmission(parsed(samplePod(), { dryRun: true }), config)
  t.same(dry, wet)
})

t.test('only CREATE of pods is mutated; the rest is allowed unchanged', async t => {
  const cases: Array<[string, unknown, ReviewOptions, string]> = [
    ['UPDATE of a pod', samplePod(), { operation: 'UPDATE' }, 'not-create'],
    ['DELETE of a pod', null, { operation: 'DELETE' }, 'not-create'],
    ['CONNECT pods/exec', { kind: 'PodExecOptions' }, { operation: 'CONNECT', subResource: 'exec' }, 'not-a-pod'],
    ['CREATE pods/ephemeralcontainers', samplePod(), { subResource: 'ephemeralcontainers' }, 'not-a-pod'],
    ['CREATE of a ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 'b' } },
      { resource: { group: '', version: 'v1', resource: 'configmaps' }, kind: { group: '', version: 'v1', kind: 'ConfigMap' } }, 'not-a-pod'],
    ['CREATE of a Deployment', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } },
      { resource: { group: 'apps', version: 'v1', resource: 'deployments' }, kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }, 'not-a-pod']
  ]
  for (const [name, object, options, reason] of cases) {
    const verdict = reviewAdmission(parsed(object, { ...options, uid: name }), config)
    t.equal(verdict.decision, 'allowed', name)
    t.equal(verdict.reason, reason, name)
    t.same(verdict.review.response, { uid: name, allowed: true }, `${name}: no patch`)
  }
})

t.test('an already injected pod gives no patch', async t => {
  const first = inject(samplePod(), { namespace: 'bookinfo' }, config)
  if (first.outcome !== 'injected') throw new Error('the core did not inject the sample pod')
  const verdict = reviewAdmission(parsed(first.pod), config)
  t.equal(verdict.decision, 'allowed')
  t.equal(verdict.review.response.patch, undefined)
})

t.test('podToInject drops managedFields without touching the request', async t => {
  const review = parsed(samplePod())
  const input = podToInject(review.request)
  if (input.kind !== 'pod') throw new Error(`the sample pod is not injectable: ${input.kind}`)
  t.equal(input.pod.metadata?.managedFields, undefined)
  t.ok((review.request.object?.metadata as { managedFields?: unknown }).managedFields, 'the request is unchanged')
})

t.test('encodeReview: the answer text is the review, with the patch appended unescaped', async t => {
  const pod = samplePod()
  const answers = [
    reviewAdmission(parsed(pod), config).review,
    reviewAdmission(parsed(pod, { apiVersion: 'admission.k8s.io/v1beta1', uid: 'u"\\\n' }), config).review,
    reviewAdmission(parsed({ ...pod, metadata: { ...pod.metadata, annotations: { 'sidecar.istio.io/inject': 'false' } } }), config).review,
    toReview('admission.k8s.io/v1', patched('w', 'W10=', ['a "quoted" warning']))
  ]
  t.equal(answers[0]?.response.patch !== undefined && answers[2]?.response.patch === undefined, true, 'with and without a patch')
  for (const review of answers) t.same(JSON.parse(encodeReview(review)), review, `${review.response.uid}: round trip`)
})

import t from 'tap'
import { exceedsDepth } from '../../src/core/annotation-value.js'
import { maxObjectDepth, parseReview } from '../../src/admission/parse.js'
import type { MalformedReason } from '../../src/admission/parse.js'
import { reviewFor, samplePod } from '../helpers/webhook.js'

function nested (levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {}
  for (let i = 0; i < levels; i++) value = { a: value }
  return value
}

t.test('accepts v1 and v1beta1 reviews and keeps what the webhook reads', async t => {
  for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']) {
    const parsed = parseReview(reviewFor(samplePod(), { apiVersion, dryRun: true }))
    t.ok(parsed.ok, apiVersion)
    if (!parsed.ok) continue
    t.equal(parsed.review.apiVersion, apiVersion)
    t.match(parsed.review.request, {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      operation: 'CREATE',
      namespace: 'bookinfo',
      dryRun: true,
      resource: { group: '', version: 'v1', resource: 'pods' },
      kind: { group: '', version: 'v1', kind: 'Pod' }
    })
  }
})

t.test('a DELETE needs no object', async t => {
  const review = reviewFor(null, { operation: 'DELETE' })
  const parsed = parseReview(review)
  t.ok(parsed.ok)
  if (parsed.ok) t.equal(parsed.review.request.object, undefined)
})

t.test('refuses every malformed shape with a stable reason and a sentence', async t => {
  const base = (): Record<string, any> => reviewFor(samplePod())
  const cases: Array<[string, unknown, MalformedReason]> = [
    ['a string', 'hello', 'not-an-object'],
    ['null', null, 'not-an-object'],
    ['an array', [base()], 'not-an-object'],
    ['no apiVersion', { ...base(), apiVersion: undefined }, 'unsupported-api-version'],
    ['admission.k8s.io/v2', { ...base(), apiVersion: 'admission.k8s.io/v2' }, 'unsupported-api-version'],
    ['kind Pod', { ...base(), kind: 'Pod' }, 'wrong-kind'],
    ['no request', { ...base(), request: undefined }, 'missing-request'],
    ['request is a string', { ...base(), request: 'x' }, 'missing-request'],
    ['no uid', (() => { const r = base(); delete r.request.uid; return r })(), 'missing-uid'],
    ['empty uid', (() => { const r = base(); r.request.uid = ''; return r })(), 'missing-uid'],
    ['numeric uid', (() => { const r = base(); r.request.uid = 7; return r })(), 'missing-uid'],
    ['no operation', (() => { const r = base(); delete r.request.operation; return r })(), 'invalid-operation'],
    ['operation PATCH', (() => { const r = base(); r.request.operation = 'PATCH'; return r })(), 'invalid-operation'],
    ['numeric namespace', (() => { const r = base(); r.request.namespace = 3; return r })(), 'invalid-field'],
    ['dryRun "yes"', (() => { const r = base(); r.request.dryRun = 'yes'; return r })(), 'invalid-field'],
    ['resource a string', (() => { const r = base(); r.request.resource = 'pods'; return r })(), 'invalid-field'],
    ['kind with a numeric version', (() => { const r = base(); r.request.kind = { group: '', version: 1, kind: 'Pod' }; return r })(), 'invalid-field'],
    ['CREATE without object', (() => { const r = base(); delete r.request.object; return r })(), 'missing-object'],
    ['UPDATE with object null', reviewFor(null, { operation: 'UPDATE' }), 'missing-object'],
    ['object an array', reviewFor([samplePod()]), 'invalid-field'],
    ['object nested 10,000 deep', reviewFor({ ...samplePod(), extra: nested(10_000) }), 'too-deep']
  ]
  for (const [name, body, reason] of cases) {
    const parsed = parseReview(body)
    t.equal(parsed.ok, false, `${name}: refused`)
    if (parsed.ok) continue
    t.equal(parsed.reason, reason, `${name}: ${reason}`)
    t.match(parsed.message, /\S/, `${name}: has a message`)
  }
})

t.test('the depth limit sits between real pods and hostile input', async t => {
  t.equal(exceedsDepth(samplePod(), 20), false, 'a real pod is shallow')
  t.equal(exceedsDepth(nested(maxObjectDepth - 1), maxObjectDepth), false, 'at the limit')
  t.equal(exceedsDepth(nested(maxObjectDepth), maxObjectDepth), true, 'one past the limit')
  t.equal(exceedsDepth([[[[]]]], 3), true, 'arrays count')
  // 200k levels: the walk is iterative, so it answers instead of overflowing the stack.
  t.equal(exceedsDepth(nested(200_000), maxObjectDepth), true)
})

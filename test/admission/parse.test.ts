import t from 'tap'
import { inspectTree, maxObjectDepth, parseReview } from '../../src/admission/parse.js'
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
  t.equal(inspectTree(samplePod(), 20), undefined, 'a real pod is shallow')
  t.equal(inspectTree(nested(maxObjectDepth - 1), maxObjectDepth), undefined, 'at the limit')
  t.equal(inspectTree(nested(maxObjectDepth), maxObjectDepth), 'too-deep', 'one past the limit')
  t.equal(inspectTree([[[[]]]], 3), 'too-deep', 'arrays count')
  // 200k levels: the walk is iterative, so it answers instead of overflowing the stack.
  t.equal(inspectTree(nested(200_000), maxObjectDepth), 'too-deep')
  // Through parseReview: the object's own depth counts, whatever sits above it in the review.
  t.equal(parseReview(reviewFor({ ...samplePod(), extra: nested(maxObjectDepth - 3) })).ok, true, 'a deep but allowed object')
  t.equal(parseReview(reviewFor({ ...samplePod(), extra: nested(maxObjectDepth) })).ok, false, 'one past the limit inside request.object')
  // managedFields never reaches the core (podToInject drops it unread), so the walk leaves it out.
  const pod = samplePod()
  const withFields = { ...pod, metadata: { ...pod.metadata, managedFields: [nested(maxObjectDepth)], extra: {} } }
  t.equal(parseReview(reviewFor(withFields)).ok, true, 'managedFields is not walked')
  withFields.metadata.extra = nested(maxObjectDepth)
  t.equal(parseReview(reviewFor(withFields)).ok, false, 'the rest of metadata is')
})

t.test('keys that reach a prototype are refused wherever they are, in one pass with the depth check', async t => {
  // JSON.parse, as the HTTP layer does: a literal __proto__ in JS source would set the prototype instead.
  const review = JSON.stringify(reviewFor(samplePod()))
  const cases: Array<[string, string]> = [
    ['__proto__ at the top', review.replace('{', '{"__proto__":{"polluted":true},')],
    ['__proto__ deep in the pod', review.replace('"metadata":{', '"metadata":{"extra":[{"__proto__":{"x":"y"}}],')],
    ['__proto__ with a string value', review.replace('"metadata":{', '"metadata":{"__proto__":"x",')],
    ['constructor.prototype', review.replace('"metadata":{', '"metadata":{"constructor":{"prototype":{"x":1}},')]
  ]
  for (const [name, text] of cases) {
    t.not(text, review, `${name}: the case changed the review`)
    const parsed = parseReview(JSON.parse(text))
    t.equal(parsed.ok, false, `${name}: refused`)
    if (!parsed.ok) t.equal(parsed.reason, 'forbidden-key', `${name}: forbidden-key`)
  }
  // A key merely named constructor (e.g. a label) is ordinary data.
  const label = parseReview(JSON.parse(review.replace('"metadata":{', '"metadata":{"extra":{"constructor":"x"},')))
  t.equal(label.ok, true, 'a constructor label is allowed')
  t.equal(inspectTree(JSON.parse('{"a":[{"b":{"__proto__":1}}]}'), 10), 'forbidden-key', 'inside arrays too')
})

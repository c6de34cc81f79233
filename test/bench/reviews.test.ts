import t from 'tap'
import jsonPatch from 'fast-json-patch'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import { diffPatch } from '../../src/core/patch.js'
import { admissionReview, defaultedReview, envOnlyShapes, generatePod, largeReview, scalingReview, scalingShapes } from '../../bench/reviews.js'

t.test('the realistic reviews have the sizes the benchmark reports', async t => {
  const small = defaultedReview()
  const large = largeReview()
  t.ok(small.body.length > 4500 && small.body.length < 6500, `defaulted review is ~5 KB (${small.body.length} B)`)
  t.ok(large.body.length > 180_000 && large.body.length < 230_000, `large review is ~200 KB (${large.body.length} B)`)
  t.equal(small.body, JSON.stringify(small.review), 'the body is the review as sent')
  t.ok(large.pod.metadata?.managedFields !== undefined, 'managedFields travel on the wire as the API server sends them')
})

t.test('a review is an admission.k8s.io/v1 CREATE of a pod, as the API server sends it', async t => {
  const pod = generatePod({ containers: 1, envTotal: 0, managedFields: false })
  const review = admissionReview(pod) as { apiVersion: string, kind: string, request: Record<string, unknown> }
  t.equal(review.apiVersion, 'admission.k8s.io/v1')
  t.equal(review.kind, 'AdmissionReview')
  t.equal(review.request.operation, 'CREATE')
  t.same(review.request.resource, { group: '', version: 'v1', resource: 'pods' })
  t.equal(review.request.namespace, 'bookinfo')
  t.equal(pod.metadata?.name, undefined, 'controllers send generateName only')
  t.equal(pod.metadata?.namespace, undefined)
  t.match(pod.metadata?.generateName, /-$/)
})

t.test('env vars are a total spread evenly over the containers', async t => {
  const pod = generatePod({ containers: 3, envTotal: 10, managedFields: false })
  const counts = (pod.spec?.containers ?? []).map(c => c.env?.length ?? 0)
  t.same(counts, [4, 3, 3])
  const names = (pod.spec?.containers ?? []).flatMap(c => (c.env ?? []).map(e => e.name))
  t.equal(new Set(names).size, 10, 'env names are unique')
  t.throws(() => generatePod({ containers: 0, envTotal: 1, managedFields: false }), /containers/)
})

t.test('the scaling series runs from tiny to 50 containers × 5,000 env vars in total', async t => {
  t.same(scalingShapes[0], { containers: 1, envTotal: 0 })
  t.same(scalingShapes[scalingShapes.length - 1], { containers: 50, envTotal: 5000 })
  t.ok(scalingShapes.some(s => s.containers === 25 && s.envTotal === 2500), 'half the largest size, for the doubling ratio')
  t.ok(envOnlyShapes.every(s => s.containers === 50))
  const largest = scalingReview(50, 5000)
  t.equal((largest.pod.spec?.containers ?? []).reduce((n, c) => n + (c.env?.length ?? 0), 0), 5000)
})

t.test('every benchmark pod is really injected, and its patch gives the injected pod', async t => {
  for (const spec of [defaultedReview(), largeReview(), scalingReview(1, 0), scalingReview(10, 1000)]) {
    const result = inject(spec.pod, { namespace: 'bookinfo' }, defaultConfig())
    t.equal(result.outcome, 'injected', spec.name)
    if (result.outcome !== 'injected') continue
    const ops = diffPatch(spec.pod, result.pod)
    const patched = jsonPatch.applyPatch(structuredClone(spec.pod), ops, true, false).newDocument
    const { managedFields: _a, ...patchedMeta } = patched.metadata ?? {}
    const { managedFields: _b, ...injectedMeta } = result.pod.metadata ?? {}
    t.same({ ...patched, metadata: patchedMeta }, { ...result.pod, metadata: injectedMeta }, `${spec.name}: patch applies to the injected pod`)
    t.ok(ops.some(op => op.path.startsWith('/spec/containers/') && op.op === 'replace'), `${spec.name}: probes are rewritten (the containers change)`)
  }
})

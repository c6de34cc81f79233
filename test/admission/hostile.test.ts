// Hostile and odd input a pod author controls, through the webhook's real handler (app.inject): each
// case once answered 500, a patch that did not apply, or an answer echoing megabytes. Every 200 patch
// is applied to the original with validation, and the result must pass the structural validator.
import t from 'tap'
import type { Test } from 'tap'
import jsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { annotations } from '../../src/core/annotations.js'
import { maxAnnotationBytes, parseYamlAnnotation } from '../../src/core/annotation-value.js'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { Pod } from '../../src/core/types.js'
import { validatePod } from '../helpers/validate-pod.js'
import { buildTestServer, reviewFor, samplePod } from '../helpers/webhook.js'
import type { ReviewOptions } from '../helpers/webhook.js'

const json = { 'content-type': 'application/json' }

interface Answer {
  status: number
  body: Record<string, unknown>
  raw: string
  response: { allowed?: boolean, patch?: string, status?: { message?: string } }
}

async function send (payload: unknown): Promise<Answer> {
  const { server } = buildTestServer()
  try {
    const res = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: typeof payload === 'string' ? payload : JSON.stringify(payload) })
    const body = res.json<Record<string, unknown>>()
    return { status: res.statusCode, body, raw: res.body, response: (body.response ?? {}) as Answer['response'] }
  } finally {
    await server.app.close()
  }
}

async function review (object: unknown, options: ReviewOptions = {}): Promise<Answer> {
  return await send(reviewFor(object, options))
}

/** Applies the answer's patch to the original with validation; returns the patched pod. */
function applied (t: Test, original: unknown, answer: Answer): Pod {
  const patch = answer.response.patch
  if (patch === undefined) throw new Error('no patch in the answer')
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString()) as Operation[]
  const pod = jsonPatch.applyPatch(structuredClone(original), ops, true, false).newDocument as Pod
  t.same(validatePod(pod), [], 'the patched pod passes the structural validator')
  return pod
}

function podWith (edit: (pod: Record<string, any>) => void): Record<string, any> {
  const pod = samplePod() as unknown as Record<string, any>
  edit(pod)
  return pod
}

t.test('null lists and maps are read as the API server means them: empty/absent', async t => {
  const cases: Array<[string, (pod: Record<string, any>) => void]> = [
    ['spec.containers: null beside a real container list is empty', p => { p.spec.initContainers = null }],
    ['metadata.annotations: null', p => { p.metadata.annotations = null }],
    ['metadata.labels: null', p => { p.metadata.labels = null }],
    ['spec.volumes: null', p => { p.spec.volumes = null; p.spec.containers[0].volumeMounts = null }],
    ['env: null and ports: null in a container', p => { p.spec.containers[0].env = null; p.spec.containers[0].ports = null }],
    ['metadata: null', p => { p.metadata = null }]
  ]
  for (const [name, edit] of cases) {
    const pod = podWith(edit)
    const answer = await review(pod)
    t.equal(answer.status, 200, name)
    t.equal(answer.response.allowed, true, name)
    applied(t, pod, answer)
  }
  // An empty container list is the API server's business (it refuses it); we must not throw on it.
  const empty = podWith(p => { p.spec.containers = null })
  const answer = await review(empty)
  t.equal(answer.status, 200, 'spec.containers: null')
  const patched = jsonPatch.applyPatch(structuredClone(empty), JSON.parse(Buffer.from(answer.response.patch ?? '', 'base64').toString()) as Operation[], true, false).newDocument as Pod
  t.same(patched.spec?.containers.map(c => c.name), ['istio-proxy'], 'the null list became a list with the proxy')
  const noSpec = await review(podWith(p => { p.spec = null }))
  t.equal(noSpec.status, 200, 'spec: null is answered')
})

t.test('a wrong type where the core reads is malformed-pod with the path, never the value', async t => {
  const cases: Array<[string, (pod: Record<string, any>) => void, string]> = [
    ['a non-string label value', p => { p.metadata.labels.app = 12345 }, 'metadata.labels.app'],
    ['an annotation value that is an object', p => { p.metadata.annotations['sidecar.istio.io/proxyCPU'] = { secret: 'hunter2' } }, 'metadata.annotations["sidecar.istio.io/proxyCPU"]'],
    ['ownerReferences of the wrong shape', p => { p.metadata.ownerReferences = [null] }, 'metadata.ownerReferences[0]'],
    ['ownerReferences a string', p => { p.metadata.ownerReferences = 'hunter2' }, 'metadata.ownerReferences'],
    ['a container that is null', p => { p.spec.containers = [null] }, 'spec.containers[0]'],
    ['env that is an object', p => { p.spec.containers[0].env = { DB_PASSWORD: 'hunter2' } }, 'spec.containers[0].env'],
    ['an env value that is a number', p => { p.spec.containers[0].env[1].value = 42 }, 'spec.containers[0].env[1].value'],
    ['a probe port that is a boolean', p => { p.spec.containers[0].readinessProbe.httpGet.port = true }, 'spec.containers[0].readinessProbe.httpGet.port'],
    ['spec a string', p => { p.spec = 'hunter2' }, 'spec'],
    ['metadata an array', p => { p.metadata = ['hunter2'] }, 'metadata'],
    ['hostNetwork a string', p => { p.spec.hostNetwork = 'true' }, 'spec.hostNetwork'],
    ['a volume name that is a number', p => { p.spec.volumes[0].name = 7 }, 'spec.volumes[0].name']
  ]
  for (const [name, edit, path] of cases) {
    const answer = await review(podWith(edit))
    t.equal(answer.status, 200, `${name}: answered`)
    t.equal(answer.response.allowed, false, `${name}: refused`)
    const message = answer.response.status?.message ?? ''
    t.match(message, /^malformed-pod: /, `${name}: reason`)
    t.ok(message.includes(`request.object.${path} `), `${name}: names ${path} (${message})`)
    t.notMatch(answer.raw, /hunter2/, `${name}: the value is not echoed`)
  }
})

t.test('an UPDATE or DELETE with a malformed object is allowed unchanged (and logged without throwing)', async t => {
  for (const operation of ['UPDATE', 'DELETE']) {
    const object = podWith(p => { p.metadata.ownerReferences = [null, 'x', { kind: 7 }]; p.metadata.name = 'n'.repeat(100_000) })
    const { server, logs } = buildTestServer()
    const res = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: reviewFor(object, { operation }) })
    await server.app.close()
    t.equal(res.statusCode, 200, operation)
    t.equal(res.json().response.allowed, true, operation)
    const line = logs.lines().find(l => l.msg === 'admission')
    t.ok(line !== undefined && String(line.name).length <= 300, `${operation}: the logged name is cut`)
    t.ok(logs.text().length < 2000, `${operation}: the log stays small (${logs.text().length} bytes)`)
  }
})

/** An injected pod whose proxy.istio.io/overrides was edited after injection. */
function reinjectedWithOverrides (overrides: string): Pod {
  const pod = samplePod()
  pod.spec?.containers.push({ name: 'istio-proxy', image: 'auto', env: [{ name: 'A', value: 'b' }] })
  const first = inject(pod, { namespace: 'bookinfo' }, defaultConfig())
  if (first.outcome !== 'injected') throw new Error('the sample was not injected')
  const out = structuredClone(first.pod)
  ;(out.metadata?.annotations ?? {})[annotations.overrides] = overrides
  return out
}

t.test('proxy.istio.io/overrides of the wrong shape is refused naming the annotation', async t => {
  for (const overrides of ['{"containers":[null]}', '{"containers":[{"name":"istio-proxy","env":{"A":"b"}}]}', '{"containers":"x"}', '[1]', '{"containers":[{"name":7}]}']) {
    const answer = await review(reinjectedWithOverrides(overrides))
    t.equal(answer.status, 200, overrides)
    t.equal(answer.response.allowed, false, overrides)
    t.match(answer.response.status?.message, /proxy\.istio\.io\/overrides/, `${overrides}: names the annotation`)
  }
  const good = reinjectedWithOverrides('{"containers":[{"name":"istio-proxy","image":"auto","env":[{"name":"A","value":"c"}]}]}')
  const answer = await review(good)
  t.equal(answer.status, 200)
  t.equal(answer.response.allowed, true, 'a well-formed override is still honoured')
  applied(t, good, answer)
})

t.test('structured annotations: size cap, depth cap, and linear parsing', async t => {
  const deep = '['.repeat(20_000) + ']'.repeat(20_000)
  const deepObject = '{"a":'.repeat(20_000) + '{}' + '}'.repeat(20_000)
  const cases: Array<[string, string, string]> = [
    ['20,000-deep JSON in userVolume', annotations.userVolume, `{"v":{"emptyDir":${deepObject}}}`],
    ['20,000-deep JSON in overrides of a fresh pod is not read', annotations.userVolumeMount, `{"v":${deep}}`],
    ['20,000-deep YAML flow in proxy.istio.io/config', annotations.proxyConfig, `a: ${deep}`],
    ['20,000-deep JSON in proxy.istio.io/config', annotations.proxyConfig, `{"proxyMetadata":${deepObject}}`]
  ]
  for (const [name, key, value] of cases) {
    const answer = await review(podWith(p => { p.metadata.annotations[key] = value }))
    t.equal(answer.status, 200, `${name}: answered`)
    t.equal(answer.response.allowed, false, `${name}: refused`)
    t.match(answer.response.status?.message, key, `${name}: names the annotation`)
    t.ok(answer.raw.length < 4096, `${name}: the answer does not echo the value (${answer.raw.length} bytes)`)
  }

  // Above the API server's limit for all annotations: refused without parsing, naming the annotation.
  const keys = (n: number): string => Array.from({ length: n }, (_, i) => `k${i}: ${i}`).join('\n')
  const big = keys(40_000)
  t.ok(big.length > maxAnnotationBytes)
  const answer = await review(podWith(p => { p.metadata.annotations[annotations.proxyConfig] = big }))
  t.equal(answer.response.allowed, false)
  t.match(answer.response.status?.message, /for annotation 'proxy\.istio\.io\/config': .*256 KiB/)
  t.ok(answer.raw.length < 4096, `the answer stays small (${answer.raw.length} bytes)`)

  // Under the limit, a map of 15,000 keys parses (without the quadratic duplicate check).
  const many = parseYamlAnnotation(keys(15_000))
  t.ok(many.ok && Object.keys(many.value as object).length === 15_000, '15,000 keys parsed')
  // A repeated key takes the last value, as Istio's YAML-to-JSON step does (the oracle accepts both).
  t.same(parseYamlAnnotation('a: 1\nb: 2\na: 3\n'), { ok: true, value: { a: 3, b: 2 } }, 'the last of two keys wins')
  t.same(parseYamlAnnotation('a:\n  b: 1\n  b: 2\n'), { ok: true, value: { a: { b: 2 } } }, 'in nested maps too')
  t.same(parseYamlAnnotation('? [a]\n: 1\n'), { ok: false, reason: 'has a key that is a list or a map' }, 'a collection key has no JSON form')
  t.same(parseYamlAnnotation('holdApplicationUntilProxyStarts: true'), { ok: true, value: { holdApplicationUntilProxyStarts: true } })
  t.same(parseYamlAnnotation('{"a":1,"a":2}'), { ok: true, value: { a: 2 } }, 'JSON keeps its own rule: the last key wins, as in Go')
})

t.test('a malformed review is a 400 that does not echo its fields', async t => {
  const hugeKind = 'K'.repeat(300_000)
  for (const [name, payload] of [
    ['a 300 KB kind', { apiVersion: 'admission.k8s.io/v1', kind: hugeKind, request: {} }],
    ['a 300 KB apiVersion', { apiVersion: hugeKind, kind: 'AdmissionReview', request: {} }],
    ['a deeply nested kind', `{"apiVersion":"admission.k8s.io/v1","kind":${'['.repeat(20_000) + ']'.repeat(20_000)},"request":{}}`],
    ['a 300 KB operation', reviewFor(samplePod(), { operation: hugeKind })]
  ] as const) {
    const answer = await send(payload)
    t.equal(answer.status, 400, name)
    t.ok(answer.raw.length < 1024, `${name}: the 400 is short (${answer.raw.length} bytes)`)
  }
})

t.test('the answer grows with what injection adds, not with the pod: probe headers are not copied into the status', async t => {
  const withHeaders = (count: number): Record<string, any> => podWith(p => {
    p.spec.containers[0].readinessProbe.httpGet.httpHeaders = Array.from({ length: count }, (_, i) => ({ name: `X-Header-${i}`, value: 'v'.repeat(40) }))
    p.spec.containers[0].livenessProbe = structuredClone(p.spec.containers[0].readinessProbe)
  })
  const small = withHeaders(0)
  const large = withHeaders(20_000)
  const [a, b] = [await review(small), await review(large)]
  applied(t, large, b)
  const requestGrowth = JSON.stringify(reviewFor(large)).length - JSON.stringify(reviewFor(small)).length
  const answerGrowth = b.raw.length - a.raw.length
  // The agent needs the headers once (ISTIO_KUBE_APP_PROBERS, as Istio writes it): base64 of one
  // escaped copy is ~1.4× the headers. Copies in the status annotation made it > 4×.
  t.ok(answerGrowth < 2 * requestGrowth, `answer grew ${answerGrowth} bytes for ${requestGrowth} more request bytes`)
})

t.test('a status annotation on a pod without containers (found by the fuzzer: a 500 in uninject)', async t => {
  for (const status of ['"cC="', '{}', 'not json']) {
    const pod = podWith(p => { delete p.spec.containers; p.metadata.annotations[annotations.status] = status })
    const answer = await review(pod)
    t.equal(answer.status, 200, status)
  }
})

t.test('a userVolume whose name is not a volume name is refused (found by the fuzzer: an invalid pod)', async t => {
  for (const value of ['{"__proto__":{"emptyDir":{}}}', '{"Bad_Name":{"emptyDir":{}}}', `{"${'a'.repeat(64)}":{"emptyDir":{}}}`]) {
    const answer = await review(podWith(p => { p.metadata.annotations[annotations.userVolume] = value }))
    t.equal(answer.response.allowed, false, value.slice(0, 40))
    t.match(answer.response.status?.message, /sidecar\.istio\.io\/userVolume.*not a volume name/)
  }
  const good = podWith(p => { p.metadata.annotations[annotations.userVolume] = '{"extra":{"emptyDir":{}}}' })
  applied(t, good, await review(good))
})

// The HTTP protocol of the webhook through app.inject(): every answer class, the log line, the metrics.
import t from 'tap'
import jsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { defaultConfig } from '../../src/core/config.js'
import type { InjectorConfig } from '../../src/core/types.js'
import { bodyLimitBytes, defaultTimeouts } from '../../src/http/server.js'
import { buildTestServer, reviewFor, samplePod } from '../helpers/webhook.js'

const json = { 'content-type': 'application/json' }

function nestedJson (levels: number): string {
  return '{"a":'.repeat(levels) + '{}' + '}'.repeat(levels)
}

t.test('v1: a pod CREATE is answered 200 with a patch that applies', async t => {
  const { server, logs } = buildTestServer()
  t.teardown(() => server.app.close())
  const pod = samplePod()
  const res = await server.app.inject({ method: 'POST', url: '/inject?timeout=10s', headers: json, payload: reviewFor(pod) })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const body = res.json()
  t.equal(body.apiVersion, 'admission.k8s.io/v1')
  t.equal(body.kind, 'AdmissionReview')
  t.equal(body.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002')
  t.equal(body.response.allowed, true)
  t.equal(body.response.patchType, 'JSONPatch')
  const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString()) as Operation[]
  const patched = jsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument
  t.same(patched.spec?.containers.map(c => c.name), ['reviews', 'istio-proxy'])
  t.ok(patched.spec?.initContainers?.some(c => c.name === 'istio-init'), 'istio-init added')
  t.same(patched.metadata?.managedFields, pod.metadata?.managedFields)

  // One line, identifiers only.
  const lines = logs.lines().filter(line => line.msg === 'admission')
  t.equal(lines.length, 1)
  t.match(lines[0], {
    level: 30,
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    namespace: 'bookinfo',
    generateName: 'reviews-v1-5b8f7c6d9-',
    owner: 'ReplicaSet/reviews-v1-5b8f7c6d9',
    operation: 'CREATE',
    decision: 'patched',
    reason: 'policy-enabled',
    patchBytes: body.response.patch.length,
    durationMs: Number
  })
  t.notOk('name' in (lines[0] ?? {}), 'no empty name beside generateName')
  t.notMatch(logs.text(), /hunter2|istio-proxy|examples-bookinfo/, 'no pod content in the log')

  const named = samplePod()
  named.metadata = { name: 'ratings-0', namespace: 'bookinfo' }
  await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: reviewFor(named, { uid: 'named' }) })
  const namedLine = logs.lines().find(line => line.uid === 'named')
  t.match(namedLine, { name: 'ratings-0', operation: 'CREATE' })
  t.notOk('generateName' in (namedLine ?? {}) || 'owner' in (namedLine ?? {}), 'a bare pod has a name and no owner')
})

t.test('v1beta1 in, v1beta1 out', async t => {
  const { server } = buildTestServer()
  t.teardown(() => server.app.close())
  const res = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: reviewFor(samplePod(), { apiVersion: 'admission.k8s.io/v1beta1', uid: 'u-beta' }) })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', response: { uid: 'u-beta', allowed: true, patchType: 'JSONPatch' } })
})

t.test('skip, reject, dryRun, non-pod, non-CREATE', async t => {
  const { server, metrics, logs } = buildTestServer()
  t.teardown(() => server.app.close())
  const send = async (review: unknown): Promise<any> => {
    const res = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: review as Record<string, unknown> })
    t.equal(res.statusCode, 200)
    return res.json().response
  }
  const optedOut = samplePod()
  optedOut.metadata = { ...optedOut.metadata, annotations: { 'sidecar.istio.io/inject': 'false' } }
  t.same(await send(reviewFor(optedOut, { uid: 'skip' })), { uid: 'skip', allowed: true }, 'skip: allowed, no patch')

  const invalid = samplePod()
  invalid.metadata = { ...invalid.metadata, annotations: { 'status.sidecar.istio.io/port': '99999' } }
  const rejected = await send(reviewFor(invalid, { uid: 'reject' }))
  t.match(rejected, { uid: 'reject', allowed: false, status: { code: 400, message: /status\.sidecar\.istio\.io\/port.*99999/ } })
  t.notOk('patch' in rejected)

  t.same(await send(reviewFor(samplePod(), { uid: 'same', dryRun: true })), await send(reviewFor(samplePod(), { uid: 'same' })), 'dryRun: same answer')

  const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {} }
  t.same(await send(reviewFor(configMap, { uid: 'cm', resource: { group: '', version: 'v1', resource: 'configmaps' }, kind: { group: '', version: 'v1', kind: 'ConfigMap' } })),
    { uid: 'cm', allowed: true }, 'non-pod: allowed unchanged')
  t.same(await send(reviewFor(samplePod(), { uid: 'upd', operation: 'UPDATE' })), { uid: 'upd', allowed: true }, 'UPDATE: allowed unchanged')
  t.same(await send(reviewFor(null, { uid: 'del', operation: 'DELETE' })), { uid: 'del', allowed: true }, 'DELETE: allowed unchanged')

  const decisions = logs.lines().filter(l => l.msg === 'admission').map(l => [l.uid, l.decision, l.reason])
  t.same(decisions, [
    ['skip', 'allowed', 'annotation-false'],
    ['reject', 'rejected', 'invalid-annotation'],
    ['same', 'patched', 'policy-enabled'],
    ['same', 'patched', 'policy-enabled'],
    ['cm', 'allowed', 'not-a-pod'],
    ['upd', 'allowed', 'not-create'],
    ['del', 'allowed', 'not-create']
  ])
  t.match(logs.lines().find(l => l.dryRun === true), { uid: 'same', decision: 'patched' }, 'dryRun is visible in the log')

  const text = await metrics.registry.metrics()
  t.match(text, /sidecar_injector_requests_total\{code="200"\} 7/)
  t.match(text, /sidecar_injector_injections_total 2/)
  t.match(text, /sidecar_injector_rejections_total 1/)
  t.match(text, /sidecar_injector_skips_total\{reason="annotation-false"\} 1/)
  t.match(text, /sidecar_injector_skips_total\{reason="not-create"\} 2/)
  t.match(text, /sidecar_injector_admission_duration_seconds_count\{decision="patched"\} 2/)
})

t.test('every malformed input class gets its HTTP error, and the server keeps serving', async t => {
  const { server, metrics, logs } = buildTestServer()
  t.teardown(() => server.app.close())
  const valid = JSON.stringify(reviewFor(samplePod()))
  const noUid = reviewFor(samplePod()) as { request: Record<string, unknown> }
  delete noUid.request.uid
  const noObject = reviewFor(samplePod()) as { request: Record<string, unknown> }
  delete noObject.request.object
  const oversize = JSON.stringify(reviewFor({ ...samplePod(), padding: 'x'.repeat(bodyLimitBytes) }))
  const deep = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"d","operation":"CREATE","object":${nestedJson(200_000)}}}`

  const cases: Array<{ name: string, headers: Record<string, string>, payload: string, status: number, reason: string }> = [
    { name: 'empty body', headers: json, payload: '', status: 400, reason: 'empty-body' },
    { name: 'non-JSON', headers: json, payload: '{"apiVersion": admission', status: 400, reason: 'invalid-json' },
    { name: 'JSON that is not an object', headers: json, payload: '42', status: 400, reason: 'not-an-object' },
    { name: 'wrong kind', headers: json, payload: valid.replace('"kind":"AdmissionReview"', '"kind":"Pod"'), status: 400, reason: 'wrong-kind' },
    { name: 'wrong apiVersion', headers: json, payload: valid.replace('admission.k8s.io/v1', 'admission.k8s.io/v9'), status: 400, reason: 'unsupported-api-version' },
    { name: 'missing uid', headers: json, payload: JSON.stringify(noUid), status: 400, reason: 'missing-uid' },
    { name: 'missing object', headers: json, payload: JSON.stringify(noObject), status: 400, reason: 'missing-object' },
    { name: 'deeply nested (200k levels)', headers: json, payload: deep, status: 400, reason: 'too-deep' },
    { name: '__proto__ key', headers: json, payload: valid.replace('"kind":"AdmissionReview"', '"kind":"AdmissionReview","__proto__":{"x":1}'), status: 400, reason: 'forbidden-key' },
    { name: 'over the body limit', headers: json, payload: oversize, status: 413, reason: 'body-too-large' },
    { name: 'text/plain', headers: { 'content-type': 'text/plain' }, payload: valid, status: 415, reason: 'unsupported-media-type' },
    { name: 'no content type', headers: {}, payload: valid, status: 415, reason: 'unsupported-media-type' },
    { name: 'application/yaml', headers: { 'content-type': 'application/yaml' }, payload: valid, status: 415, reason: 'unsupported-media-type' }
  ]
  for (const c of cases) {
    const res = await server.app.inject({ method: 'POST', url: '/inject', headers: c.headers, payload: c.payload })
    t.equal(res.statusCode, c.status, `${c.name}: ${c.status}`)
    const body = res.json()
    t.match(body, { statusCode: c.status, message: /\S/ }, `${c.name}: has a message`)
    t.equal(body.reason, c.reason, `${c.name}: reason ${c.reason}`)
  }
  const after = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: valid })
  t.equal(after.statusCode, 200, 'still serving')
  t.notMatch(logs.text(), /hunter2/, 'refused bodies are not logged')

  const text = await metrics.registry.metrics()
  t.match(text, /sidecar_injector_errors_total\{type="bad-request"\} 9/)
  t.match(text, /sidecar_injector_errors_total\{type="payload-too-large"\} 1/)
  t.match(text, /sidecar_injector_errors_total\{type="unsupported-media-type"\} 3/)
  t.match(text, /sidecar_injector_requests_total\{code="400"\} 9/)
})

t.test('a body just under the limit is accepted: >= 6 MiB like the API server needs', async t => {
  const { server } = buildTestServer()
  t.teardown(() => server.app.close())
  t.ok(bodyLimitBytes >= 6 * 1024 * 1024)
  const pod = samplePod()
  // In an env value: annotations are limited to 256 KiB together (the API server's limit), refused above it.
  pod.spec?.containers[0]?.env?.push({ name: 'BIG', value: 'x'.repeat(6 * 1024 * 1024) })
  const res = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: reviewFor(pod) })
  t.equal(res.statusCode, 200)
  t.equal(res.json().response.patchType, 'JSONPatch')
})

t.test('an unexpected internal error is a 500 (failurePolicy decides), and the next request is fine', async t => {
  let fail = true
  const { server, metrics, logs } = buildTestServer({
    facts: () => {
      if (fail) throw new Error('node lister exploded')
      return {}
    }
  })
  t.teardown(() => server.app.close())
  const res = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: reviewFor(samplePod()) })
  t.equal(res.statusCode, 500)
  t.match(res.json(), { statusCode: 500, reason: 'internal-error' })
  t.notMatch(res.body, /exploded/, 'internals are not sent to the client')
  t.match(logs.lines().find(l => l.level === 50), { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', err: { message: 'node lister exploded' } })
  fail = false
  const ok = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: reviewFor(samplePod()) })
  t.equal(ok.statusCode, 200)
  t.match(await metrics.registry.metrics(), /sidecar_injector_errors_total\{type="internal"\} 1/)
})

t.test('facts from the provider reach the core: native sidecars when the nodes support them', async t => {
  const { server } = buildTestServer({ facts: async () => ({ nativeSidecarsSupported: true }) })
  t.teardown(() => server.app.close())
  const res = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: reviewFor(samplePod()) })
  const ops = JSON.parse(Buffer.from(res.json().response.patch, 'base64').toString()) as Operation[]
  const patched = jsonPatch.applyPatch(samplePod(), ops, true, false).newDocument
  t.ok(patched.spec?.initContainers?.some(c => c.name === 'istio-proxy' && c.restartPolicy === 'Always'), 'proxy is a native sidecar')
})

t.test('the config getter is read per request: a new config applies to the next one', async t => {
  let config: InjectorConfig = defaultConfig()
  const { server } = buildTestServer({ config: () => config })
  t.teardown(() => server.app.close())
  const first = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: reviewFor(samplePod()) })
  t.equal(first.json().response.patchType, 'JSONPatch')
  config = { ...defaultConfig(), policy: 'disabled' }
  const second = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: reviewFor(samplePod()) })
  t.same(second.json().response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true })
})

t.test('probes are quiet; readiness follows isReady and draining; /metrics is not on the webhook port', async t => {
  let loaded = false
  const { server, logs } = buildTestServer({ isReady: () => loaded })
  t.teardown(() => server.app.close())
  const healthz = await server.app.inject({ method: 'GET', url: '/healthz' })
  t.equal(healthz.statusCode, 200)
  t.equal((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 503, 'not loaded: not ready')
  loaded = true
  t.equal((await server.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  const metricsRes = await server.app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metricsRes.statusCode, 404, 'metrics have their own listener (src/http/metrics-server.ts)')
  t.equal(metricsRes.json().reason, 'not-found')
  t.equal(logs.text(), '', 'probes and 404s write no log line')
  t.equal(server.isDraining(), false)
})

t.test('timeouts default to outlasting the API server\'s idle connections', async t => {
  t.ok(defaultTimeouts.keepAliveTimeoutMs >= 120_000, 'keep-alive >= 120 s (Go drops idle connections at 90 s)')
  t.ok(defaultTimeouts.headersTimeoutMs <= defaultTimeouts.requestTimeoutMs)
  t.ok(defaultTimeouts.requestTimeoutMs > 0, 'a request timeout is set (fastify\'s default is none)')
  const { server } = buildTestServer()
  t.teardown(() => server.app.close())
  t.equal(server.app.server.keepAliveTimeout, defaultTimeouts.keepAliveTimeoutMs)
  t.equal(server.app.server.headersTimeout, defaultTimeouts.headersTimeoutMs)
  t.equal(server.app.server.requestTimeout, defaultTimeouts.requestTimeoutMs)
})

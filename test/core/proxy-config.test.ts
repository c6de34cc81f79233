// proxy.istio.io/config decoded and validated as a whole ProxyConfig, as Istio's injector does. The
// cases are the conformance corpus (test/fixtures/conformance/proxy-config.yaml), whose verdicts Istio's
// own injector confirms in `make conformance`; here each is checked against the expectation it carries.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { reviewAdmission } from '../../src/admission/review.js'
import type { AdmissionReviewRequest } from '../../src/admission/types.js'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import { formatDuration, jsonName, parseGoDuration, readProxyConfig } from '../../src/core/proxy-config.js'
import type { Pod } from '../../src/core/types.js'
import { deepFreeze, fixturesDir } from '../helpers/fixtures.js'
import { reviewFor } from '../helpers/webhook.js'

const key = 'proxy.istio.io/config'
const expectKey = 'conformance.sidecar-injector.test/expect'
const corpus = parseAllDocuments(readFileSync(join(fixturesDir, 'conformance', 'proxy-config.yaml'), 'utf8')).map(d => deepFreeze(d.toJS() as Pod))

const podWith = (value: string): Pod => deepFreeze({
  metadata: { name: 'p', namespace: 'default', annotations: { [key]: value } },
  spec: { containers: [{ name: 'app', image: 'app' }] }
})
const proxyEnv = (pod: Pod, name: string): string | undefined =>
  [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find(c => c.name === 'istio-proxy')?.env?.find(e => e.name === name)?.value

t.test('the corpus: refused naming the field and not quoting the value, or accepted', async t => {
  t.ok(corpus.length >= 40, `${corpus.length} cases`)
  for (const pod of corpus) {
    const value = pod.metadata?.annotations?.[key] ?? ''
    const expect = pod.metadata?.annotations?.[expectKey] ?? ''
    const name = `${JSON.stringify(value)}: ${expect}`
    const result = inject(pod, {}, defaultConfig())
    if (expect === 'accepted') {
      t.equal(result.outcome, 'injected', name)
      continue
    }
    const field = expect.replace(/^refused ?/, '')
    t.equal(result.outcome, 'rejected', name)
    if (result.outcome !== 'rejected') continue
    t.match(result.problems, [{ annotation: key, field }], `${name}: the problem names the field`)
    t.ok(result.message.includes(`'${key}'`) && (field === '' || result.message.includes(`field ${field}:`)), `${name}: ${result.message}`)
    t.notOk(result.message.includes(value), `${name}: the value is not quoted back`)
    // What the API server meets: a denial with the stable reason code.
    const verdict = reviewAdmission(reviewFor(pod, { namespace: 'default', uid: 'u' }) as unknown as AdmissionReviewRequest, defaultConfig())
    t.match(verdict, { decision: 'rejected', reason: 'invalid-annotation', review: { response: { allowed: false, status: { code: 400 } } } }, `${name}: allowed: false`)
  }
})

t.test('unknown fields are ignored as Istio ignores them, with a warning naming them', async t => {
  const result = inject(podWith('concurrency: 2\nfutureField: {x: 1}\ntracing: {colour: blue}'), {}, defaultConfig())
  t.equal(result.outcome, 'injected')
  t.match(result.warnings, [/'tracing\.colour', 'futureField' are not ProxyConfig fields; ignored, as Istio does/])
})

t.test("PROXY_CONFIG carries the pod's fields in proto JSON, Istio's defaults left out", async t => {
  const cases: Array<[string, unknown]> = [
    ['concurrency: "2"', { concurrency: 2 }],
    ['drain_duration: 1m30s\nterminationDrainDuration: 1500ms', { drainDuration: '90s', terminationDrainDuration: '1.500s' }],
    ['tracing: {stackdriver: {maxNumberOfAttributes: 200}, sampling: NaN}', { tracing: { stackdriver: { maxNumberOfAttributes: '200' }, sampling: 'NaN' } }],
    ['tracingServiceName: APP_LABEL_AND_NAMESPACE', { tracingServiceName: 'APP_LABEL_AND_NAMESPACE' }],
    ['interceptionMode: 2', { interceptionMode: 'NONE' }],
    ['drainDuration: 45s\nstatusPort: 15020\ncontrolPlaneAuthPolicy: MUTUAL_TLS\nmeshId: ""', {}],
    ['holdApplicationUntilProxyStarts: false', { holdApplicationUntilProxyStarts: false }],
    ['extraStatTags: [a, null]\nproxyMetadata: {A: null}', { extraStatTags: ['a', ''], proxyMetadata: { A: '' } }]
  ]
  for (const [value, want] of cases) {
    const result = inject(podWith(value), {}, defaultConfig())
    if (result.outcome !== 'injected') throw new Error(`${value}: ${result.outcome}`)
    t.same(JSON.parse(proxyEnv(result.pod, 'PROXY_CONFIG') ?? ''), want, value)
  }
})

t.test('decoding as jsonpb: both names, camelCase wins, the last oneof member wins, YAML 1.1', async t => {
  t.same(readProxyConfig({ drain_duration: 'garbage', drainDuration: '5s' }), { config: { drainDuration: 5_000_000_000n }, problems: [], unknown: [] }, 'the camelCase name is read, the snake_case one skipped')
  t.same(readProxyConfig({ tracing: { zipkin: {}, datadog: { address: 'dd:8126' } } }).config, { tracing: { datadog: { address: 'dd:8126' } } }, 'one tracer: the last declared')
  t.same(readProxyConfig({ serviceCluster: 'a', tracingServiceName: 'CANONICAL_NAME_ONLY' }).config, { tracingServiceName: 1 })
  t.same(readProxyConfig(null), { config: {}, problems: [], unknown: [] })
  t.same(readProxyConfig([1]).problems, [{ field: '', reason: 'must be a ProxyConfig mapping' }])
  for (const [value, field] of [['holdApplicationUntilProxyStarts: on', undefined], ['holdApplicationUntilProxyStarts: "on"', 'holdApplicationUntilProxyStarts'], ['concurrency: 0x10', undefined], ['meshId: 2001-12-14', undefined], ['concurrency: 1:20', 'concurrency']] as const) {
    const result = inject(podWith(value), {}, defaultConfig())
    if (field === undefined) t.equal(result.outcome, 'injected', value)
    else t.match(result, { outcome: 'rejected', problems: [{ field }] }, value)
  }
  t.same(readProxyConfig({ concurrency: ' 7 ', statNameLength: 'null', tracing: { sampling: '1e2' } }).config, { concurrency: 7, statNameLength: 0, tracing: { sampling: 100 } }, 'numbers in quotes')
  t.match(readProxyConfig({ concurrency: '+2', tracing: { maxPathTagLength: -1 } }).problems, [{ field: 'concurrency' }, { field: 'tracing.maxPathTagLength' }], 'every field with a problem, at once')
  t.equal(jsonName('http2_initial_stream_window_size'), 'http2InitialStreamWindowSize')
  t.equal(jsonName('k8s_sa_jwt_path'), 'k8sSaJwtPath')
})

t.test('validation as ValidateMeshConfigProxyConfig', async t => {
  const problems = (doc: Record<string, unknown>): string[] => readProxyConfig(doc).problems.map(p => p.field)
  t.same(problems({ discoveryAddress: '1.2.3.4:15012' }), [])
  t.same(problems({ discoveryAddress: '[fd00::1]:15012' }), [])
  t.same(problems({ discoveryAddress: 'Istiod.Istio-System:15012' }), [], 'upper case is a DNS-1123 label for Istio')
  t.same(problems({ discoveryAddress: 'istiod.123:15012' }), ['discoveryAddress'], 'an all-numeric top-level domain')
  t.same(problems({ discoveryAddress: 'istiod:0' }), ['discoveryAddress'])
  t.same(problems({ tracing: { zipkin: { address: '$(HOST_IP):9411' } } }), [], '$(HOST_IP) stands for an address')
  t.same(problems({ tracing: { datadog: {} } }), ['tracing.datadog.address'])
  t.same(problems({ drainDuration: '2s', terminationDrainDuration: '-5s' }), [], 'only drainDuration is checked')
  t.same(problems({ drainDuration: '0s' }), ['drainDuration'])
  t.same(problems({ privateKeyProvider: { qat: { pollDelay: '1ms' } } }), [])
  t.same(problems({ privateKeyProvider: { qat: {} } }), ['privateKeyProvider.qat.pollDelay'])
  t.same(problems({ connectionSettings: { http2InitialStreamWindowSize: 65534, httpIdleTimeout: '-1s', listenerConnectionLimit: 1 } }),
    ['connectionSettings.httpIdleTimeout', 'connectionSettings.http2InitialStreamWindowSize'])
  t.same(problems({ tracing: { tlsSettings: { mode: 'MUTUAL' } } }), ['tracing.tlsSettings', 'tracing.tlsSettings'], 'MUTUAL needs a certificate and a key')
  t.same(problems({ tracing: { tlsSettings: { mode: 'SIMPLE', insecureSkipVerify: true, subjectAltNames: [] } } }), [], 'an empty list is no list')
  t.same(problems({ controlPlaneAuthPolicy: 'NONE', statusPort: 65535, proxyAdminPort: 1 }), [])
})

t.test("Go's time.ParseDuration and proto JSON's duration", async t => {
  const ok: Array<[string, bigint]> = [['5s', 5_000_000_000n], ['1m30s', 90_000_000_000n], ['1.5h', 5_400_000_000_000n], ['-1.5s', -1_500_000_000n],
    ['+2ms', 2_000_000n], ['0', 0n], ['-0', 0n], ['.5s', 500_000_000n], ['1.s', 1_000_000_000n], ['3µs', 3_000n], ['3μs', 3_000n], ['1h2m3s4ms5us6ns', 3_723_004_005_006n],
    ['2562047h47m16.854775807s', 2n ** 63n - 1n]]
  for (const [text, nanos] of ok) t.equal(parseGoDuration(text), nanos, text)
  for (const text of ['', '5', '5 s', '5S', ' 5s', '1d', '.s', '-', '2562048h', '5s ']) t.type(parseGoDuration(text), 'string', `${JSON.stringify(text)} is refused`)
  t.equal(formatDuration(90_000_000_000n), '90s')
  t.equal(formatDuration(1_500_000_000n), '1.500s')
  t.equal(formatDuration(1n), '0.000000001s')
  t.equal(formatDuration(-1_500_000n), '-0.001500s')
})

t.test("image.imageType picks the proxy image's variant, as Istio's ProxyImage does; the annotation wins", async t => {
  const config = { ...defaultConfig(), images: { proxy: 'registry.example/proxyv2:1.28.0', init: 'registry.example/init:1' } }
  const imageOf = (annotations: Record<string, string>, name: string): string | undefined => {
    const result = inject(deepFreeze<Pod>({ metadata: { name: 'p', namespace: 'default', annotations }, spec: { containers: [{ name: 'app', image: 'app' }] } }), {}, config)
    if (result.outcome !== 'injected') throw new Error(result.outcome)
    return [...(result.pod.spec?.containers ?? []), ...(result.pod.spec?.initContainers ?? [])].find(c => c.name === name)?.image
  }
  t.equal(imageOf({ [key]: 'image: {imageType: distroless}' }, 'istio-proxy'), 'registry.example/proxyv2:1.28.0-distroless')
  t.equal(imageOf({ [key]: 'image: {imageType: distroless}' }, 'istio-init'), 'registry.example/init:1', 'not the init image')
  t.equal(imageOf({ [key]: 'image: {imageType: distroless}', 'sidecar.istio.io/proxyImageType': 'debug' }, 'istio-proxy'), 'registry.example/proxyv2:1.28.0-debug')
  t.equal(imageOf({ [key]: 'image: {}' }, 'istio-proxy'), 'registry.example/proxyv2:1.28.0')
})

t.test('a refusal stays short when the bad field sits under a long key', async t => {
  const longKey = 'K'.repeat(100_000)
  const result = inject(podWith(JSON.stringify({ proxyMetadata: { [longKey]: 1 } })), {}, defaultConfig())
  t.equal(result.outcome, 'rejected')
  t.ok(result.outcome === 'rejected' && result.message.length < 400, `the message is ${result.outcome === 'rejected' ? result.message.length : 0} characters`)
})

import t from 'tap'
import { createKubeApi } from '../../src/kube/api.js'
import { startNativeSidecarDetector, supportsNativeSidecars } from '../../src/kube/native-sidecars.js'
import { collections, eventually, startFakeApiServer } from '../helpers/fake-api-server.js'

const quiet = { warn: () => {}, debug: () => {} }
const node = (name: string, kubeletVersion: string): any => ({ metadata: { name }, status: { nodeInfo: { kubeletVersion } } })
const pod = (nodeName?: string): any => ({ metadata: { name: 'p' }, spec: { containers: [], ...(nodeName === undefined ? {} : { nodeName }) } })

t.test('kubelet versions', async t => {
  const cases: Array<[string | undefined, boolean | undefined]> = [
    ['v1.33.0', true], ['v1.34.10', true], ['v1.33.5-eks-113cf36', true], ['v1.34.0+k3s1', true], ['v2.0.0', true],
    ['v1.32.9', false], ['v1.29.0', false], ['1.33.1', true], ['', undefined], [undefined, undefined], ['garbage', undefined]
  ]
  for (const [version, want] of cases) t.equal(supportsNativeSidecars(version), want, String(version))
})

t.test('facts follow the nodes: the pod\'s node when set, otherwise all nodes', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  fake.put(collections.nodes, node('new-1', 'v1.34.1'))
  fake.put(collections.nodes, node('new-2', 'v1.33.0'))
  const detector = startNativeSidecarDetector({ api: createKubeApi(fake.kubeConfig), logger: quiet, minBackoffMs: 20, maxBackoffMs: 100 })
  t.teardown(detector.stop)
  t.same(detector.facts(pod()), {}, 'unknown before the first list')
  await eventually(() => detector.synced() && fake.openWatches() === 1)
  t.same(detector.facts(pod()), { nativeSidecarsSupported: true }, 'all nodes >= 1.33')

  fake.put(collections.nodes, node('old', 'v1.32.4'))
  await eventually(() => detector.facts(pod()).nativeSidecarsSupported === false, 2000, 'an old node to count')
  t.same(detector.facts(pod('new-1')), { nativeSidecarsSupported: true }, 'a pod bound to a new node')
  t.same(detector.facts(pod('old')), { nativeSidecarsSupported: false }, 'a pod bound to the old node')
  t.same(detector.facts(pod('unknown-node')), { nativeSidecarsSupported: false }, 'an unknown node falls back to all nodes')

  fake.put(collections.nodes, node('old', 'v1.33.2'))
  await eventually(() => detector.facts(pod()).nativeSidecarsSupported === true, 2000, 'the upgraded node to count')
  fake.put(collections.nodes, node('old', 'v1.31.0'))
  await eventually(() => detector.facts(pod()).nativeSidecarsSupported === false, 2000, 'a downgrade')
  fake.remove(collections.nodes, 'old')
  await eventually(() => detector.facts(pod()).nativeSidecarsSupported === true, 2000, 'the deleted node to leave')
})

t.test('the detector survives watch ends and expired versions, without polling', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  fake.put(collections.nodes, node('a', 'v1.34.0'))
  const detector = startNativeSidecarDetector({ api: createKubeApi(fake.kubeConfig), logger: quiet, minBackoffMs: 20, maxBackoffMs: 100 })
  t.teardown(detector.stop)
  await eventually(() => fake.openWatches() === 1)
  const lists = (): number => fake.requests.filter(r => r.method === 'GET' && r.url.startsWith('/api/v1/nodes') && !r.url.includes('watch=true')).length
  t.equal(lists(), 1)

  fake.put(collections.nodes, node('b', 'v1.30.0'))
  fake.closeWatches()
  await eventually(() => fake.openWatches() === 1)
  t.equal(lists(), 1, 'a clean end resumes the watch without listing again')
  await eventually(() => detector.facts(pod()).nativeSidecarsSupported === false)

  fake.closeWatches()
  fake.compact()
  fake.remove(collections.nodes, 'b')
  fake.compact()
  await eventually(() => lists() === 2, 3000, 'a relist after 410 Gone')
  await eventually(() => detector.facts(pod()).nativeSidecarsSupported === true, 3000, 'the relisted state')
  t.ok(fake.requests.filter(r => r.url.includes('watch=true')).every(r => r.url.includes('allowWatchBookmarks=true') && /timeoutSeconds=\d+/.test(r.url)))
})

t.test('an API server that is down is retried with backoff; facts stay unknown meanwhile', async t => {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  fake.failNext('GET', '/api/v1/nodes', 503)
  fake.failNext('GET', '/api/v1/nodes', 503)
  fake.put(collections.nodes, node('a', 'v1.34.0'))
  const detector = startNativeSidecarDetector({ api: createKubeApi(fake.kubeConfig), logger: quiet, minBackoffMs: 20, maxBackoffMs: 100 })
  t.teardown(detector.stop)
  t.same(detector.facts(pod()), {})
  await eventually(() => detector.synced(), 3000)
  t.same(detector.facts(pod()), { nativeSidecarsSupported: true })
  t.equal(fake.requests.filter(r => r.url.startsWith('/api/v1/nodes?') && !r.url.includes('watch=true')).length, 3, 'two failures, then a list')
})

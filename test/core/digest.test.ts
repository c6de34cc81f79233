import t from 'tap'
import { readFileSync } from 'node:fs'
import { defaultConfig } from '../../src/core/config.js'
import { canonicalJson } from '../../src/core/digest.js'
import { inject } from '../../src/core/inject.js'
import type { ClusterFacts, InjectorConfig, Pod } from '../../src/core/types.js'
import { readStatus, uninject } from '../../src/core/uninject.js'
import { injectorVersion } from '../../src/version.js'
import { loadPod } from '../helpers/fixtures.js'

function statusOf (pod: Pod, config: InjectorConfig = defaultConfig(), facts: ClusterFacts = {}): ReturnType<typeof readStatus> {
  const result = inject(pod, {}, config, facts)
  if (result.outcome !== 'injected') throw new Error(`expected an injection, got ${result.outcome}`)
  return readStatus(result.pod)
}

t.test('the digest is stable for the same injection and follows what was injected', async t => {
  const pod = loadPod('simple.yaml')
  const digest = statusOf(pod)?.digest
  t.match(digest, /^[0-9a-f]{16}$/, 'a short hex digest')
  t.equal(statusOf(pod)?.digest, digest, 'same pod, same config: same digest')

  const image = defaultConfig()
  image.images.proxy = 'example.com/proxyv2:2.0'
  t.not(statusOf(pod, image)?.digest, digest, 'the proxy image changes it')
  const resources = defaultConfig()
  resources.proxyResources = { requests: { cpu: '500m' } }
  t.not(statusOf(pod, resources)?.digest, digest, 'proxy resources change it')
  const annotated: Pod = { ...pod, metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, 'sidecar.istio.io/logLevel': 'debug' } } }
  t.not(statusOf(annotated)?.digest, digest, 'a per-pod override changes it')
  const injected = defaultConfig()
  injected.injectedAnnotations = { 'example.com/added': 'yes' }
  t.not(statusOf(pod, injected)?.digest, digest, 'an annotation the config adds changes it')
  t.equal(statusOf(pod, defaultConfig(), { injectorVersion: 'sidecar-injector/9.9.9' })?.digest, digest,
    'the injector version is recorded beside the digest, not in it')
})

t.test('re-injection records the same digest as the first injection', async t => {
  const first = inject(loadPod('probes.yaml'), {}, defaultConfig())
  if (first.outcome !== 'injected') throw new Error('expected an injection')
  const again = inject(first.pod, {}, defaultConfig())
  if (again.outcome !== 'injected') throw new Error('expected an injection')
  t.equal(readStatus(again.pod)?.digest, readStatus(first.pod)?.digest)
})

t.test('the injector is recorded when the composition root passes it, and read back', async t => {
  const status = statusOf(loadPod('simple.yaml'), defaultConfig(), { injectorVersion })
  t.equal(status?.injector, injectorVersion)
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string, version: string }
  t.equal(injectorVersion, `${pkg.name}/${pkg.version}`, 'from package.json')
  t.equal(statusOf(loadPod('simple.yaml'))?.injector, undefined, 'absent when not given')
})

t.test('uninject removes the new keys with the status annotation', async t => {
  const pod = loadPod('simple.yaml')
  const result = inject(pod, {}, defaultConfig(), { injectorVersion })
  if (result.outcome !== 'injected') throw new Error('expected an injection')
  t.same(JSON.parse(JSON.stringify(uninject(result.pod).pod)), JSON.parse(JSON.stringify(pod)))
})

t.test('canonicalJson sorts keys at every depth and drops undefined', async t => {
  t.equal(canonicalJson({ b: [{ d: 1, c: undefined, a: 'x' }], a: null }), '{"a":null,"b":[{"a":"x","d":1}]}')
})

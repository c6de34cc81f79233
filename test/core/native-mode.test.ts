// Native sidecar mode as Istio decides and records it: sidecar.istio.io/nativeSidecar read as Istio's
// template reads it, and the user's own proxy recorded in proxy.istio.io/overrides under
// initContainers (where the injected proxy is), without `image: auto`, while uninject stays exact.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { InjectResult, NativeSidecarMode, Pod } from '../../src/core/types.js'
import { uninject } from '../../src/core/uninject.js'
import { deepFreeze, fixturesDir, loadPod } from '../helpers/fixtures.js'

const injected = (result: InjectResult): Pod => {
  if (result.outcome !== 'injected') throw new Error(`expected an injection, got ${result.outcome}`)
  return result.pod
}
const isNative = (pod: Pod): boolean => (pod.spec?.initContainers ?? []).some(c => c.name === 'istio-proxy')
const config = (nativeSidecars: NativeSidecarMode): ReturnType<typeof defaultConfig> => ({ ...defaultConfig(), nativeSidecars })
/** JSON as the wire sees it, key order included. */
const bytes = (pod: Pod): string => JSON.stringify(pod)

t.test('sidecar.istio.io/nativeSidecar: only "false" is classic, empty is the default, anything else native', async t => {
  // The spellings of the conformance corpus, which Istio's injector judges under both defaults.
  const pods = parseAllDocuments(readFileSync(join(fixturesDir, 'conformance', 'native-sidecar.yaml'), 'utf8')).map(d => deepFreeze(d.toJS() as Pod))
  const values = pods.map(p => p.metadata?.annotations?.['sidecar.istio.io/nativeSidecar'])
  t.same(values, ['true', 'false', 'True', 'FALSE', '0', 'disabled', '', 'enabled'])
  for (const mode of ['false', 'true'] as const) {
    for (const pod of pods) {
      const value = pod.metadata?.annotations?.['sidecar.istio.io/nativeSidecar'] ?? ''
      const result = inject(pod, {}, config(mode))
      const want = value === '' ? mode === 'true' : value !== 'false'
      t.equal(isNative(injected(result)), want, `default ${mode}, ${JSON.stringify(value)}: ${want ? 'native' : 'classic'}`)
      const warned = result.warnings.some(w => w.includes('sidecar.istio.io/nativeSidecar'))
      t.equal(warned, !['true', 'false', ''].includes(value), `default ${mode}, ${JSON.stringify(value)}: ${warned ? 'a warning' : 'no warning'}`)
    }
  }
})

t.test("native mode: the user's proxy is recorded under initContainers, without image: auto", async t => {
  const pod = loadPod('user-overrides.yaml')
  const native = injected(inject(pod, {}, config('true')))
  t.same(JSON.parse(native.metadata?.annotations?.['proxy.istio.io/overrides'] ?? ''), {
    initContainers: [
      { name: 'istio-init', resources: { limits: { memory: '64Mi' } } },
      { name: 'istio-proxy', resources: { requests: { cpu: '123m' } }, securityContext: { runAsUser: 1234 } }
    ]
  })
  const classic = injected(inject(pod, {}, config('false')))
  t.same(JSON.parse(classic.metadata?.annotations?.['proxy.istio.io/overrides'] ?? ''), {
    containers: [{ name: 'istio-proxy', resources: { requests: { cpu: '123m' } }, securityContext: { runAsUser: 1234 } }],
    initContainers: [{ name: 'istio-init', resources: { limits: { memory: '64Mi' } } }]
  })
  for (const [mode, out] of [['native', native], ['classic', classic]] as const) {
    const proxy = [...(out.spec?.containers ?? []), ...(out.spec?.initContainers ?? [])].find(c => c.name === 'istio-proxy')
    t.equal(proxy?.image, defaultConfig().images.proxy, `${mode}: image: auto keeps the injected image`)
    t.equal(proxy?.securityContext?.runAsUser, 1234, `${mode}: the override applies`)
    t.equal(bytes(uninject(out).pod), bytes(pod), `${mode}: uninject gives back the pod, key order included (image: auto where it stood)`)
    t.equal(bytes(injected(inject(out, {}, config(mode === 'native' ? 'true' : 'false')))), bytes(out), `${mode}: injecting twice == once`)
  }
  // Switching modes on re-injection moves the proxy and keeps the override.
  const switched = injected(inject(classic, {}, config('true')))
  t.same(switched, native, 'a classic injection re-injected natively is the native injection')
})

t.test('a user istio-proxy declared among the init containers is put back there', async t => {
  const pod = deepFreeze<Pod>({
    metadata: { name: 'p', namespace: 'default' },
    spec: {
      initContainers: [{ name: 'setup', image: 'setup' }, { name: 'istio-proxy', image: 'auto', securityContext: { runAsUser: 1500 } }],
      containers: [{ name: 'app', image: 'app' }]
    }
  })
  for (const mode of ['true', 'false'] as const) {
    const out = injected(inject(pod, {}, config(mode)))
    t.equal(bytes(uninject(out).pod), bytes(pod), `native ${mode}: exact`)
  }
})

t.test('a native pod istiod injected is re-injected without changing its overrides, and twice == once', async t => {
  // As istiod leaves a native pod with a user proxy: the proxy an init container, the override under
  // initContainers without its image, no `restore`.
  const overrides = '{"initContainers":[{"name":"istio-proxy","resources":{},"securityContext":{"runAsUser":1234}}]}'
  const pod = deepFreeze<Pod>({
    metadata: {
      name: 'app',
      namespace: 'shop',
      annotations: {
        'sidecar.istio.io/status': '{"initContainers":["istio-init","istio-proxy"],"containers":null,"volumes":["istio-envoy"],"imagePullSecrets":null,"revision":"default"}',
        'proxy.istio.io/overrides': overrides
      }
    },
    spec: {
      initContainers: [
        { name: 'istio-init', image: 'proxyv2' },
        { name: 'istio-proxy', image: 'proxyv2', restartPolicy: 'Always', securityContext: { runAsUser: 1234 } }
      ],
      containers: [{ name: 'app', image: 'app' }],
      volumes: [{ name: 'istio-envoy', emptyDir: { medium: 'Memory' } }]
    }
  })
  const once = injected(inject(pod, {}, config('true')))
  t.equal(once.metadata?.annotations?.['proxy.istio.io/overrides'], overrides, 'the overrides annotation is left as istiod wrote it')
  const proxy = once.spec?.initContainers?.find(c => c.name === 'istio-proxy')
  t.equal(proxy?.securityContext?.runAsUser, 1234, "the user's uid is kept")
  t.equal(proxy?.image, defaultConfig().images.proxy, 'no image in the override: the injected image')
  t.equal(once.spec?.containers.some(c => c.name === 'istio-proxy'), false, 'no second proxy among the containers')
  // As values: the first pass keeps istiod's key order in the spec, a second one writes ours.
  t.ok(isDeepStrictEqual(injected(inject(once, {}, config('true'))), once), 'inject(inject(x)) == inject(x)')
})

t.test('an older restore record (no names) still puts the overrides back', async t => {
  const pod = loadPod('user-overrides.yaml')
  const out = injected(inject(pod, {}, config('false')))
  const status = JSON.parse(out.metadata?.annotations?.['sidecar.istio.io/status'] ?? '{}') as { restore: { overrides: Array<Record<string, unknown>> } }
  // What earlier versions wrote: places without names, the containers recorded as the user wrote them.
  status.restore.overrides = status.restore.overrides.map(({ list, index }) => ({ list, index }))
  const older = deepFreeze<Pod>({
    ...out,
    metadata: {
      ...out.metadata,
      annotations: {
        ...out.metadata?.annotations,
        'sidecar.istio.io/status': JSON.stringify(status),
        'proxy.istio.io/overrides': JSON.stringify({ containers: [pod.spec?.containers[1]], initContainers: pod.spec?.initContainers })
      }
    }
  })
  t.equal(bytes(uninject(older).pod), bytes(pod))
})

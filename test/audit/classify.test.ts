import t from 'tap'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { ClusterFacts, InjectorConfig, Pod } from '../../src/core/types.js'
import { auditPod } from '../../src/audit/classify.js'
import type { AuditInput } from '../../src/audit/classify.js'
import { parseQuantity } from '../../src/audit/compare.js'
import { loadPod } from '../helpers/fixtures.js'

const enabled = { 'istio-injection': 'enabled' }

function input (extra: Partial<AuditInput> = {}): AuditInput {
  return { config: defaultConfig(), namespaceLabels: enabled, facts: {}, ownerKind: 'Deployment', ...extra }
}

function injectWith (pod: Pod, config: InjectorConfig = defaultConfig(), facts: ClusterFacts = {}): Pod {
  const result = inject(pod, {}, config, facts)
  if (result.outcome !== 'injected') throw new Error(`expected an injection, got ${result.outcome}`)
  return result.pod
}

function withStatus (pod: Pod, edit: (status: Record<string, unknown>) => void): Pod {
  const status = JSON.parse(pod.metadata?.annotations?.['sidecar.istio.io/status'] ?? '{}') as Record<string, unknown>
  edit(status)
  return { ...pod, metadata: { ...pod.metadata, annotations: { ...pod.metadata?.annotations, 'sidecar.istio.io/status': JSON.stringify(status) } } }
}

const newImage = (): InjectorConfig => {
  const config = defaultConfig()
  config.images.proxy = 'example.com/istio/proxyv2:9.9.9'
  return config
}

t.test('missing: no sidecar where the webhook would inject one now', async t => {
  const pod = loadPod('simple.yaml')
  t.match(auditPod(pod, input()), [{ kind: 'missing', code: 'not-injected' }])
  t.same(auditPod(pod, input({ namespaceLabels: {} })), [], 'a namespace the webhook does not select')
  t.same(auditPod(pod, input({ namespaceLabels: undefined })), [], 'an unknown namespace')
  const optedOut: Pod = { ...pod, metadata: { ...pod.metadata, annotations: { 'sidecar.istio.io/inject': 'false' } } }
  t.same(auditPod(optedOut, input()), [], 'the pod opts out (the core policy decides)')
  const bad: Pod = { ...pod, metadata: { ...pod.metadata, annotations: { 'sidecar.istio.io/proxyCPU': 'lots' } } }
  t.match(auditPod(bad, input()), [{ kind: 'missing', code: 'would-be-rejected', message: /proxyCPU/ }])
  const done: Pod = { ...pod, status: { phase: 'Succeeded' } }
  t.same(auditPod(done, input()), [], 'finished pods are not reported')
})

t.test('stale: today\'s injection differs, and says what', async t => {
  const pod = injectWith(loadPod('simple.yaml'))
  t.same(auditPod(pod, input()), [], 'same config: clean (equal digests)')
  const spec = pod.spec as NonNullable<Pod['spec']>
  const setImage: Pod = { ...pod, spec: { ...spec, containers: spec.containers.map(c => c.name === 'istio-proxy' ? { ...c, image: 'example.com/by-hand:1' } : c) } }
  t.match(auditPod(setImage, input()), [{ kind: 'stale', differences: [{ field: 'image', detail: /by-hand/ }] }],
    'an image changed on the running pod (the one mutable container field) is seen despite equal digests')
  const findings = auditPod(pod, input({ config: newImage() }))
  t.match(findings, [{ kind: 'stale', code: 'injection-differs' }])
  t.match(findings[0]?.differences, [{ container: 'istio-proxy', field: 'image', detail: /proxyv2:9\.9\.9/ }])

  const resources = defaultConfig()
  resources.proxyResources = { requests: { cpu: '250m', memory: '64Mi' } }
  t.match(auditPod(pod, input({ config: resources }))[0]?.differences, [{ container: 'istio-proxy', field: 'resources' }])
  const native = auditPod(pod, input({ facts: { nativeSidecarsSupported: true } }))
  t.match(native[0]?.differences, [{ container: 'istio-proxy', field: 'placement', detail: 'classic → native sidecar' }])
  t.match(auditPod(pod, input({ namespaceLabels: {} })), [{ kind: 'stale', code: 'no-longer-injected' }], 'the namespace is no longer selected')
})

t.test('older pods without the digest are compared by content', async t => {
  const pod = withStatus(injectWith(loadPod('probes.yaml')), s => { delete s.digest })
  t.same(auditPod(pod, input()), [], 'equal content: clean')
  t.match(auditPod(pod, input({ config: newImage() })), [{ kind: 'stale', code: 'injection-differs', differences: [{ field: 'image' }] }])
  // The API server rewrites quantities in canonical form; that is no difference.
  const canonical: Pod = {
    ...pod,
    spec: {
      ...pod.spec,
      containers: (pod.spec?.containers ?? []).map(c => c.name === 'istio-proxy' ? { ...c, resources: { requests: { cpu: '0.1', memory: '128Mi' }, limits: { cpu: '2', memory: '1024Mi' } } } : c)
    }
  }
  t.same(auditPod(canonical, input()), [], 'quantities compared by value')
  t.equal(parseQuantity('0.1'), parseQuantity('100m'))
  t.equal(parseQuantity('1Gi'), parseQuantity('1024Mi'))
  t.not(parseQuantity('1G'), parseQuantity('1Gi'))
})

t.test('foreign: another revision, another injector', async t => {
  const canary = defaultConfig()
  canary.revision = 'canary'
  const pod = injectWith(loadPod('simple.yaml'), canary)
  t.match(auditPod(pod, input()), [{ kind: 'foreign', code: 'other-revision', message: /revision canary/ }])
  const byHand: Pod = withStatus(injectWith(loadPod('simple.yaml')), () => {})
  const annotations = { ...byHand.metadata?.annotations }
  delete annotations['sidecar.istio.io/status']
  t.match(auditPod({ ...byHand, metadata: { ...byHand.metadata, annotations } }, input()), [{ kind: 'foreign', code: 'other-injector' }])
  const linkerd: Pod = { ...loadPod('simple.yaml'), metadata: { name: 'l', namespace: 'default', annotations: { 'linkerd.io/proxy-version': 'edge-25.1.1' } } }
  t.match(auditPod(linkerd, input()), [{ kind: 'foreign', code: 'other-injector', message: /Linkerd/ }])
})

t.test('istiod\'s pods (no digest, no restore) of our revision are compared by content', async t => {
  // Shaped as istiod writes them: its status keys only; a different proxy image.
  const ours = injectWith(loadPod('simple.yaml'))
  const istiod = withStatus(ours, s => { delete s.digest; delete s.restore })
  const spec = istiod.spec as NonNullable<Pod['spec']>
  const old: Pod = { ...istiod, spec: { ...spec, containers: spec.containers.map(c => c.name === 'istio-proxy' ? { ...c, image: 'docker.io/istio/proxyv2:1.20.0' } : c) } }
  t.match(auditPod(old, input()), [{ kind: 'stale', differences: [{ container: 'istio-proxy', field: 'image', detail: /1\.20\.0/ }] }])
})

t.test('at risk: classic sidecar in a Job, probes the agent cannot answer, native sidecar on an old kubelet', async t => {
  const pod = injectWith(loadPod('simple.yaml'))
  t.match(auditPod(pod, input({ ownerKind: 'Job' })), [{ kind: 'at-risk', code: 'classic-sidecar-in-job' }])
  t.match(auditPod(pod, input({ ownerKind: 'CronJob' })), [{ kind: 'at-risk', code: 'classic-sidecar-in-job' }])
  const native = injectWith(loadPod('simple.yaml'), defaultConfig(), { nativeSidecarsSupported: true })
  t.same(auditPod(native, input({ ownerKind: 'Job', facts: { nativeSidecarsSupported: true } })), [], 'a native sidecar lets the job complete')
  t.match(auditPod(native, input({ facts: { nativeSidecarsSupported: false } })),
    [{ kind: 'stale' }, { kind: 'at-risk', code: 'native-sidecar-unsupported' }])

  const probed = injectWith(loadPod('probes.yaml'))
  t.same(auditPod(probed, input()), [], 'rewritten probes with ISTIO_KUBE_APP_PROBERS are fine')
  const spec = probed.spec as NonNullable<Pod['spec']>
  const stripped: Pod = {
    ...probed,
    spec: { ...spec, containers: spec.containers.map(c => c.name === 'istio-proxy' ? { ...c, env: (c.env ?? []).filter(e => e.name !== 'ISTIO_KUBE_APP_PROBERS') } : c) }
  }
  const findings = auditPod(stripped, input())
  t.ok(findings.some(f => f.kind === 'at-risk' && f.code === 'probes-without-probers'), 'probes point at the agent without the originals')
  const edited = withStatus(stripped, s => { delete s.digest })
  t.ok(auditPod(edited, input()).some(f => f.kind === 'stale' && f.differences?.some(d => d.field === 'env' && d.detail.includes('ISTIO_KUBE_APP_PROBERS'))),
    'compared by content, the env difference is named')
})

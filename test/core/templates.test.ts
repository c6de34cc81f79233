// inject.istio.io/templates: the profiles of Istio's default install (sidecar, gateway, grpc-agent,
// grpc-simple), combined in the order named; any other name is refused naming it, where it used to be
// ignored (a proxyless-gRPC or spire pod silently got a full Envoy sidecar and iptables).
import t from 'tap'
import type { V1Container } from '@kubernetes/client-node'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import { chooseProfiles, statusOrder } from '../../src/core/profiles.js'
import { uninject } from '../../src/core/uninject.js'
import type { ClusterFacts, InjectResult, Pod } from '../../src/core/types.js'
import { checkPodShape } from '../../src/core/pod-shape.js'
import { deepFreeze } from '../helpers/fixtures.js'

const pod = (templates: string, containers: V1Container[] = [{ name: 'app', image: 'app' }]): Pod => deepFreeze<Pod>({
  metadata: { name: 'p', namespace: 'n', annotations: { 'inject.istio.io/templates': templates } },
  spec: { containers }
})

const injected = (r: InjectResult): Pod => {
  if (r.outcome !== 'injected') throw new Error(`expected an injection, got ${r.outcome}: ${JSON.stringify(r)}`)
  return r.pod
}
const wire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T
const names = (list: V1Container[] | undefined): string[] => (list ?? []).map(c => c.name)
const env = (c: V1Container | undefined, name: string): string | undefined => c?.env?.find(e => e.name === name)?.value
const status = (p: Pod): Record<string, unknown> => JSON.parse(p.metadata?.annotations?.['sidecar.istio.io/status'] ?? '{}') as Record<string, unknown>
const native: ClusterFacts = { nativeSidecarsSupported: true }

t.test('sidecar is injected as without the annotation', async t => {
  t.equal(inject(pod('sidecar'), {}, defaultConfig()).outcome, 'injected')
  t.equal(inject(pod(' sidecar , '), {}, defaultConfig()).outcome, 'injected')
  const plain = injected(inject(pod('sidecar'), {}, defaultConfig()))
  t.same(names(plain.spec?.containers), ['app', 'istio-proxy'])
  t.same(injected(inject(pod('sidecar,sidecar,sidecar'), {}, defaultConfig())).spec, plain.spec, 'a repeated name changes nothing')
})

t.test('unknown, unsupported and conflicting templates are refused, naming them, with a stable code', async t => {
  const spire = inject(pod('sidecar,spire'), {}, defaultConfig())
  t.equal(spire.outcome, 'rejected')
  if (spire.outcome === 'rejected') {
    t.equal(spire.problems[0]?.annotation, 'inject.istio.io/templates')
    t.equal(spire.problems[0]?.code, 'unknown-template')
    t.match(spire.message, /unknown template 'spire' \(supported: sidecar, gateway, grpc-agent, grpc-simple\)/)
  }
  const waypoint = inject(pod('waypoint'), {}, defaultConfig())
  t.equal(waypoint.outcome === 'rejected' ? waypoint.problems[0]?.code : '', 'unsupported-template')
  t.match(waypoint.outcome === 'rejected' ? waypoint.message : '', /Istio's template 'waypoint' not supported by this injector/)
  const both = inject(pod('sidecar,gateway'), {}, defaultConfig())
  t.equal(both.outcome === 'rejected' ? both.problems[0]?.code : '', 'conflicting-templates')
  t.match(both.outcome === 'rejected' ? both.message : '', /templates 'sidecar', 'gateway' each build the istio-proxy container/)
  t.same(chooseProfiles('grpc-agent, grpc-simple'), { ok: true, profiles: ['grpc-agent', 'grpc-simple'] })
  t.same(chooseProfiles(undefined), { ok: true, profiles: ['sidecar'] })
  t.same(chooseProfiles('grpc-simple,sidecar,grpc-simple'), { ok: true, profiles: ['sidecar', 'grpc-simple'] }, 'a repeated name counts where it last appears')
})

t.test('gateway: the declared istio-proxy becomes Envoy as router, in place, with no init container', async t => {
  for (const facts of [{}, native]) {
    const out = injected(inject(pod('gateway', [{ name: 'istio-proxy', image: 'auto', ports: [{ containerPort: 8080 }] }]), {}, defaultConfig(), facts))
    t.same(names(out.spec?.containers), ['istio-proxy'], 'a regular container, native mode or not')
    t.equal(out.spec?.initContainers, undefined, 'no init container: a gateway captures nothing')
    const proxy = out.spec?.containers[0]
    t.equal(proxy?.image, defaultConfig().images.proxy, 'image: auto is replaced')
    t.same(proxy?.args?.slice(0, 2), ['proxy', 'router'])
    t.equal(proxy?.restartPolicy, undefined)
    t.same(proxy?.ports?.map(p => p.containerPort), [15090, 8080], "Envoy's metrics port, and the pod's own")
    t.equal(env(proxy, 'ISTIO_META_POD_PORTS'), '[{"containerPort":8080}]', "a gateway's own ports are the pod's")
    t.same(out.spec?.securityContext?.sysctls, [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }], 'may bind ports below 1024 without root')
    t.equal(out.metadata?.labels?.['security.istio.io/tlsMode'], undefined, 'no tlsMode: not a sidecar')
    t.same(status(out).containers, ['istio-proxy'])
    t.notOk((status(out).volumes as string[]).includes('istio-ca-crl'))
    t.same(wire(uninject(out).pod), wire(pod('gateway', [{ name: 'istio-proxy', image: 'auto', ports: [{ containerPort: 8080 }] }])), 'uninject gives the pod back')
  }
})

t.test('gateway: the pod keeps its own sysctls, and uninject restores its securityContext', async t => {
  const input = deepFreeze<Pod>({ ...pod('gateway'), spec: { securityContext: { sysctls: [{ name: 'net.core.somaxconn', value: '1024' }] }, containers: [{ name: 'istio-proxy', image: 'auto' }] } })
  const out = injected(inject(input, {}, defaultConfig()))
  t.same(out.spec?.securityContext?.sysctls?.map(s => s.name), ['net.core.somaxconn', 'net.ipv4.ip_unprivileged_port_start'])
  t.same(wire(uninject(out).pod), wire(input))
  t.same(wire(injected(inject(out, {}, defaultConfig()))), wire(out), 'injecting twice equals injecting once')
})

t.test('grpc-agent: the agent without Envoy, no capture, the app pointed at its bootstrap', async t => {
  for (const facts of [{}, native]) {
    const input = pod('grpc-agent', [{ name: 'app', image: 'app', readinessProbe: { httpGet: { path: '/', port: 8080 } }, env: [{ name: 'A', value: 'a' }] }])
    const out = injected(inject(input, {}, defaultConfig(), facts))
    t.same(names(out.spec?.containers), ['app', 'istio-proxy'])
    t.equal(out.spec?.initContainers, undefined, 'no iptables')
    const [app, proxy] = out.spec?.containers ?? []
    t.equal(env(proxy, 'DISABLE_ENVOY'), 'true')
    t.equal(env(proxy, 'ISTIO_META_GENERATOR'), 'grpc')
    t.equal(env(app, 'GRPC_XDS_BOOTSTRAP'), '/etc/istio/proxy/grpc-bootstrap.json')
    t.equal(env(app, 'A'), 'a', "the app's own env is kept")
    t.same(app?.readinessProbe, { httpGet: { path: '/', port: 8080 } }, 'probes are not rewritten: no Envoy in front of the app')
    t.equal(out.metadata?.annotations?.['sidecar.istio.io/rewriteAppHTTPProbers'], 'false')
    t.same(status(out).containers, ['istio-proxy', 'app'], 'the changed app container is listed, as istiod lists it')
    t.same(JSON.parse(out.metadata?.annotations?.['proxy.istio.io/overrides'] ?? '{}'), { containers: [wire(input.spec?.containers[0])] }, 'and its original kept for re-injection')
    t.same(wire(uninject(out).pod), wire(input), 'uninject gives the pod back')
    t.same(wire(injected(inject(out, {}, defaultConfig(), facts))), wire(out), 'injecting twice equals injecting once')
  }
})

t.test('grpc-simple alone: a bootstrap init container, no proxy, no labels', async t => {
  const input = pod('grpc-simple', [{ name: 'a', image: 'a' }, { name: 'b', image: 'b', env: [{ name: 'GRPC_GO_LOG_SEVERITY_LEVEL', value: 'error' }] }])
  const out = injected(inject(input, {}, defaultConfig()))
  t.same(names(out.spec?.containers), ['a', 'b'])
  t.same(names(out.spec?.initContainers), ['grpc-bootstrap-init'])
  t.equal(env(out.spec?.containers[1], 'GRPC_GO_LOG_SEVERITY_LEVEL'), 'error', "the user's value wins")
  t.equal(env(out.spec?.containers[0], 'GRPC_GO_LOG_SEVERITY_LEVEL'), 'info')
  t.equal(env(out.spec?.initContainers?.[0], 'ISTIO_NAMESPACE'), 'istio-system', 'from the CA address, without a trailing newline')
  t.same(out.metadata?.labels, undefined, 'no labels')
  t.equal(out.metadata?.annotations?.['istio.io/rev'], undefined, 'no revision: no agent')
  t.same(status(out).initContainers, ['grpc-bootstrap-init'])
  t.same(status(out).containers, ['a', 'b'])
  t.same(wire(uninject(out).pod), wire(input))
  t.same(wire(injected(inject(out, {}, defaultConfig()))), wire(out))
})

t.test('sidecar,grpc-simple in native mode: istio-init, the proxy, the bootstrap, then the user\'s init containers', async t => {
  const input = deepFreeze<Pod>({ ...pod('sidecar,grpc-simple'), spec: { initContainers: [{ name: 'migrate', image: 'm' }], containers: [{ name: 'app', image: 'app' }] } })
  const out = injected(inject(input, {}, defaultConfig(), native))
  t.same(names(out.spec?.initContainers), ['istio-init', 'istio-proxy', 'grpc-bootstrap-init', 'migrate'])
  t.same(status(out).initContainers, ['grpc-bootstrap-init', 'istio-init', 'istio-proxy'], "istiod's order: the last template's first")
  const classic = injected(inject(input, {}, defaultConfig()))
  t.same(names(classic.spec?.initContainers), ['grpc-bootstrap-init', 'migrate', 'istio-init'])
})

t.test('an istiod-injected grpc-agent pod: its app container comes back from proxy.istio.io/overrides', async t => {
  const first = injected(inject(pod('grpc-agent'), {}, defaultConfig()))
  const s = status(first)
  delete s.restore
  const istioLike = deepFreeze<Pod>({ ...first, metadata: { ...first.metadata, annotations: { ...first.metadata?.annotations, 'sidecar.istio.io/status': JSON.stringify(s) } } })
  const again = injected(inject(istioLike, {}, defaultConfig()))
  t.same(names(again.spec?.containers), ['app', 'istio-proxy'], 'the app is not lost')
  t.same(wire(injected(inject(again, {}, defaultConfig()))), wire(again), 'and injecting once more changes nothing')
})

t.test('statusOrder: the last profile\'s names first, then the earlier ones not yet named', async t => {
  t.same(statusOrder([['a', 'b'], ['c', 'a']]), ['c', 'a', 'b'])
})

t.test('a gateway pod whose sysctls are not a list is refused at the boundary, never a crash', async t => {
  const checked = checkPodShape({ ...pod('gateway'), spec: { securityContext: { sysctls: 'net.ipv4.ip_unprivileged_port_start=0' }, containers: [{ name: 'istio-proxy', image: 'auto' }] } })
  t.match(checked, { ok: false, path: 'spec.securityContext.sysctls' })
  // An edited restore record of the wrong shape is dropped rather than put back.
  const out = injected(inject(pod('gateway', [{ name: 'istio-proxy', image: 'auto' }]), {}, defaultConfig()))
  const s = status(out)
  s.restore = { ...(s.restore as object), securityContext: { sysctls: 7 } }
  const edited: Pod = { ...out, metadata: { ...out.metadata, annotations: { ...out.metadata?.annotations, 'sidecar.istio.io/status': JSON.stringify(s) } } }
  t.doesNotThrow(() => uninject(edited))
  t.same(uninject(edited).pod.spec?.securityContext, out.spec?.securityContext, 'the wrong-shaped record is not trusted')
})

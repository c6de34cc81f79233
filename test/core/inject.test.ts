import t from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import jsonPatch from 'fast-json-patch'
import { parse, stringify } from 'yaml'
import type { V1Container } from '@kubernetes/client-node'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import { uninject } from '../../src/core/uninject.js'
import { diffPatch } from '../../src/core/patch.js'
import type { ClusterFacts, InjectorConfig, InjectResult, Pod } from '../../src/core/types.js'
import { deepFreeze, fixturesDir, loadPod, podFixtureNames } from '../helpers/fixtures.js'
import { validatePod } from '../helpers/validate-pod.js'

const goldenDir = join(fixturesDir, 'injected')
// Regenerate with UPDATE_GOLDEN=1 after a deliberate change, and review the diff.
const update = process.env.UPDATE_GOLDEN === '1'

const modes: Record<string, { config: InjectorConfig, facts: ClusterFacts }> = {
  classic: { config: defaultConfig(), facts: {} },
  native: { config: defaultConfig(), facts: { nativeSidecarsSupported: true } }
}

function injected (result: InjectResult): Pod {
  if (result.outcome !== 'injected') throw new Error(`expected an injection, got ${result.outcome}: ${JSON.stringify(result)}`)
  return result.pod
}

/** JSON as the wire sees it: undefined properties dropped. */
function wire<T> (value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

function podWith (extra: { annotations?: Record<string, string>, labels?: Record<string, string> }, containers?: V1Container[]): Pod {
  return deepFreeze<Pod>({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'apps', ...extra },
    spec: { containers: containers ?? [{ name: 'app', image: 'example.com/app:1', ports: [{ containerPort: 8080 }] }] }
  })
}

const container = (pod: Pod, name: string): V1Container | undefined =>
  [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(c => c.name === name)

for (const file of podFixtureNames()) {
  for (const [mode, { config, facts }] of Object.entries(modes)) {
    t.test(`${file} (${mode})`, async t => {
      const input = loadPod(file)
      const result = inject(input, { namespace: 'default' }, config, facts)
      const out = injected(result)

      const golden = join(goldenDir, `${file.replace(/\.(ya?ml|json)$/, '')}.${mode}.yaml`)
      if (update || !existsSync(golden)) {
        mkdirSync(goldenDir, { recursive: true })
        writeFileSync(golden, stringify(wire(out)))
      }
      t.same(wire(out), parse(readFileSync(golden, 'utf8')), 'matches the golden injected pod')

      t.same(validatePod(out), [], 'passes the structural validator')
      const ops = diffPatch(input, out)
      const applied = jsonPatch.applyPatch(structuredClone(input), ops, true, false).newDocument
      t.same(wire(applied), wire(out), 'applying the patch to the input gives the injected pod')
      t.notOk(ops.some(op => op.path.startsWith('/metadata/managedFields')), 'managedFields never in the patch')

      const again = injected(inject(out, { namespace: 'default' }, config, facts))
      t.same(wire(again), wire(out), 'injecting twice equals injecting once')
      t.same(diffPatch(out, again), [], 'and re-injection patches nothing')
      t.same(wire(input), wire(loadPod(file)), 'the input is not mutated')
    })
  }
}

t.test('classic layout: the proxy is the last container, istio-init the last init container', async t => {
  const out = injected(inject(loadPod('init-containers.yaml'), {}, defaultConfig()))
  t.same(out.spec?.containers.map(c => c.name), ['shop', 'istio-proxy'])
  t.same(out.spec?.initContainers?.map(c => c.name), ['migrate-db', 'istio-init'])
  t.equal(container(out, 'istio-proxy')?.restartPolicy, undefined)
  t.equal(container(out, 'istio-proxy')?.lifecycle, undefined)
  const status = JSON.parse(out.metadata?.annotations?.['sidecar.istio.io/status'] ?? '') as Record<string, unknown>
  t.same(Object.keys(status), ['initContainers', 'containers', 'volumes', 'imagePullSecrets', 'revision', 'digest', 'restore'], 'Istio’s keys in Istio’s order, then ours')
  t.match(status, {
    initContainers: ['istio-init'],
    containers: ['istio-proxy'],
    volumes: ['workload-socket', 'credential-socket', 'workload-certs', 'istio-envoy', 'istio-data', 'istio-podinfo', 'istio-token', 'istiod-ca-cert', 'istio-ca-crl'],
    imagePullSecrets: null,
    revision: 'default'
  })
  t.same(status.restore, {
    labels: { 'security.istio.io/tlsMode': null, 'service.istio.io/canonical-name': null, 'service.istio.io/canonical-revision': null },
    annotations: {
      'prometheus.io/scrape': null,
      'prometheus.io/port': null,
      'prometheus.io/path': null,
      'istio.io/rev': null,
      'kubectl.kubernetes.io/default-container': null,
      'kubectl.kubernetes.io/default-logs-container': null
    }
  }, 'restore records what was absent before')
})

t.test('hold: the proxy goes first and holds the app with pilot-agent wait', async t => {
  const config = { ...defaultConfig(), holdApplicationUntilProxyStarts: true }
  const out = injected(inject(loadPod('simple.yaml'), {}, config))
  t.same(out.spec?.containers.map(c => c.name), ['istio-proxy', 'hello'])
  t.same(container(out, 'istio-proxy')?.lifecycle, { postStart: { exec: { command: ['pilot-agent', 'wait'] } } })
  const perPod = injected(inject(podWith({ annotations: { 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: true' } }), {}, defaultConfig()))
  t.equal(perPod.spec?.containers[0]?.name, 'istio-proxy', 'proxy.istio.io/config turns it on per pod')
})

t.test('native layout: istio-init, then the proxy with restartPolicy Always, then user init containers', async t => {
  const out = injected(inject(loadPod('init-containers.yaml'), {}, defaultConfig(), { nativeSidecarsSupported: true }))
  t.same(out.spec?.containers.map(c => c.name), ['shop'])
  t.same(out.spec?.initContainers?.map(c => c.name), ['istio-init', 'istio-proxy', 'migrate-db'])
  const proxy = container(out, 'istio-proxy')
  t.equal(proxy?.restartPolicy, 'Always')
  t.same(proxy?.lifecycle, { preStop: { exec: { command: ['pilot-agent', 'request', '--debug-port=15020', 'POST', 'drain'] } } })
  t.match(proxy?.startupProbe, { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 1, failureThreshold: 600 })
  t.match(JSON.parse(out.metadata?.annotations?.['sidecar.istio.io/status'] ?? ''), { initContainers: ['istio-init', 'istio-proxy'], containers: null })
})

t.test('native mode: config, facts and the per-pod annotation', async t => {
  const pod = podWith({})
  const isNative = (r: InjectResult): boolean => container(injected(r), 'istio-proxy')?.restartPolicy === 'Always'
  t.equal(isNative(inject(pod, {}, defaultConfig())), false, 'auto with unknown nodes is classic')
  t.equal(isNative(inject(pod, {}, defaultConfig(), { nativeSidecarsSupported: false })), false, 'auto with old nodes is classic')
  t.equal(isNative(inject(pod, {}, defaultConfig(), { nativeSidecarsSupported: true })), true, 'auto with new nodes is native')
  t.equal(isNative(inject(pod, {}, { ...defaultConfig(), nativeSidecars: 'true' })), true)
  t.equal(isNative(inject(pod, {}, { ...defaultConfig(), nativeSidecars: 'false' }, { nativeSidecarsSupported: true })), false)
  const forced = podWith({ annotations: { 'sidecar.istio.io/nativeSidecar': 'false' } })
  t.equal(isNative(inject(forced, {}, { ...defaultConfig(), nativeSidecars: 'true' })), false, 'the annotation wins')
  const bad = inject(podWith({ annotations: { 'sidecar.istio.io/nativeSidecar': 'maybe' } }), {}, defaultConfig())
  t.match(bad.warnings, [/nativeSidecar/], 'an invalid value is a warning')
})

t.test('the init container: Istio’s argument order, our capture command', async t => {
  const init = container(injected(inject(loadPod('simple.yaml'), {}, defaultConfig())), 'istio-init')
  t.same(init?.command, ['sidecar-injector', 'capture'])
  t.same(init?.args, ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020', '--log_output_level=default:info'])
  t.same(init?.securityContext?.capabilities, { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] })
  t.equal(init?.securityContext?.runAsUser, 0)

  const istio = container(injected(inject(loadPod('simple.yaml'), {}, { ...defaultConfig(), initCommand: 'istio-iptables' })), 'istio-init')
  t.equal(istio?.command, undefined)
  t.equal(istio?.args?.[0], 'istio-iptables', 'the switch selects istio-iptables')

  const ports = podWith({
    annotations: {
      'traffic.sidecar.istio.io/includeInboundPorts': '1,2,3',
      'traffic.sidecar.istio.io/excludeInboundPorts': '4,5,6',
      'traffic.sidecar.istio.io/excludeOutboundPorts': '7,8,9'
    }
  })
  const args = container(injected(inject(ports, {}, defaultConfig())), 'istio-init')?.args ?? []
  t.same(args.slice(12, 18), ['-b', '1,2,3', '-d', '15090,15021,4,5,6,15020', '-o', '7,8,9'], 'Istio’s documented example')

  const listed = podWith({ annotations: { 'traffic.sidecar.istio.io/excludeInboundPorts': '15020,8443' } })
  t.equal(container(injected(inject(listed, {}, defaultConfig())), 'istio-init')?.args?.[15], '15090,15021,15020,8443', 'the status port is not listed twice')
})

t.test('resources: when any annotation is set, only the annotated fields', async t => {
  const one = injected(inject(podWith({ annotations: { 'sidecar.istio.io/proxyCPU': '4000m' } }), {}, defaultConfig()))
  t.same(container(one, 'istio-proxy')?.resources, { requests: { cpu: '4000m' } })
  t.same(container(one, 'istio-init')?.resources, { requests: { cpu: '4000m' } }, 'the init container gets the same')
  const none = injected(inject(podWith({}), {}, defaultConfig()))
  t.same(container(none, 'istio-proxy')?.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } })
})

t.test('status port 0 removes the proxy probes and leaves -d without it', async t => {
  const out = injected(inject(loadPod('interception-none.yaml'), {}, defaultConfig()))
  const proxy = container(out, 'istio-proxy')
  t.equal(proxy?.readinessProbe, undefined)
  t.equal(proxy?.startupProbe, undefined)
  t.equal(container(out, 'istio-init'), undefined, 'interception NONE: no istio-init')
  t.equal(proxy?.env?.find(e => e.name === 'ISTIO_META_INTERCEPTION_MODE')?.value, 'NONE')
  const zero = injected(inject(podWith({ annotations: { 'status.sidecar.istio.io/port': '0' } }), {}, defaultConfig()))
  t.equal(container(zero, 'istio-init')?.args?.[15], '15090,15021')
})

t.test('readiness overrides, log levels, images', async t => {
  const out = injected(inject(loadPod('annotated.yaml'), {}, defaultConfig()))
  const proxy = container(out, 'istio-proxy')
  t.match(proxy?.readinessProbe, { initialDelaySeconds: 5, periodSeconds: 10, failureThreshold: 30, timeoutSeconds: 3 })
  t.same(proxy?.args?.slice(4), ['--proxyLogLevel=debug', '--proxyComponentLogLevel=upstream:debug', '--log_output_level=default:debug'])
  t.equal(proxy?.image, 'registry.example.com/istio/proxyv2:1.28.0-custom')
  t.equal(container(out, 'istio-init')?.image, 'registry.example.com/istio/proxyv2:1.28.0-custom', 'proxyImage changes the init image too, as in Istio')
  t.same(container(out, 'istio-init')?.args, [
    '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '10.0.0.0/8,172.16.0.0/12', '-x', '10.96.0.1/32',
    '-b', '9080,9443', '-d', '15090,15021,9443,15030', '-q', '443', '-o', '3306,5432', '-k', 'net1', '-c', 'eth9', '--log_output_level=default:debug'
  ])
  t.same(out.spec?.containers.map(c => c.name), ['istio-proxy', 'ratings'], 'hold from proxy.istio.io/config puts the proxy first')
  t.same(container(out, 'ratings')?.readinessProbe?.httpGet, { port: 15030, path: '/app-health/ratings/readyz' }, 'probes go to the pod’s status port')
  t.same(proxy?.volumeMounts?.at(-1), { name: 'extra-certs', mountPath: '/etc/extra-certs', readOnly: true })
  t.same(out.spec?.volumes?.find(v => v.name === 'extra-certs'), { name: 'extra-certs', secret: { secretName: 'extra-certs' } })
  t.same(out.spec?.volumes?.find(v => v.name === 'custom-bootstrap-volume'), { name: 'custom-bootstrap-volume', configMap: { name: 'my-bootstrap' } })
  t.equal(proxy?.env?.find(e => e.name === 'ISTIO_META_DNS_CAPTURE')?.value, 'true', 'proxyMetadata reaches the proxy')
  t.same(container(out, 'istio-init')?.env, [{ name: 'ISTIO_META_DNS_CAPTURE', value: 'true' }], 'and the init container')
  const imageType = injected(inject(podWith({ annotations: { 'sidecar.istio.io/proxyImageType': 'distroless' } }), {}, defaultConfig()))
  t.equal(container(imageType, 'istio-proxy')?.image, 'docker.io/istio/proxyv2:1.28.0-distroless')
})

t.test('the Prometheus merge points scraping at the agent and hands the app’s settings to it', async t => {
  const out = injected(inject(loadPod('prometheus.yaml'), {}, defaultConfig()))
  t.match(out.metadata?.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15020', 'prometheus.io/path': '/stats/prometheus' })
  t.same(JSON.parse(container(out, 'istio-proxy')?.env?.find(e => e.name === 'ISTIO_PROMETHEUS_ANNOTATIONS')?.value ?? ''),
    { scrape: 'true', path: '/custom-metrics', port: '9100' })
  const off = injected(inject(podWith({ annotations: { 'prometheus.io/scrape': 'false' } }), {}, defaultConfig()))
  t.equal(off.metadata?.annotations?.['prometheus.io/port'], undefined, 'scrape false turns the merge off')
  const disabled = injected(inject(podWith({ annotations: { 'prometheus.istio.io/merge-metrics': 'false' } }), {}, defaultConfig()))
  t.equal(disabled.metadata?.annotations?.['prometheus.io/port'], undefined)
})

t.test('user volumes and mounts must agree', async t => {
  const r = inject(podWith({ annotations: { 'sidecar.istio.io/userVolumeMount': '{"nowhere":{"mountPath":"/x"}}' } }), {}, defaultConfig())
  t.equal(r.outcome, 'rejected')
  t.match(r.outcome === 'rejected' ? r.message : '', /sidecar.istio.io\/userVolumeMount.*names no volume/)
})

t.test('every invalid annotation rejects the pod, naming the annotation and the value', async t => {
  const invalid: Array<[string, string]> = [
    ['sidecar.istio.io/interceptionMode', 'TPROXY'],
    ['sidecar.istio.io/interceptionMode', 'redirect'],
    ['traffic.sidecar.istio.io/includeOutboundIPRanges', '10.0.0.0/8, 172.16.0.0/12'],
    ['traffic.sidecar.istio.io/excludeOutboundIPRanges', '*'],
    ['traffic.sidecar.istio.io/includeInboundPorts', '80,http'],
    ['traffic.sidecar.istio.io/excludeInboundPorts', '*'],
    ['traffic.sidecar.istio.io/includeOutboundPorts', '70000'],
    ['traffic.sidecar.istio.io/excludeOutboundPorts', '-1'],
    ['traffic.sidecar.istio.io/excludeInterfaces', 'a-very-long-interface-name'],
    ['istio.io/reroute-virtual-interfaces', 'eth0/1'],
    ['traffic.sidecar.istio.io/kubevirtInterfaces', 'net 1'],
    ['status.sidecar.istio.io/port', '65536'],
    ['readiness.status.sidecar.istio.io/initialDelaySeconds', '-5'],
    ['readiness.status.sidecar.istio.io/periodSeconds', 'ten'],
    ['readiness.status.sidecar.istio.io/failureThreshold', '1.5'],
    ['sidecar.istio.io/proxyCPU', 'lots'],
    ['sidecar.istio.io/proxyMemory', '1Gb'],
    ['sidecar.istio.io/proxyCPULimit', '-2'],
    ['sidecar.istio.io/proxyMemoryLimit', '1Gi\n'],
    ['prometheus.istio.io/merge-metrics', 'maybe'],
    ['prometheus.io/port', '15090'],
    ['prometheus.io/port', 'metrics'],
    ['sidecar.istio.io/userVolume', '{not json'],
    ['sidecar.istio.io/userVolumeMount', '["a"]'],
    ['proxy.istio.io/config', 'holdApplicationUntilProxyStarts: sometimes'],
    ['proxy.istio.io/config', '{ unclosed']
  ]
  for (const [annotation, value] of invalid) {
    const result = inject(podWith({ annotations: { [annotation]: value } }), {}, defaultConfig())
    t.equal(result.outcome, 'rejected', `${annotation}: ${JSON.stringify(value)}`)
    if (result.outcome !== 'rejected') continue
    t.match(result.problems, [{ annotation, value }])
    // A structured value is not quoted back: its problem names the field (test/core/proxy-config.test.ts).
    const quoted = annotation !== 'proxy.istio.io/config'
    t.ok(result.message.includes(`'${annotation}'`) && result.message.includes(`'${value}'`) === quoted, quoted ? 'the message names both' : 'the message names the annotation, not the value')
  }
  const tproxy = inject(podWith({ annotations: { 'sidecar.istio.io/interceptionMode': 'TPROXY' } }), {}, defaultConfig())
  t.match(tproxy.outcome === 'rejected' ? tproxy.message : '', /TPROXY interception is not supported/)

  const two = inject(podWith({ annotations: { 'sidecar.istio.io/proxyCPU': 'x', 'status.sidecar.istio.io/port': 'y' } }), {}, defaultConfig())
  t.equal(two.outcome === 'rejected' ? two.problems.length : 0, 2, 'all problems at once')
})

t.test('values Istio ignores when invalid are warnings, not rejections', async t => {
  const r = inject(podWith({
    annotations: { 'sidecar.istio.io/rewriteAppHTTPProbers': 'perhaps', 'sidecar.istio.io/proxyImage': 'no-repository' },
    labels: { 'sidecar.istio.io/inject': 'yes' }
  }), {}, defaultConfig())
  t.equal(r.outcome, 'injected')
  t.equal(r.warnings.length, 3)
})

t.test('skipped pods come back with a reason and no pod', async t => {
  const r = inject(podWith({ labels: { 'sidecar.istio.io/inject': 'false' } }), {}, defaultConfig())
  t.match(r, { outcome: 'skipped', decision: { inject: false, reason: 'label-false' } })
})

t.test('probe rewriting can be turned off per pod and in the config', async t => {
  const probes = loadPod('probes.yaml')
  const off = injected(inject({ ...probes, metadata: { ...probes.metadata, annotations: { 'sidecar.istio.io/rewriteAppHTTPProbers': 'false' } } }, {}, defaultConfig()))
  t.same(off.spec?.containers[0]?.livenessProbe, { httpGet: { port: 'http' } })
  t.equal(container(off, 'istio-proxy')?.env?.find(e => e.name === 'ISTIO_KUBE_APP_PROBERS'), undefined)
  const cfgOff = injected(inject(probes, {}, { ...defaultConfig(), rewriteAppHTTPProbers: false }))
  t.same(cfgOff.spec?.containers[0]?.livenessProbe, { httpGet: { port: 'http' } })
})

t.test('probe rewriting follows Istio’s recorded originals', async t => {
  const out = injected(inject(loadPod('probes.yaml'), {}, defaultConfig()))
  const probers = JSON.parse(container(out, 'istio-proxy')?.env?.find(e => e.name === 'ISTIO_KUBE_APP_PROBERS')?.value ?? '{}') as Record<string, unknown>
  t.same(Object.keys(probers), Object.keys(probers).sort(), 'keys sorted')
  t.same(probers['/app-health/hello/livez'], { httpGet: { port: 80 } }, 'named port resolved')
  t.same(probers['/app-health/hello/readyz'], { httpGet: { port: 3333, path: '/ready', scheme: 'HTTPS' }, timeoutSeconds: 5 })
  t.same(probers['/app-health/world/livez'], { tcpSocket: { port: 90 } })
  t.same(probers['/app-lifecycle/hello/poststartz'], { tcpSocket: { port: 93 } })
  t.same(probers['/app-health/hello/startupz'], { grpc: { port: 9090 } })
  t.same(out.spec?.containers[0]?.readinessProbe, { httpGet: { port: 15020, path: '/app-health/hello/readyz' }, timeoutSeconds: 5 }, 'HTTPS becomes HTTP')
  t.same(out.spec?.containers[1]?.readinessProbe, { exec: { command: ['cat', '/tmp/ready'] } }, 'exec untouched')
})

t.test('user-declared istio-proxy and istio-init are merged over the injected ones', async t => {
  const out = injected(inject(loadPod('user-overrides.yaml'), {}, defaultConfig()))
  const proxy = container(out, 'istio-proxy')
  t.equal(proxy?.image, defaultConfig().images.proxy, 'image: auto keeps ours')
  t.same(proxy?.resources, { requests: { cpu: '123m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } })
  t.equal(proxy?.securityContext?.runAsUser, 1234)
  t.same(container(out, 'istio-init')?.args?.slice(4, 6), ['-u', '1234'], 'the capture rules follow the proxy uid')
  t.same(container(out, 'istio-init')?.resources?.limits, { cpu: '2', memory: '64Mi' })
  t.equal(out.spec?.containers.filter(c => c.name === 'istio-proxy').length, 1, 'one proxy, not two')
  t.match(JSON.parse(out.metadata?.annotations?.['proxy.istio.io/overrides'] ?? '{}'), { containers: [{ name: 'istio-proxy' }], initContainers: [{ name: 'istio-init' }] })
})

t.test('labels and annotations added, existing values kept', async t => {
  const out = injected(inject(loadPod('init-containers.yaml'), {}, { ...defaultConfig(), revision: 'canary', injectedAnnotations: { 'example.com/injected': 'yes' } }))
  t.match(out.metadata?.labels, {
    'security.istio.io/tlsMode': 'istio',
    'service.istio.io/canonical-name': 'shop',
    'service.istio.io/canonical-revision': '2.1'
  })
  t.match(out.metadata?.annotations, { 'istio.io/rev': 'canary', 'example.com/injected': 'yes', 'kubectl.kubernetes.io/default-container': 'shop' })
  const kept = injected(inject(podWith({ labels: { 'security.istio.io/tlsMode': 'disabled' } }), {}, defaultConfig()))
  t.equal(kept.metadata?.labels?.['security.istio.io/tlsMode'], 'disabled')
})

t.test('pods from controllers: the workload and namespace come from the owner and the request', async t => {
  const out = injected(inject(loadPod('api-server-defaulted.json'), { namespace: 'bookinfo' }, defaultConfig()))
  const env = container(out, 'istio-proxy')?.env ?? []
  t.equal(env.find(e => e.name === 'ISTIO_META_WORKLOAD_NAME')?.value, 'reviews-v1')
  t.equal(env.find(e => e.name === 'ISTIO_META_OWNER')?.value, 'kubernetes://apis/apps/v1/namespaces/bookinfo/deployments/reviews-v1')
  t.equal(out.metadata?.namespace, undefined, 'the namespace is not written into the pod')
})

t.test('an ignored namespace taken from the request skips a pod without one', async t => {
  const r = inject(loadPod('api-server-defaulted.json'), { namespace: 'kube-system' }, defaultConfig())
  t.match(r, { outcome: 'skipped', decision: { reason: 'ignored-namespace' } })
})

t.test('uninject(inject(x)) is x, for every fixture in both modes', async t => {
  for (const file of podFixtureNames()) {
    for (const [mode, { config, facts }] of Object.entries(modes)) {
      const input = loadPod(file)
      const out = deepFreeze(injected(inject(input, {}, config, facts)))
      const back = uninject(out)
      t.equal(back.exact, true)
      t.same(wire(back.pod), wire(input), `${file} (${mode})`)
    }
  }
})

t.test('a container named __proto__ is a container like any other: its probe is kept on re-injection and restored', async t => {
  // The API server refuses that name, but only after the mutating webhooks have run.
  const pod = podWith({}, [{ name: '__proto__', image: 'example.com/app:1', readinessProbe: { httpGet: { path: '/ready', port: 8080 } } }])
  const once = injected(inject(pod, {}, defaultConfig()))
  const twice = injected(inject(deepFreeze(wire(once)), {}, defaultConfig()))
  t.same(wire(twice), wire(once), 'inject(inject(x)) == inject(x)')
  const probers = once.spec?.containers.find(c => c.name === 'istio-proxy')?.env?.find(e => e.name === 'ISTIO_KUBE_APP_PROBERS')?.value
  t.match(probers, /\/app-health\/__proto__\/readyz/)
  const back = uninject(deepFreeze(wire(once)))
  t.equal(back.exact, true)
  t.same(wire(back.pod), wire(pod))
})

t.test('a pod injected by Istio (no restore record) is stripped Istio’s way and re-injected once', async t => {
  const first = injected(inject(loadPod('probes.yaml'), {}, defaultConfig()))
  const status = JSON.parse(first.metadata?.annotations?.['sidecar.istio.io/status'] ?? '{}') as Record<string, unknown>
  delete status.restore
  const istioLike = deepFreeze<Pod>({ ...first, metadata: { ...first.metadata, annotations: { ...first.metadata?.annotations, 'sidecar.istio.io/status': JSON.stringify(status) } } })
  const again = injected(inject(istioLike, {}, defaultConfig()))
  t.equal(again.spec?.containers.filter(c => c.name === 'istio-proxy').length, 1, 'one proxy')
  t.equal(again.spec?.initContainers?.filter(c => c.name === 'istio-init').length, 1, 'one init container')
  const probers = (p: Pod): string | undefined => container(p, 'istio-proxy')?.env?.find(e => e.name === 'ISTIO_KUBE_APP_PROBERS')?.value
  t.equal(probers(again), probers(first), 'the original probes recorded by the first injection are kept')
})

t.test('an edited status annotation of the wrong shape is not trusted, and nothing throws', async t => {
  const first = injected(inject(loadPod('user-overrides.yaml'), {}, defaultConfig()))
  const status = JSON.parse(first.metadata?.annotations?.['sidecar.istio.io/status'] ?? '{}') as Record<string, unknown>
  const edited = (restore: unknown, overrides?: string): Pod => deepFreeze<Pod>({
    ...first,
    metadata: {
      ...first.metadata,
      annotations: {
        ...first.metadata?.annotations,
        'sidecar.istio.io/status': JSON.stringify({ ...status, restore }),
        ...(overrides === undefined ? {} : { 'proxy.istio.io/overrides': overrides })
      }
    }
  })
  for (const restore of [{ overrides: 5 }, { labels: 'x', probes: [1] }, { overrides: [{ list: 'nowhere', index: -1 }] }, 'garbage']) {
    const back = uninject(edited(restore))
    t.equal(back.pod.spec?.containers.filter(c => c.name === 'istio-proxy').length, 0, `${JSON.stringify(restore)}: the injected proxy is still removed`)
    t.equal(inject(edited(restore), {}, defaultConfig()).outcome, 'injected', 're-injection still works')
  }
  const unreadable = uninject(edited(status.restore, '{not json'))
  t.same(unreadable.pod.spec?.containers.map(c => c.name), ['app'], 'unreadable overrides: nothing is put back, nothing throws')
})

// The contract between the injection core and the init container: every pod the core admits gets an
// init container whose args and env `sidecar-injector capture` accepts. Checked on the pod fixtures and
// on pods with generated capture annotations and proxyMetadata (a seeded generator, so a failure is
// reproducible: its seed and values are in the message).
import t from 'tap'
import type { V1Container } from '@kubernetes/client-node'
import { parseCaptureOptions } from '../../src/capture/options.js'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { InjectResult, Pod } from '../../src/core/types.js'
import { loadPod, podFixtureNames } from '../helpers/fixtures.js'

function podWith (annotations: Record<string, string>): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', annotations }, spec: { containers: [{ name: 'app', image: 'app:1' }] } }
}

function captureInit (result: InjectResult): V1Container | undefined {
  if (result.outcome !== 'injected') return undefined
  return result.pod.spec?.initContainers?.find(c => c.name === 'istio-init')
}

/** The init container's args and env through capture's parser: '' when accepted, else the problems. */
function refusal (init: V1Container): string {
  const env = Object.fromEntries((init.env ?? []).map(e => [e.name, e.value ?? '']))
  const parsed = parseCaptureOptions(init.args ?? [], env)
  return parsed.ok ? '' : parsed.problems.map(p => `${p.code}: ${p.message}`).join('; ')
}

t.test('an interface name capture would refuse is refused at admission, naming the annotation', async t => {
  for (const [annotation, value] of [
    ['traffic.sidecar.istio.io/excludeInterfaces', 'eth0:1'],
    ['traffic.sidecar.istio.io/kubevirtInterfaces', 'net1,eth0:1'],
    ['istio.io/reroute-virtual-interfaces', 'tap0:x']
  ] as const) {
    const result = inject(podWith({ [annotation]: value }), {}, defaultConfig())
    t.equal(result.outcome, 'rejected', `${annotation}: ${value}`)
    if (result.outcome !== 'rejected') continue
    t.match(result.problems, [{ annotation, value }])
    t.match(result.message, new RegExp(`annotation '${annotation.replaceAll('.', '\\.')}': .*is not an interface name`))
  }
})

t.test('capture variables in proxyMetadata that capture would refuse are refused at admission', async t => {
  const config = '{"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "yes"}}'
  const result = inject(podWith({ 'proxy.istio.io/config': config }), {}, defaultConfig())
  t.equal(result.outcome, 'rejected')
  t.match(result.outcome === 'rejected' ? result.problems : [], [{ annotation: 'proxy.istio.io/config proxyMetadata.ISTIO_META_DNS_CAPTURE', value: 'yes' }])
  const fine = inject(podWith({ 'proxy.istio.io/config': '{"proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}}' }), {}, defaultConfig())
  t.equal(fine.outcome, 'injected', 'a value capture reads is admitted')
})

t.test('ports.tunnel reaches the init container as -e (left out at its default 15008, as istiod does)', async t => {
  const config = defaultConfig()
  t.notOk(captureInit(inject(podWith({}), {}, config))?.args?.includes('-e'), 'no -e at 15008')
  config.ports.tunnel = 15009
  const init = captureInit(inject(podWith({}), {}, config))
  const args = init?.args ?? []
  t.same(args.slice(args.indexOf('-e'), args.indexOf('-e') + 2), ['-e', '15009'])
  const parsed = parseCaptureOptions(args, {})
  t.equal(parsed.ok ? parsed.options.inboundTunnelPort : 0, 15009, 'capture reads the tunnel port')
})

t.test('every fixture pod the core injects has init args capture accepts', async t => {
  let checked = 0
  for (const file of podFixtureNames()) {
    for (const facts of [{}, { nativeSidecarsSupported: true }]) {
      const init = captureInit(inject(loadPod(file), {}, defaultConfig(), facts))
      if (init === undefined) continue
      checked++
      t.equal(refusal(init), '', file)
    }
  }
  t.ok(checked >= 10, `${checked} init containers checked`)
})

// A small deterministic PRNG (mulberry32), so that generated cases are the same on every run.
function random (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

// Fragments of values, mostly good ones (so that many pods are admitted), with bad ones among them.
const good = {
  cidr: ['10.0.0.0/8', '10.1.2.3/8', '192.168.0.1/32', 'fd00::/8', '::1/128', '::ffff:10.0.0.1/128', '0.0.0.0/0', '*'],
  port: ['80', '8080', '0', '65535', ' 80 ', '15020', '00080', '*'],
  nic: ['eth0', 'net1', 'tap+', 'veth@if3', 'ens3.100', 'br-x_y'],
  metaValue: ['true', 'false', '1', 'T', 'java,888', '*', '127.0.0.2/8', 'iptables-legacy']
}
const bad = {
  cidr: ['10.0.0.1', '300.0.0.0/8', '10.0.0.0/33', '010.0.0.0/8', 'fe80::1%eth0/64', '', ' 10.0.0.0/8', 'fd00:::/8'],
  port: ['65536', '-1', 'http', '', '1e3'],
  nic: ['eth0:1', 'a-very-long-interface-name', 'eth 1', 'eth0/1', '.', '..', ''],
  metaValue: ['yes', 'maybe', '', '10.0.0.0/8', '::1/128', 'nft']
}

const captureVariables = ['ISTIO_META_DNS_CAPTURE', 'REDIRECT_DNS', 'CAPTURE_ALL_DNS', 'INVALID_DROP', 'DROP_INVALID', 'ISTIO_DUAL_STACK',
  'ISTIO_OUTBOUND_OWNER_GROUPS', 'ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE', 'ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR', 'FORCE_IPTABLES_BINARY',
  'INBOUND_TUNNEL_PORT', 'PROXY_GID', 'ISTIO_META_CLUSTER_ID']
const listAnnotations: Array<[string, keyof typeof good]> = [
  ['traffic.sidecar.istio.io/includeOutboundIPRanges', 'cidr'],
  ['traffic.sidecar.istio.io/excludeOutboundIPRanges', 'cidr'],
  ['traffic.sidecar.istio.io/includeInboundPorts', 'port'],
  ['traffic.sidecar.istio.io/excludeInboundPorts', 'port'],
  ['traffic.sidecar.istio.io/includeOutboundPorts', 'port'],
  ['traffic.sidecar.istio.io/excludeOutboundPorts', 'port'],
  ['traffic.sidecar.istio.io/excludeInterfaces', 'nic'],
  ['traffic.sidecar.istio.io/kubevirtInterfaces', 'nic'],
  ['istio.io/reroute-virtual-interfaces', 'nic']
]

function generatedAnnotations (next: () => number): Record<string, string> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] as T
  const value = (kind: keyof typeof good): string => pick(next() < 0.93 ? good[kind] : bad[kind])
  const out: Record<string, string> = {}
  for (const [annotation, kind] of listAnnotations) {
    if (next() < 0.6) continue
    const count = 1 + Math.floor(next() * 3)
    out[annotation] = Array.from({ length: count }, () => value(kind)).join(',')
  }
  if (next() < 0.2) out['status.sidecar.istio.io/port'] = value('port')
  if (next() < 0.3) out['sidecar.istio.io/agentLogLevel'] = pick(['default:debug', 'info', 'bogus', 'default:none,ads:debug'])
  if (next() < 0.4) {
    const metadata = Object.fromEntries(Array.from({ length: 1 + Math.floor(next() * 2) }, () => [pick(captureVariables), value('metaValue')]))
    out['proxy.istio.io/config'] = JSON.stringify({ proxyMetadata: metadata })
  }
  return out
}

t.test('generated capture annotations: whatever the core admits, capture accepts', async t => {
  const seed = Number(process.env.CAPTURE_CONTRACT_SEED ?? 20261128)
  const next = random(seed)
  const outcomes = { injected: 0, rejected: 0 }
  const failures: string[] = []
  for (let i = 0; i < 2000; i++) {
    const annotations = generatedAnnotations(next)
    const result = inject(podWith(annotations), {}, defaultConfig())
    if (result.outcome === 'skipped') continue
    outcomes[result.outcome]++
    const init = captureInit(result)
    const refused = init === undefined ? '' : refusal(init)
    if (refused !== '' && failures.length < 5) failures.push(`case ${i}: ${JSON.stringify(annotations)} → ${refused}`)
  }
  t.same(failures, [], `seed ${seed}: admitted pods whose init args capture refuses`)
  // Both outcomes occur in numbers, or the property says little.
  t.ok(outcomes.injected > 200 && outcomes.rejected > 200, `injected ${outcomes.injected}, rejected ${outcomes.rejected}`)
})

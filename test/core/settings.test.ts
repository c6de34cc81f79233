// The resolved per-pod settings are what every builder reads: a port moved in the config moves
// everywhere it appears in the injected pod, the reserved ports included.
import t from 'tap'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import { resolveSettings } from '../../src/core/settings.js'
import type { Pod } from '../../src/core/types.js'

function podWith (annotations: Record<string, string>): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', annotations }, spec: { containers: [{ name: 'app', image: 'app:1' }] } }
}

t.test('the reserved ports are the config\'s ports plus the fixed admin, debug and DNS ports', async t => {
  const { settings } = resolveSettings(podWith({}), defaultConfig())
  t.same([...settings.reservedPorts].sort(), [15000, 15001, 15004, 15006, 15008, 15020, 15021, 15053, 15090])
})

t.test('a Prometheus port moved in the config is reserved, and the old one is not', async t => {
  const config = defaultConfig()
  config.ports.prometheus = 16090
  const moved = inject(podWith({ 'prometheus.io/port': '16090' }), {}, config)
  t.equal(moved.outcome, 'rejected')
  t.match(moved.outcome === 'rejected' ? moved.message : '', /prometheus\.io\/port.*reserved by the sidecar/)
  t.equal(inject(podWith({ 'prometheus.io/port': '15090' }), {}, config).outcome, 'injected', '15090 is the app\'s to use now')
  t.equal(inject(podWith({ 'prometheus.io/port': '15090' }), {}, defaultConfig()).outcome, 'rejected', 'reserved with the defaults')
})

t.test('config ports reach the proxy and the init container through the settings', async t => {
  const config = defaultConfig()
  Object.assign(config.ports, { outbound: 16001, inbound: 16006, health: 16021, prometheus: 16090 })
  const result = inject(podWith({}), {}, config)
  if (result.outcome !== 'injected') throw new Error(result.outcome)
  const proxy = result.pod.spec?.containers.find(c => c.name === 'istio-proxy')
  const init = result.pod.spec?.initContainers?.find(c => c.name === 'istio-init')
  t.equal(proxy?.readinessProbe?.httpGet?.port, 16021)
  t.equal(proxy?.ports?.[0]?.containerPort, 16090)
  const args = init?.args ?? []
  t.same([args[1], args[3], args[args.indexOf('-d') + 1]], ['16001', '16006', '16090,16021,15020'])
})

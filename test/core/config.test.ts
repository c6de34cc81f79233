import t from 'tap'
import { defaultConfig, formatConfigProblems, parseConfig } from '../../src/core/config.js'

t.test('an empty document gives the defaults', async t => {
  const result = parseConfig('')
  t.same(result, { ok: true, config: defaultConfig() })
})

t.test('the defaults are Istio’s', async t => {
  const c = defaultConfig()
  t.equal(c.policy, 'enabled')
  t.same(c.ignoredNamespaces, ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage'])
  t.same(c.ports, { outbound: 15001, inbound: 15006, agentStatus: 15020, health: 15021, prometheus: 15090, tunnel: 15008 })
  t.same(c.proxyResources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } })
  t.equal(c.proxyUID, 1337)
  t.equal(c.nativeSidecars, 'auto')
  t.equal(c.rewriteAppHTTPProbers, true)
  t.equal(c.holdApplicationUntilProxyStarts, false)
  t.equal(c.certificates.tokenAudience, 'istio-ca')
  t.equal(c.certificates.caRootConfigMap, 'istio-ca-root-cert')
})

t.test('fields given override the defaults, the rest stay', async t => {
  const result = parseConfig(`
policy: disabled
nativeSidecars: true
images: { proxy: registry.example.com/proxyv2:1.28.0 }
ports: { agentStatus: 15030 }
neverInjectSelector:
  - matchExpressions: [{ key: batch, operator: Exists }]
capture: { excludeOutboundIPRanges: 10.96.0.1/32 }
injectedAnnotations: { container.apparmor.security.beta.kubernetes.io/istio-proxy: runtime/default }
`)
  if (!result.ok) throw new Error(formatConfigProblems(result.problems))
  const c = result.config
  t.equal(c.policy, 'disabled')
  t.equal(c.nativeSidecars, 'true', 'a YAML boolean reads as its text')
  t.equal(c.images.proxy, 'registry.example.com/proxyv2:1.28.0')
  t.equal(c.images.init, defaultConfig().images.init)
  t.equal(c.ports.agentStatus, 15030)
  t.equal(c.ports.outbound, 15001)
  t.same(c.neverInjectSelector, [{ matchExpressions: [{ key: 'batch', operator: 'Exists' }] }])
  t.equal(c.capture.excludeOutboundIPRanges, '10.96.0.1/32')
  t.equal(c.capture.includeOutboundIPRanges, '*')
})

t.test('every problem is reported at once, with its path', async t => {
  const result = parseConfig(`
policy: sometimes
poilcy: enabled
ports: { outbound: 70000, inbund: 1 }
proxyUID: -1
images: { proxy: '' }
proxyResources: { requests: { cpu: lots } }
neverInjectSelector:
  - matchExpressions: [{ key: a, operator: In }]
  - 7
capture: { excludeOutboundIPRanges: '*', includeInboundPorts: 'http', interceptionMode: TPROXY }
certificates: { tokenExpirationSeconds: 60, workloadCertDir: relative/dir }
rewriteAppHTTPProbers: 'yes'
injectedAnnotations: { a: 1 }
`)
  t.equal(result.ok, false)
  if (result.ok) return
  const paths = result.problems.map(p => p.path).sort()
  t.same(paths, [
    'capture.excludeOutboundIPRanges', 'capture.includeInboundPorts', 'capture.interceptionMode',
    'certificates.tokenExpirationSeconds', 'certificates.workloadCertDir',
    'images.proxy', 'injectedAnnotations.a', 'neverInjectSelector[0].matchExpressions[0].values', 'neverInjectSelector[1]',
    'poilcy', 'policy', 'ports.inbund', 'ports.outbound', 'proxyResources.requests.cpu', 'proxyUID', 'rewriteAppHTTPProbers'
  ])
  t.match(formatConfigProblems(result.problems), /policy: must be one of "enabled", "disabled", got "sometimes"/)
  t.match(formatConfigProblems(result.problems), /poilcy: unknown field/)
})

t.test('documents that are not mappings, or not YAML, are refused', async t => {
  t.match(parseConfig('- a\n- b'), { ok: false, problems: [{ path: '(document)', reason: 'must be a mapping' }] })
  t.match(parseConfig('policy: [unclosed'), { ok: false, problems: [{ path: '(document)', reason: /not valid YAML/ }] })
})

t.test('the shipped example config (examples/injector.yaml) is valid and means what its comment says', async t => {
  const { readFileSync } = await import('node:fs')
  const text = readFileSync(new URL('../../examples/injector.yaml', import.meta.url), 'utf8')
  const result = parseConfig(text)
  if (!result.ok) {
    t.fail(formatConfigProblems(result.problems))
    return
  }
  t.equal(result.config.policy, 'disabled')
  t.equal(result.config.nativeSidecars, 'true')
  t.equal(result.config.proxyResources.requests?.cpu, '50m')
  t.equal(result.config.neverInjectSelector.length, 1)
})

// Every per-pod annotation family, once with a valid value (the pod is created and stored with the
// effect) and once with an invalid one (the pod is rejected, and the user sees the annotation and
// the value, or for proxy.istio.io/config the bad field, in the API server's error), through the real API server.
import type { V1Container, V1Pod } from '@kubernetes/client-node'
import t from 'tap'
import { assertInjected } from './lib/assertions.js'
import { apiErrorMessage } from './lib/cluster.js'
import { appPod, initContainer, proxyContainer } from './lib/pods.js'
import { setupSuite } from './lib/suite.js'

const proxy = (pod: V1Pod): V1Container | undefined => proxyContainer(pod)?.container
const initArgs = (pod: V1Pod): string => (initContainer(pod)?.args ?? []).join(' ')
const proxyArgs = (pod: V1Pod): string => (proxy(pod)?.args ?? []).join(' ')

interface Family {
  annotation: string
  valid: string
  /** What the valid value must do to the stored pod. */
  effect: (pod: V1Pod) => boolean
  effectIs: string
  invalid?: string
  /** For a structured value: what the refusal names instead of quoting the value (the bad field). */
  invalidNames?: string
}

const families: Family[] = [
  { annotation: 'sidecar.istio.io/interceptionMode', valid: 'NONE', effect: p => initContainer(p) === undefined, effectIs: 'no istio-init', invalid: 'BRIDGE' },
  { annotation: 'traffic.sidecar.istio.io/includeOutboundIPRanges', valid: '10.0.0.0/8,172.16.0.0/12', effect: p => /-i 10\.0\.0\.0\/8,172\.16\.0\.0\/12/.test(initArgs(p)), effectIs: 'istio-init -i', invalid: '10.0.0.0/33' },
  { annotation: 'traffic.sidecar.istio.io/excludeOutboundIPRanges', valid: '169.254.169.254/32', effect: p => /-x 169\.254\.169\.254\/32/.test(initArgs(p)), effectIs: 'istio-init -x', invalid: '*' },
  { annotation: 'traffic.sidecar.istio.io/includeInboundPorts', valid: '8080,9090', effect: p => /-b 8080,9090/.test(initArgs(p)), effectIs: 'istio-init -b', invalid: 'http' },
  { annotation: 'traffic.sidecar.istio.io/excludeInboundPorts', valid: '8081', effect: p => /-d \S*8081/.test(initArgs(p)), effectIs: 'istio-init -d', invalid: '70000' },
  { annotation: 'traffic.sidecar.istio.io/includeOutboundPorts', valid: '5432', effect: p => /-q 5432/.test(initArgs(p)), effectIs: 'istio-init -q', invalid: 'db' },
  { annotation: 'traffic.sidecar.istio.io/excludeOutboundPorts', valid: '25,587', effect: p => /-o 25,587/.test(initArgs(p)), effectIs: 'istio-init -o', invalid: '25;587' },
  { annotation: 'traffic.sidecar.istio.io/excludeInterfaces', valid: 'eth1', effect: p => /-c eth1/.test(initArgs(p)), effectIs: 'istio-init -c', invalid: 'eth 1' },
  { annotation: 'istio.io/reroute-virtual-interfaces', valid: 'tap0', effect: p => /-k tap0/.test(initArgs(p)), effectIs: 'istio-init -k', invalid: 'tap 0' },
  { annotation: 'status.sidecar.istio.io/port', valid: '15030', effect: p => /-d 15090,15021,15030( |$)/.test(initArgs(p)) && p.spec?.containers.find(c => c.name === 'app')?.readinessProbe?.httpGet?.port === 15030, effectIs: 'excluded from capture, and the rewritten app probe goes to it', invalid: '99999' },
  { annotation: 'readiness.status.sidecar.istio.io/initialDelaySeconds', valid: '7', effect: p => proxy(p)?.readinessProbe?.initialDelaySeconds === 7, effectIs: 'readiness initialDelaySeconds 7', invalid: '-1' },
  { annotation: 'readiness.status.sidecar.istio.io/periodSeconds', valid: '11', effect: p => proxy(p)?.readinessProbe?.periodSeconds === 11, effectIs: 'readiness periodSeconds 11', invalid: 'often' },
  { annotation: 'readiness.status.sidecar.istio.io/failureThreshold', valid: '9', effect: p => proxy(p)?.readinessProbe?.failureThreshold === 9, effectIs: 'readiness failureThreshold 9', invalid: '1.5' },
  { annotation: 'sidecar.istio.io/proxyCPU', valid: '250m', effect: p => proxy(p)?.resources?.requests?.cpu === '250m', effectIs: 'cpu request 250m', invalid: 'two cores' },
  { annotation: 'sidecar.istio.io/proxyMemory', valid: '256Mi', effect: p => proxy(p)?.resources?.requests?.memory === '256Mi', effectIs: 'memory request 256Mi', invalid: '256MB!' },
  { annotation: 'sidecar.istio.io/proxyCPULimit', valid: '1', effect: p => proxy(p)?.resources?.limits?.cpu === '1', effectIs: 'cpu limit 1', invalid: '1 core' },
  { annotation: 'sidecar.istio.io/proxyMemoryLimit', valid: '512Mi', effect: p => proxy(p)?.resources?.limits?.memory === '512Mi', effectIs: 'memory limit 512Mi', invalid: 'half a gig' },
  { annotation: 'proxy.istio.io/config', valid: '{"holdApplicationUntilProxyStarts": true}', effect: p => p.spec?.containers[0]?.name === 'istio-proxy' || proxyContainer(p)?.native === true, effectIs: 'the proxy starts first', invalid: 'concurrency: many', invalidNames: 'field concurrency' },
  { annotation: 'prometheus.istio.io/merge-metrics', valid: 'false', effect: p => p.metadata?.annotations?.['prometheus.io/port'] !== '15020', effectIs: 'no merged scrape annotations', invalid: 'maybe' },
  { annotation: 'sidecar.istio.io/userVolume', valid: '{"extra":{"emptyDir":{}}}', effect: p => p.spec?.volumes?.some(v => v.name === 'extra') === true, effectIs: 'volume extra', invalid: '["not", "a", "map"]' },
  { annotation: 'sidecar.istio.io/logLevel', valid: 'debug', effect: p => /--proxyLogLevel[= ]debug/.test(proxyArgs(p)), effectIs: 'proxy --proxyLogLevel debug' },
  { annotation: 'sidecar.istio.io/proxyImage', valid: 'registry.example/istio/proxyv2:1.28.0', effect: p => proxy(p)?.image === 'registry.example/istio/proxyv2:1.28.0', effectIs: 'the proxy image' },
  { annotation: 'sidecar.istio.io/rewriteAppHTTPProbers', valid: 'false', effect: p => p.spec?.containers.find(c => c.name === 'app')?.readinessProbe?.httpGet?.port === 80, effectIs: 'the app probe left on port 80' }
]

t.test('annotations through the real API server', async t => {
  const suite = await setupSuite(t, { name: 'annot' })
  const ns = await suite.namespace('annotations', { 'istio-injection': 'enabled' })

  let index = 0
  for (const family of families) {
    const n = ++index
    await t.test(family.annotation, async t => {
      const created = await suite.createPod(ns, appPod(`valid-${n}`, { annotations: { [family.annotation]: family.valid } }))
      const stored = await suite.cluster.core.readNamespacedPod({ namespace: ns, name: created.metadata?.name ?? '' })
      t.ok(proxyContainer(stored), `valid '${family.valid}': stored with the sidecar`)
      t.ok(family.effect(stored), `valid '${family.valid}': ${family.effectIs}`, {
        init: initContainer(stored)?.args, proxy: proxy(stored)?.args, readiness: proxy(stored)?.readinessProbe, resources: proxy(stored)?.resources
      })
      if (family.invalid === undefined) return
      try {
        await suite.createPod(ns, appPod(`invalid-${n}`, { annotations: { [family.annotation]: family.invalid } }))
        t.fail(`invalid '${family.invalid}': the pod was admitted`)
      } catch (err) {
        const message = apiErrorMessage(err)
        t.match(message, /admission webhook "[^"]+" denied the request/, `invalid '${family.invalid}': rejected by the webhook`)
        if (family.invalidNames === undefined) t.ok(message.includes(family.annotation) && message.includes(family.invalid), 'the message names the annotation and the value', { message })
        else t.ok(message.includes(family.annotation) && message.includes(family.invalidNames) && !message.includes(family.invalid), `the message names the annotation and ${family.invalidNames}, not the value`, { message })
      }
    })
  }

  await t.test('several invalid annotations are reported at once', async t => {
    try {
      await suite.createPod(ns, appPod('two-problems', {
        annotations: { 'sidecar.istio.io/proxyCPU': 'lots', 'traffic.sidecar.istio.io/excludeInboundPorts': 'ssh' }
      }))
      t.fail('the pod was admitted')
    } catch (err) {
      const message = apiErrorMessage(err)
      t.ok(message.includes("'lots'") && message.includes("'ssh'"), 'both values are in one message', { message })
    }
  })

  await t.test('a plain injected pod next to them is still fine', async t => {
    await suite.createPod(ns, appPod('plain'))
    assertInjected(t, await suite.cluster.core.readNamespacedPod({ namespace: ns, name: 'plain' }))
  })
})

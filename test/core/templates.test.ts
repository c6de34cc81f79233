// inject.istio.io/templates: `sidecar` is what we build; any other name is refused naming it, where it
// used to be ignored (a proxyless-gRPC or spire pod silently got a full Envoy sidecar and iptables).
import t from 'tap'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { Pod } from '../../src/core/types.js'

const pod = (templates: string): Pod => ({
  metadata: { name: 'p', namespace: 'n', annotations: { 'inject.istio.io/templates': templates } },
  spec: { containers: [{ name: 'app', image: 'app' }] }
})

t.test('sidecar is injected as without the annotation', async t => {
  t.equal(inject(pod('sidecar'), {}, defaultConfig()).outcome, 'injected')
  t.equal(inject(pod(' sidecar , '), {}, defaultConfig()).outcome, 'injected')
})

t.test('unknown and unsupported templates are refused, naming them', async t => {
  const spire = inject(pod('sidecar,spire'), {}, defaultConfig())
  t.equal(spire.outcome, 'rejected')
  if (spire.outcome === 'rejected') {
    t.equal(spire.problems[0]?.annotation, 'inject.istio.io/templates')
    t.match(spire.message, /unknown template 'spire'/)
  }
  const grpc = inject(pod('grpc-agent'), {}, defaultConfig())
  t.equal(grpc.outcome, 'rejected')
  if (grpc.outcome === 'rejected') t.match(grpc.message, /template 'grpc-agent' not supported by this injector \(supported: sidecar\)/)
})

// Re-injecting a pod istiod injected changes nothing the second time: the first injection carries the
// old proxy's app probers and the user's overrides (proxy.istio.io/overrides) and records them in
// `restore`, so the next one carries them again (they were dropped: app probes then pointed at an
// agent with nothing to answer, and a user's proxy runAsUser 1234 went back to 1337).
import { isDeepStrictEqual } from 'node:util'
import t from 'tap'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { Pod } from '../../src/core/types.js'

const probers = '{"/app-health/app/readyz":{"httpGet":{"path":"/ready","port":8080}}}'
/** A pod as istiod leaves it: no `restore`, app probe rewritten to the agent, overrides in the annotation. */
const istioInjected = (): Pod => ({
  metadata: {
    name: 'app',
    namespace: 'shop',
    annotations: {
      'sidecar.istio.io/status': '{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["istio-envoy"],"imagePullSecrets":null,"revision":"default"}',
      'proxy.istio.io/overrides': '{"containers":[{"name":"istio-proxy","securityContext":{"runAsUser":1234}}]}'
    }
  },
  spec: {
    initContainers: [{ name: 'istio-init', image: 'proxyv2' }],
    containers: [
      { name: 'app', image: 'app', readinessProbe: { httpGet: { path: '/app-health/app/readyz', port: 15020 } } },
      { name: 'istio-proxy', image: 'proxyv2', env: [{ name: 'ISTIO_KUBE_APP_PROBERS', value: probers }], securityContext: { runAsUser: 1234 } }
    ],
    volumes: [{ name: 'istio-envoy', emptyDir: { medium: 'Memory' } }]
  }
})

const proxyOf = (pod: Pod): NonNullable<Pod['spec']>['containers'][number] | undefined =>
  [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find(c => c.name === 'istio-proxy')

for (const nativeSidecars of ['false', 'true'] as const) {
  t.test(`istiod's pod, injected twice (native ${nativeSidecars})`, async t => {
    const config = { ...defaultConfig(), nativeSidecars }
    const once = inject(istioInjected(), {}, config)
    if (once.outcome !== 'injected') throw new Error(once.outcome)
    t.same(JSON.parse(proxyOf(once.pod)?.env?.find(e => e.name === 'ISTIO_KUBE_APP_PROBERS')?.value ?? '{}'), JSON.parse(probers), 'the probers are kept')
    t.equal(proxyOf(once.pod)?.securityContext?.runAsUser, 1234, "the user's proxy uid is kept")
    const twice = inject(once.pod, {}, config)
    if (twice.outcome !== 'injected') throw new Error(twice.outcome)
    t.ok(isDeepStrictEqual(twice.pod, once.pod), 'inject(inject(x)) == inject(x)')
    t.equal(proxyOf(twice.pod)?.securityContext?.runAsUser, 1234)
  })
}

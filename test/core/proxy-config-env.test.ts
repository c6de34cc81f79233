// PROXY_CONFIG is the pod's ProxyConfig: proxy.istio.io/config's interceptionMode is in it, the
// sidecar.istio.io/interceptionMode annotation is not (it reaches the agent as ISTIO_META_INTERCEPTION_MODE),
// as with Istio's injector.
import t from 'tap'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { Pod } from '../../src/core/types.js'

const env = (annotations: Record<string, string>, name: string): string | undefined => {
  const pod: Pod = { metadata: { name: 'p', namespace: 'n', annotations }, spec: { containers: [{ name: 'app', image: 'a' }] } }
  const result = inject(pod, {}, defaultConfig())
  if (result.outcome !== 'injected') throw new Error(result.outcome)
  return result.pod.spec?.containers.find(c => c.name === 'istio-proxy')?.env?.find(e => e.name === name)?.value
}

t.test('the interception annotation is not ProxyConfig; proxy.istio.io/config is', async t => {
  t.equal(env({ 'sidecar.istio.io/interceptionMode': 'NONE' }, 'PROXY_CONFIG'), '{}\n')
  t.equal(env({ 'sidecar.istio.io/interceptionMode': 'NONE' }, 'ISTIO_META_INTERCEPTION_MODE'), 'NONE')
  t.equal(env({ 'proxy.istio.io/config': 'interceptionMode: NONE' }, 'PROXY_CONFIG'), '{"interceptionMode":"NONE"}\n')
})

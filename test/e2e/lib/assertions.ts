// What "injected" and "untouched" mean for a pod the API server stored, checked field by field so
// that a failure says which part is missing.
import type { V1Pod } from '@kubernetes/client-node'
import type { Test } from 'tap'
import { describeInjection, initContainer, proxyContainer, statusAnnotation } from './pods.js'

type Asserts = Pick<Test, 'ok' | 'notOk' | 'equal'>

export function assertInjected (t: Asserts, pod: V1Pod, options: { native?: boolean } = {}): void {
  const seen = { pod: describeInjection(pod) }
  const proxy = proxyContainer(pod)
  t.ok(proxy, 'the istio-proxy container is there', seen)
  if (options.native !== undefined) t.equal(proxy?.native, options.native, options.native ? 'as a native sidecar (init container)' : 'as a classic container', seen)
  if (proxy?.native === true) {
    t.equal(proxy.container.restartPolicy, 'Always', 'the native sidecar has restartPolicy Always')
    const names = (pod.spec?.initContainers ?? []).map(c => c.name)
    t.equal(names.indexOf('istio-proxy'), names.indexOf('istio-init') + 1, 'right after istio-init', seen)
  }
  const init = initContainer(pod)
  t.ok(init, 'the istio-init container is there', seen)
  t.ok(init?.securityContext?.capabilities?.add?.includes('NET_ADMIN'), 'istio-init can program iptables (NET_ADMIN)')
  const volumes = pod.spec?.volumes ?? []
  const token = volumes.find(v => v.name === 'istio-token')
  t.ok(token?.projected?.sources?.some(s => s.serviceAccountToken?.audience === 'istio-ca'),
    'the istio-token volume projects a service-account token for audience istio-ca', seen)
  t.ok(volumes.find(v => v.name === 'istiod-ca-cert')?.configMap?.name === 'istio-ca-root-cert',
    'the istiod-ca-cert volume mounts ConfigMap istio-ca-root-cert', seen)
  t.ok(volumes.some(v => v.name === 'workload-certs'), 'the workload-certs volume is there', seen)
  const mounted = new Set((proxy?.container.volumeMounts ?? []).map(m => m.name))
  t.ok(mounted.has('istio-token') && mounted.has('istiod-ca-cert'), 'the proxy mounts the certificate volumes')
  t.ok(pod.metadata?.annotations?.[statusAnnotation], 'the sidecar.istio.io/status annotation records the injection')
}

export function assertUntouched (t: Asserts, pod: V1Pod, containers: string[] = ['app']): void {
  const seen = { pod: describeInjection(pod) }
  t.notOk(proxyContainer(pod), 'no istio-proxy', seen)
  t.notOk(initContainer(pod), 'no istio-init', seen)
  t.equal((pod.spec?.containers ?? []).map(c => c.name).join(','), containers.join(','), 'the containers are the user\'s', seen)
  t.notOk(pod.metadata?.annotations?.[statusAnnotation], 'no status annotation')
  t.notOk((pod.spec?.volumes ?? []).some(v => v.name === 'istio-token'), 'no istio-token volume')
}

// sidecar.istio.io/userVolume and userVolumeMount: a JSON map (name → definition) or, as Istio's own
// samples write them (samples/addons/extras/prometheus-secure-metrics.yaml), a JSON list of named ones.
import t from 'tap'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { Pod } from '../../src/core/types.js'

const pod = (annotations: Record<string, string>): Pod => ({
  metadata: { name: 'prometheus', namespace: 'istio-system', annotations },
  spec: { containers: [{ name: 'prometheus', image: 'prom' }], volumes: [{ name: 'istio-certs', emptyDir: { medium: 'Memory' } }] }
})

t.test('a JSON list of mounts and volumes is accepted, each named by its own name', async t => {
  const result = inject(pod({
    'sidecar.istio.io/userVolumeMount': '[{"name": "istio-certs", "mountPath": "/etc/istio-certs"}]',
    'sidecar.istio.io/userVolume': '[{"name": "extra", "secret": {"secretName": "extra"}}]'
  }), {}, defaultConfig())
  if (result.outcome !== 'injected') throw new Error(result.outcome === 'rejected' ? result.message : result.outcome)
  const proxy = result.pod.spec?.containers.find(c => c.name === 'istio-proxy')
  t.same(proxy?.volumeMounts?.find(m => m.name === 'istio-certs'), { name: 'istio-certs', mountPath: '/etc/istio-certs' })
  t.same(result.pod.spec?.volumes?.find(v => v.name === 'extra'), { name: 'extra', secret: { secretName: 'extra' } })
})

t.test('the map form still works, and anything else is refused naming the annotation', async t => {
  const map = inject(pod({ 'sidecar.istio.io/userVolumeMount': '{"istio-certs": {"mountPath": "/etc/istio-certs", "readOnly": true}}' }), {}, defaultConfig())
  t.equal(map.outcome, 'injected')
  for (const bad of ['"text"', '[1, 2]', '{"a": 1}', 'not json']) {
    const result = inject(pod({ 'sidecar.istio.io/userVolume': bad }), {}, defaultConfig())
    t.equal(result.outcome, 'rejected', bad)
    if (result.outcome === 'rejected') t.equal(result.problems[0]?.annotation, 'sidecar.istio.io/userVolume')
  }
})

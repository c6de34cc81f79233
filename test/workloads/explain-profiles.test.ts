// explain names the profile a pod asks for (inject.istio.io/templates), what it builds, and why a
// template name is refused, with the refusal's stable code.
import t from 'tap'
import { defaultConfig } from '../../src/core/config.js'
import { explainManifests, formatExplanation } from '../../src/workloads/explain.js'

const pod = (templates: string, container = 'app'): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    inject.istio.io/templates: "${templates}"\nspec:\n  containers: [{name: ${container}, image: auto}]\n`

const explain = (text: string): string => {
  const result = explainManifests([{ name: 'p.yaml', text }], { config: defaultConfig(), facts: {}, namespace: 'default', output: 'yaml' })
  t.same(result.errors, [])
  return result.explanations.map(formatExplanation).join('')
}

t.test('the gateway profile: named, no capture, no init image, the pod\'s own resources', async t => {
  const text = explain(pod('gateway', 'istio-proxy'))
  t.match(text, /profile: {3}gateway \(/)
  t.match(text, /mode: {6}a regular container \(proxy last\) — the gateway profile's proxy is a regular container/)
  t.match(text, /capture: {3}none \(the gateway profile captures no traffic\)/)
  t.notMatch(text, /init ghcr/)
  t.match(text, /resources: the pod's own istio-proxy's/)
})

t.test('grpc-simple alone: no proxy, the bootstrap image', async t => {
  const text = explain(pod('grpc-simple'))
  t.match(text, /mode: {6}no proxy/)
  t.match(text, /images: {4}bootstrap busybox:1\.28\n/)
  t.match(text, /probes: {4}not rewritten/)
})

t.test('the default profile is not named; a refused name comes with its code', async t => {
  t.notMatch(explain(pod('sidecar')), /profile:/)
  t.match(explain(pod('sidecar,gateway')), /problem: {3}inject\.istio\.io\/templates: \[conflicting-templates\] templates 'sidecar', 'gateway'/)
})

// The generated part of docs/istio-compatibility.md and the agreement table (no Istio needed).
import t from 'tap'
import { parseAllowList } from './lib/allow-list.js'
import { compareOutcomes, quantityValue } from './lib/compare.js'
import { agreementTable, markers, readmeMarkers, renderReadmeSection, renderSection } from './lib/report.js'

t.test('renderSection replaces only the text between the markers', async t => {
  const doc = `# Title\n\nintro\n\n${markers.start}\nold\n${markers.end}\n\n## After\n`
  const out = renderSection(doc, parseAllowList('- difference: env * X\n  reason: why\n'), '| table |', 3)
  t.ok(out.startsWith('# Title\n\nintro\n\n'))
  t.ok(out.endsWith(`${markers.end}\n\n## After\n`))
  t.notMatch(out, /\nold\n/)
  t.match(out, /- `env \* X`: why/)
  t.match(out, /over 3 workloads/)
})

t.test('renderReadmeSection keeps the headline rows and the properties not equal everywhere', async t => {
  const readme = `# R\n\n## Compatibility with Istio\n\n${readmeMarkers.start}\nold\n${readmeMarkers.end}\n\n## Documentation\n`
  const table = [
    '| property | offline (kube-inject) | webhook |',
    '|---|---|---|',
    '| **fully equal** | 1/4 (25%) | 2/4 (50%) |',
    '| **equal but for accepted differences** | 4/4 (100%) | 4/4 (100%) |',
    '| containers | 4/4 (100%) | 4/4 (100%) |',
    '| env | 3/4 (75%) | 4/4 (100%) |'
  ].join('\n')
  const out = renderReadmeSection(readme, parseAllowList('- difference: env * X\n  reason: why\n'), table, 2)
  t.ok(out.startsWith('# R\n\n## Compatibility with Istio\n\n'))
  t.ok(out.endsWith(`${readmeMarkers.end}\n\n## Documentation\n`))
  t.notMatch(out, /\nold\n/)
  t.match(out, /\| \*\*fully equal\*\* \| 1\/4 \(25%\)/)
  t.match(out, /\| env \| 3\/4 \(75%\)/)
  t.notMatch(out, /\| containers \|/)
  t.match(out, /- `env \* X`: why/)
  t.match(out, /2 workloads/)
})

t.test('the allow-list needs a one-line reason for each entry', async t => {
  t.throws(() => parseAllowList('- difference: x\n'))
  t.throws(() => parseAllowList('- difference: x\n  reason: "a\\nb"\n'))
  t.throws(() => parseAllowList('difference: x'))
})

t.test('comparison: quantities by value, defaults ignored, real differences found', async t => {
  t.equal(quantityValue('2000m'), 2)
  t.equal(quantityValue('1Gi'), quantityValue('1024Mi'))
  const pod = (env: Array<{ name: string, value?: string }>, port = 15021): { outcome: 'injected', template: Record<string, never> } => ({
    outcome: 'injected',
    template: { spec: { containers: [{ name: 'istio-proxy', env, resources: { limits: { cpu: '2000m' } }, readinessProbe: { httpGet: { port, scheme: 'HTTP' }, initialDelaySeconds: 0 } }] } } as never
  })
  t.same(compareOutcomes(pod([{ name: 'A', value: '{"x":1}' }]), pod([{ name: 'A', value: '{\n  "x": 1\n}' }])), [])
  const diffs = compareOutcomes(pod([{ name: 'A', value: 'a' }]), pod([{ name: 'B', value: 'b' }], 15020))
  t.same(diffs.map(d => `${d.property} ${d.detail}`).sort(), ['env istio-proxy A', 'env istio-proxy B', 'probes istio-proxy readinessProbe'])
  const table = agreementTable([{ workload: 'w', path: 'offline', mode: 'classic', differences: diffs }], () => false)
  t.match(table, /\| env \| 0\/1 \(0%\) \| - \|/)
})

import t from 'tap'
import { deploymentMemoryLimitBytes } from '../../bench/memory-cgroup.js'
import type { MemoryLimitResults } from '../../bench/memory-cgroup.js'
import { renderSummary } from '../../bench/report.js'
import { deploymentNodeOptions } from '../../bench/servers.js'

const root = new URL('../..', import.meta.url).pathname

t.test('the bench reads the Deployment\'s Node flags and memory limit from manifests/deployment.yaml', async t => {
  const flags = deploymentNodeOptions(root)
  t.ok(flags.some(f => /^--max-old-space-size=\d+$/.test(f)), 'the old-space cap')
  t.ok(flags.some(f => /^--max-semi-space-size=\d+$/.test(f)), 'the young-generation cap')
  t.equal(deploymentMemoryLimitBytes(root), 512 * 1024 * 1024)
})

t.test('the summary shows the four cases and the ratio inside the limit, or why the part was skipped', async t => {
  const point = (limit: 'deployment' | 'none', youngGeneration: 'deployment' | 'v8-default', cpu: number, rss: number): MemoryLimitResults['points'][number] =>
    ({ limit, youngGeneration, cpuUsPerRequest: cpu, peakRssMiB: rss, requestsPerSecond: 1e6 / cpu, rounds: [{ cpuUsPerRequest: cpu, peakRssMiB: rss, requestsPerSecond: 1e6 / cpu }] })
  const memoryLimit: MemoryLimitResults = {
    review: 'defaulted-5kb',
    connections: 64,
    limitBytes: 512 * 1024 * 1024,
    points: [point('deployment', 'deployment', 266, 164), point('deployment', 'v8-default', 448, 147), point('none', 'deployment', 266, 168), point('none', 'v8-default', 265, 266)]
  }
  const md = renderSummary({ memoryLimit })
  t.match(md, /\| 512 MiB cgroup \(the Deployment's\) \| the Deployment's NODE_OPTIONS \| 266 \| 164 \|/)
  t.match(md, /\| none \| V8's default \(`--max-semi-space-size=0`\) \| 265 \| 266 \|/)
  t.match(md, /the Deployment's flags cost ×0\.59 the CPU per review of V8's default and ×1\.12 its peak RSS/)
  const skipped = renderSummary({ memoryLimit: { ...memoryLimit, points: [], skipped: 'no memory cgroup controller in /sys/fs/cgroup' } })
  t.match(skipped, /Not measured: no memory cgroup controller in \/sys\/fs\/cgroup\./)
})

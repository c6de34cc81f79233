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

t.test('the summary shows the four cases per review and the ratios, or why the part was skipped', async t => {
  const point = (review: string, limit: 'deployment' | 'none', youngGeneration: 'deployment' | 'v8-default', cpu: number, rss: number): MemoryLimitResults['points'][number] =>
    ({ review, connections: review === 'defaulted-5kb' ? 64 : 8, limit, youngGeneration, cpuUsPerRequest: cpu, peakRssMiB: rss, requestsPerSecond: 1e6 / cpu, rounds: [{ cpuUsPerRequest: cpu, peakRssMiB: rss, requestsPerSecond: 1e6 / cpu }] })
  const memoryLimit: MemoryLimitResults = {
    limitBytes: 512 * 1024 * 1024,
    points: [
      point('defaulted-5kb', 'deployment', 'deployment', 203, 174), point('defaulted-5kb', 'deployment', 'v8-default', 345, 149),
      point('defaulted-5kb', 'none', 'deployment', 210, 160), point('defaulted-5kb', 'none', 'v8-default', 273, 256),
      point('large-200kb', 'deployment', 'deployment', 1710, 185), point('large-200kb', 'deployment', 'v8-default', 3660, 159)
    ]
  }
  const md = renderSummary({ memoryLimit })
  t.match(md, /\| defaulted-5kb \| 64 \| 512 MiB cgroup \(the Deployment's\) \| the Deployment's NODE_OPTIONS \| 203 \| 174 \|/)
  t.match(md, /\| defaulted-5kb \| 64 \| none \| V8's default \(`--max-semi-space-size=0`\) \| 273 \| 256 \|/)
  t.match(md, /defaulted-5kb: in the memory limit, the Deployment's flags take ×0\.59 the CPU per review of V8's default and ×1\.17 its peak RSS; without a limit ×0\.77 and ×0\.63\./)
  t.notMatch(md, /large-200kb: in the memory limit/, 'no sentence for a review measured in only some cases')
  const skipped = renderSummary({ memoryLimit: { ...memoryLimit, points: [], skipped: 'no memory cgroup controller in /sys/fs/cgroup' } })
  t.match(skipped, /Not measured: no memory cgroup controller in \/sys\/fs\/cgroup\./)
})

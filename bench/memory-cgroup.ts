// Our server under the Deployment's memory limit. Node tells V8 the memory it may use: the cgroup's
// limit when there is one, the machine's memory otherwise, and V8 sizes its young generation from it
// (a 2 MiB new space under 512 MiB, 128 MiB on a 24 GiB machine without a limit). So the same server
// behaves differently in its pod and on a bench machine. This part measures both with the Deployment's
// NODE_OPTIONS and with V8's own young-generation size (`--max-semi-space-size=0`, the later flag wins),
// in a memory cgroup of the Deployment's limit and without one, rounds interleaved: the 5 KiB review at
// the highest concurrency, then the 192 KiB one at 8 connections, in the same server.
// It needs a writable cgroup file system (root on Linux); without it the part says why and is skipped.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { startOurServer } from './admission.js'
import { keepAliveLoad } from './load.js'
import type { LoadSample } from './load.js'
import type { ReviewSpec } from './reviews.js'
import type { Certificates } from './servers.js'
import { deployedContainer, repoRoot, stopProcess } from './servers.js'

export interface MemoryLimitPoint {
  review: string
  connections: number
  limit: 'deployment' | 'none'
  youngGeneration: 'deployment' | 'v8-default'
  cpuUsPerRequest: number
  peakRssMiB: number
  requestsPerSecond: number
  rounds: Array<Pick<LoadSample, 'cpuUsPerRequest' | 'peakRssMiB' | 'requestsPerSecond'>>
}

export interface MemoryLimitResults {
  limitBytes: number
  points: MemoryLimitPoint[]
  /** Why the part did not run (no writable memory cgroup), when it did not. */
  skipped?: string
}

interface MemoryCgroup { procs: string, remove: () => void }

/** The memory limit of the webhook container in manifests/deployment.yaml, in bytes. */
export function deploymentMemoryLimitBytes (root = repoRoot): number {
  const limit = deployedContainer(root).resources?.limits?.memory
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(limit ?? '')
  if (match === null) throw new Error(`manifests/deployment.yaml: no memory limit in a form this bench reads (${limit ?? 'none'})`)
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[match[2] as 'Ki' | 'Mi' | 'Gi'] ?? 1
  return Number(match[1]) * unit
}

/** A memory cgroup (v2, or v1's memory hierarchy) limited to `limitBytes`, or why there is none. */
function createMemoryCgroup (name: string, limitBytes: number): MemoryCgroup | { why: string } {
  const v2 = '/sys/fs/cgroup'
  const v1 = '/sys/fs/cgroup/memory'
  try {
    if (existsSync(`${v2}/cgroup.controllers`) && readFileSync(`${v2}/cgroup.controllers`, 'utf8').split(/\s+/).includes('memory')) {
      const dir = `${v2}/${name}`
      mkdirSync(dir)
      writeFileSync(`${dir}/memory.max`, String(limitBytes))
      return { procs: `${dir}/cgroup.procs`, remove: () => { rmdirSync(dir) } }
    }
    if (existsSync(`${v1}/memory.limit_in_bytes`)) {
      const dir = `${v1}/${name}`
      mkdirSync(dir)
      writeFileSync(`${dir}/memory.limit_in_bytes`, String(limitBytes))
      return { procs: `${dir}/cgroup.procs`, remove: () => { rmdirSync(dir) } }
    }
    return { why: 'no memory cgroup controller in /sys/fs/cgroup' }
  } catch (err) {
    return { why: `cannot make a memory cgroup: ${(err as Error).message}` }
  }
}

export async function runMemoryLimit (loads: Array<{ spec: ReviewSpec, connections: number }>, certs: Certificates, tmp: string, durationS: number, rounds: number, log: (line: string) => void): Promise<MemoryLimitResults> {
  const limitBytes = deploymentMemoryLimitBytes()
  const results: MemoryLimitResults = { limitBytes, points: [] }
  const cgroup = createMemoryCgroup(`sidecar-injector-bench-${process.pid}`, limitBytes)
  if ('why' in cgroup) {
    log(`memory limit: skipped: ${cgroup.why}`)
    return { ...results, skipped: cgroup.why }
  }
  try {
    const cases: Array<Pick<MemoryLimitPoint, 'limit' | 'youngGeneration'>> = []
    for (const limit of ['deployment', 'none'] as const) {
      for (const youngGeneration of ['deployment', 'v8-default'] as const) cases.push({ limit, youngGeneration })
    }
    const key = (c: Pick<MemoryLimitPoint, 'limit' | 'youngGeneration'>, review: string): string => `${c.limit}/${c.youngGeneration}/${review}`
    const samples = new Map<string, LoadSample[]>()
    for (let round = 0; round < rounds; round++) {
      for (const c of cases) {
        // A fresh server per case and round: the young generation's size is what is measured, from start-up on.
        const server = await startOurServer(certs, `${tmp}/memory-limit.log`, c.youngGeneration === 'v8-default' ? ['--max-semi-space-size=0'] : [], undefined,
          c.limit === 'deployment' ? cgroup.procs : undefined)
        try {
          for (const { spec, connections } of loads) {
            await keepAliveLoad(server, spec.body, Math.min(8, connections), Math.min(2, durationS), undefined)
            const sample = await keepAliveLoad(server, spec.body, connections, durationS, undefined)
            samples.set(key(c, spec.name), [...(samples.get(key(c, spec.name)) ?? []), sample])
          }
        } finally {
          await stopProcess(server)
        }
      }
    }
    const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
    for (const { spec, connections } of loads) {
      for (const c of cases) {
        const s = samples.get(key(c, spec.name)) ?? []
        const point: MemoryLimitPoint = {
          review: spec.name,
          connections,
          ...c,
          cpuUsPerRequest: median(s.map(x => x.cpuUsPerRequest)),
          peakRssMiB: median(s.map(x => x.peakRssMiB)),
          requestsPerSecond: median(s.map(x => x.requestsPerSecond)),
          rounds: s.map(x => ({ cpuUsPerRequest: x.cpuUsPerRequest, peakRssMiB: x.peakRssMiB, requestsPerSecond: x.requestsPerSecond }))
        }
        results.points.push(point)
        log(`memory limit ${c.limit === 'deployment' ? `${limitBytes / 1024 ** 2} MiB` : 'none'}, young generation ${c.youngGeneration}, ${spec.name} c=${connections}: ` +
          `${point.cpuUsPerRequest} µs CPU/req, peak ${point.peakRssMiB} MiB, ${point.requestsPerSecond} req/s (median of ${s.length})`)
      }
    }
  } finally {
    cgroup.remove()
  }
  return results
}

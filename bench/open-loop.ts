// Latency at a fixed arrival rate, as the API server produces it: requests are sent on a schedule
// (request i at start + i / rate) whether or not earlier ones have been answered, and each latency is
// taken from the time the request was due, not the time it was sent. A slow answer therefore counts
// against every request that waited behind it: no coordinated omission, which a closed-loop client
// (autocannon's connections) has by construction. http://highscalability.com/blog/2015/10/5/your-load-generator-is-probably-lying-to-you-take-the-red-pi.html
// Keep-alive connections (a pool of up to maxSockets, like the API server's transport); every run is
// bounded by its duration and by rate × duration requests, against 127.0.0.1 only.
import { Agent } from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Histogram } from 'hdr-histogram-js'
import type { LatencySummary, LoadTarget } from './load.js'
import { newLatencyHistogram, postReview, summariseLatency } from './load.js'
import { cpuTimeUs, memoryMiB, resetPeakMemory } from './proc.js'
import { round } from './stats.js'

export interface OpenLoopPoint {
  server: string
  review: string
  /** The server's closed-loop req/s in this run (keep-alive, 8 connections), which the rate is a fraction of. */
  capacityRps: number
  fraction: number
  targetRps: number
  achievedRps: number
  sent: number
  completed: number
  errors: number
  non2xx: number
  /** The largest delay of a request behind its schedule on the client side (ms): the client kept up when small. */
  maxSendLagMs: number
  cpuUsPerRequest: number
  peakRssMiB: number
  latency: LatencySummary
}

export interface OpenLoopRun { sent: number, completed: number, errors: number, non2xx: number, durationS: number, maxSendLagMs: number }

/** `rate` requests per second for `durationS`, latencies (µs, from the due time) into `latency`. */
export async function openLoopLoad (target: LoadTarget, body: string, rate: number, durationS: number, agent: Agent, latency: Histogram | undefined): Promise<OpenLoopRun> {
  const total = Math.max(1, Math.round(rate * durationS))
  const intervalNs = 1e9 / rate
  const length = Buffer.byteLength(body)
  const run: OpenLoopRun = { sent: 0, completed: 0, errors: 0, non2xx: 0, durationS: 0, maxSendLagMs: 0 }
  const pending = new Set<Promise<void>>()
  const fire = (dueNs: bigint): void => {
    const done = postReview(target.port, body, length, agent).then(status => {
      run.completed++
      if (status >= 200 && status < 300) latency?.recordValue(Math.max(1, Math.round(Number(process.hrtime.bigint() - dueNs) / 1000)))
      else run.non2xx++
    }, () => { run.errors++ })
    pending.add(done)
    done.then(() => pending.delete(done), () => pending.delete(done))
  }
  const start = process.hrtime.bigint()
  for (let next = 0; next < total;) {
    const now = process.hrtime.bigint()
    while (next < total) {
      const due = start + BigInt(Math.round(next * intervalNs))
      if (due > now) break
      run.maxSendLagMs = Math.max(run.maxSendLagMs, Number(now - due) / 1e6)
      fire(due)
      run.sent++
      next++
    }
    if (next < total) await sleep(1)
  }
  // Every request has a 10 s timeout: this wait is bounded.
  await Promise.all([...pending])
  run.durationS = Number(process.hrtime.bigint() - start) / 1e9
  return run
}

export interface OpenLoopServer { name: string, target: LoadTarget, capacityRps: number }

/**
 * For each fraction of capacity, each server in turn (interleaved): a 1 s unrecorded warm-up at that
 * rate (connections opened, code warm), then `durationS` measured.
 */
export async function runOpenLoop (servers: OpenLoopServer[], review: { name: string, body: string }, fractions: number[], durationS: number, maxSockets: number, log: (line: string) => void): Promise<OpenLoopPoint[]> {
  const points: OpenLoopPoint[] = []
  for (const fraction of fractions) {
    for (const server of servers) {
      const rate = Math.max(1, round(server.capacityRps * fraction))
      const agent = new Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 1000 })
      const histogram = newLatencyHistogram()
      try {
        await openLoopLoad(server.target, review.body, rate, 1, agent, undefined)
        resetPeakMemory(server.target.pid)
        const cpuBefore = cpuTimeUs(server.target.pid)
        const run = await openLoopLoad(server.target, review.body, rate, durationS, agent, histogram)
        const cpuUs = cpuTimeUs(server.target.pid) - cpuBefore
        const point: OpenLoopPoint = {
          server: server.name,
          review: review.name,
          capacityRps: server.capacityRps,
          fraction,
          targetRps: rate,
          achievedRps: round(run.completed / run.durationS),
          sent: run.sent,
          completed: run.completed,
          errors: run.errors,
          non2xx: run.non2xx,
          maxSendLagMs: round(run.maxSendLagMs),
          cpuUsPerRequest: run.completed === 0 ? Number.NaN : round(cpuUs / run.completed),
          peakRssMiB: round(memoryMiB(server.target.pid).peak),
          latency: summariseLatency(histogram)
        }
        points.push(point)
        log(`open loop ${review.name} ${server.name} at ${Math.round(fraction * 100)} % of ${server.capacityRps} req/s = ${rate} req/s: ` +
          `p50 ${point.latency.p50Ms} p99 ${point.latency.p99Ms} p99.9 ${point.latency.p999Ms} ms, achieved ${point.achievedRps} req/s, ` +
          `${point.cpuUsPerRequest} µs CPU/req, client lag max ${point.maxSendLagMs} ms${run.errors + run.non2xx > 0 ? `, ERRORS ${run.errors}+${run.non2xx}` : ''}`)
      } finally {
        histogram.destroy()
        agent.destroy()
      }
    }
  }
  return points
}

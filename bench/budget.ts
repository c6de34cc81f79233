// The in-flight budget under a burst of large reviews: our server as the Deployment runs it
// (its NODE_OPTIONS: the old space capped at 256 MiB) receives N simultaneous ~3 MiB reviews, each on its own connection, for
// N = 16, 32, 64; the baseline is one such review alone, measured in the same run. Reported: answers
// (200 / 429 / errors), latency of each class, and the server's peak RSS, as ratios to the baseline.
import { startOurServer } from './admission.js'
import { memoryMiB, resetPeakMemory } from './proc.js'
import { admissionReview, generatePod } from './reviews.js'
import type { Certificates } from './servers.js'
import { deploymentNodeOptions, httpsRequest, stopProcess } from './servers.js'

export interface BudgetPoint {
  concurrency: number
  served: number
  /** 429 answers: the budget was spent and room did not come within the wait. */
  rejected: number
  errors: number
  servedP50Ms: number
  servedMaxMs: number
  rejectedMaxMs: number
  peakRssMiB: number
}

export interface BudgetResults {
  reviewBytes: number
  maxOldSpaceMiB: number
  baseline: BudgetPoint
  points: BudgetPoint[]
}

function percentile (values: number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0)
}

async function burst (port: number, ca: Buffer, body: string, concurrency: number, pid: number): Promise<BudgetPoint> {
  resetPeakMemory(pid)
  const answers = await Promise.all(Array.from({ length: concurrency }, async () => {
    const started = performance.now()
    try {
      const answer = await httpsRequest(port, ca, 'POST', '/inject', body, 60_000)
      return { status: answer.status, ms: performance.now() - started }
    } catch {
      return { status: 0, ms: performance.now() - started }
    }
  }))
  const served = answers.filter(a => a.status === 200)
  const rejected = answers.filter(a => a.status === 429)
  return {
    concurrency,
    served: served.length,
    rejected: rejected.length,
    errors: answers.length - served.length - rejected.length,
    servedP50Ms: percentile(served.map(a => a.ms), 0.5),
    servedMaxMs: percentile(served.map(a => a.ms), 1),
    rejectedMaxMs: percentile(rejected.map(a => a.ms), 1),
    peakRssMiB: Math.round(memoryMiB(pid).peak)
  }
}

export async function runBudgetBench (certs: Certificates, tmp: string, concurrencies: readonly number[], log: (line: string) => void): Promise<BudgetResults> {
  const maxOldSpaceMiB = Number(/^--max-old-space-size=(\d+)$/m.exec(deploymentNodeOptions().join('\n'))?.[1])
  // ~3 MiB, the API server's request limit: 40 containers sharing 20,000 env vars, with managedFields.
  const body = JSON.stringify(admissionReview(generatePod({ containers: 40, envTotal: 20_000, managedFields: true })))
  const server = await startOurServer(certs, `${tmp}/budget.log`)
  try {
    await burst(server.port, certs.ca, body, 1, server.pid) // warm-up
    const baseline = await burst(server.port, certs.ca, body, 1, server.pid)
    const points: BudgetPoint[] = []
    for (const concurrency of concurrencies) {
      const point = await burst(server.port, certs.ca, body, concurrency, server.pid)
      points.push(point)
      log(`budget: ${concurrency} × ${(body.length / 1048576).toFixed(2)} MiB at once: ${point.served} served (p50 ${point.servedP50Ms} ms, max ${point.servedMaxMs} ms), ` +
        `${point.rejected} × 429 (max ${point.rejectedMaxMs} ms), ${point.errors} errors, peak RSS ${point.peakRssMiB} MiB ` +
        `(alone: ${baseline.servedP50Ms} ms, ${baseline.peakRssMiB} MiB)`)
    }
    if (server.child.exitCode !== null) throw new Error(`the server exited (${server.child.exitCode}) during the budget bench`)
    return { reviewBytes: body.length, maxOldSpaceMiB, baseline, points }
  } finally {
    await stopProcess(server)
  }
}

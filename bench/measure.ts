// Times a synchronous operation the way docs/benchmarks.md describes: warm up first (so V8 has
// optimised the code), then several runs of a calibrated number of iterations, each iteration timed
// with process.hrtime.bigint into an HDR histogram and each run's CPU time taken with
// process.cpuUsage; the figure reported is the median over the runs of the CPU time per operation.
import { build } from 'hdr-histogram-js'
import { median, round } from './stats.js'

export interface MeasureOptions {
  /** Time spent running the operation before measuring. */
  warmupMs: number
  /** Target duration of one measured run. */
  runMs: number
  runs: number
  /** Fewest iterations in a run, however slow the operation. */
  minIterations: number
}

export interface Measurement {
  /**
   * Median over the runs of the CPU time (user + system, process.cpuUsage) per operation, in µs.
   * CPU time is the headline: on a shared machine wall time also counts the time this process
   * waited for a core, which says more about the neighbours than about the code.
   */
  meanUs: number
  /** The runs' CPU µs per operation, lowest to highest. */
  runMeansUs: number[]
  /** Median over the runs of the wall time per operation, in µs. */
  wallMeanUs: number
  /** Wall time of single operations, over every iteration of every run, in µs. */
  p50Us: number
  p99Us: number
  maxUs: number
  /** 1e6 / meanUs: operations per second of one core's CPU time. */
  opsPerSecond: number
  iterations: number
}

// Keeps the results alive so that V8 cannot drop the work as dead code.
let sink: unknown
export function consume (value: unknown): void { sink = value }
export function lastConsumed (): unknown { return sink }

const pause = new Int32Array(new SharedArrayBuffer(4))
type Gc = () => void
const gc = (globalThis as { gc?: Gc }).gc

/** Measures one operation; see measureInterleaved. */
export function measure (operation: () => unknown, options: MeasureOptions): Measurement {
  const { only } = measureInterleaved({ only: operation }, options)
  return only as Measurement
}

function calibrate (operation: () => unknown, warmupMs: number, runMs: number, minIterations: number): number {
  const start = process.hrtime.bigint()
  const end = start + BigInt(Math.round(warmupMs * 1e6))
  let n = 0
  while (process.hrtime.bigint() < end || n < 3) {
    consume(operation())
    n++
  }
  const perOpNs = Number(process.hrtime.bigint() - start) / n
  return Math.max(minIterations, Math.round((runMs * 1e6) / perOpNs))
}

/**
 * Measures several operations with their runs interleaved (run 1 of each, then run 2 of each, …), so
 * that a burst of load from another process on a shared machine hits all of them alike and the
 * ratios between them stay meaningful.
 */
export function measureInterleaved<K extends string> (operations: Record<K, () => unknown>, options: MeasureOptions): Record<K, Measurement> {
  const names = Object.keys(operations) as K[]
  const iterations = new Map<K, number>()
  for (const name of names) iterations.set(name, calibrate(operations[name], options.warmupMs, options.runMs, options.minIterations))
  const histograms = new Map(names.map(name => [name, build({ lowestDiscernibleValue: 1, highestTrackableValue: 60e9, numberOfSignificantValueDigits: 3 })]))
  const runMeans = new Map<K, number[]>(names.map(name => [name, []]))
  const runWallMeans = new Map<K, number[]>(names.map(name => [name, []]))
  for (let run = 0; run < options.runs; run++) {
    for (const name of names) {
      const operation = operations[name]
      const histogram = histograms.get(name)
      const count = iterations.get(name) ?? options.minIterations
      // Each run starts with a clean heap, so that it does not pay for the garbage of the previous
      // one; the pause lets V8's helper threads finish sweeping, whose CPU time process.cpuUsage
      // would otherwise charge to this run.
      if (gc !== undefined) {
        gc()
        Atomics.wait(pause, 0, 0, 20)
      }
      let total = 0n
      const cpuBefore = process.cpuUsage()
      for (let i = 0; i < count; i++) {
        const start = process.hrtime.bigint()
        consume(operation())
        const elapsed = process.hrtime.bigint() - start
        total += elapsed
        histogram?.recordValue(Number(elapsed))
      }
      const cpu = process.cpuUsage(cpuBefore)
      runMeans.get(name)?.push((cpu.user + cpu.system) / count)
      runWallMeans.get(name)?.push(Number(total) / count / 1e3)
    }
  }
  const results = {} as Record<K, Measurement>
  for (const name of names) {
    const histogram = histograms.get(name)
    const means = (runMeans.get(name) ?? []).sort((a, b) => a - b)
    if (histogram === undefined || means.length === 0) throw new Error(`no measurement for ${name}`)
    const meanUs = median(means)
    results[name] = {
      meanUs: round(meanUs, 4),
      runMeansUs: means.map(v => round(v, 4)),
      wallMeanUs: round(median(runWallMeans.get(name) ?? []), 4),
      p50Us: round(histogram.getValueAtPercentile(50) / 1e3, 4),
      p99Us: round(histogram.getValueAtPercentile(99) / 1e3, 4),
      maxUs: round(histogram.maxValue / 1e3, 4),
      opsPerSecond: round(1e6 / meanUs, 4),
      iterations: (iterations.get(name) ?? 0) * options.runs
    }
    histogram.destroy()
  }
  return results
}

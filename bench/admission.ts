// The admission benchmark: our server and the baseline, over HTTPS keep-alive at fixed
// concurrencies with the ~5 KB and ~200 KB reviews, rounds interleaved (ours, baseline, ours, …) so
// that noise from other work on the machine falls on both; then the connection-cost runs.
import { writeFileSync } from 'node:fs'
import type { Histogram } from 'hdr-histogram-js'
import type { LatencySummary, LoadSample, LoadTarget } from './load.js'
import { httpsLoad, keepAliveLoad, newLatencyHistogram, summariseLatency } from './load.js'
import type { OpenLoopPoint, OpenLoopServer } from './open-loop.js'
import { runOpenLoop } from './open-loop.js'
import type { ReviewSpec } from './reviews.js'
import type { Certificates, IstioWebhook, RunningProcess } from './servers.js'
import { baselineArgs, freePort, httpsRequest, ourServerArgs, spawnIstioWebhook, spawnNode, stopProcess, waitReady } from './servers.js'
import { median, round } from './stats.js'

export interface AdmissionOptions {
  concurrencies: number[]
  /** For the pathological pod (50 containers × 5,000 env vars): one connection, like one slow create. */
  largestConcurrencies: number[]
  durationS: number
  rounds: number
  warmupS: number
  churnConcurrencies: number[]
  churnDurationS: number
  /** Open-loop runs with the first review: fractions of each server's closed-loop capacity at 8 connections. */
  openLoop: { fractions: number[], durationS: number, maxSockets: number }
}

export interface ServerFigures {
  /** Median over the rounds. */
  requestsPerSecond: number
  cpuUsPerRequest: number
  /** Highest over the rounds. */
  peakRssMiB: number
  /** Over all rounds' requests together. */
  latency: LatencySummary
  errors: number
  non2xx: number
  rounds: LoadSample[]
}

export interface AdmissionPoint {
  review: string
  reviewBytes: number
  connections: number
  ours: ServerFigures
  baseline: ServerFigures
  /** ours ÷ baseline. Throughput below 1 and latency/CPU above 1 are what the admission work costs. */
  ratio: { requestsPerSecond: number, p50: number, p99: number, cpuPerRequest: number }
  /** Istio's injection webhook on the same reviews, in the same rounds (absent without Go or its build). */
  istio?: ServerFigures
  /** ours ÷ Istio. */
  ratioToIstio?: { requestsPerSecond: number, p50: number, p99: number, cpuPerRequest: number, peakRss: number }
}

export interface ChurnPoint {
  review: string
  connections: number
  server: 'ours' | 'baseline'
  keepAlive: Omit<ServerFigures, 'rounds'>
  newConnection: Omit<ServerFigures, 'rounds'>
  /** newConnection ÷ keepAlive. */
  ratio: { cpuPerRequest: number, requestsPerSecond: number, p50: number }
}

export interface CappedHeapPoint {
  review: string
  connections: number
  /** The --max-old-space-size given to our server. */
  maxOldSpaceMiB: number
  sample: LoadSample
}

export interface AdmissionResults {
  responseBytes: Record<string, number>
  /** Decoded JSON Patch bytes and operations of each answer, ours and Istio's. */
  patches?: Record<string, { ours: PatchSize, istio?: PatchSize }>
  /** Why Istio's webhook was not measured, when it was not. */
  istioAbsent?: string
  istioVersion?: string
  keepAlive: AdmissionPoint[]
  connectionCost: ChurnPoint[]
  /** Fixed arrival rates with the first review (open-loop.ts). */
  openLoop?: OpenLoopPoint[]
  /** Our server with a capped old space, as the Deployment in manifests/ runs it (NODE_OPTIONS). */
  cappedHeap?: CappedHeapPoint[]
}

function figures (samples: LoadSample[], latency: Histogram): ServerFigures {
  return {
    requestsPerSecond: round(median(samples.map(s => s.requestsPerSecond))),
    cpuUsPerRequest: round(median(samples.map(s => s.cpuUsPerRequest))),
    peakRssMiB: round(Math.max(...samples.map(s => s.peakRssMiB))),
    latency: summariseLatency(latency),
    errors: samples.reduce((n, s) => n + s.errors, 0),
    non2xx: samples.reduce((n, s) => n + s.non2xx, 0),
    rounds: samples
  }
}

export interface PatchSize { bytes: number, operations: number }

/** One POST: the server must answer 200 with a patch; returns the answer (for the baseline to repeat) and the patch's size. */
async function checkAnswer (server: RunningProcess, certs: Certificates, spec: ReviewSpec): Promise<{ body: string, patch: PatchSize }> {
  const answer = await httpsRequest(server.port, certs.ca, 'POST', '/inject?timeout=10s', spec.body)
  if (answer.status !== 200) throw new Error(`${spec.name}: ${server.name} answered ${answer.status}: ${answer.body.slice(0, 300)}`)
  const review = JSON.parse(answer.body) as { response?: { allowed?: boolean, patch?: string } }
  if (review.response?.allowed !== true || typeof review.response.patch !== 'string') {
    throw new Error(`${spec.name}: expected an allowed response with a patch from ${server.name}, got ${answer.body.slice(0, 300)}`)
  }
  const patch = Buffer.from(review.response.patch, 'base64')
  return { body: answer.body, patch: { bytes: patch.length, operations: (JSON.parse(patch.toString('utf8')) as unknown[]).length } }
}

export async function startIstioWebhook (istio: { binary: string, chart: string }, certs: Certificates, logFile: string): Promise<RunningProcess> {
  const port = await freePort()
  const proc = spawnIstioWebhook(istio, port, certs, logFile)
  await waitReady(proc, certs.ca)
  return proc
}

export async function startOurServer (certs: Certificates, logFile: string, extraNodeArgs: string[] = [], cli?: string, cgroupProcs?: string): Promise<RunningProcess> {
  const port = await freePort()
  const proc = spawnNode('sidecar-injector serve', ourServerArgs(port, certs, extraNodeArgs, cli), port, logFile, 0, {}, cgroupProcs)
  await waitReady(proc, certs.ca)
  return proc
}

export async function startBaseline (certs: Certificates, responseFile: string, logFile: string): Promise<RunningProcess> {
  const port = await freePort()
  const proc = spawnNode('baseline-server', baselineArgs(port, certs, responseFile), port, logFile)
  await waitReady(proc, certs.ca)
  return proc
}

/**
 * specs: the realistic reviews, at every concurrency; largest: the pathological pod, at
 * largestConcurrencies only (it shows the whole server path stays far below the API server's timeout).
 */
export async function runAdmissionBench (specs: ReviewSpec[], largest: ReviewSpec | undefined, certs: Certificates, tmp: string, options: AdmissionOptions, istioWebhook: IstioWebhook, log: (line: string) => void): Promise<AdmissionResults> {
  const ours = await startOurServer(certs, `${tmp}/ours.log`)
  const results: AdmissionResults = { responseBytes: {}, patches: {}, keepAlive: [], connectionCost: [] }
  let istio: RunningProcess | undefined
  if (istioWebhook.ok) {
    istio = await startIstioWebhook(istioWebhook, certs, `${tmp}/istio.log`)
    results.istioVersion = istioWebhook.version
  } else {
    results.istioAbsent = istioWebhook.why
    log(`admission: without Istio's webhook: ${istioWebhook.why}`)
  }
  try {
    for (const spec of largest === undefined ? specs : [...specs, largest]) {
      const concurrencies = spec === largest ? options.largestConcurrencies : options.concurrencies
      const answer = await checkAnswer(ours, certs, spec)
      results.responseBytes[spec.name] = Buffer.byteLength(answer.body)
      const istioPatch = istio === undefined ? undefined : (await checkAnswer(istio, certs, spec)).patch
      ;(results.patches ??= {})[spec.name] = istioPatch === undefined ? { ours: answer.patch } : { ours: answer.patch, istio: istioPatch }
      const responseFile = `${tmp}/response-${spec.name}.json`
      writeFileSync(responseFile, answer.body)
      const baseline = await startBaseline(certs, responseFile, `${tmp}/baseline.log`)
      try {
        const targets: Record<string, LoadTarget> = istio === undefined ? { ours, baseline } : { ours, baseline, istio }
        for (const target of Object.values(targets)) await keepAliveLoad(target, spec.body, 8, options.warmupS, undefined)

        const samples = new Map<string, LoadSample[]>()
        const histograms = new Map<string, Histogram>()
        for (let round = 0; round < options.rounds; round++) {
          for (const connections of concurrencies) {
            for (const [name, target] of Object.entries(targets)) {
              const key = `${name}/${connections}`
              if (!histograms.has(key)) histograms.set(key, newLatencyHistogram())
              const sample = await keepAliveLoad(target, spec.body, connections, options.durationS, histograms.get(key))
              samples.set(key, [...(samples.get(key) ?? []), sample])
            }
          }
        }
        for (const connections of concurrencies) {
          const pick = (name: string): ServerFigures => {
            const histogram = histograms.get(`${name}/${connections}`)
            if (histogram === undefined) throw new Error('missing histogram')
            const f = figures(samples.get(`${name}/${connections}`) ?? [], histogram)
            histogram.destroy()
            return f
          }
          const o = pick('ours')
          const b = pick('baseline')
          const i = istio === undefined ? undefined : pick('istio')
          const point: AdmissionPoint = {
            review: spec.name,
            reviewBytes: Buffer.byteLength(spec.body),
            connections,
            ours: o,
            baseline: b,
            ratio: {
              requestsPerSecond: round(o.requestsPerSecond / b.requestsPerSecond),
              p50: round(o.latency.p50Ms / b.latency.p50Ms),
              p99: round(o.latency.p99Ms / b.latency.p99Ms),
              cpuPerRequest: round(o.cpuUsPerRequest / b.cpuUsPerRequest)
            }
          }
          if (i !== undefined) {
            point.istio = i
            point.ratioToIstio = {
              requestsPerSecond: round(o.requestsPerSecond / i.requestsPerSecond),
              p50: round(o.latency.p50Ms / i.latency.p50Ms),
              p99: round(o.latency.p99Ms / i.latency.p99Ms),
              cpuPerRequest: round(o.cpuUsPerRequest / i.cpuUsPerRequest),
              peakRss: round(o.peakRssMiB / i.peakRssMiB)
            }
          }
          results.keepAlive.push(point)
          log(`admission ${spec.name} c=${connections}: ours ${o.requestsPerSecond} req/s p50 ${o.latency.p50Ms} p99 ${o.latency.p99Ms} p99.9 ${o.latency.p999Ms} ms, ` +
            `${o.cpuUsPerRequest} µs CPU/req, peak ${o.peakRssMiB} MiB | baseline ${b.requestsPerSecond} req/s p50 ${b.latency.p50Ms} p99 ${b.latency.p99Ms} ms, ` +
            `${b.cpuUsPerRequest} µs CPU/req | ratio rps ×${point.ratio.requestsPerSecond}, CPU ×${point.ratio.cpuPerRequest}` +
            (i === undefined ? '' : ` | istio ${i.requestsPerSecond} req/s p50 ${i.latency.p50Ms} p99 ${i.latency.p99Ms} ms, ${i.cpuUsPerRequest} µs CPU/req, peak ${i.peakRssMiB} MiB`) +
            (o.errors + o.non2xx + b.errors + b.non2xx + (i === undefined ? 0 : i.errors + i.non2xx) > 0
              ? ` | ERRORS ours ${o.errors}+${o.non2xx} baseline ${b.errors}+${b.non2xx}${i === undefined ? '' : ` istio ${i.errors}+${i.non2xx}`}`
              : ''))
        }

        // Open loop, with the small review only: latency at fixed fractions of each server's capacity.
        const capacityAt = 8
        if (spec === specs[0] && options.openLoop.fractions.length > 0) {
          const servers: OpenLoopServer[] = Object.entries(targets).flatMap(([name, target]) => {
            const capacity = results.keepAlive.find(p => p.review === spec.name && p.connections === capacityAt)
            const figure = name === 'ours' ? capacity?.ours : name === 'baseline' ? capacity?.baseline : capacity?.istio
            return figure === undefined ? [] : [{ name, target, capacityRps: figure.requestsPerSecond }]
          })
          results.openLoop = await runOpenLoop(servers, spec, options.openLoop.fractions, options.openLoop.durationS, options.openLoop.maxSockets, log)
        }

        // Connection cost, with the small review only: what a new TLS connection per request costs.
        if (spec === specs[0]) {
          for (const connections of options.churnConcurrencies) {
            for (const [name, target] of Object.entries({ ours, baseline })) {
              const measureMode = async (keepAlive: boolean): Promise<Omit<ServerFigures, 'rounds'>> => {
                const histogram = newLatencyHistogram()
                const sample = await httpsLoad(target, spec.body, connections, options.churnDurationS, keepAlive, histogram)
                const { rounds: _rounds, ...rest } = figures([sample], histogram)
                histogram.destroy()
                return rest
              }
              const keepAlive = await measureMode(true)
              const newConnection = await measureMode(false)
              const point: ChurnPoint = {
                review: spec.name,
                connections,
                server: name as 'ours' | 'baseline',
                keepAlive,
                newConnection,
                ratio: {
                  cpuPerRequest: round(newConnection.cpuUsPerRequest / keepAlive.cpuUsPerRequest),
                  requestsPerSecond: round(newConnection.requestsPerSecond / keepAlive.requestsPerSecond),
                  p50: round(newConnection.latency.p50Ms / keepAlive.latency.p50Ms)
                }
              }
              results.connectionCost.push(point)
              log(`connection cost ${name} c=${connections}: keep-alive ${keepAlive.requestsPerSecond} req/s, ${keepAlive.cpuUsPerRequest} µs CPU/req, p50 ${keepAlive.latency.p50Ms} ms | ` +
                `new connection ${newConnection.requestsPerSecond} req/s, ${newConnection.cpuUsPerRequest} µs CPU/req, p50 ${newConnection.latency.p50Ms} ms | CPU ×${point.ratio.cpuPerRequest}`)
            }
          }
        }
      } finally {
        await stopProcess(baseline)
      }
    }
  } finally {
    await stopProcess(ours)
    if (istio !== undefined) await stopProcess(istio)
  }
  return results
}

/**
 * Peak RSS and CPU per request of our server with `--max-old-space-size`, at the highest concurrency:
 * how much of the default-heap peak is garbage V8 had not yet collected.
 */
export async function runCappedHeap (specs: ReviewSpec[], certs: Certificates, tmp: string, maxOldSpaceMiB: number, connections: number, durationS: number, log: (line: string) => void): Promise<CappedHeapPoint[]> {
  const ours = await startOurServer(certs, `${tmp}/capped.log`, [`--max-old-space-size=${maxOldSpaceMiB}`])
  const points: CappedHeapPoint[] = []
  try {
    for (const spec of specs) {
      await keepAliveLoad(ours, spec.body, 8, 1, undefined)
      const sample = await keepAliveLoad(ours, spec.body, connections, durationS, undefined)
      points.push({ review: spec.name, connections, maxOldSpaceMiB, sample })
      log(`capped heap (--max-old-space-size=${maxOldSpaceMiB}) ${spec.name} c=${connections}: ${sample.requestsPerSecond} req/s, ` +
        `${sample.cpuUsPerRequest} µs CPU/req, peak ${sample.peakRssMiB} MiB${sample.errors + sample.non2xx > 0 ? `, ERRORS ${sample.errors}+${sample.non2xx}` : ''}`)
    }
  } finally {
    await stopProcess(ours)
  }
  return points
}

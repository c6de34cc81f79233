// Load against a running server, measured from both sides: the client's requests/s and latency
// histogram (µs), and the server's CPU time per request and peak RSS from /proc.
//  - keep-alive: autocannon, HTTP/1.1, no pipelining, N connections kept open, like the API server;
//  - new connection per request: node:https with agent:false (autocannon cannot do that: with
//    reconnectRate it drops the response it reconnects on from its counts, and a `Connection: close`
//    header desynchronises its request queue), and the same client with a keep-alive agent for contrast.
// Every loop here is bounded by a duration and a request count, and targets 127.0.0.1 only.
import { Agent, request } from 'node:https'
import autocannon from 'autocannon'
import { build } from 'hdr-histogram-js'
import type { Histogram } from 'hdr-histogram-js'
import { cpuTimeUs, memoryMiB, resetPeakMemory } from './proc.js'
import { serverName } from './servers.js'
import { round } from './stats.js'

export interface LoadTarget { pid: number, port: number }

export interface LoadSample {
  requests: number
  non2xx: number
  errors: number
  durationS: number
  requestsPerSecond: number
  /** Server CPU (user + system, all threads) divided by the requests completed. */
  cpuUsPerRequest: number
  /** Server's peak RSS during the run (MiB); the process's lifetime peak if it could not be reset. */
  peakRssMiB: number
}

export function newLatencyHistogram (): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 })
}

const path = '/inject?timeout=10s'
const headers = { 'content-type': 'application/json', 'user-agent': 'kube-apiserver-admission', accept: 'application/json, */*' }

/** Wraps a run with the server-side readings. */
async function withServerReadings (target: LoadTarget, run: () => Promise<{ requests: number, non2xx: number, errors: number, durationS: number }>): Promise<LoadSample> {
  resetPeakMemory(target.pid)
  const cpuBefore = cpuTimeUs(target.pid)
  const result = await run()
  const cpuUs = cpuTimeUs(target.pid) - cpuBefore
  const { peak } = memoryMiB(target.pid)
  return {
    ...result,
    requestsPerSecond: round(result.requests / result.durationS),
    cpuUsPerRequest: result.requests === 0 ? Number.NaN : round(cpuUs / result.requests),
    peakRssMiB: round(peak)
  }
}

/** Keep-alive load with autocannon; 2xx latencies (µs) go into `latency`. */
export async function keepAliveLoad (target: LoadTarget, body: string, connections: number, durationS: number, latency: Histogram | undefined): Promise<LoadSample> {
  return await withServerReadings(target, async () => await new Promise((resolve, reject) => {
    const instance = autocannon({
      url: `https://127.0.0.1:${target.port}${path}`,
      method: 'POST',
      headers,
      body,
      connections,
      pipelining: 1,
      duration: durationS,
      timeout: 10,
      servername: serverName
    }, (err, result) => {
      if (err !== null && err !== undefined) {
        reject(err instanceof Error ? err : new Error(String(err)))
        return
      }
      resolve({ requests: result['2xx'] + result.non2xx, non2xx: result.non2xx, errors: result.errors + result.timeouts, durationS: result.duration })
    })
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
      if (latency !== undefined && statusCode >= 200 && statusCode < 300) latency.recordValue(Math.max(1, Math.round(responseTimeMs * 1000)))
    })
  }))
}

/** One POST of a review as the API server sends it; resolves with the status once the answer is read. */
export async function postReview (port: number, body: string, length: number, agent: Agent | false): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path,
      servername: serverName,
      rejectUnauthorized: false,
      agent,
      timeout: 10_000,
      headers: { ...headers, 'content-length': length }
    }, res => {
      res.on('data', () => {})
      res.on('end', () => { resolve(res.statusCode ?? 0) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error('timeout')) })
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * N concurrent loops of POSTs with node:https: each on a new TLS connection (agent: false), or all on
 * a keep-alive agent of N sockets. Latency includes connecting and the TLS handshake.
 */
export async function httpsLoad (target: LoadTarget, body: string, connections: number, durationS: number, keepAlive: boolean, latency: Histogram | undefined, maxRequests = 200_000): Promise<LoadSample> {
  const agent = keepAlive ? new Agent({ keepAlive: true, maxSockets: connections, keepAliveMsecs: 1000 }) : false
  const length = Buffer.byteLength(body)
  let requests = 0
  let non2xx = 0
  let errors = 0
  const post = async (): Promise<number> => await postReview(target.port, body, length, agent)
  try {
    return await withServerReadings(target, async () => {
      const start = process.hrtime.bigint()
      const end = start + BigInt(Math.round(durationS * 1e9))
      const loop = async (): Promise<void> => {
        while (process.hrtime.bigint() < end && requests + errors < maxRequests) {
          const sent = process.hrtime.bigint()
          try {
            const status = await post()
            requests++
            if (status >= 200 && status < 300) latency?.recordValue(Math.max(1, Math.round(Number(process.hrtime.bigint() - sent) / 1000)))
            else non2xx++
          } catch {
            errors++
          }
        }
      }
      await Promise.all(Array.from({ length: connections }, loop))
      return { requests, non2xx, errors, durationS: Number(process.hrtime.bigint() - start) / 1e9 }
    })
  } finally {
    if (agent !== false) agent.destroy()
  }
}

export interface LatencySummary {
  p50Ms: number
  p90Ms: number
  p99Ms: number
  p999Ms: number
  maxMs: number
  samples: number
}

export function summariseLatency (histogram: Histogram): LatencySummary {
  const ms = (us: number): number => round(us / 1000)
  return {
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p90Ms: ms(histogram.getValueAtPercentile(90)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    p999Ms: ms(histogram.getValueAtPercentile(99.9)),
    maxMs: ms(histogram.maxValue),
    samples: histogram.totalCount
  }
}

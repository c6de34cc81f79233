// Latency at a fixed arrival rate, as the API server produces it: requests are sent on a schedule
// (request i at start + i / rate) whether or not earlier ones have been answered, and each latency is
// taken from the time the request was due, not the time it was sent. A slow answer therefore counts
// against every request that waited behind it: no coordinated omission, which a closed-loop client
// (autocannon's connections) has by construction. http://highscalability.com/blog/2015/10/5/your-load-generator-is-probably-lying-to-you-take-the-red-pi.html
// Keep-alive connections (a pool of up to maxSockets, like the API server's transport); every run is
// bounded by its duration and by rate × duration requests, against 127.0.0.1 only.
// The client is not node:https: its per-request objects cost the client more CPU than the constant-
// answer server spends answering, so at the baseline's rates the client itself fell behind its
// schedule by up to 0.5 s (BENCHMARKS.md, issue 16). Here each connection is a TLS socket that writes
// one prebuilt request and reads the answer's status line, Content-Length or chunked body, and
// nothing else. A request due while every connection is busy waits in a FIFO queue, or opens a new
// connection while fewer than maxSockets are open; either way its latency counts from its due time.
// How late the client sent each request (its lag) is recorded too, with the client's own CPU: when
// they are large, the figures are upper bounds set by the client, and the summary says so.
import { connect } from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Histogram } from 'hdr-histogram-js'
import type { LatencySummary, LoadTarget } from './load.js'
import { newLatencyHistogram, summariseLatency } from './load.js'
import { cpuTimeUs, memoryMiB, resetPeakMemory } from './proc.js'
import { serverName } from './servers.js'
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
  /** The 99th percentile of that delay (ms). */
  p99SendLagMs: number
  /** The load generator's own CPU time per request (µs) and its share of its core during the run. */
  clientCpuUsPerRequest: number
  clientCpuShare: number
  /** Connections open at the end of the run (at most maxSockets; opened as the queue needed them). */
  connections: number
  cpuUsPerRequest: number
  peakRssMiB: number
  latency: LatencySummary
}

export interface OpenLoopRun {
  sent: number
  completed: number
  errors: number
  non2xx: number
  durationS: number
  maxSendLagMs: number
  p99SendLagMs: number
  clientCpuUs: number
  connections: number
}

/** Answers are read as far as the protocol needs: status, then Content-Length bytes or chunks. */
export class Connection {
  readonly socket: TLSSocket
  private buffer: Buffer = Buffer.alloc(0)
  private status = 0
  /** Bytes of body still expected (Content-Length), or -1 while reading chunks. */
  private remaining = 0
  private inBody = false
  private done: ((status: number) => void) | undefined
  private fail: ((error: Error) => void) | undefined
  closed = false

  constructor (port: number, onClose: (connection: Connection) => void) {
    this.socket = connect({ host: '127.0.0.1', port, servername: serverName, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
    this.socket.setNoDelay(true)
    this.socket.on('data', chunk => { this.read(chunk) })
    const close = (error?: Error): void => {
      if (this.closed) return
      this.closed = true
      this.fail?.(error ?? new Error('connection closed'))
      this.done = this.fail = undefined
      onClose(this)
    }
    this.socket.on('error', close)
    this.socket.on('close', () => { close() })
  }

  async send (request: Buffer): Promise<number> {
    return await new Promise((resolve, reject) => {
      this.done = resolve
      this.fail = reject
      this.status = 0
      this.inBody = false
      this.socket.write(request)
    })
  }

  private read (chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    for (;;) {
      if (!this.inBody) {
        const end = this.buffer.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = this.buffer.toString('latin1', 0, end)
        this.buffer = this.buffer.subarray(end + 4)
        this.status = Number(head.slice(9, 12))
        const length = /\r\ncontent-length: *(\d+)/i.exec(head)
        this.remaining = length !== null ? Number(length[1]) : /\r\ntransfer-encoding: *chunked/i.test(head) ? -1 : 0
        this.inBody = true
      }
      if (this.remaining >= 0) {
        if (this.buffer.length < this.remaining) return
        this.buffer = this.buffer.subarray(this.remaining)
        this.finish()
        return
      }
      // Chunked: size line, data, CRLF; a zero size ends the body (no trailers are sent to us).
      const line = this.buffer.indexOf('\r\n')
      if (line < 0) return
      const size = Number.parseInt(this.buffer.toString('latin1', 0, line), 16)
      if (this.buffer.length < line + 2 + size + 2) return
      this.buffer = this.buffer.subarray(line + 2 + size + 2)
      if (size === 0) {
        this.finish()
        return
      }
    }
  }

  private finish (): void {
    const done = this.done
    this.done = this.fail = undefined
    this.inBody = false
    done?.(this.status)
  }
}

/** Up to maxSockets keep-alive connections to one server, kept from the warm-up to the measured run. */
export class ConnectionPool {
  readonly idle: Connection[] = []
  readonly open = new Set<Connection>()
  readonly port: number
  readonly maxSockets: number
  constructor (port: number, maxSockets: number) {
    this.port = port
    this.maxSockets = maxSockets
  }

  /** An idle connection, a new one, or undefined when maxSockets are busy. */
  take (): Connection | undefined {
    const connection = this.idle.pop()
    if (connection !== undefined || this.open.size >= this.maxSockets) return connection
    const fresh = new Connection(this.port, c => {
      this.open.delete(c)
      const at = this.idle.indexOf(c)
      if (at >= 0) this.idle.splice(at, 1)
    })
    this.open.add(fresh)
    return fresh
  }

  destroy (): void {
    for (const connection of this.open) connection.socket.destroy()
  }
}

/** `rate` requests per second for `durationS`, latencies (µs, from the due time) into `latency`. */
export async function openLoopLoad (pool: ConnectionPool, body: string, rate: number, durationS: number, latency: Histogram | undefined): Promise<OpenLoopRun> {
  const total = Math.max(1, Math.round(rate * durationS))
  const intervalNs = 1e9 / rate
  const request = Buffer.from(`POST /inject?timeout=10s HTTP/1.1\r\nHost: ${serverName}\r\nContent-Type: application/json\r\n` +
    `User-Agent: kube-apiserver-admission\r\nAccept: application/json, */*\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  const run: OpenLoopRun = { sent: 0, completed: 0, errors: 0, non2xx: 0, durationS: 0, maxSendLagMs: 0, p99SendLagMs: 0, clientCpuUs: 0, connections: 0 }
  const lag = newLatencyHistogram()
  const queue: bigint[] = []
  let outstanding = 0
  let allDone: (() => void) | undefined
  const settle = (): void => {
    outstanding--
    if (outstanding === 0) allDone?.()
  }
  const dispatch = (connection: Connection, dueNs: bigint): void => {
    const timer = setTimeout(() => { connection.socket.destroy(new Error('timeout')) }, 10_000)
    connection.send(request).then(status => {
      clearTimeout(timer)
      run.completed++
      if (status >= 200 && status < 300) latency?.recordValue(Math.max(1, Math.round(Number(process.hrtime.bigint() - dueNs) / 1000)))
      else run.non2xx++
      const next = queue.shift()
      if (next !== undefined) dispatch(connection, next)
      else pool.idle.push(connection)
      settle()
    }, () => {
      clearTimeout(timer)
      run.errors++
      settle()
      // The queue's head gets a new connection, if any is waiting.
      const next = queue.shift()
      if (next !== undefined) startOn(next)
    })
  }
  const startOn = (dueNs: bigint): void => {
    const connection = pool.take()
    if (connection !== undefined) dispatch(connection, dueNs)
    else queue.push(dueNs)
  }
  const cpuBefore = process.cpuUsage()
  const start = process.hrtime.bigint()
  for (let next = 0; next < total;) {
    const now = process.hrtime.bigint()
    while (next < total) {
      const due = start + BigInt(Math.round(next * intervalNs))
      if (due > now) break
      lag.recordValue(Math.max(1, Math.round(Number(now - due) / 1000)))
      outstanding++
      startOn(due)
      run.sent++
      next++
    }
    if (next < total) await sleep(1)
  }
  // Every request has a 10 s timeout: this wait is bounded.
  if (outstanding > 0) await new Promise<void>(resolve => { allDone = resolve })
  run.durationS = Number(process.hrtime.bigint() - start) / 1e9
  const cpu = process.cpuUsage(cpuBefore)
  run.clientCpuUs = cpu.user + cpu.system
  run.connections = pool.open.size
  run.maxSendLagMs = round(lag.maxValue / 1000)
  run.p99SendLagMs = round(lag.getValueAtPercentile(99) / 1000)
  lag.destroy()
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
      const histogram = newLatencyHistogram()
      const pool = new ConnectionPool(server.target.port, maxSockets)
      try {
        await openLoopLoad(pool, review.body, rate, 1, undefined)
        resetPeakMemory(server.target.pid)
        const cpuBefore = cpuTimeUs(server.target.pid)
        const run = await openLoopLoad(pool, review.body, rate, durationS, histogram)
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
          maxSendLagMs: run.maxSendLagMs,
          p99SendLagMs: run.p99SendLagMs,
          clientCpuUsPerRequest: run.completed === 0 ? Number.NaN : round(run.clientCpuUs / run.completed),
          clientCpuShare: round(run.clientCpuUs / 1e6 / run.durationS),
          connections: run.connections,
          cpuUsPerRequest: run.completed === 0 ? Number.NaN : round(cpuUs / run.completed),
          peakRssMiB: round(memoryMiB(server.target.pid).peak),
          latency: summariseLatency(histogram)
        }
        points.push(point)
        log(`open loop ${review.name} ${server.name} at ${Math.round(fraction * 100)} % of ${server.capacityRps} req/s = ${rate} req/s: ` +
          `p50 ${point.latency.p50Ms} p99 ${point.latency.p99Ms} p99.9 ${point.latency.p999Ms} ms, achieved ${point.achievedRps} req/s, ` +
          `${point.cpuUsPerRequest} µs CPU/req, client lag p99 ${point.p99SendLagMs} max ${point.maxSendLagMs} ms, client CPU ${point.clientCpuUsPerRequest} µs/req (${Math.round(point.clientCpuShare * 100)} % of its core), ${point.connections} connections${run.errors + run.non2xx > 0 ? `, ERRORS ${run.errors}+${run.non2xx}` : ''}`)
      } finally {
        histogram.destroy()
        pool.destroy()
      }
    }
  }
  return points
}

// A bounded load generator for the real-socket tests: `concurrency` closed-loop workers POST a review
// to 127.0.0.1 over TLS until `durationMs` has passed (or `maxRequests` were sent), and every answer
// that is not a 200 AdmissionReview with the right uid counts as a failure, with its reason.
import { request as httpsRequest, Agent } from 'node:https'
import type { TLSSocket } from 'node:tls'

export interface LoadOptions {
  port: number
  ca: string
  body: string
  uid: string
  durationMs: number
  concurrency?: number
  maxRequests?: number
  /** Workers that open a new connection per request (Connection: close), to exercise handshakes. */
  freshConnectionWorkers?: number
}

export interface LoadResult {
  ok: number
  failed: number
  errors: string[]
  /** Answers to kept-alive requests that carried Connection: close (the server ended the connection). */
  closed: number
  /** Answers to kept-alive requests that left the connection open. */
  keptAlive: number
  /** Fingerprint of the server certificate on each new connection; `startedAt` is Date.now() when it began connecting. */
  handshakes: Array<{ startedAt: number, fingerprint256: string }>
}

export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, ca: options.ca, maxSockets: options.concurrency ?? 4 })
  const result: LoadResult = { ok: 0, failed: 0, errors: [], closed: 0, keptAlive: 0, handshakes: [] }
  const end = Date.now() + options.durationMs
  const max = options.maxRequests ?? 100_000
  let sent = 0
  const worker = async (fresh: boolean): Promise<void> => {
    while (Date.now() < end && sent < max) {
      sent++
      try {
        const answer = await post(options, fresh ? undefined : agent, result)
        // Fresh-connection workers ask for Connection: close themselves: only kept-alive answers tell.
        if (!fresh) {
          if (answer.connectionClose) result.closed++
          else result.keptAlive++
        }
        const uid = answer.status === 200 ? (JSON.parse(answer.body) as { response?: { uid?: string } }).response?.uid : undefined
        if (uid === options.uid) result.ok++
        else { result.failed++; result.errors.push(`status ${answer.status}: ${answer.body.slice(0, 200)}`) }
      } catch (err) {
        result.failed++
        result.errors.push((err as Error).message)
      }
    }
  }
  const workers: Array<Promise<void>> = []
  for (let i = 0; i < (options.concurrency ?? 4); i++) workers.push(worker(false))
  for (let i = 0; i < (options.freshConnectionWorkers ?? 0); i++) workers.push(worker(true))
  await Promise.all(workers)
  agent.destroy()
  return result
}

interface Answer { status: number, body: string, connectionClose: boolean }

async function post (options: LoadOptions, agent: Agent | undefined, result: LoadResult): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const req = httpsRequest({
      host: '127.0.0.1',
      port: options.port,
      method: 'POST',
      path: '/inject?timeout=10s',
      ca: options.ca,
      servername: 'sidecar-injector.sidecar-injector.svc',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body), ...(agent === undefined ? { connection: 'close' } : {}) },
      ...(agent === undefined ? { agent: false } : { agent })
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), connectionClose: res.headers.connection === 'close' }))
      res.on('error', reject)
    })
    req.on('socket', socket => {
      const tlsSocket = socket as TLSSocket
      if (req.reusedSocket) return
      // Taken before the TCP connect: a connection started after a certificate swap is accepted after it.
      const startedAt = Date.now()
      tlsSocket.once('secureConnect', () => {
        result.handshakes.push({ startedAt, fingerprint256: tlsSocket.getPeerCertificate().fingerprint256 })
      })
    })
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout after 10 s')))
    req.on('error', reject)
    req.end(options.body)
  })
}

// The webhook's HTTP(S) server: fastify routes for POST /inject and the probes, plus the
// two things a long-lived TLS server needs at run time: a certificate swap that keeps every TLS option,
// and a graceful shutdown that moves kept-alive clients elsewhere before closing. buildServer never
// listens; the caller (src/serve.ts, or a test) does. /metrics is not here: it has a listener of its
// own (src/http/metrics-server.ts), so that a NetworkPolicy can open this port to the API server alone.
import type { Server } from 'node:http'
import type { SecureVersion, Server as TlsServer } from 'node:tls'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { LogController, errorCodes } from 'fastify'
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyRequest } from 'fastify'
import type { ClusterFacts, InjectorConfig, Pod } from '../core/types.js'
import { parseReview } from '../admission/parse.js'
import { encodeReview } from '../admission/responses.js'
import { podToInject, reviewAdmission } from '../admission/review.js'
import type { AdmissionRequest } from '../admission/types.js'
import type { CertificateInfo, KeyPair } from '../tls/key-pair.js'
import { checkKeyPair } from '../tls/key-pair.js'
import type { ErrorType, WebhookMetrics } from './metrics.js'
import { parseRequestTimeout, waitForRoomMs } from './request-timeout.js'
import { defaultCiphers } from './tls-ciphers.js'
import { isRecord } from '../shared/records.js'

/** Facts about the cluster for one pod (e.g. native sidecar support of its nodes); may be async. */
export type FactsProvider = (pod: Pod) => ClusterFacts | Promise<ClusterFacts>

export interface ServerTimeouts {
  /**
   * How long an idle kept-alive connection stays open. The API server's Go transport drops idle
   * connections after 90 s (IdleConnTimeout); the server must outlast it, or a request the client
   * sends on a connection the server is closing fails with EOF and is not retried.
   */
  keepAliveTimeoutMs: number
  /** Time allowed to receive a request's headers; must be <= requestTimeoutMs (Node enforces it). */
  headersTimeoutMs: number
  /** Time allowed to receive a whole request. The API server gives up after at most 30 s anyway. */
  requestTimeoutMs: number
  /**
   * How often Node checks the two timeouts above. Node's default (30 s) lets a stalled client hold
   * a socket long after its deadline (docs/operations.md, measured).
   */
  connectionsCheckingIntervalMs: number
  /** Time allowed for a TLS handshake (Node's default is 120 s; the API server's client gives up at 10 s). */
  handshakeTimeoutMs: number
  /**
   * Time allowed to write an answer once it is ready. Node has no write timeout: a client that never
   * reads keeps its answer (and socket) in memory for ever. The API server reads at once and gives up
   * after at most 30 s, so a write still pending after this long is from a client that is not reading.
   */
  writeTimeoutMs: number
}

export const defaultTimeouts: ServerTimeouts = {
  keepAliveTimeoutMs: 120_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  connectionsCheckingIntervalMs: 1_000,
  handshakeTimeoutMs: 10_000,
  writeTimeoutMs: 10_000
}

/**
 * How much review work may be in memory at once. A review in progress costs about 6× its body in V8
 * heap (the JSON string, the parsed object, the core's copies; measured in docs/operations.md,
 * "Resource bounds"), so the byte budget is what the heap cap leaves after the process's own ~60 MiB,
 * divided by that factor, with room to spare. Above it, a new review waits up to `waitMs` for room,
 * then gets 429 with Retry-After (any non-2xx is a call failure for the API server, handled by the
 * webhook's failurePolicy; 429 keeps overload apart from the 503 of a draining pod in logs and metrics).
 */
export interface InFlightBudget {
  /** Body bytes of the reviews being answered (an answer not yet written counts its own bytes). */
  bytes: number
  requests: number
  /** How long a review may wait for room before it is refused. */
  waitMs: number
}

export const defaultBudget: InFlightBudget = { bytes: 16 * 1024 * 1024, requests: 64, waitMs: 2_000 }

/** Messages taken from a request (fastify's errors quote a header or field) are cut to this length. */
export const maxMessageLength = 512

/**
 * Largest body accepted. A review carries object + oldObject (UPDATE), each up to the API server's
 * 3 MiB request limit, plus under 1 MiB of the rest: controller-runtime's 7 MiB reasoning
 * (istio: 6 MiB). fastify's default, 1 MiB, would turn a large pod into a 413 and a failed create.
 */
export const bodyLimitBytes = 7 * 1024 * 1024

/** TLS options kept across certificate swaps (setSecureContext resets whatever it is not given). */
export interface TlsOptions {
  minVersion: SecureVersion
  ciphers?: string
}

export interface BuildServerOptions {
  logger: FastifyBaseLogger
  /** Read on every request, so that a reloaded config applies to the next one. */
  config: () => InjectorConfig
  metrics: WebhookMetrics
  facts?: FactsProvider
  /** The first key pair and the TLS options; null serves plain HTTP (for app.inject() tests only). */
  tls: (KeyPair & Partial<TlsOptions>) | null
  timeouts?: Partial<ServerTimeouts>
  bodyLimitBytes?: number
  /** Extra readiness condition (e.g. "config loaded"); the server adds "not draining". */
  isReady?: () => boolean
  budget?: Partial<InFlightBudget>
}

export interface ShutdownOptions {
  /** How long to keep answering (with Connection: close) after readiness went false. */
  drainMs: number
  /** How often idle kept-alive connections are closed during the drain. */
  closeIdleEveryMs?: number
  /** After the drain, how long in-flight requests may take before their sockets are destroyed. */
  closeTimeoutMs?: number
}

export interface WebhookServer {
  app: FastifyInstance
  /** Validates and installs a new key pair for new connections; throws (keeping the old one) if invalid. */
  setCertificate: (pair: KeyPair) => CertificateInfo
  /** The certificate currently served (undefined for plain HTTP). */
  certificate: () => CertificateInfo | undefined
  isDraining: () => boolean
  /** Readiness false, then serve for drainMs with Connection: close, then close once in-flight requests end. */
  shutdown: (options: ShutdownOptions) => Promise<void>
}

export function buildServer (options: BuildServerOptions): WebhookServer {
  const timeouts = { ...defaultTimeouts, ...options.timeouts }
  const { metrics, logger } = options
  // TLS 1.2 limited to ECDHE with AEAD ciphers unless other suites are asked for (src/http/tls-ciphers.ts).
  const tlsOptions: TlsOptions = { minVersion: options.tls?.minVersion ?? 'TLSv1.2', ciphers: options.tls?.ciphers ?? defaultCiphers }
  let current: CertificateInfo | undefined
  if (options.tls !== null) {
    const checked = checkKeyPair(options.tls, new Date())
    if (!checked.ok) throw new Error(`cannot serve TLS: ${checked.problem}`)
    current = checked.info
    metrics.certificateExpiry.set(current.notAfter.getTime() / 1000)
  }
  const app = createApp(options, timeouts, tlsOptions)
  const state = { draining: false }
  installBudget(app, options, timeouts)
  installHooks(app, metrics, state)
  routeAdmissions(app, options)
  routeProbes(app, state, options.isReady ?? (() => true))

  function setCertificate (pair: KeyPair): CertificateInfo {
    if (options.tls === null) throw new Error('the server was built without TLS')
    const checked = checkKeyPair(pair, new Date())
    if (!checked.ok) {
      metrics.certificateReloads.inc({ result: 'failure' })
      throw new Error(`refused the new certificate: ${checked.problem}`)
    }
    // The full option set: setSecureContext rebuilds the context only from what it is given and
    // would silently drop minVersion/ciphers (docs/operations.md, measured).
    // https://nodejs.org/api/tls.html#serversetsecurecontextoptions
    ;(app.server as unknown as TlsServer).setSecureContext({ ...tlsOptions, key: pair.key, cert: pair.cert })
    current = checked.info
    metrics.certificateExpiry.set(current.notAfter.getTime() / 1000)
    metrics.certificateReloads.inc({ result: 'success' })
    return current
  }

  async function shutdown (shutdownOptions: ShutdownOptions): Promise<void> {
    if (state.draining) return
    state.draining = true
    metrics.draining.set(1)
    await drainAndClose(app, logger, shutdownOptions)
  }

  return { app, setCertificate, certificate: () => current, isDraining: () => state.draining, shutdown }
}

function createApp (options: BuildServerOptions, timeouts: ServerTimeouts, tlsOptions: TlsOptions): FastifyInstance {
  const nodeServerOptions = {
    headersTimeout: timeouts.headersTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    connectionsCheckingInterval: timeouts.connectionsCheckingIntervalMs
  }
  const app = Fastify({
    loggerInstance: options.logger,
    // One line per admission is written by the handler; fastify's two lines per request would add
    // noise (and the probes would flood the log).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? bodyLimitBytes,
    keepAliveTimeout: timeouts.keepAliveTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    // Idle keep-alive sockets are destroyed by close(); in-flight requests finish first.
    forceCloseConnections: 'idle',
    ...(options.tls === null
      ? { http: nodeServerOptions }
      : {
          https: {
            ...nodeServerOptions,
            ...tlsOptions,
            handshakeTimeout: timeouts.handshakeTimeoutMs,
            key: options.tls.key,
            cert: options.tls.cert,
            // The API server speaks HTTP/1.1 to service webhooks (docs/operations.md); no h2.
            ALPNProtocols: ['http/1.1']
          }
        })
  }) as unknown as FastifyInstance

  // Only JSON is parsed: fastify's default text/plain parser would hand a string to the handler.
  // JSON.parse alone: parseReview checks depth and prototype keys (`__proto__`, constructor.prototype)
  // in one pass over the parsed body, which fastify's default parser (secure-json-parse) did with
  // regular-expression scans of the text: 40 % of the server's CPU on 200 KB reviews (BENCHMARKS.md).
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'string' }, function parseJsonBody (_request, body, done) {
    if (body.length === 0) {
      done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), undefined)
      return
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(body as string)
    } catch {
      done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), undefined)
      return
    }
    done(null, parsed)
  })
  return app
}

/** The in-flight budget (before the body is read) and the write timeout (once an answer is ready). */
function installBudget (app: FastifyInstance, options: BuildServerOptions, timeouts: ServerTimeouts): void {
  const limit = options.bodyLimitBytes ?? bodyLimitBytes
  const budget = { ...defaultBudget, ...options.budget }
  const admit = budgetGate(budget)
  // Admission before the body is read: a review that must wait has its bytes left in the socket.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST' || request.routeOptions.url !== '/inject') return
    const length = Number(request.headers['content-length'])
    // Without a length (chunked) the body may be anything up to the limit; above it fastify answers 413.
    const charge = Number.isFinite(length) && length >= 0 ? Math.min(length, limit) : limit
    // The API server's own deadline, when it says it (?timeout=): a review that cannot be answered in
    // time stops waiting early, and one whose deadline passed is not worked on (src/http/request-timeout.ts).
    const timeoutMs = parseRequestTimeout((request.query as Record<string, unknown> | undefined)?.timeout)
    const waitMs = waitForRoomMs(budget.waitMs, timeoutMs)
    if (timeoutMs !== undefined) (request as RequestWithTicket)[deadlineKey] = { at: Date.now() + timeoutMs, timeoutMs }
    const ticket = await admit(charge, waitMs)
    if (ticket === undefined) {
      request.log.warn({ statusCode: 429, reason: 'overloaded', waitMs, ...(timeoutMs === undefined ? {} : { timeoutMs }), ...admit.usage() }, 'refused a review: the in-flight budget is spent')
      return await reply.code(429).header('retry-after', '1').send({ statusCode: 429, reason: 'overloaded', message: 'too many reviews in progress; retry later' })
    }
    // A client that went away while waiting: its room goes back at once ('close' has been emitted).
    if (request.raw.socket === null || request.raw.socket.destroyed) {
      ticket.release()
      return
    }
    // 'close' comes once the answer is written or the connection is gone, whichever is first.
    reply.raw.once('close', ticket.release)
    ;(request as RequestWithTicket)[ticketKey] = ticket
  })
  app.addHook('onSend', async (request, reply, payload) => {
    // The body and its parsed object are garbage from here on: the answer is what stays in memory.
    const ticket = (request as RequestWithTicket)[ticketKey]
    if (ticket !== undefined && typeof payload === 'string') ticket.recharge(Buffer.byteLength(payload))
    const raw = reply.raw
    const timer = setTimeout(() => {
      if (raw.writableFinished) return
      request.log.warn({ writeTimeoutMs: timeouts.writeTimeoutMs }, 'the client did not read its answer in time; closing the connection')
      raw.destroy()
    }, timeouts.writeTimeoutMs)
    timer.unref()
    const stop = (): void => { clearTimeout(timer) }
    raw.once('finish', stop)
    raw.once('close', stop)
    return payload
  })
}

function installHooks (app: FastifyInstance, metrics: WebhookMetrics, state: { readonly draining: boolean }): void {
  // Callback hooks rather than async ones: no promise per request.
  app.addHook('onRequest', (_request, reply, done) => {
    // While draining every answer closes its connection, so that the client reconnects, and reaches
    // a pod that is not going away (docs/operations.md).
    if (state.draining) reply.header('connection', 'close')
    done()
  })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
    if (status === 500) {
      request.log.error({ err: error, ...requestIds(request) }, 'internal error answering an admission review')
      return reply.code(500).send({ statusCode: 500, reason: 'internal-error', message: 'internal error; see the webhook log' })
    }
    const reason = fastifyReasons[error.code] ?? error.code
    const message = bounded(error.message, maxMessageLength)
    request.log.warn({ statusCode: status, reason }, 'refused a request: %s', message)
    return reply.code(status).send({ statusCode: status, reason, message })
  })

  installNotFound(app, 'the webhook port serves POST /inject, GET /healthz and GET /readyz (metrics have a port of their own: --metrics-port)')

  // Label children looked up once per value (bounded: status codes), not hashed from a label object
  // on every request.
  const requestsByCode = perValue(code => metrics.requests.labels({ code }))
  app.addHook('onResponse', (request, reply, done) => {
    if (request.routeOptions.url === '/inject') {
      const code = reply.statusCode
      requestsByCode(String(code)).inc()
      if (code >= 400) metrics.errors.inc({ type: errorType(code) })
    }
    done()
  })
}

function routeAdmissions (app: FastifyInstance, options: BuildServerOptions): void {
  const { metrics } = options
  const factsFor: FactsProvider = options.facts ?? (() => ({}))
  // Label children looked up once per value (bounded: decisions, reason codes).
  const durationByDecision = perValue(decision => metrics.duration.labels({ decision }))
  const skipsByReason = perValue(reason => metrics.skips.labels({ reason }))
  app.post('/inject', async (request, reply) => {
    // Waiting for room and reading a large body take time under load: when the API server's deadline
    // has passed, nobody reads the answer, and the core's work would only delay the reviews behind.
    const deadline = (request as RequestWithTicket)[deadlineKey]
    if (deadline !== undefined && Date.now() >= deadline.at) {
      request.log.warn({ statusCode: 429, reason: 'deadline-exceeded', timeoutMs: deadline.timeoutMs }, 'refused a review: the API server\'s timeout passed before it could be worked on')
      return await reply.code(429).header('retry-after', '1').send({
        statusCode: 429,
        reason: 'deadline-exceeded',
        message: `the API server's timeout (${deadline.timeoutMs / 1000} s) passed before this review could be worked on; retry later`
      })
    }
    const parsed = parseReview(request.body)
    if (!parsed.ok) {
      const message = bounded(parsed.message, maxMessageLength)
      request.log.warn({ statusCode: 400, reason: parsed.reason }, 'refused a malformed AdmissionReview: %s', message)
      return await reply.code(400).send({ statusCode: 400, reason: parsed.reason, message })
    }
    const review = parsed.review
    const input = podToInject(review.request)
    const facts = input.kind === 'pod' ? await factsFor(input.pod) : {}
    const verdict = reviewAdmission(review, options.config(), facts, input)
    const durationMs = reply.elapsedTime
    durationByDecision(verdict.decision).observe(durationMs / 1000)
    switch (verdict.decision) {
      case 'patched': metrics.injections.inc(); break
      case 'rejected': metrics.rejections.inc(); break
      case 'allowed': skipsByReason(verdict.reason).inc(); break
    }
    // Identifiers only: the pod body can hold secrets (env values) and is never logged at info.
    request.log.info({
      ...admissionIds(review.request),
      decision: verdict.decision,
      reason: verdict.reason,
      patchBytes: verdict.patchBytes,
      durationMs: Math.round(durationMs * 1000) / 1000
    }, 'admission')
    // The answer as we encode it: a string is sent as it is, where an object would be serialised again.
    return await reply.type('application/json; charset=utf-8').send(encodeReview(verdict.review))
  })
}

function routeProbes (app: FastifyInstance, state: { readonly draining: boolean }, isReady: () => boolean): void {
  const quiet = { logLevel: 'warn' as const }
  app.get('/healthz', quiet, async () => 'ok\n')
  app.get('/readyz', quiet, async (_request, reply) => {
    if (state.draining) return await reply.code(503).send('not ready: shutting down\n')
    if (!isReady()) return await reply.code(503).send('not ready: not loaded yet\n')
    return 'ready\n'
  })
}

/** Serve for drainMs with Connection: close (closing idle connections), then close once in-flight requests end. */
async function drainAndClose (app: FastifyInstance, logger: FastifyBaseLogger, shutdownOptions: ShutdownOptions): Promise<void> {
  const server = app.server as Server
  logger.info({ drainMs: shutdownOptions.drainMs }, 'draining: readiness is false, answers close their connections')
  const closeIdle = setInterval(() => { server.closeIdleConnections() }, shutdownOptions.closeIdleEveryMs ?? 1000)
  await sleep(shutdownOptions.drainMs)
  clearInterval(closeIdle)
  const closeTimeoutMs = shutdownOptions.closeTimeoutMs ?? 10_000
  const deadline = setTimeout(() => {
    logger.warn({ closeTimeoutMs }, 'in-flight requests outlived the close deadline; destroying their connections')
    server.closeAllConnections()
  }, closeTimeoutMs)
  try {
    await app.close()
  } finally {
    clearTimeout(deadline)
  }
  logger.info('closed')
}

/** Every error answer has the same shape, {statusCode, reason, message}: a 404 too, saying what the port serves. */
export function installNotFound (app: FastifyInstance, serves: string): void {
  app.setNotFoundHandler((request, reply) => {
    const message = `no route for ${bounded(request.method, 16)} ${bounded(request.url.split('?')[0] ?? '', 128)}; ${serves}`
    return reply.code(404).send({ statusCode: 404, reason: 'not-found', message })
  })
}

const fastifyReasons: Record<string, string> = {
  FST_ERR_CTP_EMPTY_JSON_BODY: 'empty-body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid-json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body-too-large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid-content-length'
}

/** make(value), made once per value: for label values from a bounded set. */
function perValue<T> (make: (value: string) => T): (value: string) => T {
  const made = new Map<string, T>()
  return value => {
    let child = made.get(value)
    if (child === undefined) made.set(value, child = make(value))
    return child
  }
}

interface Ticket {
  /** Counts `bytes` instead of what was charged so far (the answer replaces the request). */
  recharge: (bytes: number) => void
  /** Gives the room back; later calls do nothing. */
  release: () => void
}

const ticketKey = Symbol('in-flight ticket')
const deadlineKey = Symbol('API server deadline')
type RequestWithTicket = FastifyRequest & { [ticketKey]?: Ticket, [deadlineKey]?: { at: number, timeoutMs: number } }

interface Gate {
  /** A ticket once the bytes fit, or undefined after waitMs without room. */
  (bytes: number, waitMs: number): Promise<Ticket | undefined>
  usage: () => { inFlightBytes: number, inFlightRequests: number, waiting: number }
}

/**
 * A first-come, first-served gate over bytes and requests. A review larger than the whole byte
 * budget still gets in when nothing else is in flight (the body limit bounds it), so no legal review
 * is refused for ever.
 */
function budgetGate (budget: InFlightBudget): Gate {
  let bytes = 0
  let requests = 0
  const queue: Array<{ bytes: number, admit: () => void }> = []
  const fits = (n: number): boolean => requests < budget.requests && (bytes + n <= budget.bytes || requests === 0)
  const take = (n: number): Ticket => {
    bytes += n
    requests++
    let held = n
    let released = false
    return {
      recharge (next) {
        if (released) return
        bytes += next - held
        held = next
        wake()
      },
      release () {
        if (released) return
        released = true
        bytes -= held
        requests--
        wake()
      }
    }
  }
  const wake = (): void => {
    while (queue.length > 0 && fits((queue[0] as { bytes: number }).bytes)) queue.shift()?.admit()
  }
  const gate = async (n: number, waitMs: number): Promise<Ticket | undefined> => {
    if (queue.length === 0 && fits(n)) return take(n)
    if (waitMs <= 0) return undefined
    return await new Promise(resolve => {
      const entry = {
        bytes: n,
        admit: () => {
          clearTimeout(timer)
          resolve(take(n))
        }
      }
      const timer = setTimeout(() => {
        queue.splice(queue.indexOf(entry), 1)
        resolve(undefined)
        wake()
      }, waitMs)
      queue.push(entry)
    })
  }
  return Object.assign(gate, { usage: () => ({ inFlightBytes: bytes, inFlightRequests: requests, waiting: queue.length }) })
}

function errorType (status: number): ErrorType {
  if (status === 429) return 'overloaded'
  if (status === 413) return 'payload-too-large'
  if (status === 415) return 'unsupported-media-type'
  return status >= 500 ? 'internal' : 'bad-request'
}

function requestIds (request: FastifyRequest): Record<string, unknown> {
  const body = request.body as { request?: AdmissionRequest } | undefined
  return typeof body?.request?.uid === 'string' ? { uid: bounded(body.request.uid) } : {}
}

/** Log fields taken from the request are cut to this many characters (a name can be megabytes). */
export const maxLogField = 256

function bounded (value: string, max = maxLogField): string {
  return value.length <= max ? value : `${value.slice(0, max)}… (${value.length} characters)`
}

/**
 * Identifiers for the admission log line. Reads the raw object (an UPDATE's or DELETE's is never
 * shape-checked), so every field is type-checked here and cut to a bounded length.
 */
function admissionIds (request: AdmissionRequest): Record<string, unknown> {
  const metadata = isRecord(request.object?.metadata) ? request.object.metadata : {}
  const refs = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences.filter(isRecord) : []
  const owner = refs.find(ref => ref.controller === true) ?? refs[0]
  const ids: Record<string, unknown> = { uid: bounded(request.uid) }
  if (request.namespace !== undefined) ids.namespace = bounded(request.namespace)
  // Pods made by controllers have no name yet at CREATE: their generateName identifies them.
  const name = typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : request.name
  if (name !== undefined && name !== '') ids.name = bounded(name)
  else if (typeof metadata.generateName === 'string') ids.generateName = bounded(metadata.generateName)
  ids.operation = request.operation
  if (owner !== undefined && typeof owner.kind === 'string' && typeof owner.name === 'string') ids.owner = bounded(`${owner.kind}/${owner.name}`)
  if (request.resource !== undefined) ids.resource = bounded(request.resource.resource)
  if (request.dryRun === true) ids.dryRun = true
  return ids
}

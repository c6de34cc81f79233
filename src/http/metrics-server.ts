// The metrics listener (serve --metrics-port): GET /metrics in Prometheus text format, plain HTTP, on
// a port of its own. Apart from the webhook port so that a NetworkPolicy can open the webhook port to
// the API server (from anywhere: its source address differs by distribution) while only the monitoring
// namespace reaches the metrics. Plain HTTP as Prometheus exporters serve it: the answer holds counts
// with bounded labels (no pod data, no secrets), the NetworkPolicy decides who may read it, and TLS
// would need Prometheus to trust a CA the injector may rotate itself (docs/operations.md, "Metrics").
import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyError, FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { installNotFound } from './server.js'

export interface MetricsServerOptions {
  logger: FastifyBaseLogger
  registry: Registry
}

/**
 * Only GET (and HEAD) /metrics; every other path is a 404 in the webhook's error shape. Never listens:
 * the caller does. Slow clients are cut as on the webhook port (headers in 10 s, the request in 30 s).
 */
export function buildMetricsServer (options: MetricsServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    // A scrape every few seconds would flood the log: fastify's per-request lines are off.
    logController: new LogController({ disableRequestLogging: true }),
    // A scrape has no body; nothing here reads one.
    bodyLimit: 1024,
    http: { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 },
    requestTimeout: 30_000,
    // Prometheus keeps its connection between scrapes; close() must not wait for it.
    forceCloseConnections: 'idle'
  }) as unknown as FastifyInstance
  // The webhook's error shape; no message is taken from the request (fastify's quote a header or field).
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ statusCode: error.statusCode, reason: 'bad-request', message: 'the metrics port serves GET /metrics' })
    }
    request.log.error({ err: error }, 'internal error answering a metrics scrape')
    return reply.code(500).send({ statusCode: 500, reason: 'internal-error', message: 'internal error; see the webhook log' })
  })
  // Any body (at most bodyLimit) is read and dropped: a wrong request is a 404, not a parse error.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => { done(null, undefined) })
  installNotFound(app, 'the metrics port serves GET /metrics')
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    const text = await options.registry.metrics()
    return await reply.type(options.registry.contentType).send(text)
  })
  return app
}

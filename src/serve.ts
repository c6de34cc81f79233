// The webhook's composition root: wires the config file, the serving certificate source, the metrics
// and the HTTPS server, listens (and, with a metrics port, serves /metrics there), and hot-reloads both files. Signals and the process belong to the
// `serve` command (src/cli/serve.ts), which calls startServer; tests call it directly.
import type { SecureVersion } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import type { InjectorConfig } from './core/types.js'
import { createMetrics } from './http/metrics.js'
import type { WebhookMetrics } from './http/metrics.js'
import { buildServer } from './http/server.js'
import type { FactsProvider, ServerTimeouts, WebhookServer } from './http/server.js'
import { buildMetricsServer } from './http/metrics-server.js'
import type { AuditApi } from './kube/audit-api.js'
import type { AuditMetric } from './kube/audit-metric.js'
import type { KubeSettings } from './kube/in-cluster.js'
import { loadLiveConfig } from './reload/config-file.js'
import type { FileWatcherOptions } from './reload/file-watcher.js'
import { fileCertificateSource } from './tls/file-source.js'
import type { CertificateSource } from './tls/file-source.js'

export interface ServeSettings {
  port: number
  host: string
  /**
   * The plain-HTTP /metrics listener's port, on the same host; absent: no metrics listener (the webhook
   * port never serves /metrics). 0 here is a port the system chooses (tests); `serve --metrics-port 0`
   * means absent (src/cli/serve.ts).
   */
  metricsPort?: number
  tlsCertFile?: string
  tlsPrivateKeyFile?: string
  tlsMinVersion: SecureVersion
  /** OpenSSL `ciphers` string from --tls-cipher-suites; absent: ECDHE with AEAD ciphers only. */
  tlsCiphers?: string
  configFile?: string
  logLevel: string
  drainSeconds: number
  /** Seconds between runs of the optional audit metric (src/kube/audit-metric.ts); 0 or absent: off. */
  auditMetricSeconds?: number
  /** Self-managed TLS and native-sidecar detection (src/kube); absent when neither is asked for. */
  kube?: KubeSettings
}

export interface ServeDependencies {
  logger: Logger
  /** Defaults to a file source built from the settings. */
  certificates?: CertificateSource
  /** Cluster facts for a pod (native sidecar support); defaults to none known. */
  facts?: FactsProvider
  /** Defaults to a new registry (never prom-client's global one). */
  registry?: Registry
  timeouts?: Partial<ServerTimeouts>
  watch?: FileWatcherOptions
  /** The API the audit metric lists pods with; defaults to one from KUBECONFIG / in-cluster. */
  auditApi?: () => Promise<AuditApi>
}

export interface RunningServer {
  server: WebhookServer
  metrics: WebhookMetrics
  port: number
  /** The metrics listener's port; absent when there is none. */
  metricsPort?: number
  config: () => InjectorConfig
  /** Re-reads the config file now (the watcher does this on change). */
  reloadConfig: () => Promise<void>
  /** Readiness false, drain (settings.drainSeconds unless given), close; then the metrics listener; stops the watchers. */
  shutdown: (drainSeconds?: number) => Promise<void>
}

/** Loads, builds, listens. Does not install signal handlers: the command does, tests call shutdown(). */
export async function startServer (settings: ServeSettings, deps: ServeDependencies): Promise<RunningServer> {
  const { logger } = deps
  const metrics = createMetrics(deps.registry ?? new Registry())
  const config = await loadLiveConfig(settings.configFile, {
    logger,
    count: result => { metrics.configReloads.inc({ result }) }
  })
  const certificates = deps.certificates ?? fileSource(settings, deps)
  const firstPair = await certificates.load()

  const server = buildServer({
    logger,
    config: config.current,
    metrics,
    tls: { ...firstPair, minVersion: settings.tlsMinVersion, ...(settings.tlsCiphers === undefined ? {} : { ciphers: settings.tlsCiphers }) },
    ...(deps.facts === undefined ? {} : { facts: deps.facts }),
    ...(deps.timeouts === undefined ? {} : { timeouts: deps.timeouts })
  })
  const info = server.certificate()
  logger.info({ subject: info?.subject, subjectAltName: info?.subjectAltName, notAfter: info?.notAfter }, 'serving certificate loaded')

  const stopCertificates = certificates.watch(pair => {
    try {
      const next = server.setCertificate(pair)
      logger.info({ subject: next.subject, subjectAltName: next.subjectAltName, notAfter: next.notAfter }, 'serving certificate reloaded')
    } catch (err) {
      logger.error({ err }, 'kept the current serving certificate: %s', (err as Error).message)
    }
  })
  const stopConfig = settings.configFile === undefined ? () => {} : config.watch(deps.watch)

  await server.app.listen({ port: settings.port, host: settings.host })
  const port = boundPort(server.app, settings.port)
  logger.info({ host: settings.host, port }, 'listening')
  const metricsApp = settings.metricsPort === undefined ? undefined : buildMetricsServer({ logger, registry: metrics.registry })
  if (metricsApp !== undefined) {
    try {
      await metricsApp.listen({ port: settings.metricsPort ?? 0, host: settings.host })
    } catch (err) {
      // Nothing half-started: the webhook port closes, the watchers stop, the caller reports the error.
      stopCertificates()
      stopConfig()
      await server.app.close()
      throw err
    }
  }
  const metricsPort = metricsApp === undefined ? undefined : boundPort(metricsApp, settings.metricsPort ?? 0)
  if (metricsPort !== undefined) logger.info({ host: settings.host, port: metricsPort }, 'metrics listening')
  else logger.info({ hint: '--metrics-port N serves GET /metrics on port N' }, 'no metrics listener')
  const auditMetric = settings.auditMetricSeconds === undefined
    ? undefined
    : await startAuditMetricOf(settings.auditMetricSeconds, deps, metrics.registry, config.current)

  return {
    server,
    metrics,
    port,
    ...(metricsPort === undefined ? {} : { metricsPort }),
    config: config.current,
    reloadConfig: config.reload,
    async shutdown (drainSeconds = settings.drainSeconds) {
      stopCertificates()
      stopConfig()
      auditMetric?.stop()
      // Metrics are served through the drain (sidecar_injector_draining shows it) and close last.
      try {
        await server.shutdown({ drainMs: drainSeconds * 1000 })
      } finally {
        await metricsApp?.close()
      }
    }
  }
}

/** The port a listening app got (the one asked for, or the system's choice for 0). */
function boundPort (app: FastifyInstance, asked: number): number {
  const address = app.server.address()
  return typeof address === 'object' && address !== null ? address.port : asked
}

/** The default certificate source: the two files of the settings, watched. */
function fileSource (settings: ServeSettings, deps: ServeDependencies): CertificateSource {
  if (settings.tlsCertFile === undefined || settings.tlsPrivateKeyFile === undefined) {
    throw new MissingCertificateError('--tls-cert-file and --tls-private-key-file are required: the webhook serves HTTPS only')
  }
  return fileCertificateSource(settings.tlsCertFile, settings.tlsPrivateKeyFile, {
    ...deps.watch,
    onError: err => { deps.logger.warn({ err }, 'cannot read the serving certificate files; keeping the current certificate') }
  })
}

/** Neither certificate files nor another certificate source: a usage error of `serve`. */
export class MissingCertificateError extends Error {
  override name = 'MissingCertificateError'
}

/** Loaded only when asked for: the audit metric needs client-node and pod list permission. */
async function startAuditMetricOf (seconds: number, deps: ServeDependencies, registry: Registry, config: () => InjectorConfig): Promise<AuditMetric> {
  const { startAuditMetric } = await import('./kube/audit-metric.js')
  const api = deps.auditApi === undefined ? await defaultAuditApi() : await deps.auditApi()
  deps.logger.info({ intervalSeconds: seconds }, 'audit metric on')
  return startAuditMetric({ api, config, registry, intervalMs: seconds * 1000, logger: deps.logger })
}

async function defaultAuditApi (): Promise<AuditApi> {
  const [{ KubeConfig }, { createAuditApi }] = await Promise.all([import('@kubernetes/client-node'), import('./kube/audit-api.js')])
  const kc = new KubeConfig()
  kc.loadFromDefault()
  return createAuditApi(kc)
}

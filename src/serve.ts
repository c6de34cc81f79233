// `sidecar-injector serve`: the webhook's composition root. Reads flags and INJECTOR_* environment,
// loads the config and the serving certificate, builds the server, listens, hot-reloads both files,
// and drains gracefully on SIGTERM. The only module of the server that touches `process`.
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import type { SecureVersion } from 'node:tls'
import { pino } from 'pino'
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import type { CliCommand, CliIo } from './cli/io.js'
import { describeError } from './cli/errors.js'
import { UsageError } from './cli/io.js'
import { defaultConfig, formatConfigProblems, parseConfig } from './core/config.js'
import type { InjectorConfig } from './core/types.js'
import type { KeyPair } from './http/certificate.js'
import { watchFiles } from './http/file-watcher.js'
import type { FileWatcherOptions } from './http/file-watcher.js'
import { createMetrics } from './http/metrics.js'
import type { WebhookMetrics } from './http/metrics.js'
import { buildServer } from './http/server.js'
import { knownCipherSuites, openSslCiphers } from './http/tls-ciphers.js'
import type { FactsProvider, ServerTimeouts, WebhookServer } from './http/server.js'
import type { KubeIntegration, KubeSettings } from './kube/in-cluster.js'
import { KubeSettingsError, kubeFlagOptions, kubeUsage, parseKubeSettings, startKubeIntegration } from './kube/in-cluster.js'

export interface ServeSettings {
  port: number
  host: string
  tlsCertFile?: string
  tlsPrivateKeyFile?: string
  tlsMinVersion: SecureVersion
  /** OpenSSL `ciphers` string from --tls-cipher-suites; absent: ECDHE with AEAD ciphers only. */
  tlsCiphers?: string
  configFile?: string
  logLevel: string
  drainSeconds: number
  /** Self-managed TLS and native-sidecar detection (src/kube); absent when neither is asked for. */
  kube?: KubeSettings
}

/**
 * Where the serving key pair comes from. The default reads --tls-cert-file/--tls-private-key-file and
 * watches them; a self-managed source (in-cluster CA) can generate and rotate pairs instead.
 */
export interface CertificateSource {
  /** The first pair: the server does not listen without one. */
  load: () => Promise<KeyPair>
  /** Calls `update` with every later pair; returns a function that stops watching. */
  watch: (update: (pair: KeyPair) => void) => () => void
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
}

export interface RunningServer {
  server: WebhookServer
  metrics: WebhookMetrics
  port: number
  config: () => InjectorConfig
  /** Re-reads the config file now (the watcher does this on change). */
  reloadConfig: () => Promise<void>
  /** Readiness false, drain (settings.drainSeconds unless given), close; stops the watchers. */
  shutdown: (drainSeconds?: number) => Promise<void>
}

const flagOptions = {
  port: { type: 'string' },
  host: { type: 'string' },
  'tls-cert-file': { type: 'string' },
  'tls-private-key-file': { type: 'string' },
  'tls-min-version': { type: 'string' },
  'tls-cipher-suites': { type: 'string' },
  config: { type: 'string' },
  'log-level': { type: 'string' },
  'drain-seconds': { type: 'string' },
  ...kubeFlagOptions,
  help: { type: 'boolean', short: 'h' }
} as const

export const serveUsage = `usage: sidecar-injector serve [flags]

Serves the mutating admission webhook over HTTPS: POST /inject, GET /healthz, /readyz, /metrics.
Every flag has an environment equivalent; a flag wins over its variable.

  --port N                      INJECTOR_PORT                  port to listen on (default 9443)
  --host ADDR                   INJECTOR_HOST                  address to listen on (default 0.0.0.0)
  --tls-cert-file PATH          INJECTOR_TLS_CERT_FILE         serving certificate (PEM, chain allowed), reloaded on change
  --tls-private-key-file PATH   INJECTOR_TLS_PRIVATE_KEY_FILE  its private key (PEM), reloaded on change
  --tls-min-version V           INJECTOR_TLS_MIN_VERSION       TLSv1.2 (default) or TLSv1.3
  --tls-cipher-suites LIST      INJECTOR_TLS_CIPHER_SUITES     TLS 1.2 suites, comma-separated IANA names as Kubernetes takes them
                                                               (default: the six ECDHE suites with AES-GCM or ChaCha20-Poly1305)
  --config PATH                 INJECTOR_CONFIG                injector config YAML, reloaded on change (default: built-in defaults)
  --log-level LEVEL             INJECTOR_LOG_LEVEL             trace, debug, info (default), warn, error, fatal, silent
  --drain-seconds N             INJECTOR_DRAIN_SECONDS         on SIGTERM, answer with Connection: close this long before closing (default 10, at most 3600)

SIGTERM drains for --drain-seconds (a second SIGTERM changes nothing). Ctrl-C (SIGINT) closes without
that wait once in-flight requests end; a second Ctrl-C exits at once.
` + kubeUsage

export const maxDrainSeconds = 3600

const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

/** Flags win over INJECTOR_* variables, which win over defaults. Throws UsageError naming the bad value. */
export function parseServeSettings (args: readonly string[], env: Readonly<Record<string, string | undefined>>): ServeSettings | 'help' {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({ args: [...args], options: flagOptions, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help === true) return 'help'
  const pick = (flag: keyof typeof flagOptions, variable: string): string | undefined => {
    const value = values[flag]
    if (typeof value === 'string') return value
    const fromEnv = env[variable]
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv
  }
  const port = Number(pick('port', 'INJECTOR_PORT') ?? '9443')
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got '${pick('port', 'INJECTOR_PORT') ?? ''}'`)
  const drainSeconds = Number(pick('drain-seconds', 'INJECTOR_DRAIN_SECONDS') ?? '10')
  // Bounded: Node turns a timer above 2^31-1 ms (24.8 days) into 1 ms, so 3,000,000 s drained at once;
  // an hour is far beyond any terminationGracePeriodSeconds worth setting for a webhook.
  if (!Number.isFinite(drainSeconds) || drainSeconds < 0 || drainSeconds > maxDrainSeconds) {
    throw new UsageError(`--drain-seconds must be a number from 0 to ${maxDrainSeconds}, got '${pick('drain-seconds', 'INJECTOR_DRAIN_SECONDS') ?? ''}'`)
  }
  const logLevel = pick('log-level', 'INJECTOR_LOG_LEVEL') ?? 'info'
  if (!logLevels.includes(logLevel)) throw new UsageError(`--log-level must be one of ${logLevels.join(', ')}, got '${logLevel}'`)
  const tlsMinVersion = pick('tls-min-version', 'INJECTOR_TLS_MIN_VERSION') ?? 'TLSv1.2'
  if (tlsMinVersion !== 'TLSv1.2' && tlsMinVersion !== 'TLSv1.3') throw new UsageError(`--tls-min-version must be TLSv1.2 or TLSv1.3, got '${tlsMinVersion}'`)
  const settings: ServeSettings = { port, host: pick('host', 'INJECTOR_HOST') ?? '0.0.0.0', tlsMinVersion, logLevel, drainSeconds }
  const suites = pick('tls-cipher-suites', 'INJECTOR_TLS_CIPHER_SUITES')
  if (suites !== undefined) {
    const ciphers = openSslCiphers(suites.split(',').map(s => s.trim()).filter(s => s !== ''))
    if (!ciphers.ok) throw new UsageError(`--tls-cipher-suites: unknown suite '${ciphers.unknown.slice(0, 80)}'; known: ${knownCipherSuites.join(', ')}`)
    settings.tlsCiphers = ciphers.ciphers
  }
  const cert = pick('tls-cert-file', 'INJECTOR_TLS_CERT_FILE')
  const key = pick('tls-private-key-file', 'INJECTOR_TLS_PRIVATE_KEY_FILE')
  if (cert !== undefined) settings.tlsCertFile = cert
  if (key !== undefined) settings.tlsPrivateKeyFile = key
  const config = pick('config', 'INJECTOR_CONFIG')
  if (config !== undefined) settings.configFile = config
  let kube: KubeSettings | undefined
  try {
    kube = parseKubeSettings(values, env)
  } catch (err) {
    if (err instanceof KubeSettingsError) throw new UsageError(err.message)
    throw err
  }
  if (kube?.selfManagedTls === true && (cert !== undefined || key !== undefined)) {
    throw new UsageError('--self-managed-tls and --tls-cert-file/--tls-private-key-file are exclusive: choose one certificate source')
  }
  if (kube !== undefined) settings.kube = kube
  return settings
}

/** Reads the key pair from two files and re-reads them when their directories change. */
export function fileCertificateSource (certFile: string, keyFile: string, options: FileWatcherOptions = {}): CertificateSource {
  const read = async (): Promise<KeyPair> => {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')])
    return { cert, key }
  }
  // The pair last handed out: a watch event or a poll that finds the same bytes changes nothing.
  let last: KeyPair | undefined
  return {
    async load () {
      last = await read()
      return last
    },
    watch (update) {
      let busy = false
      const check = (): void => {
        if (busy) return
        busy = true
        read().then(pair => {
          if (last === undefined || pair.cert !== last.cert || pair.key !== last.key) {
            last = pair
            update(pair)
          }
        }, err => options.onError?.(err as Error)).finally(() => { busy = false })
      }
      const watcher = watchFiles([certFile, keyFile], check, options)
      return () => { watcher.close() }
    }
  }
}

/** Loads, builds, listens. Does not install signal handlers: `run` does, tests call shutdown(). */
export async function startServer (settings: ServeSettings, deps: ServeDependencies): Promise<RunningServer> {
  const { logger } = deps
  let config = defaultConfig()
  let configText: string | undefined
  if (settings.configFile !== undefined) {
    try {
      configText = await readFile(settings.configFile, 'utf8')
    } catch (err) {
      throw new Error(`cannot read the config file: ${describeError(err)}`)
    }
    const parsed = parseConfig(configText)
    if (!parsed.ok) throw new Error(`invalid config ${settings.configFile}:\n${formatConfigProblems(parsed.problems)}`)
    config = parsed.config
  }

  let certificates = deps.certificates
  if (certificates === undefined) {
    if (settings.tlsCertFile === undefined || settings.tlsPrivateKeyFile === undefined) {
      throw new UsageError('--tls-cert-file and --tls-private-key-file are required: the webhook serves HTTPS only')
    }
    certificates = fileCertificateSource(settings.tlsCertFile, settings.tlsPrivateKeyFile, {
      ...deps.watch,
      onError: err => { logger.warn({ err }, 'cannot read the serving certificate files; keeping the current certificate') }
    })
  }
  const firstPair = await certificates.load()

  const metrics = createMetrics(deps.registry ?? new Registry())
  const server = buildServer({
    logger,
    config: () => config,
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

  const reloadConfig = async (): Promise<void> => {
    if (settings.configFile === undefined) return
    let text: string
    try {
      text = await readFile(settings.configFile, 'utf8')
    } catch (err) {
      logger.warn({ err, file: settings.configFile }, 'cannot read the config file; keeping the current config')
      return
    }
    if (text === configText) return
    configText = text
    const parsed = parseConfig(text)
    if (!parsed.ok) {
      metrics.configReloads.inc({ result: 'failure' })
      logger.error({ file: settings.configFile, problems: parsed.problems },
        'refused the new config, the previous one keeps serving:\n%s', formatConfigProblems(parsed.problems))
      return
    }
    config = parsed.config
    metrics.configReloads.inc({ result: 'success' })
    logger.info({ file: settings.configFile }, 'config reloaded')
  }
  const configWatcher = settings.configFile === undefined
    ? undefined
    : watchFiles([settings.configFile], () => { reloadConfig().catch(() => {}) }, {
      ...deps.watch,
      onError: err => { logger.warn({ err }, 'cannot watch the config file directory') }
    })

  await server.app.listen({ port: settings.port, host: settings.host })
  const address = server.app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : settings.port
  logger.info({ host: settings.host, port }, 'listening')

  return {
    server,
    metrics,
    port,
    config: () => config,
    reloadConfig,
    async shutdown (drainSeconds = settings.drainSeconds) {
      stopCertificates()
      configWatcher?.close()
      await server.shutdown({ drainMs: drainSeconds * 1000 })
    }
  }
}

export const run: CliCommand = async (args: readonly string[], io: CliIo): Promise<number> => {
  const settings = parseServeSettings(args, io.env)
  if (settings === 'help') {
    io.stdout(serveUsage)
    return 0
  }
  const logger = pino({ level: settings.logLevel, timestamp: pino.stdTimeFunctions.isoTime })
  let running: RunningServer
  let kube: KubeIntegration | undefined
  try {
    kube = settings.kube === undefined ? undefined : await startKubeIntegration(settings.kube, { logger })
    running = await startServer(settings, {
      logger,
      ...(kube?.certificates === undefined ? {} : { certificates: kube.certificates }),
      ...(kube?.facts === undefined ? {} : { facts: kube.facts })
    })
  } catch (err) {
    kube?.stop()
    if (err instanceof UsageError) throw err
    // One line for a person (src/cli.ts prints it on stderr), not a JSON log line with a stack.
    throw new Error(`cannot start: ${describeError(err)}`)
  }
  // Listeners stay installed: a second SIGTERM (the kubelet's) during the drain must not kill the
  // process mid-request. Ctrl-C is a person at a terminal: no endpoint propagation to wait for, so no
  // drain delay, and a second Ctrl-C means now.
  let stopping = false
  const signal = await new Promise<NodeJS.Signals>(resolve => {
    const onSignal = (received: NodeJS.Signals): void => {
      if (stopping && received === 'SIGINT') {
        logger.warn({ signal: received }, 'second interrupt: exiting now')
        process.exit(130)
      }
      if (stopping) {
        logger.warn({ signal: received }, 'already shutting down')
        return
      }
      stopping = true
      resolve(received)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
  const drainSeconds = signal === 'SIGINT' ? 0 : settings.drainSeconds
  logger.info({ signal, drainSeconds }, 'shutting down')
  await running.shutdown(drainSeconds)
  kube?.stop()
  return 0
}

// `sidecar-injector serve`: reads the flags and INJECTOR_* environment, starts the webhook (src/serve.ts,
// with the in-cluster integrations when asked for), and drains gracefully on SIGTERM.
import { Registry } from 'prom-client'
import type { CliCommand, CliIo, StopSignal } from './io.js'
import { describeError } from './errors.js'
import { createServeLog } from './serve-log.js'
import { parseFlags, UsageError } from './io.js'
import type { KubeIntegration, KubeSettings } from '../kube/in-cluster.js'
import { KubeSettingsError, kubeFlagOptions, kubeUsage, parseKubeSettings, startKubeIntegration } from '../kube/in-cluster.js'
import { ConfigReadError } from '../reload/config-file.js'
import { MissingCertificateError, startServer } from '../serve.js'
import type { RunningServer, ServeSettings } from '../serve.js'
import type { FactsProvider } from '../http/server.js'
import { knownCipherSuites, openSslCiphers } from '../http/tls-ciphers.js'
import { injectorVersion } from '../version.js'
import { envNameOf, lookupFlagOrEnv } from '../shared/flag-env.js'

const flagOptions = {
  port: { type: 'string' },
  'metrics-port': { type: 'string' },
  host: { type: 'string' },
  'tls-cert-file': { type: 'string' },
  'tls-private-key-file': { type: 'string' },
  'tls-min-version': { type: 'string' },
  'tls-cipher-suites': { type: 'string' },
  config: { type: 'string' },
  'log-level': { type: 'string' },
  'drain-seconds': { type: 'string' },
  'audit-metric-interval': { type: 'string' },
  ...kubeFlagOptions,
  help: { type: 'boolean', short: 'h' }
} as const

export const serveUsage = `usage: sidecar-injector serve [flags]

Serves the mutating admission webhook over HTTPS: POST /inject, GET /healthz, /readyz; and, with
--metrics-port, GET /metrics over plain HTTP on that port only.
Every flag has an environment equivalent; a flag wins over its variable.

  --port N                      INJECTOR_PORT                  webhook port: admission and probes (default 9443)
  --metrics-port N              INJECTOR_METRICS_PORT          port of the plain-HTTP /metrics listener, not the webhook port's
                                                               (default 0: no metrics listener; the manifests set 8080)
  --host ADDR                   INJECTOR_HOST                  address both listen on (default 0.0.0.0)
  --tls-cert-file PATH          INJECTOR_TLS_CERT_FILE         serving certificate (PEM, chain allowed), reloaded on change
  --tls-private-key-file PATH   INJECTOR_TLS_PRIVATE_KEY_FILE  its private key (PEM), reloaded on change
  --tls-min-version V           INJECTOR_TLS_MIN_VERSION       TLSv1.2 (default) or TLSv1.3
  --tls-cipher-suites LIST      INJECTOR_TLS_CIPHER_SUITES     TLS 1.2 suites, comma-separated IANA names as Kubernetes takes them
                                                               (default: the six ECDHE suites with AES-GCM or ChaCha20-Poly1305)
  --config PATH                 INJECTOR_CONFIG                injector config YAML, reloaded on change (default: built-in defaults)
  --log-level LEVEL             INJECTOR_LOG_LEVEL             trace, debug, info (default), warn, error, fatal, silent
  --drain-seconds N             INJECTOR_DRAIN_SECONDS         on SIGTERM, answer with Connection: close this long before closing (default 10, at most 3600)
  --audit-metric-interval N     INJECTOR_AUDIT_METRIC_INTERVAL every N seconds, audit the selected namespaces into sidecar_injector_audit_pods
                                                               (default 0: off; needs manifests/audit/metric-rbac.yaml; docs/audit.md)

SIGTERM drains for --drain-seconds (a second SIGTERM changes nothing). Ctrl-C (SIGINT) closes without
that wait once in-flight requests end; a second Ctrl-C exits at once.
` + kubeUsage

export const maxDrainSeconds = 3600

const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

/** Flags win over INJECTOR_* variables, which win over defaults. Throws UsageError naming the bad value. */
export function parseServeSettings (args: readonly string[], env: Readonly<Record<string, string | undefined>>): ServeSettings | 'help' {
  const values: Record<string, string | boolean | undefined> = parseFlags(args, flagOptions)
  if (values.help === true) return 'help'
  const pick = (flag: keyof typeof flagOptions, variable = `INJECTOR_${envNameOf(flag)}`): string | undefined => {
    const found = lookupFlagOrEnv(values, flag, [variable], env, true)
    return typeof found?.value === 'string' ? found.value : undefined
  }
  const port = parsePort('--port', pick('port', 'INJECTOR_PORT') ?? '9443')
  // 0 is "no metrics listener" (controller-runtime's convention for its metrics address): a port the
  // system chooses, as --port 0 gives, could not be scraped.
  const metricsPort = parsePort('--metrics-port', pick('metrics-port', 'INJECTOR_METRICS_PORT') ?? '0')
  if (metricsPort !== 0 && metricsPort === port) {
    throw new UsageError(`--metrics-port must differ from --port (both ${port}): the webhook port serves admission and probes only`)
  }
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
  if (metricsPort !== 0) settings.metricsPort = metricsPort
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
  const auditText = pick('audit-metric-interval', 'INJECTOR_AUDIT_METRIC_INTERVAL') ?? '0'
  if (!/^\d+$/.test(auditText)) throw new UsageError(`--audit-metric-interval must be a whole number of seconds, got '${auditText}'`)
  if (Number(auditText) > 0) settings.auditMetricSeconds = Number(auditText)
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

/** A TCP port, written as decimal digits (no sign, exponent, hex or blank, which Number() would take). */
function parsePort (flag: string, text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`${flag} must be an integer from 0 to 65535, got '${text.slice(0, 32)}'`)
  return port
}

export const run: CliCommand = async (args: readonly string[], io: CliIo): Promise<number> => {
  const settings = parseServeSettings(args, io.env)
  if (settings === 'help') {
    io.stdout(serveUsage)
    return 0
  }
  const log = createServeLog(settings.logLevel)
  io.onExit?.(log.flush)
  const { logger } = log
  let running: RunningServer
  let kube: KubeIntegration | undefined
  try {
    // One registry for the webhook's metrics and the in-cluster integration's failure counts.
    const registry = new Registry()
    kube = settings.kube === undefined ? undefined : await startKubeIntegration(settings.kube, { logger, registry })
    running = await startServer(settings, {
      logger,
      registry,
      ...(kube?.certificates === undefined ? {} : { certificates: kube.certificates }),
      facts: withInjectorVersion(kube?.facts)
    })
  } catch (err) {
    kube?.stop()
    if (err instanceof UsageError) throw err
    if (err instanceof MissingCertificateError) throw new UsageError(err.message)
    // One line for a person (src/cli.ts prints it on stderr), not a JSON log line with a stack.
    const cause = err instanceof ConfigReadError ? `${err.message}: ${describeError(err.cause)}` : describeError(err)
    throw new Error(`cannot start: ${cause}`)
  }
  // Listeners stay installed: a second SIGTERM (the kubelet's) during the drain must not kill the
  // process mid-request. Ctrl-C is a person at a terminal: no endpoint propagation to wait for, so no
  // drain delay, and a second Ctrl-C means now.
  let stopping = false
  const signal = await new Promise<StopSignal>(resolve => {
    io.onSignal?.(received => {
      if (stopping && received === 'SIGINT') {
        logger.warn({ signal: received }, 'second interrupt: exiting now')
        io.exit?.(130)
        return
      }
      if (stopping) {
        logger.warn({ signal: received }, 'already shutting down')
        return
      }
      stopping = true
      resolve(received)
    })
  })
  const drainSeconds = signal === 'SIGINT' ? 0 : settings.drainSeconds
  logger.info({ signal, drainSeconds }, 'shutting down')
  await running.shutdown(drainSeconds)
  kube?.stop()
  return 0
}

/** The cluster's facts for a pod, plus who is injecting (recorded in the status annotation). */
function withInjectorVersion (facts: FactsProvider | undefined): FactsProvider {
  if (facts === undefined) return () => ({ injectorVersion })
  return async pod => ({ ...await facts(pod), injectorVersion })
}

// Self-managed TLS in-cluster: the serving certificate comes from a CA the injector keeps in a Secret
// (src/kube/ca-secret.ts), is short-lived and renewed before expiry without a restart, and the CA
// bundle is kept in our MutatingWebhookConfiguration: patched at start, after a CA change, and
// whenever the configuration is edited or re-applied (a watch, not a poll — a GitOps sync or a
// `kubectl replace` that wipes caBundle is repaired within a second). Every replica runs this; patches
// are idempotent, so no leader election is needed.
import { X509Certificate } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { KubeApi } from './api.js'
import { webhookConfigurationsPath } from './api.js'
import type { CertificateAuthorityState } from './ca-secret.js'
import { ensureCertificateAuthority } from './ca-secret.js'
import type { ListWatch } from './list-watch.js'
import { startListWatch } from './list-watch.js'
import { webhookNameSuffix } from './names.js'
import { needsCaBundle, patchCaBundle } from './webhook-ca-bundle.js'
import type { CertificatePair } from '../tls/certificates.js'
import { issueServingCertificate, readNotAfter, serviceDnsNames, splitPemBundle } from '../tls/certificates.js'

export interface KubeLogger {
  debug: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

const hour = 60 * 60 * 1000
const day = 24 * hour

export const selfManagedDefaults = {
  /** Short enough that a leaked key is soon worthless, long enough to ride out an API outage. */
  servingValidityMs: 24 * hour,
  caValidityMs: 10 * 365 * day,
  /** The CA is replaced a year before it expires; its successor is trusted alongside it from then on. */
  caRenewBeforeMs: 365 * day,
  minRetryMs: 5_000,
  maxRetryMs: 5 * 60_000,
  /**
   * After the CA bundle changed, how long a renewed certificate waits before it is served: the API
   * servers must see the new caBundle (informer + client cache keyed by caBundle) before they meet a
   * certificate from the new CA (docs/install.md, self-managed TLS).
   */
  caPropagationDelayMs: 10_000,
  /** How long the first certificate is retried (API server briefly unreachable, RBAC not bound yet) before start-up fails. */
  startupTimeoutMs: 60_000
}

export interface SelfManagedTlsOptions {
  api: KubeApi
  namespace: string
  serviceName: string
  webhookConfigName: string
  caSecretName: string
  logger: KubeLogger
  clusterDomain?: string
  extraDnsNames?: readonly string[]
  /** IP SANs, for a webhook reached by `clientConfig.url` at an address (e.g. 127.0.0.1 in a local run). */
  extraIpAddresses?: readonly string[]
  suffix?: string
  servingValidityMs?: number
  caValidityMs?: number
  caRenewBeforeMs?: number
  minRetryMs?: number
  maxRetryMs?: number
  caPropagationDelayMs?: number
  startupTimeoutMs?: number
  now?: () => Date
}

/** Shaped like serve.ts's CertificateSource, plus what operators and tests look at. */
export interface SelfManagedTls {
  load: () => Promise<CertificatePair>
  watch: (update: (pair: CertificatePair) => void) => () => void
  /** The CA bundle this replica last published (undefined before load). */
  bundle: () => string | undefined
  /** When the served certificate is renewed next (undefined before watch). */
  nextRenewal: () => Date | undefined
}

export function createSelfManagedTls (options: SelfManagedTlsOptions): SelfManagedTls {
  const settings = { ...selfManagedDefaults, ...definedOnly(options) }
  const { api, logger } = settings
  const now = options.now ?? (() => new Date())
  const suffix = options.suffix ?? webhookNameSuffix
  const dnsNames = [...serviceDnsNames(options.serviceName, options.namespace, options.clusterDomain), ...(options.extraDnsNames ?? [])]
  let authority: CertificateAuthorityState | undefined
  let nextRenewal: Date | undefined
  /** The CA that signed the certificate issued last: if it leaves the bundle, that certificate is renewed at once. */
  let signingCa: string | undefined

  async function refreshAuthority (): Promise<CertificateAuthorityState> {
    const state = await ensureCertificateAuthority({
      api,
      namespace: options.namespace,
      name: options.caSecretName,
      now,
      caValidityMs: settings.caValidityMs,
      caRenewBeforeMs: settings.caRenewBeforeMs
    })
    if (state.changed !== 'unchanged') {
      logger.info({ secret: `${options.namespace}/${options.caSecretName}`, caNotAfter: readNotAfter(state.current.cert) }, `webhook CA ${state.changed}`)
    }
    authority = state
    return state
  }

  async function publishBundle (bundle: string): Promise<void> {
    try {
      const outcome = await patchCaBundle(api, options.webhookConfigName, bundle, suffix)
      if (outcome === 'patched') logger.info({ webhookConfiguration: options.webhookConfigName }, 'caBundle patched into every webhook entry')
      if (outcome === 'missing') logger.warn({ webhookConfiguration: options.webhookConfigName }, 'MutatingWebhookConfiguration not found; its caBundle is patched when it appears')
    } catch (err) {
      // The server keeps serving; the watch retries on the next event, renewal on its next run.
      logger.error({ err, webhookConfiguration: options.webhookConfigName }, 'cannot patch the caBundle')
    }
  }

  async function issue (): Promise<CertificatePair> {
    const state = await refreshAuthority()
    // The bundle goes out first, so that the API server trusts a new CA before it sees a certificate from it.
    await publishBundle(state.bundle)
    const pair = await issueServingCertificate({ ca: state.current, dnsNames, ipAddresses: options.extraIpAddresses ?? [], now: now(), validityMs: settings.servingValidityMs })
    signingCa = state.current.cert
    return pair
  }

  function renewalTime (pair: CertificatePair): Date {
    // Renew with a third of the lifetime left: time for retries before anything expires.
    return new Date(readNotAfter(pair.cert).getTime() - settings.servingValidityMs / 3)
  }

  function watch (update: (pair: CertificatePair) => void): () => void {
    let stopped = false
    let timer: NodeJS.Timeout | undefined
    let retryMs = settings.minRetryMs
    let renewing = false
    const stopping = new AbortController()

    const schedule = (at: Date): void => {
      if (stopped) return
      nextRenewal = at
      // setTimeout holds at most ~24.8 days; a longer wait just wakes up and schedules again.
      const delay = Math.min(Math.max(at.getTime() - now().getTime(), 0), 2 ** 31 - 1)
      timer = setTimeout(() => { renew().catch(() => {}) }, delay)
    }

    async function renew (): Promise<void> {
      if (stopped || renewing) return
      if (nextRenewal !== undefined && nextRenewal.getTime() > now().getTime()) {
        schedule(nextRenewal)
        return
      }
      renewing = true
      try {
        const trustedBefore = authority?.bundle
        const pair = await issue()
        if (trustedBefore !== undefined && authority?.bundle !== trustedBefore) {
          logger.info({ delayMs: settings.caPropagationDelayMs }, 'CA bundle changed; waiting for the API servers to trust it before serving the new certificate')
          await sleep(settings.caPropagationDelayMs, undefined, { signal: stopping.signal })
        }
        if (stopped) return
        update(pair)
        retryMs = settings.minRetryMs
        logger.info({ notAfter: readNotAfter(pair.cert) }, 'serving certificate renewed')
        schedule(renewalTime(pair))
      } catch (err) {
        if (stopped) return
        logger.error({ err, retryInMs: retryMs }, 'cannot renew the serving certificate; keeping the current one')
        const at = new Date(now().getTime() + retryMs)
        retryMs = Math.min(retryMs * 2, settings.maxRetryMs)
        nextRenewal = at
        schedule(at)
      } finally {
        renewing = false
      }
    }

    // The CA of our certificate is no longer trusted (the Secret was deleted and re-created, or
    // replaced by hand): the certificate is renewed now instead of at its planned time.
    const renewNow = (): void => {
      if (stopped || renewing) return
      logger.warn({}, 'the CA that signed the served certificate left the caBundle; renewing the certificate now')
      if (timer !== undefined) clearTimeout(timer)
      nextRenewal = now()
      schedule(nextRenewal)
    }

    // Re-patch whenever the configuration shows another bundle: someone re-applied or edited it, or
    // another replica changed the CA (then the Secret, re-read first, already has the new bundle).
    let reconciling = false
    let again = false
    async function reconcile (): Promise<void> {
      if (reconciling) {
        again = true
        return
      }
      reconciling = true
      try {
        for (;;) {
          again = false
          const state = await refreshAuthority()
          await publishBundle(state.bundle)
          if (signingCa !== undefined && !bundleTrusts(state.bundle, signingCa)) renewNow()
          if (!again || stopped) break
        }
      } catch (err) {
        logger.error({ err }, 'cannot read the webhook CA to repair the caBundle')
      } finally {
        reconciling = false
      }
    }
    const check = (config: { webhooks?: any[] }): void => {
      if (stopped || authority === undefined) return
      if (needsCaBundle(config as never, authority.bundle, suffix)) {
        logger.info({ webhookConfiguration: options.webhookConfigName }, 'caBundle missing or different in the webhook configuration; repairing')
        reconcile().catch(() => {})
      }
    }
    const listWatch: ListWatch = startListWatch({
      api,
      what: `MutatingWebhookConfiguration ${options.webhookConfigName}`,
      path: webhookConfigurationsPath,
      // RBAC grants list/watch on our configuration by resourceNames, which needs this field selector.
      query: { fieldSelector: `metadata.name=${options.webhookConfigName}` },
      list: async () => await api.listWebhookConfigurations(`metadata.name=${options.webhookConfigName}`),
      onList: items => { for (const item of items) check(item) },
      onEvent: (type, object) => { if (type !== 'DELETED') check(object) },
      logger,
      minBackoffMs: settings.minRetryMs,
      maxBackoffMs: settings.maxRetryMs
    })

    if (nextRenewal !== undefined) schedule(nextRenewal)
    return () => {
      stopped = true
      stopping.abort()
      if (timer !== undefined) clearTimeout(timer)
      listWatch.stop()
    }
  }

  return {
    async load () {
      const deadline = Date.now() + settings.startupTimeoutMs
      for (let retryMs = settings.minRetryMs; ; retryMs = Math.min(retryMs * 2, settings.maxRetryMs)) {
        try {
          const pair = await issue()
          nextRenewal = renewalTime(pair)
          return pair
        } catch (err) {
          if (Date.now() + retryMs > deadline) throw err
          logger.warn({ err, retryInMs: retryMs }, 'cannot issue the first serving certificate yet; retrying')
          await sleep(retryMs)
        }
      }
    },
    watch,
    bundle: () => authority?.bundle,
    nextRenewal: () => nextRenewal
  }
}

function bundleTrusts (bundle: string, caPem: string): boolean {
  const wanted = new X509Certificate(caPem).fingerprint256
  return splitPemBundle(bundle).some(pem => new X509Certificate(pem).fingerprint256 === wanted)
}

/** Options without undefined values, so that they do not hide the defaults when spread. */
function definedOnly<T extends object> (object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as T
}

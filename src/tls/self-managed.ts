// Self-managed TLS in-cluster: the serving certificate comes from a CA the injector keeps in a Secret
// (src/tls/ca-secret.ts), is short-lived and renewed before expiry without a restart, and the CA
// bundle is kept in our MutatingWebhookConfiguration: patched at start, after a CA change, and
// whenever the configuration is edited or re-applied (a watch, not a poll — a GitOps sync or a
// `kubectl replace` that wipes caBundle is repaired within a second). Every replica runs this; patches
// are idempotent, so no leader election is needed.
//
// Two small state machines share the CA state:
//   renewal:   scheduled --due--> renewing --issued--> [propagating, after a CA change] --> scheduled
//              renewing --failure--> scheduled (retry, growing delay); any --stop()--> stopped
//   repair:    idle --caBundle drift seen by the watch--> repairing (--drift meanwhile--> again) --> idle
// Every failure goes through one handler (fail): logged with a reason and counted (onFailure).
import { X509Certificate } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { KubeApi } from '../kube/api.js'
import { webhookConfigurationsPath } from '../kube/api.js'
import type { ListWatch } from '../kube/list-watch.js'
import { startListWatch } from '../kube/list-watch.js'
import { webhookNameSuffix } from '../kube/names.js'
import { needsCaBundle, patchCaBundle } from './ca-bundle.js'
import type { CertificateAuthorityState } from './ca-secret.js'
import { ensureCertificateAuthority } from './ca-secret.js'
import { issueServingCertificate, readNotAfter, serviceDnsNames, splitPemBundle } from './certificates.js'
import type { KeyPair } from './key-pair.js'

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
  /** Counts each failure by reason (a metric); the failure is also logged. */
  onFailure?: (reason: SelfManagedTlsFailure) => void
}

export type SelfManagedTlsFailure =
  | 'first-certificate-retry' | 'renewal-failed' | 'ca-bundle-patch-failed' | 'ca-bundle-repair-failed' | 'ca-bundle-watch-failed' | 'unexpected-error'
export type RenewalState = 'idle' | 'scheduled' | 'renewing' | 'propagating' | 'stopped'

/** A CertificateSource (./file-source.ts), plus what operators and tests look at. */
export interface SelfManagedTls {
  load: () => Promise<KeyPair>
  watch: (update: (pair: KeyPair) => void) => () => void
  /** The CA bundle this replica last published (undefined before load). */
  bundle: () => string | undefined
  /** When the served certificate is renewed next (undefined before watch). */
  nextRenewal: () => Date | undefined
  /** Where the renewal machine is (idle before watch). */
  state: () => RenewalState
}

export function createSelfManagedTls (options: SelfManagedTlsOptions): SelfManagedTls {
  const authority = new Authority(options)
  let renewal: Renewal | undefined
  return {
    load: async () => await authority.loadFirst(),
    watch (update) {
      const started = new Renewal(authority, update)
      renewal = started
      return () => { started.stop() }
    },
    bundle: () => authority.state?.bundle,
    nextRenewal: () => authority.nextRenewal,
    state: () => renewal?.state ?? 'idle'
  }
}

type Settings = typeof selfManagedDefaults & SelfManagedTlsOptions

/** The CA and the certificates it issues; shared by the renewal and the repair machines. */
class Authority {
  readonly settings: Settings
  readonly suffix: string
  readonly now: () => Date
  state: CertificateAuthorityState | undefined
  nextRenewal: Date | undefined
  /** The CA that signed the certificate issued last: if it leaves the bundle, that certificate is renewed at once. */
  signingCa: string | undefined
  private readonly dnsNames: string[]

  constructor (options: SelfManagedTlsOptions) {
    this.settings = { ...selfManagedDefaults, ...definedOnly(options) }
    this.now = options.now ?? (() => new Date())
    this.suffix = options.suffix ?? webhookNameSuffix
    this.dnsNames = [...serviceDnsNames(options.serviceName, options.namespace, options.clusterDomain), ...(options.extraDnsNames ?? [])]
  }

  /** The one failure handler: logged with the reason (and what happens next), counted. */
  fail (reason: SelfManagedTlsFailure, err: unknown, message: string, fields: object = {}): void {
    this.settings.logger.error({ err, reason, ...fields }, message)
    this.settings.onFailure?.(reason)
  }

  async refresh (): Promise<CertificateAuthorityState> {
    const { api, namespace, caSecretName, logger } = this.settings
    const state = await ensureCertificateAuthority({
      api, namespace, name: caSecretName, now: this.now, caValidityMs: this.settings.caValidityMs, caRenewBeforeMs: this.settings.caRenewBeforeMs
    })
    if (state.changed !== 'unchanged') {
      logger.info({ secret: `${namespace}/${caSecretName}`, caNotAfter: readNotAfter(state.current.cert) }, `webhook CA ${state.changed}`)
    }
    this.state = state
    return state
  }

  async publish (bundle: string): Promise<void> {
    const { api, webhookConfigName, logger } = this.settings
    try {
      const outcome = await patchCaBundle(api, webhookConfigName, bundle, this.suffix)
      if (outcome === 'patched') logger.info({ webhookConfiguration: webhookConfigName }, 'caBundle patched into every webhook entry')
      if (outcome === 'missing') logger.warn({ webhookConfiguration: webhookConfigName }, 'MutatingWebhookConfiguration not found; its caBundle is patched when it appears')
    } catch (err) {
      // The server keeps serving; the watch retries on the next event, renewal on its next run.
      this.fail('ca-bundle-patch-failed', err, 'cannot patch the caBundle', { webhookConfiguration: webhookConfigName })
    }
  }

  async issue (): Promise<KeyPair> {
    const state = await this.refresh()
    // The bundle goes out first, so that the API server trusts a new CA before it sees a certificate from it.
    await this.publish(state.bundle)
    const { extraIpAddresses, servingValidityMs } = this.settings
    const pair = await issueServingCertificate({ ca: state.current, dnsNames: this.dnsNames, ipAddresses: extraIpAddresses ?? [], now: this.now(), validityMs: servingValidityMs })
    this.signingCa = state.current.cert
    return pair
  }

  renewalTime (pair: KeyPair): Date {
    // Renew with a third of the lifetime left: time for retries before anything expires.
    return new Date(readNotAfter(pair.cert).getTime() - this.settings.servingValidityMs / 3)
  }

  async loadFirst (): Promise<KeyPair> {
    const { startupTimeoutMs, minRetryMs, maxRetryMs } = this.settings
    const deadline = Date.now() + startupTimeoutMs
    for (let retryMs = minRetryMs; ; retryMs = Math.min(retryMs * 2, maxRetryMs)) {
      try {
        const pair = await this.issue()
        this.nextRenewal = this.renewalTime(pair)
        return pair
      } catch (err) {
        if (Date.now() + retryMs > deadline) throw err
        this.settings.logger.warn({ err, reason: 'first-certificate-retry', retryInMs: retryMs }, 'cannot issue the first serving certificate yet; retrying')
        this.settings.onFailure?.('first-certificate-retry')
        await sleep(retryMs)
      }
    }
  }
}

/** The renewal machine, plus the repair of the caBundle driven by a watch on our configuration. */
class Renewal {
  state: RenewalState = 'idle'
  private readonly authority: Authority
  private readonly update: (pair: KeyPair) => void
  private readonly stopping = new AbortController()
  private readonly listWatch: ListWatch
  private timer: NodeJS.Timeout | undefined
  private retryMs: number
  private repair: 'idle' | 'repairing' | 'again' = 'idle'

  constructor (authority: Authority, update: (pair: KeyPair) => void) {
    this.authority = authority
    this.update = update
    this.retryMs = authority.settings.minRetryMs
    this.listWatch = this.watchConfiguration()
    if (authority.nextRenewal !== undefined) this.schedule(authority.nextRenewal)
  }

  stop (): void {
    this.state = 'stopped'
    this.stopping.abort()
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.listWatch.stop()
  }

  private get stopped (): boolean { return this.state === 'stopped' }

  // renew() and repairBundle() handle their own failures; this only keeps a bug from becoming an
  // unhandled rejection, and logs and counts it instead of swallowing it.
  private unexpected (what: string) {
    return (err: unknown): void => { this.authority.fail('unexpected-error', err, `unexpected error in the self-managed TLS ${what}`) }
  }

  private schedule (at: Date): void {
    if (this.stopped) return
    this.state = 'scheduled'
    this.authority.nextRenewal = at
    // setTimeout holds at most ~24.8 days; a longer wait just wakes up and schedules again.
    const delay = Math.min(Math.max(at.getTime() - this.authority.now().getTime(), 0), 2 ** 31 - 1)
    this.timer = setTimeout(() => { this.renew().catch(this.unexpected('renewal')) }, delay)
  }

  /** Whether a renewal may start: not while one runs (renewing, propagating) nor after stop. */
  private get canRenew (): boolean { return this.state === 'scheduled' || this.state === 'idle' }

  private async renew (): Promise<void> {
    if (!this.canRenew) return
    const { nextRenewal } = this.authority
    if (nextRenewal !== undefined && nextRenewal.getTime() > this.authority.now().getTime()) {
      this.schedule(nextRenewal)
      return
    }
    this.state = 'renewing'
    try {
      const pair = await this.issueAndWait()
      if (this.stopped) return
      this.update(pair)
      this.retryMs = this.authority.settings.minRetryMs
      this.authority.settings.logger.info({ notAfter: readNotAfter(pair.cert) }, 'serving certificate renewed')
      this.state = 'idle'
      this.schedule(this.authority.renewalTime(pair))
    } catch (err) {
      if (this.stopped) return
      this.authority.fail('renewal-failed', err, 'cannot renew the serving certificate; keeping the current one', { retryInMs: this.retryMs })
      const at = new Date(this.authority.now().getTime() + this.retryMs)
      this.retryMs = Math.min(this.retryMs * 2, this.authority.settings.maxRetryMs)
      this.state = 'idle'
      this.schedule(at)
    }
  }

  /** Issues a certificate; after a CA change, waits for the API servers to trust the new CA first. */
  private async issueAndWait (): Promise<KeyPair> {
    const trustedBefore = this.authority.state?.bundle
    const pair = await this.authority.issue()
    if (trustedBefore !== undefined && this.authority.state?.bundle !== trustedBefore) {
      const delayMs = this.authority.settings.caPropagationDelayMs
      this.authority.settings.logger.info({ delayMs }, 'CA bundle changed; waiting for the API servers to trust it before serving the new certificate')
      this.state = 'propagating'
      await sleep(delayMs, undefined, { signal: this.stopping.signal })
    }
    return pair
  }

  // The CA of our certificate is no longer trusted (the Secret was deleted and re-created, or
  // replaced by hand): the certificate is renewed now instead of at its planned time.
  private renewNow (): void {
    if (!this.canRenew) return
    this.authority.settings.logger.warn({}, 'the CA that signed the served certificate left the caBundle; renewing the certificate now')
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.schedule(this.authority.now())
  }

  /** Whether more drift was seen while a repair ran (set by check() across the awaits). */
  private drifted (): boolean { return this.repair === 'again' }

  // Re-patch whenever the configuration shows another bundle: someone re-applied or edited it, or
  // another replica changed the CA (then the Secret, re-read first, already has the new bundle).
  private async repairBundle (): Promise<void> {
    if (this.repair !== 'idle') {
      this.repair = 'again'
      return
    }
    try {
      do {
        this.repair = 'repairing'
        const state = await this.authority.refresh()
        await this.authority.publish(state.bundle)
        const signingCa = this.authority.signingCa
        if (signingCa !== undefined && !bundleTrusts(state.bundle, signingCa)) this.renewNow()
      } while (this.drifted() && !this.stopped)
    } catch (err) {
      this.authority.fail('ca-bundle-repair-failed', err, 'cannot read the webhook CA to repair the caBundle')
    } finally {
      this.repair = 'idle'
    }
  }

  private check (config: { webhooks?: any[] }): void {
    const bundle = this.authority.state?.bundle
    if (this.stopped || bundle === undefined) return
    if (needsCaBundle(config as never, bundle, this.authority.suffix)) {
      this.authority.settings.logger.info({ webhookConfiguration: this.authority.settings.webhookConfigName }, 'caBundle missing or different in the webhook configuration; repairing')
      this.repairBundle().catch(this.unexpected('caBundle repair'))
    }
  }

  private watchConfiguration (): ListWatch {
    const { api, webhookConfigName, logger, minRetryMs, maxRetryMs } = this.authority.settings
    return startListWatch({
      api,
      what: `MutatingWebhookConfiguration ${webhookConfigName}`,
      path: webhookConfigurationsPath,
      // RBAC grants list/watch on our configuration by resourceNames, which needs this field selector.
      query: { fieldSelector: `metadata.name=${webhookConfigName}` },
      list: async () => await api.listWebhookConfigurations(`metadata.name=${webhookConfigName}`),
      onList: items => { for (const item of items) this.check(item) },
      onEvent: (type, object) => { if (type !== 'DELETED') this.check(object) },
      logger,
      onFailure: reason => { this.authority.settings.onFailure?.(reason === 'unexpected-error' ? 'unexpected-error' : 'ca-bundle-watch-failed') },
      minBackoffMs: minRetryMs,
      maxBackoffMs: maxRetryMs
    })
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

// What `serve` gets from the Kubernetes API: a self-managed certificate source (--self-managed-tls)
// and native-sidecar facts from a Node watch (on by default when running in a cluster). The flags are
// declared here and merged into serve's; src/cli/serve.ts composes the result.
// Only this module is loaded by serve up front: @kubernetes/client-node takes ~0.8 s to import
// (BENCHMARKS.md, finding 3), so it and the adapters that use it are imported when asked for.
import { isIP } from 'node:net'
import type { KubeConfig } from '@kubernetes/client-node'
import { Counter } from 'prom-client'
import type { Registry } from 'prom-client'
import type { ClusterFacts, Pod } from '../core/types.js'
import { lookupFlagOrEnv } from '../shared/flag-env.js'
import { defaultCaSecretName, defaultNamespace, defaultServiceName, defaultWebhookConfigName } from './names.js'
import type { NativeSidecarDetector } from './native-sidecars.js'
import type { KubeLogger, SelfManagedTls } from '../tls/self-managed.js'

export interface KubeSettings {
  /** Issue and rotate the serving certificate from a CA kept in a Secret; patch the webhook's caBundle. */
  selfManagedTls: boolean
  namespace: string
  serviceName: string
  webhookConfigName: string
  caSecretName: string
  /** Watch Nodes to tell the core whether kubelets support native sidecars (nativeSidecars: auto). */
  detectNativeSidecars: boolean
  /** Extra DNS names and IP addresses for the self-managed certificate (besides the Service's names). */
  extraSans: string[]
}

export const kubeFlagOptions = {
  'self-managed-tls': { type: 'boolean' },
  namespace: { type: 'string' },
  'service-name': { type: 'string' },
  'webhook-config-name': { type: 'string' },
  'ca-secret-name': { type: 'string' },
  'detect-native-sidecars': { type: 'string' },
  'extra-sans': { type: 'string' }
} as const

export const kubeUsage = `
In a cluster (the API is reached with the pod's service account, or KUBECONFIG / ~/.kube/config):
  --self-managed-tls            INJECTOR_SELF_MANAGED_TLS=true     keep a CA in a Secret, issue short-lived serving certificates, patch the caBundle
  --namespace NS                INJECTOR_NAMESPACE                 the injector's namespace (default ${defaultNamespace})
  --service-name NAME           INJECTOR_SERVICE_NAME              the webhook Service, named in the certificate (default ${defaultServiceName})
  --webhook-config-name NAME    INJECTOR_WEBHOOK_CONFIG_NAME       the MutatingWebhookConfiguration to patch (default ${defaultWebhookConfigName})
  --ca-secret-name NAME         INJECTOR_CA_SECRET_NAME            the Secret holding the CA (default ${defaultCaSecretName})
  --detect-native-sidecars B    INJECTOR_DETECT_NATIVE_SIDECARS    true/false: watch Nodes for kubelet >= 1.33 (default true in a cluster)
  --extra-sans LIST             INJECTOR_EXTRA_SANS                comma-separated extra DNS names/IPs in the self-managed certificate
`

export class KubeSettingsError extends Error {
  override name = 'KubeSettingsError'
}

const dns1123 = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/

/**
 * The Kubernetes part of serve's settings, or undefined when nothing asks for the API (so that a
 * local `serve` with certificate files never needs a cluster). Throws KubeSettingsError naming the bad value.
 */
export function parseKubeSettings (
  values: Readonly<Record<string, string | boolean | undefined>>,
  env: Readonly<Record<string, string | undefined>>
): KubeSettings | undefined {
  const lookup = (flag: string, variable: string): string | boolean | undefined => lookupFlagOrEnv(values, flag, [variable], env, true)?.value
  const pick = (flag: string, variable: string): string | undefined => {
    const value = lookup(flag, variable)
    return typeof value === 'string' ? value : undefined
  }
  const bool = (flag: string, variable: string, fallback: boolean): boolean => {
    const value = lookup(flag, variable)
    if (value === undefined) return fallback
    if (value === true || value === 'true') return true
    if (value === false || value === 'false') return false
    throw new KubeSettingsError(`--${flag} must be true or false, got '${String(value)}'`)
  }
  // The kubelet sets KUBERNETES_SERVICE_HOST in every container: that is what "in a cluster" means here.
  const inCluster = env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== ''
  const settings: KubeSettings = {
    selfManagedTls: bool('self-managed-tls', 'INJECTOR_SELF_MANAGED_TLS', false),
    namespace: pick('namespace', 'INJECTOR_NAMESPACE') ?? defaultNamespace,
    serviceName: pick('service-name', 'INJECTOR_SERVICE_NAME') ?? defaultServiceName,
    webhookConfigName: pick('webhook-config-name', 'INJECTOR_WEBHOOK_CONFIG_NAME') ?? defaultWebhookConfigName,
    caSecretName: pick('ca-secret-name', 'INJECTOR_CA_SECRET_NAME') ?? defaultCaSecretName,
    detectNativeSidecars: bool('detect-native-sidecars', 'INJECTOR_DETECT_NATIVE_SIDECARS', inCluster),
    extraSans: (pick('extra-sans', 'INJECTOR_EXTRA_SANS') ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
  }
  for (const san of settings.extraSans) {
    if (isIP(san) === 0 && !dns1123.test(san.replace(/^\*\./, ''))) throw new KubeSettingsError(`--extra-sans: '${san}' is neither an IP address nor a DNS name`)
  }
  for (const [flag, value] of [['namespace', settings.namespace], ['service-name', settings.serviceName], ['webhook-config-name', settings.webhookConfigName], ['ca-secret-name', settings.caSecretName]]) {
    if (!dns1123.test(value ?? '')) throw new KubeSettingsError(`--${flag ?? ''} must be a Kubernetes object name, got '${value ?? ''}'`)
  }
  if (!settings.selfManagedTls && !settings.detectNativeSidecars) return undefined
  return settings
}

export interface KubeIntegration {
  certificates?: SelfManagedTls
  facts?: (pod: Pod) => ClusterFacts
  stop: () => void
}

export interface KubeIntegrationOptions {
  logger: KubeLogger & { child: (bindings: Record<string, unknown>) => KubeLogger }
  /** Defaults to KubeConfig.loadFromDefault(): KUBECONFIG, ~/.kube/config, then the pod's service account. */
  kubeConfig?: KubeConfig
  /** Where sidecar_injector_kube_failures_total{component, reason} is registered; not counted without one. */
  registry?: Registry
}

export async function startKubeIntegration (settings: KubeSettings, options: KubeIntegrationOptions): Promise<KubeIntegration> {
  const [{ KubeConfig }, { createKubeApi }, { createSelfManagedTls }, { startNativeSidecarDetector }] = await Promise.all([
    import('@kubernetes/client-node'), import('./api.js'), import('../tls/self-managed.js'), import('./native-sidecars.js')
  ])
  let kubeConfig = options.kubeConfig
  if (kubeConfig === undefined) {
    kubeConfig = new KubeConfig()
    kubeConfig.loadFromDefault()
  }
  const api = createKubeApi(kubeConfig)
  const failures = options.registry === undefined
    ? undefined
    : new Counter({
      name: 'sidecar_injector_kube_failures_total',
      help: 'Failures of the self-managed TLS and of the Kubernetes watches, by component and reason (each is also logged)',
      labelNames: ['component', 'reason'],
      registers: [options.registry]
    })
  const count = (component: string) => (reason: string): void => { failures?.inc({ component, reason }) }
  let detector: NativeSidecarDetector | undefined
  const integration: KubeIntegration = { stop: () => { detector?.stop() } }
  if (settings.selfManagedTls) {
    integration.certificates = createSelfManagedTls({
      api,
      namespace: settings.namespace,
      serviceName: settings.serviceName,
      webhookConfigName: settings.webhookConfigName,
      caSecretName: settings.caSecretName,
      extraDnsNames: settings.extraSans.filter(san => isIP(san) === 0),
      extraIpAddresses: settings.extraSans.filter(san => isIP(san) !== 0),
      logger: options.logger.child({ component: 'self-managed-tls' }),
      onFailure: count('self-managed-tls')
    })
  }
  if (settings.detectNativeSidecars) {
    const started = startNativeSidecarDetector({ api, logger: options.logger.child({ component: 'native-sidecars' }), onFailure: count('native-sidecars') })
    detector = started
    integration.facts = pod => started.facts(pod)
  }
  return integration
}

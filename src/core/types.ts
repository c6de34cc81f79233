// The vocabulary of the injection core: what goes in (a pod, the request's facts, the config)
// and what comes out (a decision, an injected pod, warnings). Types only.
import type { V1Pod } from '@kubernetes/client-node'

export type Pod = V1Pod

/** A Kubernetes label selector (matchLabels ANDed with matchExpressions). */
export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: LabelSelectorRequirement[]
}

export interface LabelSelectorRequirement {
  key: string
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'
  values?: string[]
}

export type NativeSidecarMode = 'auto' | 'true' | 'false'
/** TPROXY is refused with a clear message: it needs a root proxy and policy routing. */
export type InterceptionMode = 'REDIRECT' | 'NONE'
/** Which program the init container runs: ours (`sidecar-injector capture`) or Istio's `istio-iptables`. */
export type InitCommand = 'sidecar-injector' | 'istio-iptables'

export interface ResourceList { cpu?: string, memory?: string }
export interface Resources { requests?: ResourceList, limits?: ResourceList }

/** The injector's configuration: every field has a default (see src/core/config.ts). */
export interface InjectorConfig {
  policy: 'enabled' | 'disabled'
  neverInjectSelector: LabelSelector[]
  alwaysInjectSelector: LabelSelector[]
  ignoredNamespaces: string[]
  /** '' is the default revision; recorded in the `istio.io/rev` annotation as "default". */
  revision: string
  images: { proxy: string, init: string }
  imagePullPolicy: '' | 'Always' | 'IfNotPresent' | 'Never'
  initCommand: InitCommand
  proxyUID: number
  proxyGID: number
  ports: {
    outbound: number
    inbound: number
    agentStatus: number
    health: number
    prometheus: number
    tunnel: number
  }
  proxyResources: Resources
  nativeSidecars: NativeSidecarMode
  rewriteAppHTTPProbers: boolean
  holdApplicationUntilProxyStarts: boolean
  /** Merge the app's Prometheus scrape annotations into the agent's (Istio's enablePrometheusMerge). */
  prometheusMerge: boolean
  capture: {
    interceptionMode: InterceptionMode
    includeOutboundIPRanges: string
    excludeOutboundIPRanges: string
    includeInboundPorts: string
    excludeInboundPorts: string
    includeOutboundPorts: string
    excludeOutboundPorts: string
  }
  certificates: {
    tokenAudience: string
    tokenExpirationSeconds: number
    caRootConfigMap: string
    crlConfigMap: string
    workloadCertDir: string
  }
  proxy: {
    logLevel: string
    componentLogLevel: string
    agentLogLevel: string
    caAddress: string
    clusterId: string
    trustDomain: string
    /** Appended to the proxy env as given (e.g. ISTIO_META_DNS_CAPTURE). */
    proxyMetadata: Record<string, string>
  }
  clusterDomain: string
  /** Annotations added to every injected pod (e.g. AppArmor profiles). */
  injectedAnnotations: Record<string, string>
}

/** What the core needs to know of the AdmissionRequest (or, offline, of the manifest's context). */
export interface RequestInfo {
  /** request.namespace: used when the pod has no metadata.namespace (controllers send none). */
  namespace?: string
  /**
   * Offline only: the workload whose pod template this is (a Deployment, a CronJob, …), which names
   * the pod's workload and owner; the webhook reads them from the pod's owner references instead.
   */
  workload?: { kind: string, apiVersion: string, name: string }
}

/** Facts about the cluster the core cannot see, supplied by the adapters. */
export interface ClusterFacts {
  /**
   * Whether the kubelets that may run this pod support native sidecars (>= 1.33): the pod's node when
   * spec.nodeName is set, otherwise all nodes. Unknown (undefined) means classic in `auto` mode.
   */
  nativeSidecarsSupported?: boolean
  /**
   * Who is injecting, `sidecar-injector/<version>`, recorded in the status annotation: the composition
   * roots read the version from package.json (src/version.ts) so the core stays pure. Absent: not recorded.
   */
  injectorVersion?: string
}

/** Why a pod is injected: the rule that decided it. */
export type InjectReason =
  | 'label-true'
  | 'annotation-true'
  | 'always-inject-selector'
  | 'policy-enabled'

/** Why a pod is not injected: a stable code, used in logs, metrics, explain and tests. */
export type SkipReason =
  | 'host-network'
  | 'ignored-namespace'
  | 'label-false'
  | 'annotation-false'
  | 'never-inject-selector'
  | 'policy-disabled'

export type Decision =
  | { inject: true, reason: InjectReason, message: string, reinjection: boolean }
  | { inject: false, reason: SkipReason, message: string }

/** A per-pod annotation whose value is invalid: the pod is rejected, naming both. */
export interface AnnotationProblem {
  annotation: string
  value: string
  reason: string
  /**
   * For a structured value (proxy.istio.io/config): the path of the bad field, '' for the value as a
   * whole. The message then names the field and does not quote the value.
   */
  field?: string
  /** A stable code where one annotation can be wrong in several ways worth telling apart (e.g. `unknown-template`). */
  code?: string
}

export type InjectResult =
  | { outcome: 'skipped', decision: Decision & { inject: false }, warnings: string[] }
  | { outcome: 'injected', decision: Decision & { inject: true }, pod: Pod, warnings: string[] }
  | { outcome: 'rejected', decision: Decision & { inject: true }, problems: AnnotationProblem[], message: string, warnings: string[] }

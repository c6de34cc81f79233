// The injector's configuration: defaults, and a parser that validates a YAML document and reports
// every problem at once (path and reason), so an operator fixes a ConfigMap in one round.
import { parse as parseYaml } from 'yaml'
import { isRecord } from '../shared/records.js'
import type { JsonRecord } from '../shared/records.js'
import { validateCidrList, validatePortList, isValidQuantity } from './validate.js'
import type { InjectorConfig, LabelSelector, LabelSelectorRequirement } from './types.js'

export interface ConfigProblem {
  path: string
  reason: string
}

export type ConfigResult =
  | { ok: true, config: InjectorConfig }
  | { ok: false, problems: ConfigProblem[] }

/** Namespaces of the cluster's own machinery: never injected (Istio's ignored namespaces). */
export const systemNamespaces = ['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']

/** The revision's name in annotations and selectors: the config's '' is Istio's "default". */
export function revisionName (revision: string): string {
  return revision === '' ? 'default' : revision
}

/** Istio's defaults (istio-discovery chart values), except the init image, which is ours. */
export function defaultConfig (): InjectorConfig {
  return {
    policy: 'enabled',
    neverInjectSelector: [],
    alwaysInjectSelector: [],
    ignoredNamespaces: [...systemNamespaces],
    revision: '',
    images: {
      proxy: 'docker.io/istio/proxyv2:1.28.0',
      init: 'ghcr.io/sidecar-injector/sidecar-injector:0.1.0'
    },
    imagePullPolicy: '',
    initCommand: 'sidecar-injector',
    proxyUID: 1337,
    proxyGID: 1337,
    ports: { outbound: 15001, inbound: 15006, agentStatus: 15020, health: 15021, prometheus: 15090, tunnel: 15008 },
    proxyResources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } },
    nativeSidecars: 'auto',
    rewriteAppHTTPProbers: true,
    holdApplicationUntilProxyStarts: false,
    prometheusMerge: true,
    capture: {
      interceptionMode: 'REDIRECT',
      includeOutboundIPRanges: '*',
      excludeOutboundIPRanges: '',
      includeInboundPorts: '*',
      excludeInboundPorts: '',
      includeOutboundPorts: '',
      excludeOutboundPorts: ''
    },
    certificates: {
      tokenAudience: 'istio-ca',
      tokenExpirationSeconds: 43200,
      caRootConfigMap: 'istio-ca-root-cert',
      crlConfigMap: 'istio-ca-crl',
      workloadCertDir: '/var/run/secrets/workload-spiffe-credentials'
    },
    proxy: {
      logLevel: 'warning',
      componentLogLevel: 'misc:error',
      agentLogLevel: 'default:info',
      caAddress: 'istiod.istio-system.svc:15012',
      clusterId: 'Kubernetes',
      trustDomain: 'cluster.local',
      proxyMetadata: {}
    },
    clusterDomain: 'cluster.local',
    injectedAnnotations: {}
  }
}

/** Parses and validates a YAML (or JSON) config document; absent fields take their defaults. */
export function parseConfig (text: string): ConfigResult {
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    return { ok: false, problems: [{ path: '(document)', reason: `not valid YAML: ${(err as Error).message}` }] }
  }
  return validateConfig(doc ?? {})
}

export function formatConfigProblems (problems: readonly ConfigProblem[]): string {
  return problems.map(p => `${p.path}: ${p.reason}`).join('; ')
}

type Problems = ConfigProblem[]
type Obj = JsonRecord

/** Validates a parsed document against the config's shape, merging it over the defaults. */
export function validateConfig (doc: unknown): ConfigResult {
  const problems: Problems = []
  const config = defaultConfig()
  if (!isRecord(doc)) {
    return { ok: false, problems: [{ path: '(document)', reason: 'must be a mapping' }] }
  }
  const r = new Reader(problems)
  r.known(doc, '', Object.keys(config))
  config.policy = r.oneOf(doc, 'policy', ['enabled', 'disabled'], config.policy)
  config.neverInjectSelector = r.selectors(doc, 'neverInjectSelector')
  config.alwaysInjectSelector = r.selectors(doc, 'alwaysInjectSelector')
  config.ignoredNamespaces = r.stringList(doc, 'ignoredNamespaces', config.ignoredNamespaces)
  config.revision = r.string(doc, 'revision', config.revision)
  config.imagePullPolicy = r.oneOf(doc, 'imagePullPolicy', ['', 'Always', 'IfNotPresent', 'Never'], config.imagePullPolicy)
  config.initCommand = r.oneOf(doc, 'initCommand', ['sidecar-injector', 'istio-iptables'], config.initCommand)
  config.proxyUID = r.integer(doc, 'proxyUID', config.proxyUID, 0, 2147483647)
  config.proxyGID = r.integer(doc, 'proxyGID', config.proxyGID, 0, 2147483647)
  config.nativeSidecars = r.oneOf(doc, 'nativeSidecars', ['auto', 'true', 'false'], config.nativeSidecars, true)
  config.rewriteAppHTTPProbers = r.boolean(doc, 'rewriteAppHTTPProbers', config.rewriteAppHTTPProbers)
  config.holdApplicationUntilProxyStarts = r.boolean(doc, 'holdApplicationUntilProxyStarts', config.holdApplicationUntilProxyStarts)
  config.prometheusMerge = r.boolean(doc, 'prometheusMerge', config.prometheusMerge)
  config.clusterDomain = r.string(doc, 'clusterDomain', config.clusterDomain)
  config.injectedAnnotations = r.stringMap(doc, 'injectedAnnotations', config.injectedAnnotations)

  const images = r.section(doc, 'images', config.images)
  config.images.proxy = r.nonEmpty(images, 'images.proxy', config.images.proxy)
  config.images.init = r.nonEmpty(images, 'images.init', config.images.init)

  const ports = r.section(doc, 'ports', config.ports)
  for (const key of Object.keys(config.ports) as Array<keyof InjectorConfig['ports']>) {
    config.ports[key] = r.integer(ports, `ports.${key}`, config.ports[key], 1, 65535)
  }

  config.proxyResources = r.resources(doc, 'proxyResources', config.proxyResources)

  const capture = r.section(doc, 'capture', config.capture)
  const c = config.capture
  // TPROXY needs a root proxy with NET_ADMIN and policy routing: not supported (yet).
  c.interceptionMode = r.oneOf(capture, 'capture.interceptionMode', ['REDIRECT', 'NONE'], c.interceptionMode)
  c.includeOutboundIPRanges = r.checked(capture, 'capture.includeOutboundIPRanges', c.includeOutboundIPRanges, v => validateCidrList(v, true))
  c.excludeOutboundIPRanges = r.checked(capture, 'capture.excludeOutboundIPRanges', c.excludeOutboundIPRanges, v => validateCidrList(v, false))
  c.includeInboundPorts = r.checked(capture, 'capture.includeInboundPorts', c.includeInboundPorts, v => validatePortList(v, true))
  c.excludeInboundPorts = r.checked(capture, 'capture.excludeInboundPorts', c.excludeInboundPorts, v => validatePortList(v, false))
  c.includeOutboundPorts = r.checked(capture, 'capture.includeOutboundPorts', c.includeOutboundPorts, v => validatePortList(v, false))
  c.excludeOutboundPorts = r.checked(capture, 'capture.excludeOutboundPorts', c.excludeOutboundPorts, v => validatePortList(v, false))

  const certs = r.section(doc, 'certificates', config.certificates)
  const k = config.certificates
  k.tokenAudience = r.nonEmpty(certs, 'certificates.tokenAudience', k.tokenAudience)
  // The API server requires a projected token to live at least 10 minutes.
  k.tokenExpirationSeconds = r.integer(certs, 'certificates.tokenExpirationSeconds', k.tokenExpirationSeconds, 600, 2 ** 32 - 1)
  k.caRootConfigMap = r.nonEmpty(certs, 'certificates.caRootConfigMap', k.caRootConfigMap)
  k.crlConfigMap = r.nonEmpty(certs, 'certificates.crlConfigMap', k.crlConfigMap)
  k.workloadCertDir = r.checked(certs, 'certificates.workloadCertDir', k.workloadCertDir,
    v => v.startsWith('/') ? undefined : 'must be an absolute path')

  const proxy = r.section(doc, 'proxy', config.proxy)
  const p = config.proxy
  p.logLevel = r.string(proxy, 'proxy.logLevel', p.logLevel)
  p.componentLogLevel = r.string(proxy, 'proxy.componentLogLevel', p.componentLogLevel)
  p.agentLogLevel = r.string(proxy, 'proxy.agentLogLevel', p.agentLogLevel)
  p.caAddress = r.nonEmpty(proxy, 'proxy.caAddress', p.caAddress)
  p.clusterId = r.nonEmpty(proxy, 'proxy.clusterId', p.clusterId)
  p.trustDomain = r.nonEmpty(proxy, 'proxy.trustDomain', p.trustDomain)
  p.proxyMetadata = r.stringMap(proxy, 'proxy.proxyMetadata', p.proxyMetadata)

  return problems.length === 0 ? { ok: true, config } : { ok: false, problems }
}

const labelKey = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/
const operators = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const

/** Reads one field at a time, recording a problem (and keeping the default) when a value is wrong. */
class Reader {
  readonly problems: Problems
  constructor (problems: Problems) { this.problems = problems }

  private fail (path: string, reason: string): void { this.problems.push({ path, reason }) }

  private leaf (path: string): string { return path.slice(path.lastIndexOf('.') + 1) }

  known (obj: Obj, prefix: string, keys: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (!keys.includes(key)) this.fail(prefix + key, 'unknown field')
    }
  }

  section (doc: Obj, key: string, defaults: object): Obj {
    const value = doc[key]
    if (value === undefined || value === null) return {}
    if (!isRecord(value)) {
      this.fail(key, 'must be a mapping')
      return {}
    }
    this.known(value, `${key}.`, Object.keys(defaults))
    return value
  }

  string (obj: Obj, path: string, fallback: string): string {
    const value = obj[this.leaf(path)]
    if (value === undefined || value === null) return fallback
    if (typeof value !== 'string') {
      this.fail(path, `must be a string, got ${JSON.stringify(value)}`)
      return fallback
    }
    return value
  }

  nonEmpty (obj: Obj, path: string, fallback: string): string {
    return this.checked(obj, path, fallback, v => v === '' ? 'must not be empty' : undefined)
  }

  checked (obj: Obj, path: string, fallback: string, check: (v: string) => string | undefined): string {
    const value = this.string(obj, path, fallback)
    if (value === fallback) return value
    const reason = check(value)
    if (reason !== undefined) {
      this.fail(path, reason)
      return fallback
    }
    return value
  }

  oneOf<T extends string> (obj: Obj, path: string, allowed: readonly T[], fallback: T, booleansAsText = false): T {
    let value = obj[this.leaf(path)]
    if (value === undefined || value === null) return fallback
    // `nativeSidecars: true` in YAML is a boolean; accept it as the text it reads as.
    if (booleansAsText && typeof value === 'boolean') value = String(value)
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(path, `must be one of ${allowed.map(a => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(value)}`)
      return fallback
    }
    return value as T
  }

  boolean (obj: Obj, path: string, fallback: boolean): boolean {
    const value = obj[this.leaf(path)]
    if (value === undefined || value === null) return fallback
    if (typeof value !== 'boolean') {
      this.fail(path, `must be true or false, got ${JSON.stringify(value)}`)
      return fallback
    }
    return value
  }

  integer (obj: Obj, path: string, fallback: number, min: number, max: number): number {
    const value = obj[this.leaf(path)]
    if (value === undefined || value === null) return fallback
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(path, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
      return fallback
    }
    return value
  }

  stringList (obj: Obj, path: string, fallback: string[]): string[] {
    const value = obj[this.leaf(path)]
    if (value === undefined || value === null) return fallback
    if (!Array.isArray(value) || !value.every(v => typeof v === 'string')) {
      this.fail(path, 'must be a list of strings')
      return fallback
    }
    return value as string[]
  }

  stringMap (obj: Obj, path: string, fallback: Record<string, string>): Record<string, string> {
    const value = obj[this.leaf(path)]
    if (value === undefined || value === null) return fallback
    if (!isRecord(value)) {
      this.fail(path, 'must be a mapping of strings to strings')
      return fallback
    }
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') this.fail(`${path}.${k}`, `must be a string, got ${JSON.stringify(v)}`)
      else out[k] = v
    }
    return out
  }

  resources (doc: Obj, path: string, fallback: InjectorConfig['proxyResources']): InjectorConfig['proxyResources'] {
    const value = doc[path]
    if (value === undefined || value === null) return fallback
    if (!isRecord(value)) {
      this.fail(path, 'must be a mapping with requests and/or limits')
      return fallback
    }
    this.known(value, `${path}.`, ['requests', 'limits'])
    const out: InjectorConfig['proxyResources'] = {}
    for (const kind of ['requests', 'limits'] as const) {
      const list = value[kind]
      if (list === undefined || list === null) continue
      if (!isRecord(list)) {
        this.fail(`${path}.${kind}`, 'must be a mapping with cpu and/or memory')
        continue
      }
      this.known(list, `${path}.${kind}.`, ['cpu', 'memory'])
      const entry: { cpu?: string, memory?: string } = {}
      for (const name of ['cpu', 'memory'] as const) {
        const q = list[name]
        if (q === undefined || q === null) continue
        const text = typeof q === 'number' ? String(q) : q
        if (typeof text !== 'string' || !isValidQuantity(text)) {
          this.fail(`${path}.${kind}.${name}`, `must be a Kubernetes quantity, got ${JSON.stringify(q)}`)
        } else {
          entry[name] = text
        }
      }
      out[kind] = entry
    }
    return out
  }

  selectors (doc: Obj, path: string): LabelSelector[] {
    const value = doc[path]
    if (value === undefined || value === null) return []
    if (!Array.isArray(value)) {
      this.fail(path, 'must be a list of label selectors')
      return []
    }
    return value.flatMap((s: unknown, i) => {
      const at = `${path}[${i}]`
      if (!isRecord(s)) {
        this.fail(at, 'must be a label selector (matchLabels and/or matchExpressions)')
        return []
      }
      this.known(s, `${at}.`, ['matchLabels', 'matchExpressions'])
      const selector: LabelSelector = {}
      const labels = this.stringMap(s, `${at}.matchLabels`, {})
      for (const key of Object.keys(labels)) {
        if (!labelKey.test(key)) this.fail(`${at}.matchLabels.${key}`, 'is not a valid label key')
      }
      if (s.matchLabels !== undefined) selector.matchLabels = labels
      const exprs = s.matchExpressions
      if (exprs !== undefined) {
        if (!Array.isArray(exprs)) {
          this.fail(`${at}.matchExpressions`, 'must be a list')
        } else {
          selector.matchExpressions = exprs.flatMap((e: unknown, j) => this.requirement(e, `${at}.matchExpressions[${j}]`))
        }
      }
      return [selector]
    })
  }

  private requirement (e: unknown, at: string): LabelSelectorRequirement[] {
    if (!isRecord(e) || typeof e.key !== 'string' || !labelKey.test(e.key)) {
      this.fail(at, 'must have a valid label `key`')
      return []
    }
    const op = e.operator
    if (typeof op !== 'string' || !(operators as readonly string[]).includes(op)) {
      this.fail(`${at}.operator`, `must be one of ${operators.join(', ')}, got ${JSON.stringify(op)}`)
      return []
    }
    const values = e.values ?? []
    if (!Array.isArray(values) || !values.every(v => typeof v === 'string')) {
      this.fail(`${at}.values`, 'must be a list of strings')
      return []
    }
    const needsValues = op === 'In' || op === 'NotIn'
    if (needsValues !== (values.length > 0)) {
      this.fail(`${at}.values`, needsValues ? `must not be empty for ${op}` : `must be empty for ${op}`)
      return []
    }
    return [{ key: e.key, operator: op as LabelSelectorRequirement['operator'], ...(needsValues ? { values: values as string[] } : {}) }]
  }
}

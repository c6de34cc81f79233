// The effective sidecar settings of one pod, the one object every builder reads (none reads the
// InjectorConfig): the config, overridden by the pod's annotations
// (docs/istio-compatibility.md). Invalid values are collected as problems, each naming the annotation
// and the value, so that the pod is rejected with all of them at once; values Istio ignores when
// invalid become warnings.
import type { V1Volume, V1VolumeMount } from '@kubernetes/client-node'
import { isRecord } from '../shared/records.js'
import { annotations } from './annotations.js'
import { parseJsonAnnotation, parseYamlAnnotation } from './annotation-value.js'
import { enumName, proxyConfigJson, readProxyConfig } from './proxy-config.js'
import { revisionName } from './config.js'
import { parseGoBool } from '../capture/values.js'
import {
  validateBool, validateCidrList, validateInterfaceList, validatePort, validatePortList, validateQuantity, validateUint32
} from './validate.js'
import type { Check } from './validate.js'
import type { AnnotationProblem, ClusterFacts, InjectorConfig, InterceptionMode, Pod, Resources } from './types.js'
import { chooseProfiles, forbidsProbeRewrite, proxyKindOf } from './profiles.js'
import type { ProfileName, ProxyKind } from './profiles.js'

/** The config's capture lists after the pod's annotations, plus the per-pod interface lists. */
export type CaptureSettings = Omit<InjectorConfig['capture'], 'interceptionMode'> & {
  virtualInterfaces: string
  excludeInterfaces: string
}

export type NativeSource = 'annotation' | 'config' | 'detected' | 'unknown' | 'profile'

export interface SidecarSettings {
  /** inject.istio.io/templates: the profiles, in the order they apply (src/core/profiles.ts). */
  profiles: ProfileName[]
  /** The istio-proxy the profiles build: only a sidecar can be native, only a sidecar captures traffic. */
  proxyKind: ProxyKind
  native: boolean
  /** Why native (or classic) mode was chosen, for explain. */
  nativeSource: NativeSource
  hold: boolean
  interceptionMode: InterceptionMode
  /** The ProxyConfig's interception mode (config, or proxy.istio.io/config): the sidecar.istio.io/interceptionMode annotation is not part of it. */
  proxyConfigInterceptionMode: string
  /** The fields proxy.istio.io/config sets, in the proto JSON form of PROXY_CONFIG (src/core/proxy-config.ts). */
  proxyConfigFields: Record<string, unknown>
  proxyImage: string
  initImage: string
  resources: Resources
  logLevel: string
  componentLogLevel: string
  agentLogLevel: string
  /** 0 disables the proxy's readiness and startup probes (Istio's status.sidecar.istio.io/port: "0"). */
  statusPort: number
  readiness: { initialDelaySeconds: number, periodSeconds: number, failureThreshold: number }
  capture: CaptureSettings
  rewriteProbes: boolean
  prometheusMerge: boolean
  capNetBindService: boolean
  proxyMetadata: Record<string, string>
  bootstrapOverride: string
  userVolumes: V1Volume[]
  userVolumeMounts: V1VolumeMount[]
  /** The config's port set (no annotation changes these). */
  ports: InjectorConfig['ports']
  /** Ports the sidecar listens on or redirects to: an app may not ask to be scraped on one. */
  reservedPorts: ReadonlySet<number>
  proxyUID: number
  proxyGID: number
  /** The uid the capture rules let through: a user-declared proxy's runAsUser (see withCaptureUID), else proxyUID. */
  captureUID: number
  imagePullPolicy: InjectorConfig['imagePullPolicy']
  initCommand: InjectorConfig['initCommand']
  certificates: InjectorConfig['certificates']
  /** Where the proxy finds its CA and mesh: the config's proxy section. */
  mesh: { caAddress: string, clusterId: string, trustDomain: string }
  clusterDomain: string
  /** The revision's name ('' in the config is "default"). */
  revision: string
  injectedAnnotations: Record<string, string>
  /** The config's nativeSidecars mode, for explain. */
  nativeSidecarsMode: InjectorConfig['nativeSidecars']
}

/** Ports of the proxy that are not configurable: admin, debug and DNS (Istio reserves them too). */
const fixedProxyPorts = [15000, 15004, 15053]

function reservedPortsOf (ports: InjectorConfig['ports']): ReadonlySet<number> {
  return new Set([...fixedProxyPorts, ports.outbound, ports.inbound, ports.tunnel, ports.agentStatus, ports.health, ports.prometheus])
}

/** A user-declared istio-proxy running as a non-root uid is also the uid capture lets through (as in Istio). */
export function withCaptureUID (settings: SidecarSettings, userRunAsUser: number | undefined): SidecarSettings {
  return userRunAsUser !== undefined && userRunAsUser !== 0 ? { ...settings, captureUID: userRunAsUser } : settings
}

export interface SettingsOutcome {
  settings: SidecarSettings
  problems: AnnotationProblem[]
  warnings: string[]
}

export function resolveSettings (pod: Pod, config: InjectorConfig, facts: ClusterFacts = {}): SettingsOutcome {
  const a = new AnnotationReader(pod.metadata?.annotations ?? {})
  const profiles = a.profiles()
  const proxyKind = proxyKindOf(profiles)
  const proxyConfig = a.proxyConfig()
  const interceptionMode = a.interception(proxyConfig.interceptionMode ?? config.capture.interceptionMode)
  const c = config.capture
  const image = a.image(config.images.proxy, proxyConfig.imageType)
  const mode = a.nativeMode(config, facts)
  // A gateway's or gRPC agent's proxy is a regular container whatever the mode (Istio's templates say so).
  const { native, nativeSource } = proxyKind === 'sidecar' ? mode : { native: false, nativeSource: 'profile' as const }
  const settings: SidecarSettings = {
    profiles,
    proxyKind,
    native,
    nativeSource,
    // Istio ORs the sources: a per-pod "false" does not undo a "true" in the config (docs/istio-compatibility.md).
    hold: config.holdApplicationUntilProxyStarts || proxyConfig.holdApplicationUntilProxyStarts === true,
    interceptionMode,
    proxyConfigInterceptionMode: proxyConfig.interceptionMode ?? config.capture.interceptionMode,
    proxyConfigFields: proxyConfig.fields ?? {},
    proxyImage: image.proxy,
    // An explicit proxy image replaces the init image too: Istio's proxyImage annotation does the same.
    initImage: image.overridden ? image.proxy : config.images.init,
    resources: a.resources(config.proxyResources),
    logLevel: a.text(annotations.logLevel, config.proxy.logLevel),
    componentLogLevel: a.text(annotations.componentLogLevel, config.proxy.componentLogLevel),
    agentLogLevel: a.text(annotations.agentLogLevel, config.proxy.agentLogLevel),
    statusPort: Number(a.checked(annotations.statusPort, String(config.ports.agentStatus), validatePort).trim()),
    readiness: {
      initialDelaySeconds: Number(a.checked(annotations.readinessInitialDelaySeconds, '0', validateUint32)),
      periodSeconds: Number(a.checked(annotations.readinessPeriodSeconds, '15', validateUint32)),
      failureThreshold: Number(a.checked(annotations.readinessFailureThreshold, '4', validateUint32))
    },
    capture: {
      includeOutboundIPRanges: a.checked(annotations.includeOutboundIPRanges, c.includeOutboundIPRanges, v => validateCidrList(v, true)),
      excludeOutboundIPRanges: a.checked(annotations.excludeOutboundIPRanges, c.excludeOutboundIPRanges, v => validateCidrList(v, false)),
      includeInboundPorts: a.checked(annotations.includeInboundPorts, c.includeInboundPorts, v => validatePortList(v, true)),
      excludeInboundPorts: a.checked(annotations.excludeInboundPorts, c.excludeInboundPorts, v => validatePortList(v, false)),
      // Istio does not validate this one; we do, since the capture command would refuse it later.
      includeOutboundPorts: a.checked(annotations.includeOutboundPorts, c.includeOutboundPorts, v => validatePortList(v, false)),
      excludeOutboundPorts: a.checked(annotations.excludeOutboundPorts, c.excludeOutboundPorts, v => validatePortList(v, false)),
      // istio.io/reroute-virtual-interfaces wins over the deprecated kubevirtInterfaces.
      virtualInterfaces: a.has(annotations.rerouteVirtualInterfaces)
        ? a.checked(annotations.rerouteVirtualInterfaces, '', validateInterfaceList)
        : a.checked(annotations.kubevirtInterfaces, '', validateInterfaceList),
      excludeInterfaces: a.checked(annotations.excludeInterfaces, '', validateInterfaceList)
    },
    rewriteProbes: a.lenientBool(annotations.rewriteAppHTTPProbers, config.rewriteAppHTTPProbers) && !forbidsProbeRewrite(profiles),
    prometheusMerge: parseGoBool(a.checked(annotations.mergeMetrics, String(config.prometheusMerge), validateBool)) ?? config.prometheusMerge,
    capNetBindService: a.lenientBool(annotations.capNetBindService, false),
    proxyMetadata: { ...config.proxy.proxyMetadata, ...proxyConfig.proxyMetadata },
    bootstrapOverride: a.text(annotations.bootstrapOverride, ''),
    userVolumes: a.userVolumes(),
    userVolumeMounts: a.userVolumeMounts(),
    ...fromConfig(config)
  }
  return { settings, problems: a.problems, warnings: a.warnings }
}

/** The settings no annotation overrides. */
function fromConfig (config: InjectorConfig): Pick<SidecarSettings,
  'ports' | 'reservedPorts' | 'proxyUID' | 'proxyGID' | 'captureUID' | 'imagePullPolicy' | 'initCommand' | 'certificates' |
  'mesh' | 'clusterDomain' | 'revision' | 'injectedAnnotations' | 'nativeSidecarsMode'> {
  return {
    ports: { ...config.ports },
    reservedPorts: reservedPortsOf(config.ports),
    proxyUID: config.proxyUID,
    proxyGID: config.proxyGID,
    captureUID: config.proxyUID,
    imagePullPolicy: config.imagePullPolicy,
    initCommand: config.initCommand,
    certificates: { ...config.certificates },
    mesh: { caAddress: config.proxy.caAddress, clusterId: config.proxy.clusterId, trustDomain: config.proxy.trustDomain },
    clusterDomain: config.clusterDomain,
    revision: revisionName(config.revision),
    injectedAnnotations: config.injectedAnnotations,
    nativeSidecarsMode: config.nativeSidecars
  }
}

/** The subset of Istio's ProxyConfig (proxy.istio.io/config) that changes what we inject. */
interface PodProxyConfig {
  holdApplicationUntilProxyStarts?: boolean
  interceptionMode?: string
  proxyMetadata?: Record<string, string>
  /** `image.imageType`: a variant of the proxy image (distroless, debug). */
  imageType?: string
  /** All the fields set, as PROXY_CONFIG carries them. */
  fields?: Record<string, unknown>
}

const resourceAnnotations = [
  [annotations.proxyCPU, 'requests', 'cpu'],
  [annotations.proxyMemory, 'requests', 'memory'],
  [annotations.proxyCPULimit, 'limits', 'cpu'],
  [annotations.proxyMemoryLimit, 'limits', 'memory']
] as const

class AnnotationReader {
  readonly problems: AnnotationProblem[] = []
  readonly warnings: string[] = []
  private readonly values: Readonly<Record<string, string>>

  constructor (values: Readonly<Record<string, string>>) { this.values = values }

  has (key: string): boolean { return Object.hasOwn(this.values, key) }

  private reject (annotation: string, value: string, reason: string, code?: string): void {
    this.problems.push({ annotation, value, reason, ...(code === undefined ? {} : { code }) })
  }

  text (key: string, fallback: string): string {
    return this.values[key] ?? fallback
  }

  /** A validated value: an invalid one is a problem (the pod is rejected). */
  checked (key: string, fallback: string, check: Check): string {
    const value = this.values[key]
    if (value === undefined) return fallback
    const reason = check(value)
    if (reason === undefined) return value
    this.reject(key, value, reason)
    return fallback
  }

  /** A boolean Istio ignores when unparseable: the fallback applies, with a warning. */
  lenientBool (key: string, fallback: boolean): boolean {
    const value = this.values[key]
    if (value === undefined) return fallback
    const parsed = parseGoBool(value)
    if (parsed === undefined) {
      this.warnings.push(`ignoring invalid value '${value}' for annotation ${key} (must be true or false); using ${String(fallback)}`)
      return fallback
    }
    return parsed
  }

  interception (fallback: string): InterceptionMode {
    const key = annotations.interceptionMode
    const value = this.values[key] ?? fallback
    if (value === 'REDIRECT' || value === 'NONE') return value
    const source = this.has(key) ? key : `${annotations.proxyConfig} interceptionMode`
    this.reject(source, value, value === 'TPROXY'
      ? 'TPROXY interception is not supported by this injector; use REDIRECT or NONE'
      : 'must be REDIRECT or NONE')
    return 'REDIRECT'
  }

  /**
   * inject.istio.io/templates: which of istiod's templates the pod asks for, built here as profiles. An
   * unknown name is refused, naming it, rather than given a sidecar it did not ask for.
   */
  profiles (): ProfileName[] {
    const key = annotations.templates
    const value = this.values[key]
    const choice = chooseProfiles(value)
    if (choice.ok) return choice.profiles
    this.reject(key, value ?? '', choice.reason, choice.code)
    return ['sidecar']
  }

  /**
   * sidecar.istio.io/nativeSidecar as Istio's template reads it: exactly "false" means classic, an
   * empty value means the default, and any other value native ("False", "0" and "no" included), so
   * those are warned about (docs/istio-compatibility.md).
   */
  nativeMode (config: InjectorConfig, facts: ClusterFacts): { native: boolean, nativeSource: NativeSource } {
    const value = this.values[annotations.nativeSidecar]
    if (value !== undefined && value !== '') {
      if (value !== 'true' && value !== 'false') {
        this.warnings.push(`annotation ${annotations.nativeSidecar} is neither "true" nor "false": native sidecar mode, as with Istio, where only "false" turns it off`)
      }
      return { native: value !== 'false', nativeSource: 'annotation' }
    }
    if (config.nativeSidecars !== 'auto') return { native: config.nativeSidecars === 'true', nativeSource: 'config' }
    const known = facts.nativeSidecarsSupported
    return known === undefined ? { native: false, nativeSource: 'unknown' } : { native: known, nativeSource: 'detected' }
  }

  /** The proxy image; its type from sidecar.istio.io/proxyImageType, else from the pod's ProxyConfig `image.imageType` (Istio's ProxyImage). */
  image (fallback: string, proxyConfigImageType: string | undefined): { proxy: string, overridden: boolean } {
    const value = this.values[annotations.proxyImage]
    // Istio uses the annotation only when it names a repository (contains '/').
    if (value !== undefined && value.includes('/')) return { proxy: value, overridden: true }
    if (value !== undefined) {
      this.warnings.push(`ignoring annotation ${annotations.proxyImage} '${value}': an image must name a repository (contain '/')`)
    }
    return { proxy: applyImageType(fallback, this.values[annotations.proxyImageType] ?? proxyConfigImageType), overridden: false }
  }

  /** Istio: when any proxy resource annotation is set, only the annotated fields are emitted. */
  resources (fallback: Resources): Resources {
    if (!resourceAnnotations.some(([key]) => this.has(key))) return fallback
    const out: Resources = {}
    for (const [key, kind, name] of resourceAnnotations) {
      const value = this.values[key]
      if (value === undefined) continue
      const reason = /\p{Cc}/u.test(value) ? 'must not contain control characters' : validateQuantity(value)
      if (reason !== undefined) {
        this.reject(key, value, reason)
        continue
      }
      out[kind] = { ...out[kind], [name]: value }
    }
    return out
  }

  /**
   * proxy.istio.io/config as Istio reads it: the whole ProxyConfig is decoded and validated
   * (src/core/proxy-config.ts); a bad field refuses the pod, naming its path and not its value. Four
   * fields change what is injected; all of them go into the proxy's PROXY_CONFIG, as istiod writes it.
   */
  proxyConfig (): PodProxyConfig {
    const key = annotations.proxyConfig
    const value = this.values[key]
    if (value === undefined) return {}
    const parsed = parseYamlAnnotation(value)
    if (!parsed.ok) {
      this.problems.push({ annotation: key, value, field: '', reason: parsed.reason })
      return {}
    }
    const read = readProxyConfig(parsed.value)
    for (const p of read.problems) this.problems.push({ annotation: key, value, field: p.field, reason: p.reason })
    if (read.unknown.length > 0) {
      this.warnings.push(`${key}: ${read.unknown.slice(0, 10).map(f => `'${f.slice(0, 64)}'`).join(', ')}${read.unknown.length > 10 ? ', …' : ''} ${read.unknown.length === 1 ? 'is not a ProxyConfig field' : 'are not ProxyConfig fields'}; ignored, as Istio does`)
    }
    if (read.problems.length > 0) return {}
    const { holdApplicationUntilProxyStarts: hold, interceptionMode: mode, proxyMetadata: metadata, image } = read.config
    const out: PodProxyConfig = { fields: proxyConfigJson(read.config) }
    if (isRecord(image) && typeof image.imageType === 'string') out.imageType = image.imageType
    if (typeof hold === 'boolean') out.holdApplicationUntilProxyStarts = hold
    if (mode !== undefined) out.interceptionMode = enumName('InboundInterceptionMode', mode)
    if (isRecord(metadata)) out.proxyMetadata = metadata as Record<string, string>
    return out
  }

  /**
   * A JSON map of name → definition, or a JSON list of definitions that carry their own `name` (the
   * form Istio's own samples use; istiod names an unnamed list item by its index, as we do).
   */
  private jsonEntries (key: string): Array<[string, Record<string, unknown>]> {
    const value = this.values[key]
    if (value === undefined) return []
    const parsed = parseJsonAnnotation(value)
    if (!parsed.ok) {
      this.reject(key, value, `${parsed.reason}; must be a JSON object mapping names to definitions, or a JSON list of named definitions`)
      return []
    }
    const doc = parsed.value
    if (Array.isArray(doc) && doc.every(isRecord)) {
      return doc.map((item, index) => [typeof item.name === 'string' && item.name !== '' ? item.name : String(index), item])
    }
    if (isRecord(doc) && Object.values(doc).every(isRecord)) return Object.entries(doc) as Array<[string, Record<string, unknown>]>
    this.reject(key, value, 'must be a JSON object mapping names to definitions, or a JSON list of named definitions')
    return []
  }

  /** sidecar.istio.io/userVolume: {"name": <VolumeSource>, ...} or [<Volume>, ...]. */
  userVolumes (): V1Volume[] {
    const key = annotations.userVolume
    return this.jsonEntries(key).flatMap(([name, source]) => {
      // A volume name is an RFC 1123 label; the API server would refuse the pod after us otherwise.
      if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) {
        this.reject(key, this.values[key] ?? '', `'${name.slice(0, 64)}' is not a volume name (an RFC 1123 label)`)
        return []
      }
      return [{ ...source, name } as V1Volume]
    })
  }

  /** sidecar.istio.io/userVolumeMount: {"name": {"mountPath": ..., "readOnly": ...}, ...} or [<VolumeMount>, ...]. */
  userVolumeMounts (): V1VolumeMount[] {
    const key = annotations.userVolumeMount
    return this.jsonEntries(key).flatMap(([name, mount]) => {
      if (typeof mount.mountPath !== 'string' || !mount.mountPath.startsWith('/')) {
        this.reject(key, this.values[key] ?? '', `the mount of '${name}' needs an absolute mountPath`)
        return []
      }
      return [{ ...mount, name } as V1VolumeMount]
    })
  }
}

/** sidecar.istio.io/proxyImageType: "default" strips a -debug/-distroless tag suffix; others append "-<type>". */
function applyImageType (image: string, type: string | undefined): string {
  if (type === undefined || type === '') return image
  const colon = image.lastIndexOf(':')
  if (colon < image.lastIndexOf('/') || colon < 0) return image
  const tag = image.slice(colon + 1).replace(/-(debug|distroless)$/, '')
  return `${image.slice(0, colon)}:${tag}${type === 'default' ? '' : `-${type}`}`
}

// inject(): the one function every door calls (webhook, offline CLI, explain). It decides, strips a
// previous injection, builds the sidecar from the pod's effective settings and returns a new pod;
// the input is never mutated (unchanged subtrees are shared, so the patch can skip them cheaply).
import type { V1Container, V1EnvVar, V1PodSecurityContext, V1Volume } from '@kubernetes/client-node'
import { isRecord } from '../shared/records.js'
import { annotations, labels } from './annotations.js'
import { checkInitCapture } from './capture-check.js'
import { digestInjection } from './digest.js'
import { decide, podNamespace } from './policy.js'
import { rewriteProbes, serialiseProbers } from './probes.js'
import type { AppProbers, Originals } from './probes.js'
import { mergePrometheus } from './prometheus.js'
import { resolveSettings, withCaptureUID } from './settings.js'
import type { SidecarSettings } from './settings.js'
import { buildInitContainer, buildProxyContainer, buildVolumes, initName, proxyName } from './sidecar.js'
import {
  buildGrpcBootstrapInit, grpcBootstrapInitName, grpcBootstrapVolume, overlayAppContainer, statusOrder, touchesAppContainers
} from './profiles.js'
import type { ProfileName, ProxyKind } from './profiles.js'
import type { AnnotationProblem, ClusterFacts, InjectorConfig, InjectResult, Pod, RequestInfo } from './types.js'
import { readOverrides, uninject } from './uninject.js'
import type { InjectionStatus, Restore } from './uninject.js'
import { findWorkload } from './workload.js'
import { maxAnnotationBytes, parseJsonAnnotation } from './annotation-value.js'

const proberEnv = 'ISTIO_KUBE_APP_PROBERS'
const scrapeEnv = 'ISTIO_PROMETHEUS_ANNOTATIONS'

export function inject (pod: Pod, request: RequestInfo, config: InjectorConfig, facts: ClusterFacts = {}): InjectResult {
  const policy = decide(pod, request, config)
  const { decision } = policy
  if (!decision.inject) return { outcome: 'skipped', decision, warnings: policy.warnings }

  // The API server refuses a pod whose annotations exceed 256 KiB together; a mutating webhook sees it
  // before that check. Refused here, naming the largest, rather than parsed or copied into the status.
  const oversized = checkAnnotationsSize(pod.metadata?.annotations ?? {})
  if (oversized !== undefined) {
    return { outcome: 'rejected', decision, problems: [oversized], message: formatProblems([oversized]), warnings: policy.warnings }
  }
  // An edited overrides annotation would put ill-typed containers back into the pod: refused first.
  const overrides = pod.metadata?.annotations?.[annotations.overrides]
  if (decision.reinjection && overrides !== undefined) {
    const read = readOverrides(overrides)
    if (!read.ok) {
      const problems = [{ annotation: annotations.overrides, value: overrides, reason: read.reason }]
      return { outcome: 'rejected', decision, problems, message: formatProblems(problems), warnings: policy.warnings }
    }
  }
  // Re-injection starts from the pod as it was before: injecting twice equals injecting once.
  const previous = decision.reinjection ? uninject(pod) : { pod, exact: true, carried: { probers: '', scrape: '' }, overridesFromAnnotation: false }
  const base = previous.pod
  const resolved = resolveSettings(base, config, facts)
  const warnings = [...policy.warnings, ...resolved.warnings]
  const problems = [...resolved.problems]
  const restore: Restore = {}

  const kind = resolved.settings.proxyKind
  const profiles = resolved.settings.profiles
  // Pods injected by Istio keep their user overrides only in proxy.istio.io/overrides.
  const user = takeUserOverrides(base, resolved.settings.native, previous.overridesFromAnnotation, problems, restore, kind, touchesAppContainers(profiles))
  // What a pod injected by istiod carried over is recorded, so that injecting again carries it again.
  const carried: NonNullable<Restore['carried']> = {}
  if (previous.carried.probers !== '') carried.probers = previous.carried.probers
  if (previous.carried.scrape !== '') carried.scrape = previous.carried.scrape
  if (previous.overridesFromAnnotation && (user.proxy !== undefined || user.init !== undefined || user.recordedApps)) carried.overrides = true
  if (Object.keys(carried).length > 0) restore.carried = carried
  const settings = withCaptureUID(resolved.settings, user.proxy?.securityContext?.runAsUser)
  const namespace = podNamespace(pod, request)
  const workload = findWorkload(pod, namespace, request.workload)
  // The pod as the proxy's template sees it: a declared istio-proxy is one of its containers (its ports are
  // the pod's); one kept only in proxy.istio.io/overrides comes last, where istiod puts it back.
  const declared = base.spec?.containers ?? []
  const podContainers = user.proxy !== undefined && !declared.some(c => c.name === proxyName) ? [...declared, user.proxy] : declared
  const appPod: Pod = { ...base, spec: { ...base.spec, containers: podContainers, initContainers: user.initContainers } }
  let proxy = kind === 'none' ? undefined : buildProxyContainer({ settings, pod: appPod, workload }, kind)
  let init = kind !== 'sidecar' || settings.interceptionMode === 'NONE' ? undefined : buildInitContainer(settings)
  if (init !== undefined) problems.push(...checkInitCapture(init, base.metadata?.annotations ?? {}))
  if (user.proxy !== undefined && proxy !== undefined) proxy = mergeContainer(proxy, user.proxy)
  if (user.init !== undefined && init !== undefined) init = mergeContainer(init, user.init)
  const grpcInit = profiles.includes('grpc-simple') ? buildGrpcBootstrapInit(settings.mesh.caAddress) : undefined

  // The gRPC profiles point the app's own containers at their xDS bootstrap.
  let containers = touchesAppContainers(profiles)
    ? user.containers.map(c => overlayAppContainer(c, profiles, settings.certificates.workloadCertDir, mergeContainer))
    : user.containers
  let initContainers = user.initContainers
  const probers: AppProbers = {}
  if (settings.rewriteProbes && settings.statusPort !== 0) {
    // Keyed by container name, which the pod author writes: no prototype, so a container named
    // `__proto__` is an entry like any other (the API server refuses that name only after us).
    restore.probes = Object.create(null) as Originals
    containers = rewriteProbes(containers, settings.statusPort, probers, restore.probes)
    initContainers = rewriteProbes(initContainers, settings.statusPort, probers, restore.probes)
    if (Object.keys(restore.probes).length === 0) delete restore.probes
  }
  const proberJson = mergeProbers(previous.carried.probers, probers)
  const merged = mergePrometheus(base.metadata?.annotations ?? {}, settings)
  problems.push(...merged.problems)
  const scrapeJson = merged.scrapeJson !== '' ? merged.scrapeJson : previous.carried.scrape
  if (proxy !== undefined) proxy = withEnv(proxy, [[proberEnv, proberJson], [scrapeEnv, scrapeJson]])

  const volumes = assembleVolumes(base.spec?.volumes ?? [], profileVolumes(settings), warnings)
  if (kind === 'sidecar' || kind === 'grpc-agent') checkUserMounts(settings, volumes, problems)
  if (problems.length > 0) {
    return { outcome: 'rejected', decision, problems, message: formatProblems(problems), warnings }
  }

  const layout = arrange(settings, containers, initContainers, proxy, init, grpcInit)
  if (kind === 'sidecar' && !settings.native && runsToCompletion(pod, request)) warnings.push(classicSidecarInJobWarning)
  // grpc-simple alone labels nothing: without an agent the pod is no workload of the mesh.
  const podLabels = kind === 'none' ? base.metadata?.labels : injectLabels(base, workload.name, kind === 'sidecar')
  const podAnnotations = injectAnnotations(merged.annotations, layout.containers, settings, user.overridesJson)
  recordChanges(restore, 'labels', base.metadata?.labels ?? {}, podLabels ?? {})
  recordChanges(restore, 'annotations', base.metadata?.annotations ?? {}, podAnnotations)
  const injectedContainers = layout.injectedContainers.length > 0 ? layout.injectedContainers : null
  const parts = {
    initContainers: layout.injectedInit.length > 0 ? layout.injectedInit : null,
    containers: injectedContainers,
    volumes: volumes.injected
  }
  const spec = { ...base.spec, containers: layout.containers, volumes: volumes.all }
  if (layout.initContainers.length > 0 || base.spec?.initContainers !== undefined) spec.initContainers = layout.initContainers
  if (kind === 'gateway') {
    const before = base.spec?.securityContext
    spec.securityContext = gatewaySecurityContext(before)
    if (JSON.stringify(before) !== JSON.stringify(spec.securityContext)) restore.securityContext = before ?? null
  }
  const injected: Pod = { ...base, metadata: { ...base.metadata, ...(podLabels === undefined ? {} : { labels: podLabels }), annotations: podAnnotations }, spec }
  // Istio's keys first (its tools read them), then what `audit` compares: who injected, and a digest
  // of what was injected (src/core/digest.ts).
  const status: InjectionStatus = {
    ...parts,
    imagePullSecrets: null,
    revision: settings.revision,
    ...(facts.injectorVersion === undefined ? {} : { injector: facts.injectorVersion }),
    digest: digestInjection(injected, { ...parts, restore }, [annotations.status]),
    restore
  }
  podAnnotations[annotations.status] = JSON.stringify(status)
  return { outcome: 'injected', decision, pod: injected, warnings }
}

function checkAnnotationsSize (values: Record<string, string>): AnnotationProblem | undefined {
  let total = 0
  let largest = ''
  let largestSize = -1
  for (const [key, value] of Object.entries(values)) {
    const size = Buffer.byteLength(key) + Buffer.byteLength(value)
    total += size
    if (size > largestSize) { largest = key; largestSize = size }
  }
  if (total <= maxAnnotationBytes) return undefined
  return {
    annotation: largest,
    value: values[largest] ?? '',
    reason: `the pod's annotations total ${total} bytes, over the API server's limit of ${maxAnnotationBytes / 1024} KiB for all of them together; this one is the largest (${largestSize} bytes)`
  }
}

// A Job's pod completes when all its regular containers exit; a classic proxy never exits, so the Job
// never completes. Native sidecars (init containers with restartPolicy Always) are stopped by the
// kubelet once the regular containers end: https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
export const classicSidecarInJobWarning = 'a classic sidecar in a Job or CronJob pod keeps running after the job\'s containers exit, ' +
  'so the Job never completes; native sidecars fix it (annotation sidecar.istio.io/nativeSidecar: "true", or config nativeSidecars: true)'

function runsToCompletion (pod: Pod, request: RequestInfo): boolean {
  const owners: unknown = pod.metadata?.ownerReferences
  const kind = request.workload?.kind ?? (Array.isArray(owners) ? owners.find(ref => ref?.controller === true)?.kind : undefined)
  return kind === 'Job' || kind === 'CronJob'
}

/** Records the previous value of every key the injection added, changed or removed (null: was absent). */
function recordChanges (restore: Restore, field: 'labels' | 'annotations', before: Record<string, string>, after: Record<string, string>): void {
  const changes: Record<string, string | null> = {}
  for (const [key, value] of Object.entries(after)) {
    if (before[key] !== value) changes[key] = before[key] ?? null
  }
  for (const [key, value] of Object.entries(before)) {
    if (!Object.hasOwn(after, key)) changes[key] = value
  }
  if (Object.keys(changes).length > 0) restore[field] = changes
}

/**
 * Istio's message shape: `invalid value '<v>' for annotation '<name>': <reason>`, all of them at once;
 * a problem in a field of a structured value names the field instead of quoting the value.
 */
export function formatProblems (problems: readonly AnnotationProblem[]): string {
  return problems.map(p => {
    if (p.field === undefined) return `invalid value '${shorten(p.value)}' for annotation '${p.annotation}': ${p.reason}`
    return p.field === ''
      ? `invalid value for annotation '${p.annotation}': ${p.reason}`
      : `invalid value for annotation '${p.annotation}': field ${p.field}: ${p.reason}`
  }).join('; ')
}

/** Values are quoted at most this long: a rejection must not carry a 256 KiB annotation back. */
export const maxQuotedValue = 128

function shorten (value: string): string {
  return value.length <= maxQuotedValue ? value : `${value.slice(0, maxQuotedValue)}… (${value.length} characters)`
}

interface UserContainers {
  containers: V1Container[]
  initContainers: V1Container[]
  proxy?: V1Container
  init?: V1Container
  /** The proxy.istio.io/overrides annotation to write (first injection only), or ''. */
  overridesJson: string
  /** Whether app containers the profiles change are recorded in proxy.istio.io/overrides (to put them back). */
  recordedApps: boolean
}

/**
 * Containers the user declared with the injected names are merged over the injected ones. On first
 * injection they are taken out of the pod and recorded in proxy.istio.io/overrides; on re-injection
 * they come back from that annotation.
 */
function takeUserOverrides (
  pod: Pod, native: boolean, fromAnnotation: boolean, problems: AnnotationProblem[], restore: Restore, kind: ProxyKind, changesApps: boolean
): UserContainers {
  const containers = pod.spec?.containers ?? []
  const initContainers = pod.spec?.initContainers ?? []
  // Only a container the profiles build is an override: without a proxy profile an istio-proxy is the user's own.
  const isOverride = (list: 'containers' | 'initContainers', c: V1Container): boolean =>
    (c.name === proxyName && kind !== 'none') || (list === 'initContainers' && c.name === initName && kind === 'sidecar')
  const out: UserContainers = {
    containers: containers.filter(c => !isOverride('containers', c)),
    initContainers: initContainers.filter(c => !isOverride('initContainers', c)),
    overridesJson: '',
    recordedApps: false
  }
  // The app containers the gRPC profiles change are listed in the status annotation, as istiod lists
  // them, and their originals are kept in proxy.istio.io/overrides (istiod's own way to put them back).
  const apps = changesApps ? out.containers : []
  const appPlaces = containers.flatMap((c, index) => apps.includes(c) ? [{ list: 'containers' as const, index, name: c.name }] : [])
  let recorded: { containers?: V1Container[], initContainers?: V1Container[] } = {}
  if (fromAnnotation) {
    const text = pod.metadata?.annotations?.[annotations.overrides]
    if (text !== undefined) {
      const read = readOverrides(text)
      if (read.ok) recorded = read.value
      else problems.push({ annotation: annotations.overrides, value: text, reason: read.reason })
    }
    // istiod recorded the app containers it changed there too: they go back from it next time.
    const kept = appPlaces.filter(p => (recorded.containers ?? []).some(c => c.name === p.name))
    if (kept.length > 0) {
      restore.overrides = kept
      out.recordedApps = true
    }
  } else {
    const places = (list: 'containers' | 'initContainers', items: V1Container[]): NonNullable<Restore['overrides']> =>
      items.flatMap((c, index) => isOverride(list, c) ? [{ list, index, name: c.name, ...autoImage(c) }] : [])
    // Recorded as istiod records them: under the list the injected container is in (in native mode
    // the proxy is an init container), without `image: auto`.
    const userProxy = containers.filter(c => isOverride('containers', c)).map(withoutAutoImage)
    const userInit = initContainers.filter(c => isOverride('initContainers', c)).map(withoutAutoImage)
    const asContainers = native ? [] : userProxy
    const asInit = native ? [...userInit, ...userProxy] : userInit
    if (asContainers.length + apps.length > 0) recorded.containers = [...asContainers, ...apps]
    if (asInit.length > 0) recorded.initContainers = asInit
    if (userProxy.length + userInit.length + apps.length > 0) {
      out.overridesJson = JSON.stringify(recorded)
      out.recordedApps = apps.length > 0
      // Where they stood and what was left out, so that uninject puts them back as they were.
      restore.overrides = [...places('containers', containers), ...appPlaces, ...places('initContainers', initContainers)]
    }
  }
  const all = [...(recorded.containers ?? []), ...(recorded.initContainers ?? [])]
  const proxy = all.find(c => c.name === proxyName)
  const init = all.find(c => c.name === initName)
  if (proxy !== undefined) out.proxy = proxy
  if (init !== undefined) out.init = init
  return out
}

/** `image: auto` means "the injected image": istiod leaves it out of proxy.istio.io/overrides. */
function withoutAutoImage (c: V1Container): V1Container {
  if (c.image !== 'auto') return c
  const { image: _auto, ...rest } = c
  return rest as V1Container
}

/** Where `image: auto` stood among the container's keys, for uninject to put it back in place. */
function autoImage (c: V1Container): { image?: { value: string, at: number } } {
  return c.image === 'auto' ? { image: { value: 'auto', at: Object.keys(c).indexOf('image') } } : {}
}

// Lists merged by a key, as a strategic merge patch does for these container fields.
const mergeKeys: Record<string, string> = { env: 'name', volumeMounts: 'mountPath', ports: 'containerPort' }

/** The user's container over ours: maps merge, keyed lists merge by key, other lists replace; `image: auto` keeps ours. */
export function mergeContainer (injected: V1Container, user: V1Container): V1Container {
  const merged = mergeValue(injected, user, '') as V1Container
  if (user.image === 'auto' && injected.image !== undefined) merged.image = injected.image
  return merged
}

function mergeValue (base: unknown, over: unknown, key: string): unknown {
  if (Array.isArray(base) && Array.isArray(over) && mergeKeys[key] !== undefined) {
    const k = mergeKeys[key]
    const out = base.map(item => {
      const match = over.find(o => (o as Record<string, unknown>)[k] === (item as Record<string, unknown>)[k])
      return match === undefined ? item : mergeValue(item, match, '')
    })
    for (const o of over) {
      if (!base.some(item => (item as Record<string, unknown>)[k] === (o as Record<string, unknown>)[k])) out.push(o)
    }
    return out
  }
  if (isRecord(base) && isRecord(over)) {
    const out: Record<string, unknown> = { ...base }
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeValue(base[k], v, k) : v
    return out
  }
  return over
}

function mergeProbers (previousJson: string, probers: AppProbers): string {
  let previous: AppProbers = {}
  if (previousJson !== '') {
    const parsed = parseJsonAnnotation(previousJson)
    if (parsed.ok && typeof parsed.value === 'object' && parsed.value !== null && !Array.isArray(parsed.value)) previous = parsed.value as AppProbers
  }
  const all = { ...probers, ...previous }
  return Object.keys(all).length > 0 ? serialiseProbers(all) : ''
}

function withEnv (container: V1Container, entries: Array<[string, string]>): V1Container {
  const add: V1EnvVar[] = entries.filter(([, value]) => value !== '').map(([name, value]) => ({ name, value }))
  if (add.length === 0) return container
  const names = new Set(add.map(e => e.name))
  return { ...container, env: [...(container.env ?? []).filter(e => !names.has(e.name)), ...add] }
}

/** The pod's volumes, then ours; a volume the user already declares under one of our names is kept as theirs. */
function assembleVolumes (podVolumes: V1Volume[], ours: V1Volume[], warnings: string[]): { all: V1Volume[], injected: string[] } {
  const taken = new Set(podVolumes.map(v => v.name))
  const added = ours.filter(v => {
    if (!taken.has(v.name)) return true
    warnings.push(`the pod already declares a volume named ${v.name}; it is used instead of the injected one`)
    return false
  })
  return { all: [...podVolumes, ...added], injected: added.map(v => v.name) }
}

function checkUserMounts (settings: SidecarSettings, volumes: { all: V1Volume[] }, problems: AnnotationProblem[]): void {
  const names = new Set(volumes.all.map(v => v.name))
  for (const mount of settings.userVolumeMounts) {
    if (!names.has(mount.name)) {
      problems.push({
        annotation: annotations.userVolumeMount,
        value: JSON.stringify({ [mount.name]: { mountPath: mount.mountPath } }),
        reason: `mount '${mount.name}' names no volume of the pod or of ${annotations.userVolume}`
      })
    }
  }
}

interface Layout {
  containers: V1Container[]
  initContainers: V1Container[]
  /** The names the status annotation lists, in istiod's order. */
  injectedInit: string[]
  injectedContainers: string[]
}

/**
 * Classic: the proxy is the last container (first with hold, so kubelet starts it first), and
 * istio-init is the last init container, so user init containers keep their network.
 * Native: istio-init, then the proxy as an init container with restartPolicy Always, then the user's
 * init containers, which so get mesh networking (docs/istio-compatibility.md). A gateway's or gRPC
 * agent's proxy is placed as a classic one. grpc-simple's bootstrap init container runs before the
 * user's init containers.
 */
function arrange (
  settings: SidecarSettings, containers: V1Container[], initContainers: V1Container[],
  proxy: V1Container | undefined, init: V1Container | undefined, grpcInit: V1Container | undefined
): Layout {
  const initList = init === undefined ? [] : [init]
  const grpcList = grpcInit === undefined ? [] : [grpcInit]
  const apps = containers.filter(c => c.name !== proxyName).map(c => c.name)
  // What each profile's template lists (istiod's status annotation names the template's containers).
  const listed = (profile: ProfileName): { init: string[], containers: string[] } => {
    switch (profile) {
      case 'sidecar': return settings.native
        ? { init: [...initList.map(c => c.name), proxyName], containers: [] }
        : { init: initList.map(c => c.name), containers: [proxyName] }
      case 'gateway': return { init: [], containers: [proxyName] }
      case 'grpc-agent': return { init: [], containers: [proxyName, ...apps] }
      case 'grpc-simple': return { init: [grpcBootstrapInitName], containers: containers.map(c => c.name) }
    }
  }
  const lists = settings.profiles.map(listed)
  const injectedInit = statusOrder(lists.map(l => l.init))
  const injectedContainers = statusOrder(lists.map(l => l.containers))
  if (proxy === undefined) {
    return { containers, initContainers: [...grpcList, ...initContainers], injectedInit, injectedContainers }
  }
  if (settings.native) {
    const nativeProxy: V1Container = { ...proxy, restartPolicy: 'Always' }
    return {
      containers,
      initContainers: [...initList, nativeProxy, ...grpcList, ...initContainers],
      injectedInit,
      injectedContainers
    }
  }
  return {
    containers: settings.hold ? [proxy, ...containers] : [...containers, proxy],
    initContainers: [...grpcList, ...initContainers, ...initList],
    injectedInit,
    injectedContainers
  }
}

/** The volumes of the pod's profiles, in istiod's status order. */
function profileVolumes (settings: SidecarSettings): V1Volume[] {
  const kind = settings.proxyKind
  const perProfile = settings.profiles.map(p => p === 'grpc-simple' ? [grpcBootstrapVolume()] : kind === 'none' ? [] : buildVolumes(settings, kind))
  const all = perProfile.flat()
  return statusOrder(perProfile.map(vs => vs.map(v => v.name))).map(name => all.find(v => v.name === name) as V1Volume)
}

/** The sysctl a gateway needs to bind ports below 1024 without root (Kubernetes >= 1.22 allows it unprivileged). */
const unprivilegedPorts = { name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }

/** The gateway pod's securityContext: the user's, with the unprivileged-ports sysctl set. */
function gatewaySecurityContext (current: V1PodSecurityContext | undefined): V1PodSecurityContext {
  const others = (current?.sysctls ?? []).filter(s => s.name !== unprivilegedPorts.name)
  return { ...current, sysctls: [...others, { ...unprivilegedPorts }] }
}

/** Labels the mesh's telemetry reads; each keeps a value the pod already has. tlsMode only for a sidecar (Envoy terminates mTLS). */
function injectLabels (pod: Pod, workloadName: string, tlsMode: boolean): Record<string, string> {
  const current = pod.metadata?.labels ?? {}
  const first = (...values: Array<string | undefined>): string | undefined => values.find(v => v !== undefined && v !== '')
  const canonicalName = (first(current[labels.canonicalName], current[labels.appName], current[labels.app], workloadName) ?? '')
    .slice(0, 63).replace(/^[-_.]+|[-_.]+$/g, '')
  const out: Record<string, string> = { ...current }
  if (tlsMode) out[labels.tlsMode] ??= 'istio'
  if (canonicalName !== '') out[labels.canonicalName] ??= canonicalName
  out[labels.canonicalRevision] ??= first(current[labels.appVersion], current[labels.version]) ?? 'latest'
  return out
}

function injectAnnotations (
  current: Record<string, string>, containers: V1Container[], settings: SidecarSettings, overridesJson: string
): Record<string, string> {
  const out: Record<string, string> = { ...current }
  // grpc-simple alone runs no agent: there is no revision serving it and no proxy to tell apart.
  if (settings.proxyKind !== 'none') {
    out[annotations.rev] = settings.revision
    const firstApp = containers.find(c => c.name !== proxyName)
    if (firstApp !== undefined) {
      out[annotations.defaultContainer] ??= firstApp.name
      out[annotations.defaultLogsContainer] ??= firstApp.name
    }
  }
  if (touchesAppContainers(settings.profiles)) out[annotations.rewriteAppHTTPProbers] = 'false'
  if (overridesJson !== '') out[annotations.overrides] = overridesJson
  Object.assign(out, settings.injectedAnnotations)
  return out
}

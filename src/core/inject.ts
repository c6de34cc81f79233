// inject(): the one function every door calls (webhook, offline CLI, explain). It decides, strips a
// previous injection, builds the sidecar from the pod's effective settings and returns a new pod;
// the input is never mutated (unchanged subtrees are shared, so the patch can skip them cheaply).
import type { V1Container, V1EnvVar, V1Volume } from '@kubernetes/client-node'
import { annotations, labels } from './annotations.js'
import { decide, podNamespace } from './policy.js'
import { rewriteProbes, serialiseProbers } from './probes.js'
import type { AppProbers } from './probes.js'
import { mergePrometheus } from './prometheus.js'
import { resolveSettings } from './settings.js'
import type { SidecarSettings } from './settings.js'
import { buildInitContainer, buildProxyContainer, buildVolumes, initName, proxyName, volumeNames } from './sidecar.js'
import type { AnnotationProblem, ClusterFacts, Decision, InjectorConfig, InjectResult, Pod, RequestInfo } from './types.js'
import { findWorkload } from './workload.js'

/** What the status annotation records: the names we injected, so that re-injection and uninject can remove exactly them. */
export interface InjectionStatus {
  initContainers: string[] | null
  containers: string[] | null
  volumes: string[]
  imagePullSecrets: string[] | null
  revision: string
}

const proberEnv = 'ISTIO_KUBE_APP_PROBERS'
const scrapeEnv = 'ISTIO_PROMETHEUS_ANNOTATIONS'

export function inject (pod: Pod, request: RequestInfo, config: InjectorConfig, facts: ClusterFacts = {}): InjectResult {
  const policy = decide(pod, request, config)
  const { decision } = policy
  if (!decision.inject) return { outcome: 'skipped', decision, warnings: policy.warnings }

  const previous = decision.reinjection ? stripInjection(pod) : { pod, proberEnv: '', scrapeEnv: '' }
  const base = previous.pod
  const resolved = resolveSettings(base, config, facts)
  const warnings = [...policy.warnings, ...resolved.warnings]
  const { settings } = resolved
  const problems = [...resolved.problems]

  const user = takeUserOverrides(base, decision.reinjection, problems)
  const userRunAsUser = user.proxy?.securityContext?.runAsUser
  // A user-chosen proxy uid must also be the uid the capture rules let through (Istio does the same).
  const captureUID = userRunAsUser !== undefined && userRunAsUser !== 0 ? userRunAsUser : config.proxyUID
  const namespace = podNamespace(pod, request)
  const appPod: Pod = { ...base, spec: { ...base.spec, containers: user.containers, initContainers: user.initContainers } }
  let proxy = buildProxyContainer({ settings, config, pod: appPod, workload: findWorkload(pod, namespace) })
  let init = settings.interceptionMode === 'NONE' ? undefined : buildInitContainer(settings, config, captureUID)
  if (user.proxy !== undefined) proxy = mergeContainer(proxy, user.proxy)
  if (user.init !== undefined && init !== undefined) init = mergeContainer(init, user.init)

  let containers = user.containers
  let initContainers = user.initContainers
  const probers: AppProbers = {}
  if (settings.rewriteProbes && settings.statusPort !== 0) {
    containers = rewriteProbes(containers, settings.statusPort, probers)
    initContainers = rewriteProbes(initContainers, settings.statusPort, probers)
  }
  // On re-injection the probes were already rewritten: the originals recorded then are kept.
  const proberJson = mergeProbers(previous.proberEnv, probers)
  const merged = mergePrometheus(base.metadata?.annotations ?? {}, settings.prometheusMerge, config)
  problems.push(...merged.problems)
  const scrapeJson = merged.scrapeJson !== '' ? merged.scrapeJson : previous.scrapeEnv
  proxy = withEnv(proxy, [[proberEnv, proberJson], [scrapeEnv, scrapeJson]])

  const volumes = assembleVolumes(base.spec?.volumes ?? [], buildVolumes(settings, config), warnings)
  checkUserMounts(settings, volumes, problems)
  if (problems.length > 0) {
    return { outcome: 'rejected', decision, problems, message: formatProblems(problems), warnings }
  }

  const layout = arrange(settings, containers, initContainers, proxy, init)
  const status: InjectionStatus = {
    initContainers: layout.injectedInit.length > 0 ? layout.injectedInit : null,
    containers: settings.native ? null : [proxyName],
    volumes: volumes.injected,
    imagePullSecrets: null,
    revision: config.revision === '' ? 'default' : config.revision
  }
  const injected: Pod = {
    ...base,
    metadata: {
      ...base.metadata,
      labels: injectLabels(base, findWorkload(pod, namespace).name),
      annotations: injectAnnotations(merged.annotations, layout.containers, config, status, user.overridesJson)
    },
    spec: { ...base.spec, containers: layout.containers, volumes: volumes.all }
  }
  if (layout.initContainers.length > 0 || base.spec?.initContainers !== undefined) {
    injected.spec = { ...injected.spec, containers: layout.containers, initContainers: layout.initContainers }
  }
  return { outcome: 'injected', decision: decision as Decision & { inject: true }, pod: injected, warnings }
}

/** Istio's message shape: `invalid value '<v>' for annotation '<name>': <reason>`, all of them at once. */
export function formatProblems (problems: readonly AnnotationProblem[]): string {
  return problems.map(p => `invalid value '${p.value}' for annotation '${p.annotation}': ${p.reason}`).join('; ')
}

export function readStatus (pod: Pod): InjectionStatus | undefined {
  const text = pod.metadata?.annotations?.[annotations.status]
  if (text === undefined) return undefined
  try {
    const parsed = JSON.parse(text) as Partial<InjectionStatus>
    return {
      initContainers: Array.isArray(parsed.initContainers) ? parsed.initContainers : null,
      containers: Array.isArray(parsed.containers) ? parsed.containers : null,
      volumes: Array.isArray(parsed.volumes) ? parsed.volumes : [],
      imagePullSecrets: Array.isArray(parsed.imagePullSecrets) ? parsed.imagePullSecrets : null,
      revision: typeof parsed.revision === 'string' ? parsed.revision : 'default'
    }
  } catch {
    // An unreadable status still marks an injected pod: strip what we would have injected.
    return { initContainers: [initName, proxyName], containers: [proxyName], volumes: Object.values(volumeNames), imagePullSecrets: null, revision: 'default' }
  }
}

interface Previous {
  pod: Pod
  proberEnv: string
  scrapeEnv: string
}

/** Removes what the status annotation says was injected, remembering what the old proxy carried. */
function stripInjection (pod: Pod): Previous {
  const status = readStatus(pod) as InjectionStatus
  const spec = pod.spec ?? { containers: [] }
  const oldProxy = [...spec.containers, ...(spec.initContainers ?? [])].find(c => c.name === proxyName)
  const env = (name: string): string => oldProxy?.env?.find(e => e.name === name)?.value ?? ''
  const drop = (names: string[] | null) => <T extends { name: string }>(list: T[] | undefined): T[] | undefined =>
    list?.filter(item => !(names ?? []).includes(item.name))
  const { [annotations.status]: _status, ...rest } = pod.metadata?.annotations ?? {}
  const stripped: Pod = {
    ...pod,
    metadata: { ...pod.metadata, annotations: rest },
    spec: {
      ...spec,
      containers: drop(status.containers)(spec.containers) ?? [],
      ...(spec.initContainers !== undefined ? { initContainers: drop(status.initContainers)(spec.initContainers) ?? [] } : {}),
      ...(spec.volumes !== undefined ? { volumes: drop(status.volumes)(spec.volumes) ?? [] } : {})
    }
  }
  if (stripped.spec?.initContainers?.length === 0) delete stripped.spec.initContainers
  if (stripped.spec?.volumes?.length === 0) delete stripped.spec.volumes
  return { pod: stripped, proberEnv: env(proberEnv), scrapeEnv: env(scrapeEnv) }
}

interface UserContainers {
  containers: V1Container[]
  initContainers: V1Container[]
  proxy?: V1Container
  init?: V1Container
  /** The proxy.istio.io/overrides annotation to write (first injection only), or ''. */
  overridesJson: string
}

/**
 * Containers the user declared with the injected names are merged over the injected ones. On first
 * injection they are taken out of the pod and recorded in proxy.istio.io/overrides; on re-injection
 * they come back from that annotation.
 */
function takeUserOverrides (pod: Pod, reinjection: boolean, problems: AnnotationProblem[]): UserContainers {
  const containers = pod.spec?.containers ?? []
  const initContainers = pod.spec?.initContainers ?? []
  const out: UserContainers = {
    containers: containers.filter(c => c.name !== proxyName),
    initContainers: initContainers.filter(c => c.name !== proxyName && c.name !== initName),
    overridesJson: ''
  }
  let recorded: { containers?: V1Container[], initContainers?: V1Container[] } = {}
  if (reinjection) {
    const text = pod.metadata?.annotations?.[annotations.overrides]
    if (text !== undefined) {
      try {
        recorded = JSON.parse(text) as typeof recorded
      } catch {
        problems.push({ annotation: annotations.overrides, value: text, reason: 'must be JSON' })
      }
    }
  } else {
    const userProxy = containers.filter(c => c.name === proxyName)
    const userInit = initContainers.filter(c => c.name === proxyName || c.name === initName)
    if (userProxy.length > 0) recorded.containers = userProxy
    if (userInit.length > 0) recorded.initContainers = userInit
    if (userProxy.length + userInit.length > 0) out.overridesJson = JSON.stringify(recorded)
  }
  const all = [...(recorded.containers ?? []), ...(recorded.initContainers ?? [])]
  const proxy = all.find(c => c.name === proxyName)
  const init = all.find(c => c.name === initName)
  if (proxy !== undefined) out.proxy = proxy
  if (init !== undefined) out.init = init
  return out
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
  if (isPlainObject(base) && isPlainObject(over)) {
    const out: Record<string, unknown> = { ...base }
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? mergeValue(base[k], v, k) : v
    return out
  }
  return over
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function mergeProbers (previousJson: string, probers: AppProbers): string {
  let previous: AppProbers = {}
  if (previousJson !== '') {
    try { previous = JSON.parse(previousJson) as AppProbers } catch { previous = {} }
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
  injectedInit: string[]
}

/**
 * Classic: the proxy is the last container (first with hold, so kubelet starts it first), and
 * istio-init is the last init container, so user init containers keep their network.
 * Native: istio-init, then the proxy as an init container with restartPolicy Always, then the user's
 * init containers, which so get mesh networking (istio-semantics.md §3.1).
 */
function arrange (settings: SidecarSettings, containers: V1Container[], initContainers: V1Container[], proxy: V1Container, init: V1Container | undefined): Layout {
  const initList = init === undefined ? [] : [init]
  if (settings.native) {
    const nativeProxy: V1Container = { ...proxy, restartPolicy: 'Always' }
    return {
      containers,
      initContainers: [...initList, nativeProxy, ...initContainers],
      injectedInit: [...initList.map(c => c.name), proxyName]
    }
  }
  return {
    containers: settings.hold ? [proxy, ...containers] : [...containers, proxy],
    initContainers: [...initContainers, ...initList],
    injectedInit: initList.map(c => c.name)
  }
}

/** Labels the mesh's telemetry reads; each keeps a value the pod already has. */
function injectLabels (pod: Pod, workloadName: string): Record<string, string> {
  const current = pod.metadata?.labels ?? {}
  const first = (...values: Array<string | undefined>): string | undefined => values.find(v => v !== undefined && v !== '')
  const canonicalName = (first(current[labels.canonicalName], current[labels.appName], current[labels.app], workloadName) ?? '')
    .slice(0, 63).replace(/^[-_.]+|[-_.]+$/g, '')
  const out: Record<string, string> = { ...current }
  out[labels.tlsMode] ??= 'istio'
  if (canonicalName !== '') out[labels.canonicalName] ??= canonicalName
  out[labels.canonicalRevision] ??= first(current[labels.appVersion], current[labels.version]) ?? 'latest'
  return out
}

function injectAnnotations (
  current: Record<string, string>, containers: V1Container[], config: InjectorConfig, status: InjectionStatus, overridesJson: string
): Record<string, string> {
  const out: Record<string, string> = { ...current }
  out[annotations.rev] = status.revision
  const firstApp = containers.find(c => c.name !== proxyName)
  if (firstApp !== undefined) {
    out[annotations.defaultContainer] ??= firstApp.name
    out[annotations.defaultLogsContainer] ??= firstApp.name
  }
  if (overridesJson !== '') out[annotations.overrides] = overridesJson
  Object.assign(out, config.injectedAnnotations)
  out[annotations.status] = JSON.stringify(status)
  return out
}

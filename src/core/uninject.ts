// uninject(): the exact inverse of inject(). The status annotation names the containers and volumes we
// added (Istio's format) and, in its `restore` key, what we changed: the previous values of labels and
// annotations, the app probes we rewrote, and where user-declared proxy/init containers stood.
// Re-injection is inject(uninject(pod)), so injecting twice equals injecting once. Pods injected by
// Istio itself carry no `restore`: they are stripped as istiod strips them (containers, volumes,
// status), and the probes' originals are carried over from the old proxy.
import type { V1Container, V1PodSecurityContext } from '@kubernetes/client-node'
import { isRecord } from '../shared/records.js'
import { annotations } from './annotations.js'
import { parseJsonAnnotation } from './annotation-value.js'
import { checkShape, containerShape, podSecurityContextShape } from './pod-shape.js'
import { grpcVolumeNames, initName, proxyName, volumeNames } from './sidecar.js'
import { grpcBootstrapInitName } from './profiles.js'
import type { Pod } from './types.js'

type Handler = Record<string, unknown>

/** What inject() changed besides adding containers and volumes. */
export interface Restore {
  /** label → its value before injection, or null when it was absent. */
  labels?: Record<string, string | null>
  annotations?: Record<string, string | null>
  /** container → probe or lifecycle hook (readinessProbe, preStop, …) → the handler before rewriting. */
  probes?: Record<string, Record<string, Handler>>
  /**
   * Where the containers recorded in proxy.istio.io/overrides stood, to put them back: list, index,
   * name (found by name, in native mode under the other list: istiod records the proxy under
   * initContainers) and the `image` left out of the annotation with the position of its key. The
   * user's own istio-proxy / istio-init, and the app containers a gRPC profile changed. Without a name
   * (older records), the next one of the list.
   */
  overrides?: Array<{ list: 'containers' | 'initContainers', index: number, name?: string, image?: { value: string, at: number } }>
  /** The pod's securityContext before a gateway's sysctl was set (null: absent). */
  securityContext?: V1PodSecurityContext | null
  /**
   * What a pod injected by istiod carried into our first injection, so that the next one carries it
   * again: the old proxy's app probers and scrape annotations, and (overrides: true) user overrides
   * that live only in proxy.istio.io/overrides.
   */
  carried?: { probers?: string, scrape?: string, overrides?: true }
}

/** The status annotation: Istio's keys, in Istio's order, plus `restore`. */
export interface InjectionStatus {
  initContainers: string[] | null
  containers: string[] | null
  volumes: string[]
  imagePullSecrets: string[] | null
  revision: string
  /** Who injected: `sidecar-injector/<version>` (absent on Istio's pods and on our older ones). */
  injector?: string
  /** digestInjection() of what was injected (absent on Istio's pods and on our older ones). */
  digest?: string
  restore?: Restore
}

export function readStatus (pod: Pod): InjectionStatus | undefined {
  const text = pod.metadata?.annotations?.[annotations.status]
  if (text === undefined) return undefined
  const value = parseJsonAnnotation(text)
  // An unreadable status still marks an injected pod: strip what we would have injected.
  if (!value.ok || !isRecord(value.value)) {
    return {
      initContainers: [initName, proxyName, grpcBootstrapInitName],
      containers: [proxyName],
      volumes: [...Object.values(volumeNames), ...Object.values(grpcVolumeNames)],
      imagePullSecrets: null,
      revision: 'default'
    }
  }
  const parsed = value.value as Partial<InjectionStatus>
  const status: InjectionStatus = {
    initContainers: Array.isArray(parsed.initContainers) ? parsed.initContainers : null,
    containers: Array.isArray(parsed.containers) ? parsed.containers : null,
    volumes: Array.isArray(parsed.volumes) ? parsed.volumes : [],
    imagePullSecrets: Array.isArray(parsed.imagePullSecrets) ? parsed.imagePullSecrets : null,
    revision: typeof parsed.revision === 'string' ? parsed.revision : 'default'
  }
  if (typeof parsed.injector === 'string') status.injector = parsed.injector
  if (typeof parsed.digest === 'string') status.digest = parsed.digest
  const restore = wellShaped(parsed.restore)
  if (restore !== undefined) status.restore = restore
  return status
}

/**
 * The parts of a `restore` record that have the shape inject() writes. Anyone may edit the annotation;
 * a part of another shape is dropped rather than trusted, so uninject never throws on it.
 */
function wellShaped (value: unknown): Restore | undefined {
  if (!isRecord(value)) return undefined
  const out: Restore = {}
  const previous = (v: unknown): v is Record<string, string | null> =>
    isRecord(v) && Object.values(v).every(x => typeof x === 'string' || x === null)
  if (previous(value.labels)) out.labels = value.labels
  if (previous(value.annotations)) out.annotations = value.annotations
  if (isRecord(value.probes) && Object.values(value.probes).every(c => isRecord(c) && Object.values(c).every(isRecord))) {
    out.probes = value.probes as NonNullable<Restore['probes']>
  }
  const atIndex = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0
  if (Array.isArray(value.overrides) && value.overrides.every(o => isRecord(o) &&
      (o.list === 'containers' || o.list === 'initContainers') && atIndex(o.index) &&
      (o.name === undefined || typeof o.name === 'string') &&
      (o.image === undefined || (isRecord(o.image) && typeof o.image.value === 'string' && atIndex(o.image.at))))) {
    out.overrides = value.overrides as NonNullable<Restore['overrides']>
  }
  if (value.securityContext === null) out.securityContext = null
  else if (checkShape(value.securityContext, podSecurityContextShape, '').ok) out.securityContext = value.securityContext as V1PodSecurityContext
  const c = value.carried
  if (isRecord(c) && (c.probers === undefined || typeof c.probers === 'string') &&
      (c.scrape === undefined || typeof c.scrape === 'string') && (c.overrides === undefined || c.overrides === true)) {
    out.carried = c as NonNullable<Restore['carried']>
  }
  return out
}

export interface Uninjected {
  pod: Pod
  /** Whether the pod carried our restore record (an exact inverse) or was stripped Istio's way. */
  exact: boolean
  /** The old proxy's ISTIO_KUBE_APP_PROBERS and ISTIO_PROMETHEUS_ANNOTATIONS (istiod's pods), or what restore carried. */
  carried: { probers: string, scrape: string }
  /** Whether the user's proxy overrides are to be read from proxy.istio.io/overrides (istiod's pods, and ours made from them). */
  overridesFromAnnotation: boolean
}

/** Returns the pod as it was before injection; a pod without the status annotation comes back as it is. */
export function uninject (pod: Pod): Uninjected {
  const status = readStatus(pod)
  const none = { probers: '', scrape: '' }
  if (status === undefined) return { pod, exact: true, carried: none, overridesFromAnnotation: false }
  const spec = pod.spec ?? { containers: [] }
  // An absent list is empty (the pod shape allows it; the API server would refuse the pod later).
  const specContainers = spec.containers ?? []
  const oldProxy = [...specContainers, ...(spec.initContainers ?? [])].find(c => c.name === proxyName)
  const env = (name: string): string => oldProxy?.env?.find(e => e.name === name)?.value ?? ''
  const restore = status.restore
  const drop = <T extends { name: string }>(names: string[] | null, list: T[]): T[] => list.filter(item => !(names ?? []).includes(item.name))

  let containers = drop(status.containers, specContainers)
  let initContainers = drop(status.initContainers, spec.initContainers ?? [])
  const volumes = drop(status.volumes, spec.volumes ?? [])
  if (restore?.probes !== undefined) {
    containers = containers.map(c => restoreProbes(c, restore.probes ?? {}))
    initContainers = initContainers.map(c => restoreProbes(c, restore.probes ?? {}))
  }
  const lists = { containers, initContainers }
  if (restore?.overrides !== undefined) putBackOverrides(pod, restore.overrides, lists)
  // istiod lists the app containers its gRPC templates changed as injected, and keeps their originals in
  // proxy.istio.io/overrides; it appends them back before injecting again (webhook.go reinsertOverrides).
  if (restore === undefined) lists.containers = [...lists.containers, ...recordedApps(pod, lists.containers)]

  const out: Pod = {
    ...pod,
    metadata: {
      ...pod.metadata,
      ...restoreMap('labels', pod.metadata?.labels, restore?.labels),
      ...restoreMap('annotations', pod.metadata?.annotations, { ...restore?.annotations, [annotations.status]: null })
    },
    spec: { ...spec, containers: lists.containers }
  }
  const meta = out.metadata as NonNullable<Pod['metadata']>
  if (meta.labels === undefined) delete meta.labels
  if (meta.annotations === undefined) delete meta.annotations
  const outSpec = out.spec as NonNullable<Pod['spec']>
  if (restore !== undefined && Object.hasOwn(restore, 'securityContext')) {
    if (restore.securityContext === null || restore.securityContext === undefined) delete outSpec.securityContext
    else outSpec.securityContext = restore.securityContext
  }
  if (lists.initContainers.length > 0 || (spec.initContainers !== undefined && restore === undefined)) outSpec.initContainers = lists.initContainers
  else delete outSpec.initContainers
  if (volumes.length > 0 || (spec.volumes !== undefined && restore === undefined)) outSpec.volumes = volumes
  else delete outSpec.volumes
  if (restore === undefined) {
    return { pod: out, exact: false, carried: { probers: env('ISTIO_KUBE_APP_PROBERS'), scrape: env('ISTIO_PROMETHEUS_ANNOTATIONS') }, overridesFromAnnotation: true }
  }
  const carried = restore.carried ?? {}
  return { pod: out, exact: true, carried: { probers: carried.probers ?? '', scrape: carried.scrape ?? '' }, overridesFromAnnotation: carried.overrides === true }
}

/** Puts previous values back; a key recorded as null was absent, and a map left empty was absent. */
function restoreMap (
  field: 'labels' | 'annotations', current: Record<string, string> | undefined, previous: Record<string, string | null> | undefined
): Partial<Record<'labels' | 'annotations', Record<string, string>>> {
  if (current === undefined) return {}
  const out: Record<string, string> = { ...current }
  for (const [key, value] of Object.entries(previous ?? {})) {
    if (value === null) delete out[key]
    else out[key] = value
  }
  // Everything we add to a map is recorded, so an empty map after restoring was an absent map.
  return Object.keys(out).length > 0 ? { [field]: out } : { [field]: undefined }
}

function restoreProbes (container: V1Container, probes: Record<string, Record<string, Handler>>): V1Container {
  const originals = probes[container.name]
  if (originals === undefined) return container
  const out: Record<string, unknown> = { ...container }
  for (const [kind, recorded] of Object.entries(originals)) {
    if (kind === 'preStop' || kind === 'postStart') {
      const lifecycle = isRecord(out.lifecycle) ? out.lifecycle : {}
      out.lifecycle = { ...lifecycle, [kind]: restoreHandler(lifecycle[kind], recorded) }
    } else out[kind] = restoreHandler(out[kind], recorded)
  }
  return out as unknown as V1Container
}

/**
 * The handler before its rewrite, from the rewritten one and the replaced fields inject() recorded.
 * Older status annotations recorded the whole handler; merging it the same way gives the same result.
 */
function restoreHandler (current: unknown, recorded: Handler): Handler {
  const out: Handler = isRecord(current) ? { ...current } : {}
  // tcpSocket and grpc actions were turned into an httpGet on the agent.
  if (recorded.tcpSocket !== undefined || recorded.grpc !== undefined) delete out.httpGet
  for (const [key, value] of Object.entries(recorded)) {
    if (key === 'httpGet' && isRecord(value) && isRecord(out.httpGet)) {
      const { path: _path, port: _port, scheme: _scheme, ...kept } = out.httpGet
      out.httpGet = { ...value, ...kept }
    } else out[key] = value
  }
  return out
}

export interface RecordedOverrides { containers?: V1Container[], initContainers?: V1Container[] }

const overridesShape = { fields: { containers: { list: containerShape }, initContainers: { list: containerShape } } }

/** proxy.istio.io/overrides, read with the bounds of any annotation and the shape of the pod's own containers. */
export function readOverrides (text: string): { ok: true, value: RecordedOverrides } | { ok: false, reason: string } {
  const parsed = parseJsonAnnotation(text)
  if (!parsed.ok) return { ok: false, reason: `${parsed.reason}; must be JSON` }
  const checked = checkShape<RecordedOverrides>(parsed.value, overridesShape, '')
  if (!checked.ok) {
    const where = checked.path === '' ? 'the value' : checked.path
    return { ok: false, reason: `must be {"containers": [...], "initContainers": [...]} of containers (${where} is not ${checked.expected})` }
  }
  return { ok: true, value: checked.value }
}

/** The user's istio-proxy / istio-init, as recorded in proxy.istio.io/overrides, back where they stood. */
function putBackOverrides (pod: Pod, places: NonNullable<Restore['overrides']>, lists: { containers: V1Container[], initContainers: V1Container[] }): void {
  const text = pod.metadata?.annotations?.[annotations.overrides]
  if (text === undefined) return
  const recorded = readOverrides(text)
  // An edited, unreadable annotation: the containers cannot be put back (inject() refuses the pod).
  if (!recorded.ok) return
  const queue = { containers: [...recorded.value.containers ?? []], initContainers: [...recorded.value.initContainers ?? []] }
  const take = (list: 'containers' | 'initContainers', name: string | undefined): V1Container | undefined => {
    if (name === undefined) return queue[list].shift()
    // By name; in native mode istiod's layout records the proxy under the other list.
    const from = queue[list].some(c => c.name === name) ? list : list === 'containers' ? 'initContainers' : 'containers'
    const at = queue[from].findIndex(c => c.name === name)
    return at < 0 ? undefined : queue[from].splice(at, 1)[0]
  }
  // Named places go back lowest index first, so that each stands where it stood among those already back
  // (older, unnamed records were written in that order).
  const ordered = places.every(p => p.name !== undefined) ? [...places].sort((x, y) => x.index - y.index) : places
  for (const { list, index, name, image } of ordered) {
    let item = take(list, name)
    if (item === undefined) continue
    if (image !== undefined) item = withKeyAt(item, 'image', image.value, image.at)
    lists[list] = [...lists[list].slice(0, index), item, ...lists[list].slice(index)]
  }
}

/** The container with `key: value` put back as its `at`-th key, where it was written. */
function withKeyAt (c: V1Container, key: string, value: unknown, at: number): V1Container {
  const entries = Object.entries(c).filter(([k]) => k !== key)
  entries.splice(Math.min(at, entries.length), 0, [key, value])
  return Object.fromEntries(entries) as unknown as V1Container
}

/** The app containers of an istiod-injected pod kept in proxy.istio.io/overrides and missing from the pod. */
function recordedApps (pod: Pod, containers: V1Container[]): V1Container[] {
  const text = pod.metadata?.annotations?.[annotations.overrides]
  if (text === undefined) return []
  const recorded = readOverrides(text)
  if (!recorded.ok) return []
  return (recorded.value.containers ?? []).filter(c => c.name !== proxyName && !containers.some(k => k.name === c.name))
}

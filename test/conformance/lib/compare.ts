// Semantic comparison of two injected pod templates (ours and Istio's), property by property. Both
// sides are normalised first so that only meaning counts: nulls and empty values are dropped (Go's
// structs and our objects write absence differently), quantities are compared by value (Go
// canonicalises 2000m to 2), and JSON carried in strings (env values, annotations) is compared as data.
import { isDeepStrictEqual } from 'node:util'

type Obj = Record<string, unknown>

/** The properties of the agreement table, in the order it prints them. */
export const properties = [
  'outcome', 'containers', 'initContainers', 'image', 'args', 'env', 'volumeMounts', 'ports', 'probes',
  'resources', 'securityContext', 'lifecycle', 'volumes', 'labels', 'annotations', 'other'
] as const
export type Property = typeof properties[number]

export interface Difference {
  property: Property
  /** What differs, e.g. `istio-proxy ISTIO_META_OWNER` (the allow-list matches on `<property> <detail>`). */
  detail: string
  ours: unknown
  istio: unknown
}

/** What a path produced for one pod template: injected (metadata and spec), skipped or rejected. */
export type Outcome =
  | { outcome: 'injected', template: { metadata?: Obj, spec?: Obj } }
  | { outcome: 'skipped' | 'rejected', message: string }

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 }
const decimal: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 }

/** A Kubernetes quantity as a number (2000m → 2, 1024Mi → 1073741824), or the text when not a quantity. */
export function quantityValue (q: unknown): unknown {
  if (typeof q === 'number') return q
  if (typeof q !== 'string') return q
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE]?)$/.exec(q.trim())
  if (m === null) return q
  const [, num = '', suffix = ''] = m
  const scale = binary[suffix] ?? decimal[suffix] ?? (/^[eE]/.test(suffix) ? 10 ** Number(suffix.slice(1)) : 1)
  return Number((Number(num) * scale).toPrecision(15))
}

function parseJsonText (text: string): unknown {
  if (!/^\s*[[{]/.test(text)) return text
  try {
    return normalise(JSON.parse(text), 'json') ?? {}
  } catch {
    return text
  }
}

const probeKeys = new Set(['readinessProbe', 'livenessProbe', 'startupProbe'])

/**
 * Drops nulls, empty strings and empty maps/lists (an emptyDir stays: `{}` is its meaning), recursively,
 * as Go's omitempty does; label and annotation values are kept as they are.
 */
export function normalise (value: unknown, key = ''): unknown {
  if (value === '' && key !== 'map') return undefined
  if (Array.isArray(value)) {
    // List items keep their empty strings (`-x ""` is an argument).
    const items = value.map(v => v === '' ? v : normalise(v)).filter(v => v !== undefined)
    return items.length === 0 ? undefined : items
  }
  if (isObj(value)) {
    const out: Obj = {}
    for (const [k, v] of Object.entries(value)) {
      if (k === 'creationTimestamp') continue
      let n = normalise(v, key === 'labels' || key === 'annotations' ? 'map' : k)
      if ((k === 'requests' || k === 'limits') && isObj(n)) n = Object.fromEntries(Object.entries(n).map(([r, q]) => [r, quantityValue(q)]))
      if (k === 'divisor') n = quantityValue(n)
      // Defaults the API server fills in, which Go's omitempty and our objects write differently:
      // zero probe timings (int32 without a pointer), fieldRef apiVersion v1, httpGet scheme HTTP.
      if (probeKeys.has(key) && n === 0) continue
      if (key === 'fieldRef' && k === 'apiVersion' && n === 'v1') continue
      if (key === 'httpGet' && k === 'scheme' && n === 'HTTP') continue
      if (k === 'readOnly' && n === false) continue
      if (n !== undefined) out[k] = n
    }
    if (Object.keys(out).length === 0) return key === 'emptyDir' ? {} : undefined
    return out
  }
  return value ?? undefined
}

const containerProperty: Record<string, Property> = {
  image: 'image',
  command: 'args',
  args: 'args',
  env: 'env',
  volumeMounts: 'volumeMounts',
  ports: 'ports',
  readinessProbe: 'probes',
  livenessProbe: 'probes',
  startupProbe: 'probes',
  resources: 'resources',
  securityContext: 'securityContext',
  lifecycle: 'lifecycle'
}

function byName (list: unknown): Map<string, Obj> {
  const out = new Map<string, Obj>()
  if (Array.isArray(list)) for (const item of list) if (isObj(item)) out.set(String(item.name), item)
  return out
}

/** A volume with no source is an emptyDir: the API server defaults it so (Istio's kube-inject writes them so). */
function volumesByName (list: unknown): Map<string, Obj> {
  const out = byName(list)
  for (const [name, v] of out) if (Object.keys(v).length === 1) out.set(name, { ...v, emptyDir: {} })
  return out
}

function envValue (e: Obj): unknown {
  if (e.valueFrom !== undefined) return { valueFrom: e.valueFrom }
  return typeof e.value === 'string' ? parseJsonText(e.value) : e.value
}

function compareContainer (where: string, ours: Obj, istio: Obj, out: Difference[]): void {
  const keys = new Set([...Object.keys(ours), ...Object.keys(istio)])
  for (const key of keys) {
    if (key === 'name') continue
    const property = containerProperty[key] ?? 'other'
    if (key === 'env') {
      const a = byName(ours.env)
      const b = byName(istio.env)
      for (const name of new Set([...a.keys(), ...b.keys()])) {
        const x = a.has(name) ? envValue(a.get(name) ?? {}) : undefined
        const y = b.has(name) ? envValue(b.get(name) ?? {}) : undefined
        if (!isDeepStrictEqual(x, y)) out.push({ property, detail: `${where} ${name}`, ours: x, istio: y })
      }
      continue
    }
    if (key === 'volumeMounts') {
      const a = byName(ours.volumeMounts)
      const b = byName(istio.volumeMounts)
      for (const name of new Set([...a.keys(), ...b.keys()])) {
        if (!isDeepStrictEqual(a.get(name), b.get(name))) out.push({ property, detail: `${where} ${name}`, ours: a.get(name), istio: b.get(name) })
      }
      continue
    }
    if (!isDeepStrictEqual(ours[key], istio[key])) out.push({ property, detail: `${where} ${key}`, ours: ours[key], istio: istio[key] })
  }
}

function compareMap (property: 'labels' | 'annotations', ours: unknown, istio: unknown, out: Difference[]): void {
  const a = isObj(ours) ? ours : {}
  const b = isObj(istio) ? istio : {}
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    let x = typeof a[key] === 'string' ? parseJsonText(a[key]) : a[key]
    const y = typeof b[key] === 'string' ? parseJsonText(b[key]) : b[key]
    // Our status annotation carries one key Istio's has not: `restore`, what uninject needs.
    if (key === 'sidecar.istio.io/status' && isObj(x) && typeof a[key] === 'string' && /"restore":/.test(a[key])) {
      const { restore, ...rest } = x
      out.push({ property, detail: `${key} restore`, ours: restore ?? {}, istio: undefined })
      x = rest
    }
    if (!isDeepStrictEqual(x, y)) out.push({ property, detail: key, ours: x, istio: y })
  }
}

/** Every difference between our outcome and Istio's for one pod template. */
export function compareOutcomes (ours: Outcome, istio: Outcome): Difference[] {
  if (ours.outcome !== istio.outcome) {
    return [{
      property: 'outcome',
      detail: `${ours.outcome} vs ${istio.outcome}`,
      ours: ours.outcome === 'injected' ? 'injected' : ours.message,
      istio: istio.outcome === 'injected' ? 'injected' : istio.message
    }]
  }
  if (ours.outcome !== 'injected' || istio.outcome !== 'injected') return []
  const a = normalise(ours.template) as { metadata?: Obj, spec?: Obj } | undefined ?? {}
  const b = normalise(istio.template) as { metadata?: Obj, spec?: Obj } | undefined ?? {}
  const out: Difference[] = []
  for (const list of ['containers', 'initContainers'] as const) {
    const x = byName(a.spec?.[list])
    const y = byName(b.spec?.[list])
    const namesX = [...x.keys()]
    const namesY = [...y.keys()]
    if (!isDeepStrictEqual(namesX, namesY)) out.push({ property: list, detail: 'names and order', ours: namesX, istio: namesY })
    for (const name of namesX.filter(n => y.has(n))) compareContainer(name, x.get(name) ?? {}, y.get(name) ?? {}, out)
  }
  const vx = volumesByName(a.spec?.volumes)
  const vy = volumesByName(b.spec?.volumes)
  for (const name of new Set([...vx.keys(), ...vy.keys()])) {
    if (!isDeepStrictEqual(vx.get(name), vy.get(name))) out.push({ property: 'volumes', detail: name, ours: vx.get(name), istio: vy.get(name) })
  }
  compareMap('labels', a.metadata?.labels, b.metadata?.labels, out)
  compareMap('annotations', a.metadata?.annotations, b.metadata?.annotations, out)
  for (const key of new Set([...Object.keys(a.spec ?? {}), ...Object.keys(b.spec ?? {})])) {
    if (['containers', 'initContainers', 'volumes'].includes(key)) continue
    const property: Property = key === 'securityContext' ? 'securityContext' : 'other'
    if (!isDeepStrictEqual(a.spec?.[key], b.spec?.[key])) out.push({ property, detail: `spec.${key}`, ours: a.spec?.[key], istio: b.spec?.[key] })
  }
  for (const key of new Set([...Object.keys(a.metadata ?? {}), ...Object.keys(b.metadata ?? {})])) {
    if (key === 'labels' || key === 'annotations') continue
    if (!isDeepStrictEqual(a.metadata?.[key], b.metadata?.[key])) out.push({ property: 'other', detail: `metadata.${key}`, ours: a.metadata?.[key], istio: b.metadata?.[key] })
  }
  return out
}

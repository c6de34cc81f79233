// What differs between the sidecar a pod runs and the one the injector would give it today. The
// stored pod went through the API server, which defaults fields (imagePullPolicy, protocol,
// terminationMessagePath, probe timings) and lets admission plugins add mounts; so only fields the
// API server leaves alone, or that are normalised here (resource quantities), are compared.
import type { V1Container, V1EnvVar, V1ResourceRequirements } from '@kubernetes/client-node'
import { initName, proxyName } from '../core/sidecar.js'
import type { Pod } from '../core/types.js'

/** One difference, named by container and field (values only for images: env values may be secret). */
export interface Difference {
  container: string
  field: 'presence' | 'placement' | 'image' | 'command' | 'args' | 'resources' | 'env' | 'ports' | 'securityContext' | 'volumes'
  detail: string
}

type Placement = 'containers' | 'initContainers'

function find (pod: Pod, name: string): { container: V1Container, placement: Placement } | undefined {
  const init = pod.spec?.initContainers?.find(c => c.name === name)
  if (init !== undefined) return { container: init, placement: 'initContainers' }
  const main = pod.spec?.containers.find(c => c.name === name)
  return main === undefined ? undefined : { container: main, placement: 'containers' }
}

export function compareInjection (running: Pod, today: Pod, injectedVolumes: { running: readonly string[], today: readonly string[] }): Difference[] {
  const out: Difference[] = []
  for (const name of [proxyName, initName]) {
    const a = find(running, name)
    const b = find(today, name)
    if (a === undefined && b === undefined) continue
    if (a === undefined || b === undefined) {
      out.push({ container: name, field: 'presence', detail: a === undefined ? 'would be added' : 'would be removed' })
      continue
    }
    if (name === proxyName && a.placement !== b.placement) {
      out.push({ container: name, field: 'placement', detail: b.placement === 'initContainers' ? 'classic → native sidecar' : 'native → classic sidecar' })
    }
    out.push(...compareContainer(name, a.container, b.container))
  }
  const before = [...injectedVolumes.running].sort().join(',')
  const after = [...injectedVolumes.today].sort().join(',')
  if (before !== after) out.push({ container: '', field: 'volumes', detail: `injected volumes ${before} → ${after}` })
  return out
}

function compareContainer (name: string, a: V1Container, b: V1Container): Difference[] {
  const out: Difference[] = []
  const differ = (field: Difference['field'], x: unknown, y: unknown, detail: string): void => {
    if (JSON.stringify(x ?? null) !== JSON.stringify(y ?? null)) out.push({ container: name, field, detail })
  }
  differ('image', a.image, b.image, `${a.image ?? '(none)'} → ${b.image ?? '(none)'}`)
  differ('command', a.command, b.command, 'command')
  differ('args', a.args, b.args, 'args')
  differ('resources', normaliseResources(a.resources), normaliseResources(b.resources), 'requests/limits')
  const envA = envMap(a.env)
  const envB = envMap(b.env)
  const names = [...new Set([...envA.keys(), ...envB.keys()])].filter(n => envA.get(n) !== envB.get(n)).sort()
  if (names.length > 0) out.push({ container: name, field: 'env', detail: names.join(', ') })
  const ports = (c: V1Container): string => (c.ports ?? []).map(p => `${p.name ?? ''}:${p.containerPort}`).sort().join(',')
  differ('ports', ports(a), ports(b), 'ports')
  const security = (c: V1Container): unknown => {
    const s = c.securityContext
    return s === undefined ? null : { user: s.runAsUser, group: s.runAsGroup, nonRoot: s.runAsNonRoot, privileged: s.privileged, add: s.capabilities?.add, drop: s.capabilities?.drop }
  }
  differ('securityContext', security(a), security(b), 'securityContext')
  return out
}

/** Env as name → value or reference; the API server defaults fieldRef.apiVersion, which is ignored. */
function envMap (env: V1EnvVar[] | undefined): Map<string, string> {
  return new Map((env ?? []).map(e => {
    const from = e.valueFrom
    const ref = from?.fieldRef?.fieldPath ?? from?.resourceFieldRef?.resource ?? from?.secretKeyRef?.key ?? from?.configMapKeyRef?.key
    return [e.name, from === undefined ? `=${e.value ?? ''}` : `<${ref ?? '?'}`]
  }))
}

function normaliseResources (r: V1ResourceRequirements | undefined): unknown {
  const side = (list: Record<string, string> | undefined): Record<string, number> =>
    Object.fromEntries(Object.entries(list ?? {}).map(([k, v]) => [k, parseQuantity(v)]).sort(([x], [y]) => String(x).localeCompare(String(y))))
  return { requests: side(r?.requests), limits: side(r?.limits) }
}

const suffixes: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60
}

/** A Kubernetes quantity as a number: the API server rewrites "0.1" as "100m", "1024Mi" as "1Gi". */
export function parseQuantity (text: string): number {
  const match = /^([+-]?[0-9.]+)(?:[eE]([+-]?\d+))?([a-zA-Z]*)$/.exec(text.trim())
  if (match === null) return Number.NaN
  const factor = suffixes[match[3] ?? '']
  if (factor === undefined) return Number.NaN
  return Number(match[1]) * 10 ** Number(match[2] ?? 0) * factor
}

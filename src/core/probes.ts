// Application probe rewriting (docs/istio-compatibility.md): with mTLS the kubelet cannot reach the app's
// HTTP, TCP or gRPC probes through the sidecar, so they are pointed at the agent's status port, which
// calls the original probe from inside the pod. The originals go to the proxy in ISTIO_KUBE_APP_PROBERS.
import type { V1Container, V1LifecycleHandler, V1Probe } from '@kubernetes/client-node'
import { proxyName } from './sidecar.js'

type ProbeKind = 'readinessProbe' | 'livenessProbe' | 'startupProbe'
type HookKind = 'preStop' | 'postStart'

const probeTargets: ReadonlyArray<[ProbeKind, string]> = [
  ['readinessProbe', 'readyz'], ['livenessProbe', 'livez'], ['startupProbe', 'startupz']
]
const hookTargets: ReadonlyArray<[HookKind, string]> = [['preStop', 'prestopz'], ['postStart', 'poststartz']]

/** The originals, keyed by the agent path that now serves them. */
export type AppProbers = Record<string, Record<string, unknown>>

/**
 * Rewrites every container of the list except the proxy; containers with nothing to rewrite are
 * returned as the same objects, so the patch can skip them cheaply.
 */
export function rewriteProbes (
  containers: readonly V1Container[], statusPort: number, probers: AppProbers, originals: Originals
): V1Container[] {
  return containers.map(c => c.name === proxyName ? c : rewriteContainer(c, statusPort, probers, originals))
}

/** container → probe or hook → the handler before rewriting, so uninject can put it back exactly. */
export type Originals = Record<string, Record<string, Record<string, unknown>>>

function rewriteContainer (container: V1Container, statusPort: number, probers: AppProbers, originals: Originals): V1Container {
  let out = container
  const record = (kind: string, handler: Handler): void => {
    originals[container.name] = { ...originals[container.name], [kind]: replacedPart(handler) }
  }
  const copy = (): V1Container => (out === container ? (out = { ...container }) : out)
  for (const [kind, suffix] of probeTargets) {
    const probe = container[kind]
    if (probe === undefined) continue
    const path = `/app-health/${container.name}/${suffix}`
    const rewritten = rewriteHandler(probe, container, statusPort, path, probers)
    if (rewritten !== undefined) {
      record(kind, probe)
      copy()[kind] = rewritten
    }
  }
  for (const [kind, suffix] of hookTargets) {
    const hook = container.lifecycle?.[kind]
    if (hook === undefined) continue
    const path = `/app-lifecycle/${container.name}/${suffix}`
    const rewritten = rewriteHandler(hook, container, statusPort, path, probers)
    if (rewritten !== undefined) {
      record(kind, hook)
      const c = copy()
      c.lifecycle = { ...c.lifecycle, [kind]: rewritten }
    }
  }
  return out
}

type Handler = V1Probe | V1LifecycleHandler

/**
 * What uninject needs to undo a rewrite: only the fields the rewrite replaced (httpGet's path, port
 * and scheme, or the whole tcpSocket/grpc action). The rest of the handler stays in the pod, so the
 * status annotation does not carry a second copy of, say, a probe's headers: the answer grows with
 * what injection changes, not with the size of the pod's probes.
 */
function replacedPart (handler: Handler): Record<string, unknown> {
  if (handler.httpGet !== undefined) {
    const { path, port, scheme } = handler.httpGet
    return { httpGet: { ...(path === undefined ? {} : { path }), port, ...(scheme === undefined ? {} : { scheme }) } }
  }
  if (handler.tcpSocket !== undefined) return { tcpSocket: handler.tcpSocket }
  if ('grpc' in handler && handler.grpc !== undefined) return { grpc: handler.grpc }
  return {}
}

/** Returns the rewritten copy of the handler, or undefined to leave it as it is. */
function rewriteHandler<H extends Handler> (handler: H, container: V1Container, statusPort: number, path: string, probers: AppProbers): H | undefined {
  const timeout = 'timeoutSeconds' in handler && handler.timeoutSeconds !== undefined ? { timeoutSeconds: handler.timeoutSeconds } : {}
  if (handler.httpGet !== undefined) {
    const port = resolvePort(handler.httpGet.port, container)
    // Already pointing at the agent: rewritten before (re-injection) or written that way by hand.
    if (port === statusPort) return undefined
    if (port !== undefined) probers[path] = { httpGet: inGoOrder({ ...handler.httpGet, port }), ...timeout }
    // The agent makes the HTTPS call itself; the kubelet talks plain HTTP to the agent.
    const { scheme: _scheme, ...rest } = handler.httpGet
    return { ...handler, httpGet: { ...rest, path, port: statusPort } }
  }
  if (handler.tcpSocket !== undefined) {
    const port = resolvePort(handler.tcpSocket.port, container)
    if (port !== undefined) probers[path] = { tcpSocket: { ...handler.tcpSocket, port }, ...timeout }
    const { tcpSocket: _tcp, ...rest } = handler
    return { ...rest, httpGet: { path, port: statusPort } } as H
  }
  if ('grpc' in handler && handler.grpc !== undefined) {
    probers[path] = { grpc: { ...handler.grpc }, ...timeout }
    const { grpc: _grpc, ...rest } = handler
    return { ...rest, httpGet: { path, port: statusPort } } as H
  }
  return undefined
}

const httpGetOrder = ['path', 'port', 'host', 'scheme', 'httpHeaders']

/**
 * httpGet's fields in the order of the Go struct (how the API server and istiod write them), so that
 * ISTIO_KUBE_APP_PROBERS does not depend on the order a manifest or a restored probe has its keys in:
 * re-injection then writes the same string.
 */
function inGoOrder (httpGet: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of httpGetOrder) if (httpGet[key] !== undefined) out[key] = httpGet[key]
  for (const [key, value] of Object.entries(httpGet)) if (!httpGetOrder.includes(key)) out[key] = value
  return out
}

/** A named port is resolved against the container's own ports; an unknown name resolves to nothing. */
function resolvePort (port: unknown, container: V1Container): number | undefined {
  if (typeof port === 'number') return port
  if (typeof port === 'string' && /^\d+$/.test(port)) return Number(port)
  return container.ports?.find(p => p.name === port)?.containerPort
}

/** JSON with sorted keys, as istiod writes it (a marshalled Go map). */
export function serialiseProbers (probers: AppProbers): string {
  const sorted: AppProbers = {}
  for (const key of Object.keys(probers).sort()) sorted[key] = probers[key] as Record<string, unknown>
  return JSON.stringify(sorted)
}

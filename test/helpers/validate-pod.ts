// A structural validator for the pod fields an injection touches, mirroring the API server's rules
// (k8s.io/kubernetes pkg/apis/core/validation): unique container names across containers and
// initContainers, mounts that name existing volumes, ports in range, valid env names and quantities,
// probes and lifecycle only where Kubernetes allows them, valid label and annotation keys.
import type { V1Container, V1Probe } from '@kubernetes/client-node'
import { isValidQuantity } from '../../src/core/validate.js'
import type { Pod } from '../../src/core/types.js'

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const envName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/
const qualifiedName = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/

export function validatePod (pod: Pod): string[] {
  const errors: string[] = []
  const spec = pod.spec
  if (spec === undefined) return ['spec: Required value']
  if (spec.containers.length === 0) errors.push('spec.containers: Required value')
  const volumeNames = new Set<string>()
  for (const [i, v] of (spec.volumes ?? []).entries()) {
    if (!dns1123Label.test(v.name) || v.name.length > 63) errors.push(`spec.volumes[${i}].name: Invalid value: ${v.name}`)
    if (volumeNames.has(v.name)) errors.push(`spec.volumes[${i}].name: Duplicate value: ${v.name}`)
    volumeNames.add(v.name)
    const sources = Object.keys(v).filter(k => k !== 'name')
    if (sources.length !== 1) errors.push(`spec.volumes[${i}]: must specify exactly one volume type, got ${sources.join(',')}`)
  }
  const names = new Set<string>()
  const check = (c: V1Container, at: string, isInit: boolean): void => {
    if (!dns1123Label.test(c.name)) errors.push(`${at}.name: Invalid value: ${c.name}`)
    if (names.has(c.name)) errors.push(`${at}.name: Duplicate value: ${c.name}`)
    names.add(c.name)
    if (c.image === undefined || c.image === '') errors.push(`${at}.image: Required value`)
    const sidecar = isInit && c.restartPolicy === 'Always'
    if (c.restartPolicy !== undefined && !(isInit && c.restartPolicy === 'Always')) {
      errors.push(`${at}.restartPolicy: Forbidden: may only be Always on init containers`)
    }
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
      const p = c[probe]
      if (p === undefined) continue
      if (isInit && !sidecar) errors.push(`${at}.${probe}: Forbidden: may not be set for init containers without restartPolicy=Always`)
      errors.push(...validateProbe(p, `${at}.${probe}`))
    }
    if (c.lifecycle !== undefined && isInit && !sidecar) errors.push(`${at}.lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always`)
    for (const [j, port] of (c.ports ?? []).entries()) {
      if (!Number.isInteger(port.containerPort) || port.containerPort < 1 || port.containerPort > 65535) {
        errors.push(`${at}.ports[${j}].containerPort: Invalid value: ${port.containerPort}`)
      }
    }
    for (const [j, e] of (c.env ?? []).entries()) {
      if (!envName.test(e.name)) errors.push(`${at}.env[${j}].name: Invalid value: ${e.name}`)
      if (e.value !== undefined && e.valueFrom !== undefined) errors.push(`${at}.env[${j}]: may not have both value and valueFrom`)
    }
    for (const [j, m] of (c.volumeMounts ?? []).entries()) {
      if (!volumeNames.has(m.name)) errors.push(`${at}.volumeMounts[${j}].name: Not found: ${m.name}`)
      if (!m.mountPath.startsWith('/')) errors.push(`${at}.volumeMounts[${j}].mountPath: must be absolute`)
    }
    for (const kind of ['requests', 'limits'] as const) {
      for (const [name, q] of Object.entries(c.resources?.[kind] ?? {})) {
        if (!isValidQuantity(String(q))) errors.push(`${at}.resources.${kind}.${name}: Invalid value: ${String(q)}`)
      }
    }
  }
  for (const [i, c] of (spec.initContainers ?? []).entries()) check(c, `spec.initContainers[${i}]`, true)
  for (const [i, c] of spec.containers.entries()) check(c, `spec.containers[${i}]`, false)
  for (const key of [...Object.keys(pod.metadata?.labels ?? {}), ...Object.keys(pod.metadata?.annotations ?? {})]) {
    if (!qualifiedName.test(key)) errors.push(`metadata: Invalid key: ${key}`)
  }
  return errors
}

function validateProbe (probe: V1Probe, at: string): string[] {
  const handlers = ['httpGet', 'tcpSocket', 'grpc', 'exec'].filter(k => (probe as Record<string, unknown>)[k] !== undefined)
  const errors = handlers.length === 1 ? [] : [`${at}: must specify exactly one handler type, got ${handlers.join(',') || 'none'}`]
  const port = probe.httpGet?.port ?? probe.tcpSocket?.port
  if (typeof port === 'number' && (port < 1 || port > 65535)) errors.push(`${at}: port out of range: ${port}`)
  return errors
}

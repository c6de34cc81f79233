// The shape of the parts of a pod the core reads, checked once where a pod comes in (the webhook's
// review and the offline CLI's manifests), so that the core can trust its types. Mutating webhooks
// run before the API server validates the object, so anything a pod author can write arrives here:
// a wrong type anywhere the core reads is refused with the JSON path, never with the value.
// `null` is how the API server (Go's encoding/json) writes an empty list or an absent map, so a null
// field is read as absent: the checked pod leaves it out, and a patch that adds the field with `add`
// replaces the null (RFC 6902 §4.1: add replaces an existing member).
// The walk follows the schema below, not the input, so it recurses at most as deep as the schema.
import type { Pod } from './types.js'

type Leaf = 'string' | 'boolean' | 'integer' | 'int-or-string' | 'object' | 'any'
/** `required`: fields the core reads without a fallback (the API server requires them too). */
type Shape = Leaf | { list: Shape } | { map: Shape } | { fields: Readonly<Record<string, Shape>>, required?: readonly string[] }

const stringList: Shape = { list: 'string' }
const stringMap: Shape = { map: 'string' }

const handler: Shape = {
  fields: {
    httpGet: {
      fields: {
        path: 'string',
        port: 'int-or-string',
        host: 'string',
        scheme: 'string',
        httpHeaders: { list: { fields: { name: 'string', value: 'string' }, required: ['name'] } }
      }
    },
    tcpSocket: { fields: { port: 'int-or-string', host: 'string' } },
    grpc: { fields: { port: 'integer', service: 'string' } },
    exec: { fields: { command: stringList } },
    sleep: 'object'
  }
}
const probe: Shape = {
  fields: {
    ...(handler as { fields: Record<string, Shape> }).fields,
    initialDelaySeconds: 'integer',
    timeoutSeconds: 'integer',
    periodSeconds: 'integer',
    successThreshold: 'integer',
    failureThreshold: 'integer',
    terminationGracePeriodSeconds: 'integer'
  }
}

/** The container fields the core reads, rewrites or merges (probes, ports, env, mounts, security). */
export const containerShape: Shape = {
  required: ['name'],
  fields: {
    name: 'string',
    image: 'string',
    imagePullPolicy: 'string',
    restartPolicy: 'string',
    command: stringList,
    args: stringList,
    ports: { list: { fields: { name: 'string', containerPort: 'integer', hostPort: 'integer', protocol: 'string', hostIP: 'string' }, required: ['containerPort'] } },
    env: { list: { fields: { name: 'string', value: 'string', valueFrom: 'object' }, required: ['name'] } },
    volumeMounts: { list: { fields: { name: 'string', mountPath: 'string', readOnly: 'boolean', subPath: 'string' }, required: ['name', 'mountPath'] } },
    readinessProbe: probe,
    livenessProbe: probe,
    startupProbe: probe,
    lifecycle: { fields: { preStop: handler, postStart: handler } },
    resources: { fields: { requests: { map: 'int-or-string' }, limits: { map: 'int-or-string' } } },
    securityContext: {
      fields: {
        runAsUser: 'integer',
        runAsGroup: 'integer',
        runAsNonRoot: 'boolean',
        privileged: 'boolean',
        allowPrivilegeEscalation: 'boolean',
        readOnlyRootFilesystem: 'boolean',
        capabilities: { fields: { add: stringList, drop: stringList } }
      }
    }
  }
}

/** The pod's securityContext, as far as a gateway's sysctl touches it. */
export const podSecurityContextShape: Shape = {
  fields: { sysctls: { list: { fields: { name: 'string', value: 'string' }, required: ['name'] } } }
}

const podShape: Shape = {
  fields: {
    apiVersion: 'string',
    kind: 'string',
    metadata: {
      fields: {
        name: 'string',
        generateName: 'string',
        namespace: 'string',
        labels: stringMap,
        annotations: stringMap,
        ownerReferences: {
          list: { fields: { apiVersion: 'string', kind: 'string', name: 'string', uid: 'string', controller: 'boolean' }, required: ['apiVersion', 'kind', 'name'] }
        }
      }
    },
    spec: {
      fields: {
        hostNetwork: 'boolean',
        nodeName: 'string',
        serviceAccountName: 'string',
        securityContext: podSecurityContextShape,
        containers: { list: containerShape },
        initContainers: { list: containerShape },
        volumes: { list: { fields: { name: 'string' }, required: ['name'] } }
      }
    }
  }
}

/** `path` is relative to the checked value ('' for the value itself), e.g. spec.containers[0].env. */
export type ShapeCheck<T> =
  | { ok: true, value: T }
  | { ok: false, path: string, expected: string }

/** Checks a pod; on success `value` is the pod with null fields left out (the input is never mutated). */
/**
 * The malformed-pod sentence, one wording for the webhook and the CLI: the path (under `root`, e.g.
 * `request.object`) and the type wanted — never the value, which can be a secret or megabytes long.
 */
export function malformedPodMessage (problem: { path: string, expected: string }, root = ''): string {
  const where = root === ''
    ? (problem.path === '' ? 'the object' : problem.path)
    : `${root}${problem.path === '' || problem.path.startsWith('[') ? '' : '.'}${problem.path}`
  return `malformed-pod: ${where} must be ${problem.expected}`
}

export function checkPodShape (object: unknown): ShapeCheck<Pod> {
  return checkShape<Pod>(object, podShape, '')
}

/** Checks any value against a shape; exported for containers read from annotations (overrides). */
export function checkShape<T> (value: unknown, shape: Shape, path: string): ShapeCheck<T> {
  const problem: Problem = { expected: undefined, trail: [] }
  const out = walk(value, shape, problem)
  if (problem.expected !== undefined) {
    let where = path
    for (let i = problem.trail.length - 1; i >= 0; i--) where = child(where, problem.trail[i] as string | number)
    return { ok: false, path: where, expected: problem.expected }
  }
  return { ok: true, value: out as T }
}

/**
 * The first problem: what was expected, and the keys from it up to the checked value (innermost
 * first), pushed as the walk unwinds. The path is built only for a refused pod: building it for
 * every field visited was most of the walk's time (a third of a request on a 200 KB review).
 */
interface Problem { expected: string | undefined, trail: Array<string | number> }

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** A JSON-path-like name of a child, e.g. spec.containers[2].env; odd keys are quoted. */
function child (path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  const safe = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key)
  return path === '' ? safe : /^[A-Za-z_]/.test(safe) ? `${path}.${safe}` : `${path}[${safe}]`
}

function fail (problem: Problem, expected: string, value: unknown): unknown {
  problem.expected = expected
  return value
}

// Returns the value with nulls left out of objects (a new object only where something was left out).
function walk (value: unknown, shape: Shape, problem: Problem): unknown {
  if (typeof shape === 'string') {
    switch (shape) {
      case 'any': return value
      case 'string': return typeof value === 'string' ? value : fail(problem, 'a string', value)
      case 'boolean': return typeof value === 'boolean' ? value : fail(problem, 'a boolean', value)
      case 'integer': return Number.isSafeInteger(value) ? value : fail(problem, 'an integer', value)
      case 'int-or-string': return typeof value === 'string' || Number.isSafeInteger(value) ? value : fail(problem, 'an integer or a string', value)
      case 'object': return isRecord(value) ? value : fail(problem, 'an object', value)
    }
  }
  if ('list' in shape) {
    if (!Array.isArray(value)) return fail(problem, 'a list', value)
    let out: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      const checked = walk(item, shape.list, problem)
      if (problem.expected !== undefined) {
        problem.trail.push(i)
        return value
      }
      if (checked !== item) (out ??= [...value])[i] = checked
    }
    return out ?? value
  }
  if (!isRecord(value)) return fail(problem, 'an object', value)
  if ('map' in shape) {
    for (const key in value) {
      walk(value[key], shape.map, problem)
      if (problem.expected !== undefined) {
        problem.trail.push(key)
        return value
      }
    }
    return value
  }
  for (const key of shape.required ?? []) {
    if (value[key] === undefined || value[key] === null) {
      problem.trail.push(key)
      return fail(problem, 'present (it is required)', value)
    }
  }
  let out: Record<string, unknown> | undefined
  // for…in over the shape (a literal of this file): no entries array per object visited.
  for (const key in shape.fields) {
    if (!Object.hasOwn(value, key)) continue
    const field = value[key]
    if (field === null) {
      out ??= { ...value }
      delete out[key]
      continue
    }
    const checked = walk(field, shape.fields[key] as Shape, problem)
    if (problem.expected !== undefined) {
      problem.trail.push(key)
      return value
    }
    if (checked !== field) (out ??= { ...value })[key] = checked
  }
  return out ?? value
}

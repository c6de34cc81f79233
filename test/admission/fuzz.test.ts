// Property-based fuzzing of the webhook with fast-check, through its HTTP handler (fastify's inject
// for the bulk, real loopback sockets for a subset). Reviews are a real pod CREATE with mutations: a
// value of another type at any path, deleted keys and truncated lists, annotations with deep, huge,
// unicode and control-character values, prototype keys, v1 and v1beta1, every operation.
// Properties: never a 5xx; a 200 echoes the uid; every patch applies to the original (with
// validation) and, when the original was a valid pod, gives a valid pod; injecting that pod again
// gives no patch; the server stays ready.
// FUZZ_SEED=<n> replays a run; FUZZ_RUNS=<n> changes its size (default 10,000).
import t from 'tap'
import type { Test } from 'tap'
import fc from 'fast-check'
import jsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { annotations } from '../../src/core/annotations.js'
import type { Pod } from '../../src/core/types.js'
import { validatePod } from '../helpers/validate-pod.js'
import { buildTestServer, reviewFor, samplePod } from '../helpers/webhook.js'

t.setTimeout(900_000)

const seed = process.env.FUZZ_SEED === undefined ? Date.now() % 2_147_483_647 : Number(process.env.FUZZ_SEED)
const runs = Number(process.env.FUZZ_RUNS ?? 10_000)
t.comment(`fuzz seed ${seed} (replay with FUZZ_SEED=${seed}), ${runs} runs`)

type Json = Record<string, unknown>
type Path = Array<string | number>

const base = JSON.parse(JSON.stringify(reviewFor(samplePod()))) as Json

/** Every path of a JSON value (iterative): where type swaps and deletions are aimed. */
function pathsOf (root: unknown): Path[] {
  const out: Path[] = []
  const stack: Array<[unknown, Path]> = [[root, []]]
  while (stack.length > 0) {
    const [value, path] = stack.pop() as [unknown, Path]
    if (path.length > 0) out.push(path)
    if (Array.isArray(value)) value.forEach((v, i) => stack.push([v, [...path, i]]))
    else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) stack.push([v, [...path, k]])
  }
  return out.sort((a, b) => a.join('/').localeCompare(b.join('/')))
}
const allPaths = pathsOf(base)

/** Sets an own property, even `__proto__`, without touching prototypes. */
function setOwn (target: Json | unknown[], key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

function parentOf (root: Json, path: Path): Json | unknown[] | undefined {
  let node: unknown = root
  for (const key of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined
    node = (node as Json)[key as string]
  }
  return typeof node === 'object' && node !== null ? node as Json : undefined
}

const nested = (depth: number, leaf: string): string => '['.repeat(depth) + leaf + ']'.repeat(depth)
const deepObject = (depth: number): unknown => {
  let value: unknown = {}
  for (let i = 0; i < depth; i++) value = { a: value }
  return value
}

const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', ' ', '\u0000', '\n\t\r', '\u202e', '\ud800', '😀', '~1/~0', 'true', 'false', '0', '-1', '65536', '*', 'REDIRECT',
    'NONE', 'TPROXY', '10.0.0.0/8', '80,443', 'a/b', '__proto__', 'constructor', 'null', '{}', '[]', '{"a":', 'a: [1, 2')
)

/** Values for the structured annotations: JSON and YAML, deep, huge, of the wrong shape. */
const structured = fc.oneof(
  text,
  fc.json({ maxDepth: 3 }),
  fc.nat({ max: 30_000 }).map(n => nested(n, '')),
  fc.nat({ max: 30_000 }).map(n => `{"v":{"emptyDir":${'{"a":'.repeat(n)}{}${'}'.repeat(n)}}}`),
  fc.constantFrom('{"containers":[null]}', '{"containers":[{"name":"istio-proxy","env":{"A":"b"}}]}', '{"containers":"x"}',
    '{"v":{"emptyDir":{}}}', '{"v":{"mountPath":"/x"}}', '{"v":{"mountPath":7}}', 'holdApplicationUntilProxyStarts: true',
    'proxyMetadata: {A: b}', 'interceptionMode: NONE', 'a: 1\na: 2', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}'),
  // Rare and expensive: above the 256 KiB cap, and a YAML map of many keys below it.
  fc.nat({ max: 250 }).filter(n => n === 0).map(() => 'x'.repeat(270 * 1024)),
  fc.nat({ max: 250 }).filter(n => n === 0).map(() => Array.from({ length: 12_000 }, (_, i) => `k${i}: ${i}`).join('\n'))
)

const anyValue = fc.oneof(
  fc.constant(null), fc.integer(), fc.double(), fc.boolean(), text,
  fc.array(fc.oneof(fc.constant(null), fc.integer(), text), { maxLength: 3 }),
  fc.dictionary(text, fc.oneof(fc.constant(null), fc.integer(), text), { maxKeys: 3 }),
  fc.nat({ max: 150 }).map(deepObject),
  fc.anything({ maxDepth: 3 })
)

const annotationKey = fc.oneof(fc.constantFrom(...Object.values(annotations)), text, fc.constantFrom('__proto__', 'constructor', 'prototype'))
const protoKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString')
const objectPaths = allPaths.filter(p => { const parent = parentOf(base, [...p, 'x']); return parent !== undefined && !Array.isArray(parent) })

type Mutation =
  | { kind: 'swap', path: Path, value: unknown }
  | { kind: 'delete', path: Path }
  | { kind: 'truncate', path: Path, keep: number }
  | { kind: 'annotation', key: string, value: string }
  | { kind: 'label', key: string, value: unknown }
  | { kind: 'proto', path: Path, key: string, value: unknown }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('swap' as const), path: fc.constantFrom(...allPaths), value: anyValue }),
  fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...allPaths) }),
  fc.record({ kind: fc.constant('truncate' as const), path: fc.constantFrom(...allPaths), keep: fc.nat({ max: 3 }) }),
  { arbitrary: fc.record({ kind: fc.constant('annotation' as const), key: annotationKey, value: structured }), weight: 4 },
  fc.record({ kind: fc.constant('label' as const), key: fc.oneof(fc.constantFrom('sidecar.istio.io/inject', 'app', 'version'), text), value: fc.oneof(text, anyValue) }),
  fc.record({ kind: fc.constant('proto' as const), path: fc.constantFrom(...objectPaths), key: protoKey, value: anyValue })
)

const reviewArb = fc.record({
  apiVersion: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'),
  operation: fc.oneof({ arbitrary: fc.constant('CREATE'), weight: 6 }, fc.constantFrom('UPDATE', 'DELETE', 'CONNECT')),
  mutations: fc.array(mutation, { minLength: 0, maxLength: 4 })
}).map(({ apiVersion, operation, mutations }) => {
  const review = structuredClone(base)
  review.apiVersion = apiVersion
  ;(review.request as Json).operation = operation
  for (const m of mutations) apply(review, m)
  return review
})

function apply (review: Json, m: Mutation): void {
  const object = (review.request as Json | undefined)?.object as Json | undefined
  const metadata = typeof object?.metadata === 'object' && object.metadata !== null ? object.metadata as Json : undefined
  switch (m.kind) {
    case 'annotation':
    case 'label': {
      const field = m.kind === 'annotation' ? 'annotations' : 'labels'
      const map = metadata?.[field]
      if (typeof map === 'object' && map !== null) setOwn(map as Json, m.key, m.value)
      return
    }
    case 'proto': {
      const parent = parentOf(review, [...m.path, 'x'])
      if (parent !== undefined && !Array.isArray(parent)) setOwn(parent, m.key, m.value)
      return
    }
    case 'swap':
    case 'delete':
    case 'truncate': {
      const parent = parentOf(review, m.path)
      const key = m.path[m.path.length - 1] as string | number
      if (parent === undefined || !Object.hasOwn(parent, key)) return
      if (m.kind === 'swap') setOwn(parent, key, m.value)
      else if (m.kind === 'truncate') {
        const value = (parent as Json)[key as string]
        if (Array.isArray(value)) setOwn(parent, key, value.slice(0, m.keep))
      } else if (Array.isArray(parent)) parent.splice(key as number, 1)
      else delete parent[key as string]
    }
  }
}

interface Sent { status: number, body: string }
type Send = (payload: string) => Promise<Sent>

function validOrUndefined (pod: unknown): string[] | undefined {
  try {
    return validatePod(pod as Pod)
  } catch {
    return undefined // not a pod the validator can read: the API server would refuse it anyway
  }
}

/** Checks one review against every property; returns a failure description or undefined. */
async function check (send: Send, review: Json): Promise<string | undefined> {
  const payload = JSON.stringify(review)
  const answer = await send(payload)
  if (answer.status >= 500) return `HTTP ${answer.status}: ${answer.body.slice(0, 300)}`
  if (answer.status !== 200) return undefined // a 4xx for a malformed review is a valid answer
  const body = JSON.parse(answer.body) as { response?: { uid?: string, patch?: string, allowed?: boolean } }
  const sent = JSON.parse(payload) as { request?: { uid?: unknown, object?: unknown } }
  if (body.response?.uid !== sent.request?.uid) return `uid ${String(body.response?.uid)} is not the request's`
  if (body.response?.patch === undefined) return undefined
  const original = sent.request?.object
  let patched: Pod
  try {
    const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString()) as Operation[]
    patched = jsonPatch.applyPatch(structuredClone(original), ops, true, false).newDocument as Pod
  } catch (err) {
    return `the patch does not apply: ${(err as Error).message.slice(0, 300)}`
  }
  const before = validOrUndefined(original)
  if (before !== undefined && before.length === 0) {
    const after = validOrUndefined(patched)
    if (after === undefined || after.length > 0) return `the patched pod is invalid: ${JSON.stringify(after)?.slice(0, 300)}`
  }
  const again = await send(JSON.stringify({ ...sent, request: { ...sent.request, object: patched, operation: 'CREATE' } }))
  if (again.status !== 200) return `re-injection answered ${again.status}: ${again.body.slice(0, 300)}`
  const second = JSON.parse(again.body) as { response?: { patch?: string } }
  if (second.response?.patch !== undefined) {
    return `re-injection patched again: ${Buffer.from(second.response.patch, 'base64').toString().slice(0, 300)}`
  }
  return undefined
}

async function assertProperty (t: Test, send: Send, numRuns: number): Promise<void> {
  try {
    await fc.assert(fc.asyncProperty(reviewArb, async review => {
      const failure = await check(send, review)
      if (failure !== undefined) throw new Error(failure)
    }), { seed, numRuns, endOnFailure: true })
    t.pass(`${numRuns} generated reviews: no 5xx, every patch applies, valid pods stay valid, re-injection patches nothing`)
  } catch (err) {
    const message = (err as Error).message
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : ''
    // The counterexample can be megabytes: its start is enough to see which mutation it was.
    t.fail(`fuzz failure with seed ${seed} (replay: FUZZ_SEED=${seed}): ${cause}\n${message.slice(0, 2000)}`)
  }
}

t.test('fuzz through the handler (fastify inject)', async t => {
  const { server } = buildTestServer({ budget: { requests: 1000 } })
  t.teardown(() => server.app.close())
  const send: Send = async payload => {
    const res = await server.app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload })
    return { status: res.statusCode, body: res.body }
  }
  await assertProperty(t, send, runs)
  const ready = await server.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200, 'the server stays ready')
})

t.test('one value of each type swapped in at every path of a review', async t => {
  const { server } = buildTestServer()
  t.teardown(() => server.app.close())
  const send: Send = async payload => {
    const res = await server.app.inject({ method: 'POST', url: '/inject', headers: { 'content-type': 'application/json' }, payload })
    return { status: res.statusCode, body: res.body }
  }
  const values: unknown[] = [null, 0, -1.5, true, '', 'x', [], [null], {}, { a: null }]
  const failures: string[] = []
  for (const path of allPaths) {
    for (const value of values) {
      const review = structuredClone(base)
      apply(review, { kind: 'swap', path, value })
      const failure = await check(send, review)
      if (failure !== undefined) failures.push(`${path.join('.')} = ${JSON.stringify(value)}: ${failure}`)
    }
  }
  t.same(failures, [], `${allPaths.length} paths × ${values.length} values`)
})

t.test('fuzz over real loopback sockets (a subset)', async t => {
  const { server } = buildTestServer({ budget: { requests: 1000 } })
  t.teardown(() => server.app.close())
  await server.app.listen({ port: 0, host: '127.0.0.1' })
  const address = server.app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  const send: Send = async payload => {
    const res = await fetch(`http://127.0.0.1:${port}/inject`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload })
    return { status: res.status, body: await res.text() }
  }
  await assertProperty(t, send, Math.max(1, Math.round(runs / 50)))
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
  t.equal(ready.status, 200, 'the server stays ready')
})

// kubectl is the judge of how manifests read: every input and every output of `inject` is decoded by
// the real kubectl (`kubectl patch --local -p {} --type merge -o json -f -`, which decodes and prints
// without a server; `create --dry-run=client` needs one for its REST mapping). Asserted, per file:
// our reader gives what kubectl gives for the input; kubectl decodes our output, to what our -o json
// says; and uninjecting kubectl's reading of the output gives kubectl's reading of the input — the
// parts injection did not touch decode the same. Skips when kubectl is not built (`make control-plane`);
// KUBECTL_JUDGE=required (`make kubectl-judge`, in .ci/run after the control plane is built) fails instead.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { defaultConfig } from '../../src/core/config.js'
import { transformManifests } from '../../src/workloads/transform.js'
import type { ManifestOptions, Source } from '../../src/workloads/templates.js'
import { readDocuments } from '../../src/yaml/read.js'
import { adversarialSources } from '../helpers/adversarial-yaml.js'
import { fixturesDir, podsDir } from '../helpers/fixtures.js'

const repo = join(import.meta.dirname, '..', '..')

function findKubectl (): string | undefined {
  try {
    const dir = execFileSync(join(repo, 'scripts', 'build-control-plane.sh'), ['--print'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').at(-1) ?? ''
    const kubectl = join(dir, 'kubectl')
    return existsSync(kubectl) ? kubectl : undefined
  } catch {
    return undefined
  }
}

const kubectl = findKubectl()
const required = process.env.KUBECTL_JUDGE === 'required'
const skip = kubectl === undefined && !required ? 'kubectl is not built: `make control-plane` builds it into ~/.cache/sidecar-injector' : false

type Obj = Record<string, unknown>

/** kubectl's JSON for every object of the text (Lists flattened, as kubectl visits their items), or its error. */
function decode (text: string): { objects: Obj[] } | { error: string } {
  const { KUBECONFIG: _k, ...env } = process.env
  const run = spawnSync(kubectl as string, ['patch', '--local', '-f', '-', '-p', '{}', '--type', 'merge', '-o', 'json'], { input: text, encoding: 'utf8', env, maxBuffer: 256 * 1024 * 1024 })
  if (run.status !== 0 || run.stderr.trim() !== '') return { error: (run.stderr || `exit ${String(run.status)}`).trim() }
  const out = run.stdout.trim()
  const objects = out === '' ? [] : JSON.parse(`[${out.replace(/^\}\n\{$/gm, '},{')}]`) as Obj[]
  return { objects: objects.map(withoutManagedFields) }
}

/** `kubectl patch` drops metadata.managedFields from what it prints: a property of the command, not of decoding. */
function withoutManagedFields (value: unknown): Obj {
  const o = value as Obj
  const metadata = o.metadata as Obj | undefined
  if (metadata === undefined || !('managedFields' in metadata)) return o
  const { managedFields: _m, ...rest } = metadata
  return { ...o, metadata: rest }
}

/** An empty map or list reads as an absent one: uninject leaves out annotations and volumes it emptied. */
function withoutEmpty (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutEmpty)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.entries(value)
    .filter(([, v]) => !(typeof v === 'object' && v !== null && Object.keys(v).length === 0))
    .map(([k, v]) => [k, withoutEmpty(v)]))
}

/** Our reading, flattened like kubectl's. */
function flatten (values: unknown[]): unknown[] {
  return values.flatMap(v => {
    const o = v as Obj
    return typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items) ? flatten(o.items) : [v]
  })
}

function ourReading (text: string): unknown[] {
  const values: unknown[] = []
  for (const doc of readDocuments(text)) {
    if (doc.error !== undefined) throw new Error(`we refuse it: ${doc.error.message}`)
    if (doc.value !== null) values.push(doc.value)
  }
  return flatten(values).map(withoutManagedFields)
}

const options = (native: boolean, output: 'yaml' | 'json'): ManifestOptions =>
  ({ config: { ...defaultConfig(), nativeSidecars: native ? 'true' : 'false' }, facts: {}, namespace: 'default', output })

/** kubectl's objects with what an injection adds taken out again (inputs may be injected already). */
function uninjected (objects: Obj[], native: boolean): unknown[] {
  const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects })
  return flatten([JSON.parse(transformManifests([{ name: 'kubectl', text }], 'uninject', options(native, 'json')).output)]).map(withoutEmpty)
}

function inputs (): Source[] {
  const files = (dir: string): Source[] => readdirSync(dir).filter(f => /\.(ya?ml|json)$/.test(f)).sort()
    .map(f => ({ name: join(dir, f).slice(repo.length + 1), text: readFileSync(join(dir, f), 'utf8') }))
  return [
    ...files(join(fixturesDir, 'manifests')).filter(s => !s.name.endsWith('invalid.yaml')),
    ...files(podsDir),
    ...files(join(repo, 'examples', 'bookinfo')),
    ...adversarialSources()
  ]
}

t.test('kubectl reads every input as we do, and every output of inject as we meant it', { skip }, async t => {
  if (kubectl === undefined) {
    t.fail('KUBECTL_JUDGE=required but kubectl is not built (scripts/build-control-plane.sh --print finds none)')
    return
  }
  for (const source of inputs()) {
    const input = decode(source.text)
    if ('error' in input) {
      t.fail(`${source.name}: kubectl refuses the input: ${input.error}`)
      continue
    }
    t.strictSame(ourReading(source.text), input.objects, `${source.name}: read as kubectl reads it`)
    for (const native of [false, true]) {
      const mode = native ? 'native' : 'classic'
      const yaml = transformManifests([source], 'inject', options(native, 'yaml'))
      if (yaml.errors.length > 0) {
        t.match(source.name, /rejected/, `${source.name}: only the rejected fixture fails to inject (${yaml.errors[0] ?? ''})`)
        continue
      }
      const output = decode(yaml.output)
      if ('error' in output) {
        t.fail(`${source.name} (${mode}): kubectl cannot read our output: ${output.error}`)
        continue
      }
      const json = JSON.parse(transformManifests([source], 'inject', options(native, 'json')).output) as Obj
      t.strictSame(output.objects, flatten([json]).map(withoutManagedFields), `${source.name} (${mode}): kubectl reads the output as our -o json says`)
      t.strictSame(uninjected(output.objects, native), uninjected(input.objects, native), `${source.name} (${mode}): what injection did not touch decodes the same`)
    }
  }
})

t.test('what kubectl refuses, we refuse', { skip }, async t => {
  const refused = [
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: .inf}\n',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: -.Inf}\n',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: .NaN}\n',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {~: a}\n',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {Null: a}\n',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {[a]: b}\n',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: !!int 1.5}\n',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {<<: a}\n'
  ]
  for (const text of refused) {
    t.ok('error' in decode(text), `kubectl refuses ${JSON.stringify(text.split('\n')[3])}`)
    t.ok([...readDocuments(text)].some(d => d.error !== undefined), `we refuse ${JSON.stringify(text.split('\n')[3])}`)
  }
})

import t from 'tap'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import jsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import { parseAllDocuments } from 'yaml'
import { reviewAdmission } from '../../src/admission/review.js'
import type { AdmissionReviewRequest } from '../../src/admission/types.js'
import { defaultConfig } from '../../src/core/config.js'
import { explainManifests, formatExplanation } from '../../src/workloads/explain.js'
import type { ManifestOptions, Source } from '../../src/workloads/templates.js'
import { streamManifests, transformManifests } from '../../src/workloads/transform.js'
import type { Pod } from '../../src/core/types.js'
import { fixturesDir, loadPod, podFixtureNames, podsDir } from '../helpers/fixtures.js'

const manifestsDir = join(fixturesDir, 'manifests')
const examplesDir = join(import.meta.dirname, '..', '..', 'examples', 'bookinfo')
const update = process.env.UPDATE_GOLDEN === '1'

const options = (extra: Partial<ManifestOptions> = {}): ManifestOptions =>
  ({ config: defaultConfig(), facts: {}, namespace: 'default', output: 'yaml', ...extra })
const source = (dir: string, file: string): Source => ({ name: file, text: readFileSync(join(dir, file), 'utf8') })
const docs = (text: string): unknown[] => parseAllDocuments(text).map(d => d.toJS() as unknown)

type Obj = Record<string, any>

t.test('every workload kind is injected; other objects pass through untouched and in order', async t => {
  const input = source(manifestsDir, 'workloads.yaml')
  const result = transformManifests([input], 'inject', options())
  t.same(result.errors, [])
  const golden = join(manifestsDir, 'workloads.injected.yaml')
  if (update || !existsSync(golden)) writeFileSync(golden, result.output)
  t.equal(result.output, readFileSync(golden, 'utf8'), 'matches the golden output')

  const out = docs(result.output) as Obj[]
  t.same(out.map(d => d.kind), ['ConfigMap', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'Widget', 'Deployment'])
  for (const d of out.slice(1, 6)) {
    t.same(d.spec.template.spec.containers.map((c: Obj) => c.name).slice(-1), ['istio-proxy'], `${String(d.kind)} template injected`)
    t.equal(d.spec.template.metadata.name, undefined, 'no name is written into a template')
    t.equal(d.spec.template.metadata.namespace, undefined, 'no namespace is written into a template')
  }
  const proxyEnv = out[1]?.spec.template.spec.containers.at(-1).env as Array<{ name: string, value?: string }>
  t.equal(proxyEnv.find(e => e.name === 'ISTIO_META_WORKLOAD_NAME')?.value, 'db', 'the workload is named after the StatefulSet')
  t.ok(result.output.startsWith('# One of each workload kind'), 'the leading comment kept')
  t.match(result.output, /kind: ConfigMap +# passes through untouched, comments and key order kept\n/, 'comments kept')
  t.notMatch(result.output, /---\n---/, 'one separator between documents')
  t.match(result.output, /zeta: last\n {2}alpha: first/, 'key order kept')
  t.same(out[6], docs(input.text)[6], 'an unknown kind passes through')
  t.same(out[7], docs(input.text)[7], 'an opted-out workload passes through')
  t.match(result.notes, [/Job default\/migrate .*warning: a classic sidecar in a Job/, /Deployment default\/opted-out .*skipped: .*\[label-false\]/])
})

t.test('CronJob templates, Lists and JSON output', async t => {
  const bookinfo = transformManifests([source(examplesDir, 'bookinfo.yaml')], 'inject', options())
  const cron = (docs(bookinfo.output) as Obj[]).find(d => d.kind === 'CronJob')
  t.equal(cron?.spec.jobTemplate.spec.template.spec.initContainers[1].name, 'istio-proxy', 'native sidecar for the job, by annotation')
  t.equal(cron?.spec.jobTemplate.spec.template.spec.initContainers[1].restartPolicy, 'Always')

  const list = transformManifests([source(manifestsDir, 'list.json')], 'inject', options({ output: 'json' }))
  const parsed = JSON.parse(list.output) as Obj
  t.equal(parsed.kind, 'List')
  t.same(parsed.items[0], JSON.parse(readFileSync(join(manifestsDir, 'list.json'), 'utf8')).items[0], 'the Service item is untouched')
  t.equal(parsed.items[1].spec.template.spec.containers[1].name, 'istio-proxy')
})

t.test('a rejected workload is an error naming file, document, annotation and value; nothing is written', async t => {
  const result = transformManifests([source(manifestsDir, 'rejected.yaml')], 'inject', options())
  t.equal(result.output, '')
  t.equal(result.errors.length, 1)
  t.match(result.errors[0], /^Deployment default\/bad-ports \(rejected\.yaml, document 2\): rejected: invalid value '80,http' for annotation 'traffic\.sidecar\.istio\.io\/excludeInboundPorts'/)
})

t.test('streamManifests writes each document as it is transformed, and nothing after an error', async t => {
  const input = source(manifestsDir, 'workloads.yaml')
  const pieces: string[] = []
  const result = streamManifests([input], 'inject', options(), text => { pieces.push(text) })
  t.same(result.errors, [])
  t.equal(pieces.length, docs(input.text).filter(d => d !== null).length, 'one write per document')
  t.equal(pieces.join(''), transformManifests([input], 'inject', options()).output)

  const broken: string[] = []
  const bad = streamManifests([input, source(manifestsDir, 'invalid.yaml'), input], 'inject', options(), text => { broken.push(text) })
  t.equal(bad.errors.length, 1)
  t.equal(broken.length, pieces.length, 'the documents before the error were written (the caller throws them away), none after')
})

t.test('invalid YAML is reported with its line', async t => {
  const result = transformManifests([source(manifestsDir, 'invalid.yaml')], 'inject', options())
  t.equal(result.output, '')
  t.match(result.errors, [/^invalid\.yaml:6:1: not valid YAML or JSON: Flow sequence/])
  const scalar = transformManifests([{ name: 'x.yaml', text: 'just text' }], 'inject', options())
  t.match(scalar.errors, [/x\.yaml, document 1: expected a Kubernetes object/])
})

t.test('uninject(inject(x)) == x for every manifest, example and pod fixture', async t => {
  const sources = [
    source(manifestsDir, 'workloads.yaml'), source(manifestsDir, 'list.json'),
    source(examplesDir, 'bookinfo.yaml'), source(examplesDir, 'pods.yaml'),
    ...podFixtureNames().map(f => source(podsDir, f))
  ]
  for (const s of sources) {
    for (const native of [false, true]) {
      const config = { ...defaultConfig(), nativeSidecars: native ? 'true' as const : 'false' as const }
      const injected = transformManifests([s], 'inject', options({ config }))
      const back = transformManifests([{ name: s.name, text: injected.output }], 'uninject', options({ config }))
      t.same(docs(back.output), docs(s.text), `${s.name} (${native ? 'native' : 'classic'})`)
    }
  }
})

t.test('with namespace labels, the webhook selectors decide as the cluster would', async t => {
  const pods = (labels: string, podLabels: Record<string, string> = {}, namespace = 'apps'): string => {
    const text = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace, labels: podLabels }, spec: { containers: [{ name: 'a', image: 'a' }] } })
    const nsLabels = Object.fromEntries(labels === '' ? [] : labels.split(',').map(kv => kv.split('=') as [string, string]))
    const r = transformManifests([{ name: 'p.json', text }], 'inject', options({ namespaceLabels: nsLabels }))
    return r.output.includes('istio-proxy') ? 'injected' : 'skipped'
  }
  t.equal(pods('istio-injection=enabled'), 'injected')
  t.equal(pods(''), 'skipped', 'an unlabelled namespace')
  t.equal(pods('istio-injection=disabled', { 'sidecar.istio.io/inject': 'true' }), 'skipped', 'disabled beats the pod label')
  t.equal(pods('istio-injection=enabled', { 'sidecar.istio.io/inject': 'false' }), 'skipped')
  t.equal(pods('', { 'sidecar.istio.io/inject': 'true' }), 'injected', 'the pod label opts in')
  t.equal(pods('istio.io/rev=default'), 'injected')
  t.equal(pods('', { 'istio.io/rev': 'default' }), 'injected')
  t.equal(pods('istio.io/rev=canary'), 'skipped', 'another revision')
  t.equal(pods('istio-injection=enabled', {}, 'kube-system'), 'skipped', 'system namespaces are excluded')
})

t.test('parity: the CLI path and the webhook path give identical pods', async t => {
  for (const file of podFixtureNames()) {
    const pod = loadPod(file)
    const cli = JSON.parse(transformManifests([source(podsDir, file)], 'inject', options({ output: 'json' })).output) as Pod
    const review: AdmissionReviewRequest = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        namespace: pod.metadata?.namespace ?? 'default',
        operation: 'CREATE',
        object: pod as unknown as Record<string, unknown>
      }
    } as AdmissionReviewRequest
    const verdict = reviewAdmission(review, defaultConfig())
    const patch = verdict.review.response.patch
    if (patch === undefined) {
      t.fail(`${file}: the webhook sent no patch`)
      continue
    }
    const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as Operation[]
    const { managedFields: _m, ...metadata } = pod.metadata ?? {}
    const viaWebhook = jsonPatch.applyPatch(structuredClone({ ...pod, metadata }), ops, true, false).newDocument
    const { managedFields: _c, ...cliMetadata } = cli.metadata ?? {}
    t.same({ ...cli, metadata: cliMetadata }, JSON.parse(JSON.stringify(viaWebhook)), file)
  }
})

t.test('explain names the rule and the effective settings', async t => {
  const result = explainText([source(manifestsDir, 'workloads.yaml')], options({ namespaceLabels: { 'istio-injection': 'enabled' } }))
  t.same(result.errors, [])
  t.match(result.output, /StatefulSet data\/db \(workloads\.yaml, document 2\)\n {2}webhook: {3}the webhook entry namespace\.sidecar-injector\.istio\.io selects/)
  t.match(result.output, /decision: {2}INJECT \[policy-enabled\]/)
  t.match(result.output, /Deployment default\/opted-out .*\n {2}webhook: {3}the pod label sidecar\.istio\.io\/inject=false is excluded by every webhook entry\n {2}decision: {2}SKIP \[not-selected\]/)
  t.match(result.output, /mode: {6}classic \(proxy last\) — nativeSidecars: auto, node support unknown/)
  t.match(result.output, /capture: {3}outbound to \* → 15001\n {13}inbound ports \* except 15090,15021,15020 → 15006/)
  t.notMatch(result.output, /Widget|ConfigMap/, 'only workloads are explained')

  const rejected = explainText([source(manifestsDir, 'rejected.yaml')], options())
  t.match(rejected.output, /decision: {2}REJECT \[invalid-annotation\] the pod would be refused[^\n]*\n {2}overruled: \[policy-enabled\][^\n]*\n {2}problem: {3}traffic\.sidecar\.istio\.io\/excludeInboundPorts: 'http' is not a port/)
  t.notMatch(rejected.output, /REJECT \[policy-enabled\]/, 'a rejection is not explained by the rule that would have injected')

  const injected = transformManifests([source(podsDir, 'simple.yaml')], 'inject', options()).output
  t.match(explainText([{ name: 'x', text: injected }], options()).output, /already injected: re-injected idempotently/)
  const host = explainText([{ name: 'h', text: 'kind: Pod\nmetadata: {name: h}\nspec: {hostNetwork: true, containers: [{name: a, image: a}]}' }], options())
  t.match(host.output, /SKIP \[host-network\] the pod uses the host network/)
})

t.test('explain -o json gives the same explanations as data', async t => {
  const result = explainManifests([source(manifestsDir, 'rejected.yaml')], options())
  const e = result.explanations[0]
  t.equal(e?.verdict, 'REJECT')
  t.equal(e?.reason, 'invalid-annotation')
  t.same(e?.decision?.reason, 'policy-enabled')
  t.match(e?.problems, [{ annotation: 'traffic.sidecar.istio.io/excludeInboundPorts' }])
})

t.test('a classic sidecar in a Job or CronJob is warned about, a native one is not', async t => {
  const job = (kind: string): string => kind === 'Job'
    ? 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec: {restartPolicy: Never, containers: [{name: a, image: a}]}\n'
    : 'apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: "* * * * *"\n  jobTemplate:\n    spec:\n      template:\n        spec: {restartPolicy: Never, containers: [{name: a, image: a}]}\n'
  for (const kind of ['Job', 'CronJob']) {
    const classic = transformManifests([{ name: 'j.yaml', text: job(kind) }], 'inject', options())
    t.match(classic.notes.join('\n'), /warning: a classic sidecar in a Job or CronJob pod keeps running[^\n]*native sidecars fix it/, kind)
    t.match(explainText([{ name: 'j.yaml', text: job(kind) }], options()).output, /warning: {3}a classic sidecar in a Job/, `explain ${kind}`)
    const native = transformManifests([{ name: 'j.yaml', text: job(kind) }], 'inject', { ...options(), config: { ...defaultConfig(), nativeSidecars: 'true' } })
    t.notMatch(native.notes.join('\n'), /classic sidecar in a Job/, `native ${kind}`)
  }
  const workloads = transformManifests([source(manifestsDir, 'workloads.yaml')], 'inject', options())
  t.same(workloads.notes.filter(n => /classic sidecar in a Job/.test(n)).map(n => n.split(' (')[0]), ['Job default/migrate'], 'only the Job of the other workloads')
})

function explainText (sources: readonly Source[], opts: ManifestOptions): { output: string, errors: string[] } {
  const result = explainManifests(sources, opts)
  return { output: result.explanations.map(formatExplanation).join('\n'), errors: result.errors }
}

t.test('the examples are what the CLI produces', async t => {
  for (const dir of [examplesDir, join(examplesDir, '..', 'gateway')]) {
    for (const file of readdirSync(dir).filter(f => f.endsWith('.yaml'))) {
      const result = transformManifests([source(dir, file)], 'inject', options())
      const expected = join(dir, 'injected', file)
      if (update || !existsSync(expected)) writeFileSync(expected, result.output)
      t.equal(result.output, readFileSync(expected, 'utf8'), `${relative(join(examplesDir, '..', '..'), expected)} (make examples regenerates it)`)
    }
  }
})

t.test('the CLI checks the pod shape as the webhook does: malformed-pod with the path, no throw', async t => {
  const cases: Array<[string, string]> = [
    ['apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: {app: 7}\nspec:\n  containers: [{name: a, image: x}]\n', 'metadata.labels.app must be a string'],
    ['apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [null]\n', 'spec.containers[0] must be an object'],
    ['apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: x, env: {SECRET: hunter2}}]\n', 'spec.containers[0].env must be a list']
  ]
  for (const operation of ['inject', 'uninject'] as const) {
    for (const [text, message] of cases) {
      const result = transformManifests([{ name: 'm.yaml', text }], operation, options())
      t.equal(result.output, '', `${operation}: nothing written`)
      t.match(result.errors, [new RegExp(`rejected: malformed-pod: ${message.replace(/[.[\]]/g, '\\$&')}`)], `${operation}: ${message}`)
      t.notMatch(result.errors.join('\n'), /hunter2/, 'the value is not echoed')
    }
  }
  const explained = explainManifests([{ name: 'm.yaml', text: cases[0]?.[0] ?? '' }], options())
  t.match(explained.errors, [/malformed-pod: metadata\.labels\.app must be a string/])
  const nulls = transformManifests([{ name: 'n.yaml', text: 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: null}\nspec:\n  initContainers: null\n  containers: [{name: a, image: x, env: null}]\n' }], 'inject', options())
  t.same(nulls.errors, [], 'null lists and maps are empty, not errors')
  t.match(nulls.output, /istio-proxy/)
})

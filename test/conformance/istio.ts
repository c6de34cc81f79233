// `make conformance`: our injector against Istio's own (istio.io/istio/pkg/kube/inject, built by
// scripts/build-istio-oracle.sh), on every test fixture, every example, every pod-bearing workload
// of Istio's samples/, Istio's own test inputs for its gateway and gRPC templates, and its gateway Helm
// chart as helm renders it, both paths (offline kube-inject; the webhook with the Pods a controller
// creates, sent over HTTPS to our real server and over HTTP to Istio's), classic and native. Each pod
// template is compared property by property; a difference fails unless
// test/istio-oracle/allow-list.yaml lists it with its reason. Prints the agreement table.
// CONFORMANCE_WRITE_DOC=1 also rewrites the generated parts of docs/istio-compatibility.md and README.md.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import type { V1Container } from '@kubernetes/client-node'
import { join, relative } from 'node:path'
import jsonPatch from 'fast-json-patch'
import type { Operation } from 'fast-json-patch'
import t from 'tap'
import { parseAllDocuments, stringify } from 'yaml'
import { validateConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import { transformManifests } from '../../src/workloads/transform.js'
import { reviewFor } from '../helpers/webhook.js'
import type { InjectorConfig, Pod } from '../../src/core/types.js'
import { findAllowance, keyOf, loadAllowList } from './lib/allow-list.js'
import type { Allowance, Mode } from './lib/allow-list.js'
import { compareOutcomes } from './lib/compare.js'
import type { Difference, Outcome } from './lib/compare.js'
import { controllerPod, gatewayChartWorkloads, templateOf, templateTestInputs, workloadsIn } from './lib/corpus.js'
import type { Workload } from './lib/corpus.js'
import { helmBinary, istioModuleDir, repoRoot, startOracle } from './lib/oracle.js'
import type { Oracle } from './lib/oracle.js'
import { startOurWebhook } from './lib/our-webhook.js'
import type { AdmissionAnswer, OurWebhook } from './lib/our-webhook.js'
import { agreementTable, renderReadmeSection, renderSection } from './lib/report.js'
import type { CaseResult } from './lib/report.js'

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const statusKey = 'sidecar.istio.io/status'

/** Our config mirroring Istio's default install: its images, istio-iptables in the init container. */
function istioDefaults (mode: Mode): InjectorConfig {
  const image = 'registry.istio.io/testing/proxyv2:latest'
  const result = validateConfig({
    images: { proxy: image, init: image },
    initCommand: 'istio-iptables',
    nativeSidecars: mode === 'native' ? 'true' : 'false'
  })
  if (!result.ok) throw new Error(JSON.stringify(result.problems))
  return result.config
}

function injectedTemplate (template: Obj | undefined): Outcome {
  const meta = isObj(template?.metadata) ? template.metadata : {}
  const annotations = isObj(meta.annotations) ? meta.annotations : {}
  if (template === undefined || !(statusKey in annotations)) return { outcome: 'skipped', message: 'not injected' }
  return { outcome: 'injected', template: { metadata: meta, spec: isObj(template.spec) ? template.spec : {} } }
}

function firstDoc (yaml: string): Obj {
  const docs = parseAllDocuments(yaml)
  const list = Array.isArray(docs) ? docs : [docs]
  const doc: unknown = list.map(d => d.toJS() as unknown).find(isObj)
  return isObj(doc) ? doc : {}
}

async function offline (w: Workload, config: InjectorConfig, oracle: Oracle): Promise<{ ours: Outcome, istio: Outcome }> {
  const text = stringify(w.doc)
  const mine = transformManifests([{ name: w.name, text }], 'inject', { config, facts: {}, namespace: 'default', output: 'yaml' })
  const ours: Outcome = mine.errors.length > 0
    ? { outcome: 'rejected', message: mine.errors.join('; ') }
    : injectedTemplate(templateOf(firstDoc(mine.output), w.kind))
  const theirs = await oracle.kubeInject(text)
  const istio: Outcome = theirs.ok ? injectedTemplate(templateOf(firstDoc(theirs.output), w.kind)) : { outcome: 'rejected', message: theirs.message }
  return { ours, istio }
}

function applied (pod: Pod, response: AdmissionAnswer): Outcome {
  if (!response.allowed) return { outcome: 'rejected', message: response.status?.message ?? '' }
  if (response.patch === undefined) return { outcome: 'skipped', message: 'allowed without a patch' }
  const ops = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Operation[]
  let patched: Obj
  try {
    patched = jsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument as Obj
  } catch (err) {
    return { outcome: 'rejected', message: `the patch does not apply: ${(err as Error).message.split('\n')[0] ?? ''}` }
  }
  return { outcome: 'injected', template: { metadata: patched.metadata as Obj, spec: patched.spec as Obj } }
}

async function webhook (w: Workload, server: OurWebhook, oracle: Oracle): Promise<{ ours: Outcome, istio: Outcome }> {
  const { pod, namespace } = controllerPod(w)
  // A controller's CREATE, as the API server sends it to both webhooks: each over its own socket.
  const review = reviewFor(pod, { namespace, uid: '5f0c6a4e-3b1d-4e8a-9c2f-7d1e0b9a8c6d' })
  const ours = applied(pod, await server.review(review))
  const istio = applied(pod, await oracle.review(review))
  return { ours, istio }
}

const moduleDir = istioModuleDir()
const allowListFile = join(repoRoot, 'test/istio-oracle/allow-list.yaml')
const allowList = loadAllowList(allowListFile)
const workloads = [
  ...workloadsIn(join(repoRoot, 'test/fixtures'), repoRoot),
  ...workloadsIn(join(repoRoot, 'examples'), repoRoot),
  ...workloadsIn(join(moduleDir, 'samples'), moduleDir),
  ...templateTestInputs(moduleDir),
  ...gatewayChartWorkloads(moduleDir, helmBinary())
]
const results: CaseResult[] = []
const used = new Set<Allowance>()

for (const mode of ['classic', 'native'] as const) {
  const config = istioDefaults(mode)
  const oracle = await startOracle(mode === 'native')
  // Our real server over HTTPS on loopback: what the API server meets, not a function call.
  const server = await startOurWebhook(config)
  try {
    for (const path of ['offline', 'webhook'] as const) {
      await t.test(`${path}, ${mode}: ${workloads.length} workloads`, async t => {
        for (const w of workloads) {
          const { ours, istio } = path === 'offline' ? await offline(w, config, oracle) : await webhook(w, server, oracle)
          const differences = compareOutcomes(ours, istio)
          const unexplained: Difference[] = []
          for (const d of differences) {
            const allowance = findAllowance(allowList, d, { path, mode, workload: w.name })
            if (allowance === undefined) unexplained.push(d)
            else used.add(allowance)
          }
          results.push({ workload: w.name, path, mode, differences })
          t.same(unexplained.map(d => ({ difference: keyOf(d), ours: d.ours, istio: d.istio })), [], w.name)
        }
      })
    }
  } finally {
    oracle.stop()
    await server.stop()
  }
}

// Pods istiod injected (its golden outputs): injecting them again changes nothing the second time, and
// the first time keeps their app probers and the user's proxy overrides.
t.test("re-injection of istiod's injected pods", async t => {
  const dir = join(moduleDir, 'pkg/kube/inject/testdata/inject')
  const files = readdirSync(dir).filter(f => f.endsWith('.injected')).map(f => join(dir, f))
  const pods = workloadsIn(dir, dir, files).map(w => {
    const template = templateOf(w.doc, w.kind) ?? {}
    return { name: w.name, pod: (w.kind === 'Pod' ? w.doc : { metadata: template.metadata, spec: template.spec }) as Pod }
  })
  let stable = 0
  let injected = 0
  for (const mode of ['classic', 'native'] as const) {
    const config = istioDefaults(mode)
    for (const { name, pod } of pods) {
      const once = inject(pod, {}, config)
      if (once.outcome !== 'injected') continue
      injected++
      const twice = inject(once.pod, {}, config)
      const proxy = (p: Pod): V1Container | undefined => [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].find(c => c.name === 'istio-proxy')
      const probers = (p: Pod): string | undefined => proxy(p)?.env?.find(e => e.name === 'ISTIO_KUBE_APP_PROBERS')?.value
      const same = twice.outcome === 'injected' && isDeepStrictEqual(twice.pod, once.pod)
      if (same) stable++
      t.ok(same, `${mode} ${name}: inject(inject(x)) == inject(x)`)
      if (probers(pod) !== undefined) t.ok(probers(once.pod) !== undefined, `${mode} ${name}: the app probers are kept`)
      // The uid a user chose in their own istio-proxy, which istiod keeps only in proxy.istio.io/overrides.
      const overrides = JSON.parse(pod.metadata?.annotations?.['proxy.istio.io/overrides'] ?? '{}') as { containers?: V1Container[], initContainers?: V1Container[] }
      const uid = [...(overrides.containers ?? []), ...(overrides.initContainers ?? [])].find(c => c.name === 'istio-proxy')?.securityContext?.runAsUser
      if (uid !== undefined) t.equal(proxy(once.pod)?.securityContext?.runAsUser, uid, `${mode} ${name}: the proxy uid is kept`)
    }
  }
  console.log(`re-injection of istiod's injected pods: ${stable}/${injected} unchanged by a second injection (${2 * pods.length - injected} of ${2 * pods.length} not injected: refused or skipped)`)
})

t.test('every allow-list entry still explains a difference', async t => {
  t.same(allowList.filter(a => !used.has(a)).map(a => a.difference), [])
})

const table = agreementTable(results, (r, d) => findAllowance(allowList, d, { path: r.path, mode: r.mode, workload: r.workload }) !== undefined)
console.log(`\n${table}\n`)
const counts = new Map<string, number>()
for (const r of results) for (const d of r.differences) counts.set(`${r.path} ${keyOf(d)}`, (counts.get(`${r.path} ${keyOf(d)}`) ?? 0) + 1)
console.log([...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${String(n).padStart(5)}  ${k}`).join('\n'))
// CONFORMANCE_DETAILS=<file>: every difference with both values, for investigation.
if (process.env.CONFORMANCE_DETAILS !== undefined) writeFileSync(process.env.CONFORMANCE_DETAILS, JSON.stringify(results, null, 1))

// The generated parts of the docs must say what this run found: stale text fails the run.
const generated = [
  { file: join(repoRoot, 'docs/istio-compatibility.md'), render: renderSection },
  { file: join(repoRoot, 'README.md'), render: renderReadmeSection }
]
for (const { file, render } of generated) {
  const current = readFileSync(file, 'utf8')
  const fresh = render(current, allowList, table, workloads.length)
  if (process.env.CONFORMANCE_WRITE_DOC === '1') writeFileSync(file, fresh)
  else t.equal(current, fresh, `the generated part of ${relative(repoRoot, file)} is current (make conformance-doc)`)
}

// `make bench`: every benchmark in one run, results in bench/results/results.json, plots beside it.
//
//   node --expose-gc dist-bench/bench/run.js [--quick] [--only core,admission,memory-limit,cold-start,profile,cli,budget]
//
// Method: docs/benchmarks.md. The servers are
// pinned to CPU 0 and this process (the load generator) to CPU 1 when taskset exists.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { parseArgs } from 'node:util'
import type { AdmissionOptions, AdmissionResults } from './admission.js'
import { runAdmissionBench, runCappedHeap } from './admission.js'
import type { BudgetResults } from './budget.js'
import { runBudgetBench } from './budget.js'
import type { CliResults } from './cli.js'
import { runCliBench } from './cli.js'
import type { ColdStartResults } from './cold-start.js'
import { runColdStart } from './cold-start.js'
import type { CoreResults } from './core.js'
import { injectAndPatch, runCoreBench } from './core.js'
import type { MeasureOptions } from './measure.js'
import type { MemoryLimitResults } from './memory-cgroup.js'
import { runMemoryLimit } from './memory-cgroup.js'
import { plotAll } from './plot.js'
import type { Part, PartProvenance } from './merge-runs.js'
import { mergeRuns, parts } from './merge-runs.js'
import { loadAverage, machine } from './proc.js'
import type { ProfileSummary } from './profile.js'
import { runCoreProfile, runProfile } from './profile.js'
import { renderSummary } from './report.js'
import { defaultedReview, largeReview, scalingReview } from './reviews.js'
import { canPin, findIstioWebhook, generateCertificates, pinSelf, repoRoot } from './servers.js'

export interface BenchResults {
  startedAt: string
  durationS: number
  quick: boolean
  environment: {
    node: string
    v8: string
    openssl: string
    fastify: string
    commit: string
    cpuModel: string
    nproc: number
    memoryGiB: number
    kernel: string
    pinned: boolean
    exposeGc: boolean
    /** 1-minute load average before and after: other work on the machine shows here. */
    loadAverage: { before: number, after: number }
  }
  settings: { core: MeasureOptions, admission: AdmissionOptions, coldStartRuns: number, profileS: number }
  /** Which run measured each part: a partial run keeps older parts (bench/merge-runs.ts). */
  measuredBy?: Partial<Record<Part, PartProvenance>>
  core?: CoreResults
  admission?: AdmissionResults
  /** Our server in a memory cgroup of the Deployment's limit and without, shipped flags against V8's default (bench/memory-cgroup.ts). */
  memoryLimit?: MemoryLimitResults
  coldStart?: ColdStartResults
  profile?: { core: ProfileSummary[], server: ProfileSummary[] }
  /** The offline CLI against istioctl kube-inject (bench/cli.ts). */
  cli?: CliResults
  budget?: BudgetResults
}

function packageVersion (name: string): string {
  const pkg = JSON.parse(readFileSync(`${repoRoot}node_modules/${name}/package.json`, 'utf8')) as { version: string }
  return pkg.version
}

function gitCommit (): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: repoRoot, encoding: 'utf8' }).trim() !== ''
    return dirty ? `${commit}+uncommitted` : commit
  } catch {
    return 'unknown'
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' } } })
  const only = new Set<Part>(values.only === undefined
    ? parts
    : values.only.split(',').map(p => {
      if (!(parts as readonly string[]).includes(p)) throw new Error(`--only takes ${parts.join(', ')}; got '${p}'`)
      return p as Part
    }))
  const quick = values.quick
  // A --quick run is a smoke test: its figures never replace the committed full-run results.
  const outDir = values.out ?? (values.quick ? `${repoRoot}bench/results/quick` : `${repoRoot}bench/results`)
  const log = (line: string): void => { process.stdout.write(`${line}\n`) }

  const coreOptions: MeasureOptions = quick
    ? { warmupMs: 50, runMs: 50, runs: 3, minIterations: 3 }
    : { warmupMs: 300, runMs: 150, runs: 9, minIterations: 10 }
  const admissionOptions: AdmissionOptions = quick
    ? { concurrencies: [1, 8, 64], largestConcurrencies: [1], durationS: 1, rounds: 1, warmupS: 1, churnConcurrencies: [8], churnDurationS: 1, openLoop: { fractions: [0.5], durationS: 1, maxSockets: 64 } }
    : { concurrencies: [1, 8, 64], largestConcurrencies: [1], durationS: 4, rounds: 3, warmupS: 2, churnConcurrencies: [1, 8], churnDurationS: 3, openLoop: { fractions: [0.25, 0.5, 0.75], durationS: 5, maxSockets: 64 } }
  const coldStartRuns = quick ? 3 : 11
  const profileS = quick ? 2 : 5

  const pinned = pinSelf(1)
  const started = Date.now()
  const env = machine()
  const results: BenchResults = {
    startedAt: new Date(started).toISOString(),
    durationS: 0,
    quick,
    environment: {
      node: process.version,
      v8: process.versions.v8,
      openssl: process.versions.openssl,
      fastify: packageVersion('fastify'),
      commit: gitCommit(),
      ...env,
      pinned: pinned && canPin(),
      exposeGc: typeof (globalThis as { gc?: unknown }).gc === 'function',
      loadAverage: { before: loadAverage(), after: Number.NaN }
    },
    settings: { core: coreOptions, admission: admissionOptions, coldStartRuns, profileS }
  }
  log(`bench: ${env.cpuModel}, ${env.nproc} CPUs, Node ${process.version}, load average ${results.environment.loadAverage.before}${pinned ? ', load generator pinned to CPU 1, servers to CPU 0' : ', not pinned (no taskset)'}`)

  if (only.has('core')) results.core = runCoreBench(coreOptions, log)

  const tmp = mkdtempSync(`${tmpdir()}/sidecar-injector-bench-`)
  try {
    const needsServer = only.has('admission') || only.has('memory-limit') || only.has('cold-start') || only.has('profile') || only.has('budget')
    if (needsServer) {
      const certs = generateCertificates(`${tmp}/certs`)
      const specs = [defaultedReview(), largeReview()]
      const istio = findIstioWebhook()
      if (!istio.ok) log(`bench: Istio's webhook is absent, so its column is left out: ${istio.why}`)
      if (only.has('admission')) {
        results.admission = await runAdmissionBench(specs, scalingReview(50, 5000), certs, tmp, admissionOptions, istio, log)
        const highest = Math.max(...admissionOptions.concurrencies)
        results.admission.cappedHeap = await runCappedHeap(specs, certs, tmp, 128, highest, admissionOptions.durationS, log)
      }
      if (only.has('memory-limit')) {
        const highest = Math.max(...admissionOptions.concurrencies)
        const loads = specs.map((spec, i) => ({ spec, connections: i === 0 ? highest : 8 }))
        results.memoryLimit = await runMemoryLimit(loads, certs, tmp, admissionOptions.durationS, admissionOptions.rounds, log)
      }
      if (only.has('cold-start')) {
        const responseFile = `${tmp}/cold-start-response.json`
        writeFileSync(responseFile, '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":true}}')
        results.coldStart = await runColdStart(certs, responseFile, tmp, coldStartRuns, istio, log)
      }
      if (only.has('profile')) {
        const profiles: { core: ProfileSummary[], server: ProfileSummary[] } = { core: [], server: [] }
        for (const spec of [specs[0], scalingReview(50, 5000)]) {
          if (spec !== undefined) profiles.core.push(await runCoreProfile(spec, injectAndPatch(spec.pod), profileS * 400, log))
        }
        for (const spec of specs) profiles.server.push(await runProfile(spec, certs, tmp, 8, profileS, log))
        results.profile = profiles
      }
      if (only.has('budget')) results.budget = await runBudgetBench(certs, tmp, quick ? [16] : [16, 32, 64], log)
    }
    if (only.has('cli')) results.cli = await runCliBench(tmp, quick, log)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }

  results.environment.loadAverage.after = loadAverage()
  results.durationS = Math.round((Date.now() - started) / 1000)
  mkdirSync(outDir, { recursive: true })
  const file = `${outDir}/results.json`
  // A partial run (--only) keeps the other parts of the previous results.
  const previous = only.size < parts.length && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as BenchResults : undefined
  const merged = mergeRuns(previous, results, only)
  writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`)
  const plots = plotAll(merged, outDir)
  writeFileSync(`${outDir}/summary.md`, renderSummary(merged))
  log(`bench: done in ${results.durationS} s; wrote ${outDir}/results.json, ${outDir}/summary.md${plots.map(p => `, ${p}`).join('')}`)
}

await main()

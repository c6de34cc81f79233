// The offline CLI against `istioctl kube-inject --revision default` (built from the Go module proxy by
// scripts/build-istio-oracle.sh, configured without a cluster by `istio-oracle config`), same files,
// same run, interleaved: one workload (wall time), start-up to the first byte of output (with and
// without V8's compile cache), Istio's samples ×20 in one stream (CPU and peak RSS from GNU time),
// and the cost split per workload of our side. When istioctl (or the samples) are absent it says so
// and measures our side alone (or uses examples/ instead).
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync, writeSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { defaultConfig } from '../src/core/config.js'
import { PendingOutput } from '../src/cli/output.js'
import { streamManifests, transformDocument, transformManifests, writeDocument } from '../src/workloads/transform.js'
import { checkDocument } from '../src/workloads/templates.js'
import type { ManifestOptions } from '../src/workloads/templates.js'
import { readDocuments } from '../src/yaml/read.js'
import { cliPath, launcherPath, repoRoot, unbundledCliPath } from './servers.js'
import { median, round } from './stats.js'

const istioModule = 'istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad'

export interface Run { wallMs: number, cpuMs: number, maxRssMiB: number }
export interface CliResults {
  istioctl: string | null
  corpus: { source: string, workloads: number, documents: number, bytes: number }
  oneWorkload: { oursMs: number, istioctlMs: number | null, ratio: number | null }
  /** First byte: through the launcher (as shipped), without the compile cache, the bundle run by node directly, the unbundled tsc output, node alone. */
  startup: { firstByteMs: number, firstByteNoCacheMs: number, firstByteDirectMs?: number, firstByteUnbundledMs?: number, nodeEmptyMs: number }
  many: { ours: Run, istioctl: Run | null, cpuSpeedup: number | null, rssRatio: number | null }
  /**
   * Per workload, µs of CPU in one warm process, the stages of one streamed run timed document by
   * document: read the file, parse (the yaml package and kubectl's value rules, every document),
   * inject (the core and the workload's pod template), re-emit (untouched documents copied, touched
   * ones edited in place), write (the bounded output buffer and its copy to /dev/null).
   */
  splitUs: { read: number, parse: number, inject: number, emit: number, write: number, total: number, streamed: number }
  /** Live heap (after a full GC), MiB: before the run, with the input read, and the most seen while streaming. */
  liveHeapMiB?: { start: number, input: number, peak: number }
}

const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sidecar-injector')
const workloadKinds = /^kind:\s*(Pod|Deployment|StatefulSet|DaemonSet|ReplicaSet|ReplicationController|Job|CronJob)\s*$/gm

function findIstio (tmp: string): string[] | null {
  const bin = join(cacheDir, `istio-${istioModule.split('@')[1] ?? ''}`, 'bin')
  if (!existsSync(join(bin, 'istioctl')) || !existsSync(join(bin, 'istio-oracle'))) return null
  const config = join(tmp, 'istio-config')
  mkdirSync(config, { recursive: true })
  execFileSync(join(bin, 'istio-oracle'), ['config', config])
  return [join(bin, 'istioctl'), 'kube-inject', '--revision', 'default', '--meshConfigFile', join(config, 'mesh.yaml'),
    '--injectConfigFile', join(config, 'inject-config.yaml'), '--valuesFile', join(config, 'values.json'), '-f']
}

/** Istio's samples (every YAML file istioctl injects without error), ×copies, as one stream. */
function buildCorpus (tmp: string, istioctl: string[] | null, copies: number, log: (l: string) => void): CliResults['corpus'] & { file: string, one: string } {
  const samples = join(process.env.GOMODCACHE ?? join(homedir(), 'go', 'pkg', 'mod'), istioModule, 'samples')
  let texts: string[] = []
  let source = `Istio's samples (${samples}) ×${copies}`
  if (existsSync(samples)) {
    const files = readdirSync(samples, { recursive: true }).map(String).filter(f => /\.ya?ml$/.test(f)).sort()
    for (const f of files) {
      const text = readFileSync(join(samples, f), 'utf8')
      if (!/^kind:\s*(Deployment|Pod|StatefulSet|DaemonSet|Job|CronJob)\s*$/m.test(text)) continue
      // Only files both sides take: istioctl refuses templated (Helm) files and some kinds.
      const ours = transformManifests([{ name: f, text }], 'inject', options())
      const theirs = istioctl === null ? 0 : spawnSync(istioctl[0] as string, [...istioctl.slice(1), join(samples, f)], { stdio: 'ignore' }).status
      if (ours.errors.length === 0 && theirs === 0) texts.push(text)
    }
  } else {
    source = `examples/bookinfo ×${copies} (Istio's samples not in the Go module cache)`
    texts = readdirSync(join(repoRoot, 'examples', 'bookinfo')).filter(f => f.endsWith('.yaml')).map(f => readFileSync(join(repoRoot, 'examples', 'bookinfo', f), 'utf8'))
  }
  const one = texts.join('\n---\n')
  const stream = Array(copies).fill(one).join('\n---\n')
  const file = join(tmp, 'corpus.yaml')
  writeFileSync(file, stream)
  const single = join(tmp, 'one.yaml')
  writeFileSync(single, 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sleep\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: sleep\n  template:\n    metadata:\n      labels:\n        app: sleep\n    spec:\n      containers:\n      - name: sleep\n        image: curlimages/curl\n        command: ["/bin/sleep", "infinity"]\n')
  const workloads = [...stream.matchAll(workloadKinds)].length
  const documents = [...readDocuments(stream)].length
  log(`cli: corpus ${source}: ${workloads} workloads in ${documents} documents, ${round(stream.length / 1024)} KiB`)
  return { source, workloads, documents, bytes: stream.length, file, one: single }
}

function options (output: 'yaml' | 'json' = 'yaml'): ManifestOptions {
  return { config: defaultConfig(), facts: {}, namespace: 'default', output }
}

/** Wall, CPU (user+sys) and peak RSS of a command, from GNU time. */
function timed (argv: string[], env: NodeJS.ProcessEnv = process.env): Run {
  const start = process.hrtime.bigint()
  const run = spawnSync('/usr/bin/time', ['-f', 'TIME %U %S %M', ...argv], { env, encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 })
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6
  const m = /TIME ([\d.]+) ([\d.]+) (\d+)/.exec(run.stderr)
  if (run.status !== 0 || m === null) throw new Error(`${argv.join(' ')} failed: ${run.stderr.slice(-500)}`)
  return { wallMs: round(wallMs), cpuMs: round((Number(m[1]) + Number(m[2])) * 1000), maxRssMiB: round(Number(m[3]) / 1024) }
}

/** Spawn to the first byte on stdout. */
async function firstByte (argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const start = process.hrtime.bigint()
  return await new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'ignore'] })
    let at: number | undefined
    child.stdout.once('data', () => { at = Number(process.hrtime.bigint() - start) / 1e6 })
    child.stdout.resume()
    child.on('error', reject)
    child.on('exit', () => { at === undefined ? reject(new Error(`${argv.join(' ')} wrote nothing`)) : resolve(at) })
  })
}

function medianRun (runs: Run[]): Run {
  return { wallMs: round(median(runs.map(r => r.wallMs))), cpuMs: round(median(runs.map(r => r.cpuMs))), maxRssMiB: round(median(runs.map(r => r.maxRssMiB))) }
}

function cpuNow (): number {
  const used = process.cpuUsage()
  return used.user + used.system
}

/**
 * The CLI's own path (src/workloads/transform.ts streamManifests into src/cli/output.ts), its stages
 * timed one document at a time, after two untimed runs to warm the JIT; then the live heap of a run
 * with a full GC every 100 documents (needs --expose-gc, which `npm run bench` gives).
 */
async function costSplit (file: string, workloads: number): Promise<{ splitUs: CliResults['splitUs'], liveHeapMiB?: CliResults['liveHeapMiB'] }> {
  const opts = options()
  const devNull = openSync('/dev/null', 'w')
  const sink = { stdout: (text: string): void => { writeSync(devNull, text) }, stderr: () => {}, env: {}, stdin: process.stdin, cwd: '.' }
  try {
    for (let i = 0; i < 2; i++) streamManifests([{ name: 'c', text: readFileSync(file, 'utf8') }], 'inject', opts, () => {})
    const streamedStart = cpuNow()
    const output0 = new PendingOutput()
    streamManifests([{ name: 'c', text: readFileSync(file, 'utf8') }], 'inject', opts, output0.write)
    await output0.commit(sink)
    const streamed = cpuNow() - streamedStart

    const at = { read: 0, parse: 0, inject: 0, emit: 0, write: 0 }
    let t = cpuNow()
    const text = readFileSync(file, 'utf8')
    at.read = cpuNow() - t
    const output = new PendingOutput()
    const notes: string[] = []
    const errors: string[] = []
    const documents = readDocuments(text)
    let first = true
    for (;;) {
      t = cpuNow()
      const next = documents.next()
      let now = cpuNow()
      at.parse += now - t
      if (next.done === true) break
      t = now
      const doc = checkDocument(next.value, 'c', errors)
      const out = doc === undefined ? undefined : transformDocument(doc, `c, document ${next.value.index}`, 'inject', opts, notes, errors)
      now = cpuNow()
      at.inject += now - t
      if (out === undefined) continue
      t = now
      const piece = writeDocument(text, next.value, out, first)
      first = false
      now = cpuNow()
      at.emit += now - t
      t = now
      output.write(piece)
      at.write += cpuNow() - t
    }
    t = cpuNow()
    await output.commit(sink)
    at.write += cpuNow() - t
    if (errors.length > 0) throw new Error(`cli: the corpus has errors: ${errors[0] ?? ''}`)
    const per = (us: number): number => round(us / workloads)
    const splitUs = { read: per(at.read), parse: per(at.parse), inject: per(at.inject), emit: per(at.emit), write: per(at.write), total: per(at.read + at.parse + at.inject + at.emit + at.write), streamed: per(streamed) }

    const gc = (globalThis as { gc?: () => void }).gc
    if (gc === undefined) return { splitUs }
    const heapMiB = (): number => { gc(); return round(process.memoryUsage().heapUsed / 1024 / 1024) }
    const start = heapMiB()
    const input = readFileSync(file, 'utf8')
    const withInput = heapMiB()
    let peak = withInput
    let documentsSeen = 0
    const held = new PendingOutput()
    streamManifests([{ name: 'c', text: input }], 'inject', opts, piece => {
      held.write(piece)
      if (++documentsSeen % 100 === 0) peak = Math.max(peak, heapMiB())
    })
    held.discard()
    return { splitUs, liveHeapMiB: { start, input: withInput, peak } }
  } finally {
    closeSync(devNull)
  }
}

export async function runCliBench (tmp: string, quick: boolean, log: (l: string) => void): Promise<CliResults> {
  const istioctl = findIstio(tmp)
  log(istioctl === null ? `cli: istioctl not built (${cacheDir}/istio-*/bin; scripts/build-istio-oracle.sh builds it): measuring our side alone` : `cli: against ${istioctl[0] ?? ''} kube-inject --revision default`)
  const corpus = buildCorpus(tmp, istioctl, 20, log)
  const node = process.execPath
  // As shipped: the command `make install-cli` puts on PATH (its launcher's start-up and Node flags count).
  const ours = (file: string): string[] => [launcherPath, 'inject', '-f', file]
  const runs = quick ? 3 : 11
  const env = { ...process.env }
  const noCache = { ...process.env, NODE_DISABLE_COMPILE_CACHE: '1' }

  // One workload, interleaved.
  const one: { ours: number[], theirs: number[] } = { ours: [], theirs: [] }
  timed(ours(corpus.one)) // fills the compile cache
  for (let i = 0; i < runs; i++) {
    one.ours.push(timed(ours(corpus.one)).wallMs)
    if (istioctl !== null) one.theirs.push(timed([...istioctl, corpus.one]).wallMs)
  }
  const oursMs = round(median(one.ours))
  const istioctlMs = istioctl === null ? null : round(median(one.theirs))
  log(`cli: one workload: ours ${oursMs} ms${istioctlMs === null ? '' : `, istioctl ${istioctlMs} ms, ratio ${round(oursMs / istioctlMs)} (target <= 0.5)`}`)

  // The levers, interleaved: the launcher with and without V8's compile cache, the bundle run by node
  // directly (what the launcher costs), the unbundled tsc output (hundreds of modules), and node alone.
  const unbundled = [node, unbundledCliPath, 'inject', '-f', corpus.one]
  const direct = [node, cliPath, 'inject', '-f', corpus.one]
  await firstByte(unbundled, env) // fills its compile cache
  const fb: { cached: number[], uncached: number[], direct: number[], unbundled: number[], empty: number[] } = { cached: [], uncached: [], direct: [], unbundled: [], empty: [] }
  for (let i = 0; i < runs; i++) {
    fb.cached.push(await firstByte(ours(corpus.one), env))
    fb.uncached.push(await firstByte(ours(corpus.one), noCache))
    fb.direct.push(await firstByte(direct, env))
    fb.unbundled.push(await firstByte(unbundled, env))
    fb.empty.push(await firstByte([node, '-e', 'process.stdout.write("x")'], env))
  }
  const startup = { firstByteMs: round(median(fb.cached)), firstByteNoCacheMs: round(median(fb.uncached)), firstByteDirectMs: round(median(fb.direct)), firstByteUnbundledMs: round(median(fb.unbundled)), nodeEmptyMs: round(median(fb.empty)) }
  log(`cli: start-up to first byte: ${startup.firstByteMs} ms (launcher, bundle, compile cache), ${startup.firstByteNoCacheMs} ms without the cache, ${startup.firstByteDirectMs} ms the bundle by node directly, ${startup.firstByteUnbundledMs} ms unbundled with the cache, node -e alone ${startup.nodeEmptyMs} ms (target <= 100)`)

  const many: { ours: Run[], theirs: Run[] } = { ours: [], theirs: [] }
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    many.ours.push(timed(ours(corpus.file)))
    if (istioctl !== null) many.theirs.push(timed([...istioctl, corpus.file]))
  }
  const o = medianRun(many.ours)
  const th = istioctl === null ? null : medianRun(many.theirs)
  const manyResult = { ours: o, istioctl: th, cpuSpeedup: th === null ? null : round(th.cpuMs / o.cpuMs), rssRatio: th === null ? null : round(o.maxRssMiB / th.maxRssMiB) }
  log(`cli: ${corpus.workloads} workloads: ours ${o.cpuMs} ms CPU, ${o.wallMs} ms wall, ${o.maxRssMiB} MiB peak RSS` +
    (th === null ? '' : `; istioctl ${th.cpuMs} ms CPU, ${th.wallMs} ms wall, ${th.maxRssMiB} MiB; CPU ${manyResult.cpuSpeedup}× faster (target >= 5), RSS ${manyResult.rssRatio}× istioctl's (target <= 1)`))

  const { splitUs, liveHeapMiB } = await costSplit(corpus.file, corpus.workloads)
  log(`cli: per workload (µs CPU, warm, in-process): read ${splitUs.read}, parse ${splitUs.parse}, inject ${splitUs.inject}, re-emit ${splitUs.emit}, write ${splitUs.write}; ` +
    `sum ${splitUs.total} (an untimed streamed run: ${splitUs.streamed})`)
  if (liveHeapMiB !== undefined) log(`cli: live heap (MiB, after full GCs): ${liveHeapMiB.start} at rest, ${liveHeapMiB.input} with the input read, at most ${liveHeapMiB.peak} while streaming`)
  return { istioctl: istioctl?.[0] ?? null, corpus: { source: corpus.source, workloads: corpus.workloads, documents: corpus.documents, bytes: corpus.bytes }, oneWorkload: { oursMs, istioctlMs, ratio: istioctlMs === null ? null : round(oursMs / istioctlMs) }, startup, many: manyResult, splitUs, ...(liveHeapMiB === undefined ? {} : { liveHeapMiB }) }
}

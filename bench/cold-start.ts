// Cold start: from spawning the process to the first 200 on GET /readyz over HTTPS (polled every
// 2 ms on new connections), for our server and the baseline, next to `node -e ''` (the runtime's own
// start). Runs are interleaved so that load from elsewhere falls on all three alike.
import { spawn } from 'node:child_process'
import type { Certificates, IstioWebhook, RunningProcess } from './servers.js'
import { baselineArgs, cliPath, freePort, ourServerArgs, repoRoot, spawnIstioWebhook, spawnNode, stopProcess, unbundledCliPath, waitReady } from './servers.js'
import { median, round } from './stats.js'

export interface StartFigures { medianMs: number, minMs: number, maxMs: number, runsMs: number[] }

export interface ColdStartResults {
  runs: number
  ours: StartFigures
  baseline: StartFigures
  nodeEmpty: StartFigures
  /**
   * `node -e "await import('@kubernetes/client-node')"`: `serve` loads it at start-up through
   * src/kube/in-cluster.ts, even when no Kubernetes integration is used.
   */
  importClientNode: StartFigures
  /**
   * The start-up levers, each on its own: the shipped start (bundle + V8 compile cache, warm after
   * the unmeasured first start) against the bundle without the cache, and the unbundled dist/cli.js with and without it.
   */
  levers?: { bundleNoCache: StartFigures, unbundledCache: StartFigures, unbundledNoCache: StartFigures }
  /** Istio's webhook (Go), spawn to the first 200 on /readyz; absent without its build. */
  istio?: StartFigures
  /** The CLI's first output: spawn to exit of `sidecar-injector --version` and of `inject` of one pod. */
  cliVersion?: StartFigures
  cliInject?: StartFigures
  /** ours ÷ baseline, ours ÷ node -e '' (medians), ours ÷ Istio. */
  ratio: { toBaseline: number, toNodeEmpty: number, toIstio?: number }
}

function summarise (values: number[]): StartFigures {
  return {
    medianMs: round(median(values)),
    minMs: round(Math.min(...values)),
    maxMs: round(Math.max(...values)),
    runsMs: values.map(v => round(v))
  }
}

async function timeToReady (name: string, args: (port: number) => string[], certs: Certificates, logFile: string, spawnServer?: (port: number) => RunningProcess): Promise<number> {
  const port = await freePort()
  const start = process.hrtime.bigint()
  const proc = spawnServer === undefined ? spawnNode(name, args(port), port, logFile) : spawnServer(port)
  try {
    const ready = await waitReady(proc, certs.ca, 20_000, 2)
    return Number(ready - start) / 1e6
  } finally {
    await stopProcess(proc)
  }
}

/** Spawn to exit of `node -e <script>`, run from the repository (so that imports resolve). */
async function timeNodeScript (script: string): Promise<number> {
  return await timeNode(['--input-type=module', '-e', script])
}

/** Spawn to exit of `node <args>` (stdin from `input` when given), run from the repository. */
async function timeNode (args: string[], input?: string): Promise<number> {
  const start = process.hrtime.bigint()
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'ignore'], cwd: repoRoot })
    child.on('error', reject)
    child.on('exit', code => { code === 0 ? resolve() : reject(new Error(`node ${args.join(' ')} exited with ${String(code)}`)) })
    if (input !== undefined) child.stdin?.end(input)
  })
  return Number(process.hrtime.bigint() - start) / 1e6
}

const onePod = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\nspec:\n  containers:\n  - name: web\n    image: nginx\n'

export async function runColdStart (certs: Certificates, responseFile: string, tmp: string, runs: number, istioWebhook: IstioWebhook, log: (line: string) => void): Promise<ColdStartResults> {
  const ours: number[] = []
  const baseline: number[] = []
  const nodeEmpty: number[] = []
  const importClientNode: number[] = []
  const istio: number[] = []
  const bundleNoCache: number[] = []
  const unbundledCache: number[] = []
  const unbundledNoCache: number[] = []
  // NODE_DISABLE_COMPILE_CACHE turns module.enableCompileCache() into a no-op.
  const noCache = { NODE_DISABLE_COMPILE_CACHE: '1' }
  const withEnv = (env: Record<string, string>, cli: string) => (port: number): RunningProcess =>
    spawnNode('sidecar-injector serve', ourServerArgs(port, certs, [], cli), port, `${tmp}/cold-ours.log`, 0, env)
  const cliVersion: number[] = []
  const cliInject: number[] = []
  // One unmeasured round: the first start after a build also pays for the disk cache.
  await timeToReady('sidecar-injector serve', port => ourServerArgs(port, certs), certs, `${tmp}/cold-ours.log`)
  await timeToReady('dist/cli.js', () => [], certs, '', withEnv({}, unbundledCliPath))
  for (let i = 0; i < runs; i++) {
    ours.push(await timeToReady('sidecar-injector serve', port => ourServerArgs(port, certs), certs, `${tmp}/cold-ours.log`))
    baseline.push(await timeToReady('baseline-server', port => baselineArgs(port, certs, responseFile), certs, `${tmp}/cold-baseline.log`))
    nodeEmpty.push(await timeNodeScript(''))
    importClientNode.push(await timeNodeScript('await import(\'@kubernetes/client-node\')'))
    bundleNoCache.push(await timeToReady('bundle, no compile cache', () => [], certs, '', withEnv(noCache, cliPath)))
    unbundledCache.push(await timeToReady('dist/cli.js', () => [], certs, '', withEnv({}, unbundledCliPath)))
    unbundledNoCache.push(await timeToReady('dist/cli.js, no compile cache', () => [], certs, '', withEnv(noCache, unbundledCliPath)))
    if (istioWebhook.ok) {
      istio.push(await timeToReady('istio-webhook', () => [], certs, `${tmp}/cold-istio.log`, port => spawnIstioWebhook(istioWebhook, port, certs, `${tmp}/cold-istio.log`)))
    }
    cliVersion.push(await timeNode([cliPath, '--version']))
    cliInject.push(await timeNode([cliPath, 'inject', '-f', '-'], onePod))
  }
  const results: ColdStartResults = {
    runs,
    ours: summarise(ours),
    baseline: summarise(baseline),
    nodeEmpty: summarise(nodeEmpty),
    importClientNode: summarise(importClientNode),
    levers: { bundleNoCache: summarise(bundleNoCache), unbundledCache: summarise(unbundledCache), unbundledNoCache: summarise(unbundledNoCache) },
    cliVersion: summarise(cliVersion),
    cliInject: summarise(cliInject),
    ratio: { toBaseline: round(median(ours) / median(baseline)), toNodeEmpty: round(median(ours) / median(nodeEmpty)) }
  }
  if (istio.length > 0) {
    results.istio = summarise(istio)
    results.ratio.toIstio = round(median(ours) / median(istio))
  }
  log(`cold start (median of ${runs}): ours ${results.ours.medianMs} ms (${results.ours.minMs}–${results.ours.maxMs}), ` +
    `baseline ${results.baseline.medianMs} ms, node -e '' ${results.nodeEmpty.medianMs} ms, import of @kubernetes/client-node ${results.importClientNode.medianMs} ms` +
    `${results.istio === undefined ? '' : `, Istio's webhook ${results.istio.medianMs} ms`}; CLI --version ${results.cliVersion?.medianMs ?? '?'} ms, inject of one pod ${results.cliInject?.medianMs ?? '?'} ms`)
  return results
}

// Cold start: from spawning the process to the first 200 on GET /readyz over HTTPS (polled every
// 2 ms on new connections), for our server and the baseline, next to `node -e ''` (the runtime's own
// start). Runs are interleaved so that load from elsewhere falls on all three alike.
import { spawn } from 'node:child_process'
import type { Certificates } from './servers.js'
import { baselineArgs, freePort, ourServerArgs, repoRoot, spawnNode, stopProcess, waitReady } from './servers.js'
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
  /** ours ÷ baseline, ours ÷ node -e '' (medians). */
  ratio: { toBaseline: number, toNodeEmpty: number }
}

function summarise (values: number[]): StartFigures {
  return {
    medianMs: round(median(values)),
    minMs: round(Math.min(...values)),
    maxMs: round(Math.max(...values)),
    runsMs: values.map(v => round(v))
  }
}

async function timeToReady (name: string, args: (port: number) => string[], certs: Certificates, logFile: string): Promise<number> {
  const port = await freePort()
  const start = process.hrtime.bigint()
  const proc = spawnNode(name, args(port), port, logFile)
  try {
    const ready = await waitReady(proc, certs.ca, 20_000, 2)
    return Number(ready - start) / 1e6
  } finally {
    await stopProcess(proc)
  }
}

/** Spawn to exit of `node -e <script>`, run from the repository (so that imports resolve). */
async function timeNodeScript (script: string): Promise<number> {
  const start = process.hrtime.bigint()
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore', cwd: repoRoot })
    child.on('error', reject)
    child.on('exit', code => { code === 0 ? resolve() : reject(new Error(`node -e '${script}' exited with ${String(code)}`)) })
  })
  return Number(process.hrtime.bigint() - start) / 1e6
}

export async function runColdStart (certs: Certificates, responseFile: string, tmp: string, runs: number, log: (line: string) => void): Promise<ColdStartResults> {
  const ours: number[] = []
  const baseline: number[] = []
  const nodeEmpty: number[] = []
  const importClientNode: number[] = []
  // One unmeasured round: the first start after a build also pays for the disk cache.
  await timeToReady('sidecar-injector serve', port => ourServerArgs(port, certs), certs, `${tmp}/cold-ours.log`)
  for (let i = 0; i < runs; i++) {
    ours.push(await timeToReady('sidecar-injector serve', port => ourServerArgs(port, certs), certs, `${tmp}/cold-ours.log`))
    baseline.push(await timeToReady('baseline-server', port => baselineArgs(port, certs, responseFile), certs, `${tmp}/cold-baseline.log`))
    nodeEmpty.push(await timeNodeScript(''))
    importClientNode.push(await timeNodeScript('await import(\'@kubernetes/client-node\')'))
  }
  const results: ColdStartResults = {
    runs,
    ours: summarise(ours),
    baseline: summarise(baseline),
    nodeEmpty: summarise(nodeEmpty),
    importClientNode: summarise(importClientNode),
    ratio: { toBaseline: round(median(ours) / median(baseline)), toNodeEmpty: round(median(ours) / median(nodeEmpty)) }
  }
  log(`cold start (median of ${runs}): ours ${results.ours.medianMs} ms (${results.ours.minMs}–${results.ours.maxMs}), ` +
    `baseline ${results.baseline.medianMs} ms, node -e '' ${results.nodeEmpty.medianMs} ms, import of @kubernetes/client-node ${results.importClientNode.medianMs} ms`)
  return results
}

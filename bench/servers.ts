// Starting, probing and stopping the two servers the admission benchmark compares: ours
// (`node dist/cli.js serve`, the shipped build) and the baseline (bench/baseline-server). Both listen
// on 127.0.0.1 only, pinned to CPU 0 when taskset exists (the load generator takes CPU 1).
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { request } from 'node:https'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'

/** The repository root: this file runs from dist-bench/bench/. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
/** The shipped entry point: the bundle (dist/bundle/, built by `npm run build`), as the image and bin/ run it. */
export const cliPath = `${repoRoot}dist/bundle/cli.js`
/** The same code as tsc emits it, one file per module: profiles attribute time by file from it. */
export const unbundledCliPath = `${repoRoot}dist/cli.js`
/** The command `make install-cli` puts on PATH: the bundle, run by bin/sidecar-injector with its Node flags. */
export const launcherPath = `${repoRoot}bin/sidecar-injector`
/** The webhook's container in the shipped Deployment (manifests/deployment.yaml, which the chart renders the same). */
export interface DeployedContainer { env?: Array<{ name?: string, value?: string }>, resources?: { limits?: { memory?: string } } }
export function deployedContainer (root = repoRoot): DeployedContainer {
  const deployment = parseYaml(readFileSync(`${root}/manifests/deployment.yaml`, 'utf8')) as { spec?: { template?: { spec?: { containers?: DeployedContainer[] } } } }
  const container = deployment.spec?.template?.spec?.containers?.[0]
  if (container === undefined) throw new Error('manifests/deployment.yaml has no container')
  return container
}

/** The Node flags the Deployment gives the webhook (NODE_OPTIONS): the bench and the process tests run the server as deployed. */
export function deploymentNodeOptions (root = repoRoot): string[] {
  const value = deployedContainer(root).env?.find(e => e.name === 'NODE_OPTIONS')?.value
  if (value === undefined) throw new Error('manifests/deployment.yaml gives the webhook no NODE_OPTIONS')
  return value.split(/\s+/).filter(f => f !== '')
}

export const baselinePath = `${repoRoot}dist-bench/bench/baseline-server.js`
/** The name the API server puts in SNI for the default Service (docs/benchmarks.md). */
export const serverName = 'sidecar-injector.sidecar-injector.svc'

export interface Certificates { dir: string, ca: Buffer, cert: string, key: string }

let tasksetAvailable: boolean | undefined
export function canPin (): boolean {
  tasksetAvailable ??= spawnSync('taskset', ['-c', '0', 'true']).status === 0
  return tasksetAvailable
}

/** Pins this process (the load generator) to a CPU, when possible. */
export function pinSelf (cpu: number): boolean {
  if (!canPin()) return false
  return spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)]).status === 0
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')) })
    })
  })
}

export interface RunningProcess {
  name: string
  child: ChildProcess
  pid: number
  port: number
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>
}

/**
 * Spawns `node <args>` on CPU `cpu`, output to `logFile`. The pid is node's own: taskset execs it.
 * `cgroupProcs`: a cgroup's cgroup.procs file the process joins before Node starts (bench/memory-cgroup.ts).
 */
export function spawnNode (name: string, nodeArgs: string[], port: number, logFile: string, cpu = 0, env: Record<string, string> = {}, cgroupProcs?: string): RunningProcess {
  return spawnProcess(name, process.execPath, nodeArgs, port, logFile, cpu, env, cgroupProcs)
}

/**
 * Istio's injection webhook (bench/istio-webhook, built by scripts/build-istio-webhook.sh into
 * ~/.cache): the binary and the chart directory its config is read from, or why it is absent.
 */
export type IstioWebhook = { ok: true, binary: string, chart: string, version: string } | { ok: false, why: string }

export function findIstioWebhook (): IstioWebhook {
  const script = `${repoRoot}scripts/build-istio-webhook.sh`
  const run = (arg: string): { ok: boolean, out: string } => {
    const result = spawnSync(script, [arg], { encoding: 'utf8' })
    return { ok: result.status === 0, out: result.status === 0 ? result.stdout.trim() : (result.stderr || result.stdout).trim() }
  }
  const binary = run('--print')
  if (!binary.ok) return { ok: false, why: binary.out || 'scripts/build-istio-webhook.sh --print failed' }
  const chart = run('--chart')
  if (!chart.ok) return { ok: false, why: chart.out }
  const version = /istio-(v[^/]+)\/bin/.exec(binary.out)?.[1] ?? 'unknown'
  return { ok: true, binary: binary.out, chart: chart.out, version }
}

/**
 * Spawns Istio's webhook on CPU `cpu` like spawnNode. Classic sidecars (ENABLE_NATIVE_SIDECARS=false),
 * as our server injects without node facts; one CPU, as taskset gives Go's runtime (GOMAXPROCS).
 */
export function spawnIstioWebhook (istio: { binary: string, chart: string }, port: number, certs: Certificates, logFile: string, cpu = 0): RunningProcess {
  const args = ['--port', String(port), '--cert', certs.cert, '--key', certs.key, '--chart', istio.chart]
  return spawnProcess('istio-webhook', istio.binary, args, port, logFile, cpu, { ENABLE_NATIVE_SIDECARS: 'false' })
}

function spawnProcess (name: string, executable: string, execArgs: string[], port: number, logFile: string, cpu: number, env: Record<string, string> = {}, cgroupProcs?: string): RunningProcess {
  const out = openSync(logFile, 'a')
  const pinned = canPin() ? ['taskset', '-c', String(cpu), executable, ...execArgs] : [executable, ...execArgs]
  // Into the cgroup before exec: Node reads its memory limit once, at start-up, to size V8's heap.
  const [command, ...args] = cgroupProcs === undefined ? pinned : ['sh', '-c', 'echo $$ > "$0" && exec "$@"', cgroupProcs, ...pinned]
  if (command === undefined) throw new Error(`nothing to run for ${name}`)
  const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', out, out], env: { ...process.env, ...env } })
  closeSync(out)
  if (child.pid === undefined) throw new Error(`could not start ${name}`)
  const exited = new Promise<number | null>(resolve => { child.once('exit', code => { resolve(code) }) })
  return { name, child, pid: child.pid, port, exited }
}

/** Our server as deployed: the Deployment's Node flags first, so that a benchmark's own flags win. */
export function ourServerArgs (port: number, certs: Certificates, extraNodeArgs: string[] = [], cli = cliPath): string[] {
  return [...deploymentNodeOptions(), ...extraNodeArgs, cli, 'serve', '--host', '127.0.0.1', '--port', String(port),
    '--tls-cert-file', certs.cert, '--tls-private-key-file', certs.key, '--drain-seconds', '0', '--log-level', 'info']
}

export function baselineArgs (port: number, certs: Certificates, responseFile: string, extraNodeArgs: string[] = []): string[] {
  return [...extraNodeArgs, baselinePath, '--port', String(port), '--cert', certs.cert, '--key', certs.key, '--response', responseFile]
}

export interface HttpsAnswer { status: number, body: string }

/** One HTTPS request on a new connection (agent: false), verified against the benchmark CA. */
export async function httpsRequest (port: number, ca: Buffer, method: string, path: string, body?: string, timeoutMs = 5000): Promise<HttpsAnswer> {
  return await new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method,
      path,
      ca,
      servername: serverName,
      agent: false,
      timeout: timeoutMs,
      headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)) })
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * Polls GET /readyz until it answers 200; resolves with the time it became ready
 * (process.hrtime.bigint). Bounded by timeoutMs; fails early if the process exits.
 */
export async function waitReady (proc: RunningProcess, ca: Buffer, timeoutMs = 20_000, pollMs = 2): Promise<bigint> {
  const deadline = Date.now() + timeoutMs
  let exitCode: number | null | undefined
  proc.exited.then(code => { exitCode = code }, () => {})
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`${proc.name} exited with code ${String(exitCode)} before it was ready`)
    try {
      const answer = await httpsRequest(proc.port, ca, 'GET', '/readyz', undefined, 1000)
      if (answer.status === 200) return process.hrtime.bigint()
    } catch {
      // Not listening yet.
    }
    await sleep(pollMs)
  }
  throw new Error(`${proc.name} was not ready within ${timeoutMs} ms`)
}

/** SIGTERM, then SIGKILL if it has not exited within graceMs. */
export async function stopProcess (proc: RunningProcess, graceMs = 15_000): Promise<number | null> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.child.exitCode
  proc.child.kill('SIGTERM')
  const timer = setTimeout(() => { proc.child.kill('SIGKILL') }, graceMs)
  try {
    return await proc.exited
  } finally {
    clearTimeout(timer)
  }
}

/** `node dist/cli.js certs`: an ECDSA P-256 CA and serving certificate for 127.0.0.1 and the Service name. */
export function generateCertificates (dir: string): Certificates {
  const result = spawnSync(process.execPath, [cliPath, 'certs', '--out', dir, '--ip', '127.0.0.1'], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`sidecar-injector certs failed (${String(result.status)}): ${result.stderr}`)
  return { dir, ca: readFileSync(`${dir}/ca.crt`), cert: `${dir}/tls.crt`, key: `${dir}/tls.key` }
}

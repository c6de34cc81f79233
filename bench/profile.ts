// Profiles our server under load (`node --cpu-prof`) and summarises the .cpuprofile: where the busy
// time goes by function (self and inclusive) and by area (core, admission, http adapter, fastify,
// logging, metrics, JSON, GC, the rest of the runtime: TLS, sockets).
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { startOurServer } from './admission.js'
import { keepAliveLoad } from './load.js'
import type { ReviewSpec } from './reviews.js'
import type { Certificates } from './servers.js'
import { repoRoot, stopProcess, unbundledCliPath } from './servers.js'
import { round } from './stats.js'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame, children?: number[] }
export interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number }

/** A time window in µs of CLOCK_MONOTONIC, the clock of both V8's profile and process.hrtime. */
export interface Window { fromUs: number, toUs: number }

export interface ProfileEntry { name: string, ms: number, percent: number }

export interface ProfileSummary {
  review: string
  connections: number
  requests: number
  /** Sampled time that was not (idle). */
  busyMs: number
  busyUsPerRequest: number
  byArea: ProfileEntry[]
  topSelf: ProfileEntry[]
  /** Inclusive time of the functions that make up the admission path. */
  inclusive: ProfileEntry[]
  /** Busy time split by stage of a request (splitOf): each sample counted once. */
  split?: ProfileEntry[]
}

/** The stages of one admission request, in the order a request meets them. */
export const stages = ['TLS/HTTP', 'body read', 'JSON.parse', 'shape check', 'decide', 'inject', 'patch', 'encode',
  'response write', 'logging', 'metrics', 'GC', 'other'] as const
export type Stage = typeof stages[number]

const stageByFunction: Record<string, Stage> = {
  encodePatch: 'encode',
  diffPatch: 'patch',
  decide: 'decide',
  inject: 'inject',
  parseReview: 'shape check',
  exceedsDepth: 'shape check',
  checkJsonShape: 'shape check',
  rawBody: 'body read',
  onData: 'body read',
  onEnd: 'body read',
  serialize: 'response write',
  onSendEnd: 'response write',
  onSendHook: 'response write',
  writevGeneric: 'response write',
  writeGeneric: 'response write'
}

/**
 * The stage a sample belongs to, from its stack (leaf first): logging and metrics anywhere on the
 * stack win (pino's write is a socket or file write too), then the innermost named stage; JSON.parse
 * is the builtin itself, and secure-json-parse's own frames (its prototype scans) count as shape check.
 */
export function splitOf (stack: CallFrame[]): Stage {
  const leaf = stack[0]
  if (leaf === undefined) return 'other'
  if (leaf.functionName === '(garbage collector)') return 'GC'
  for (const frame of stack) {
    const area = areaOf(frame)
    if (area === 'logging (pino)') return 'logging'
    if (area === 'metrics (prom-client)') return 'metrics'
  }
  if (leaf.url === '' && leaf.functionName === 'parse') return 'JSON.parse'
  // Our body parser is JSON.parse and nothing else (the builtin is inlined into it).
  if (leaf.functionName === 'parseJsonBody') return 'JSON.parse'
  // secure-json-parse calls JSON.parse from _parse (the builtin shows as _parse's self time), then
  // scans the text with regular expressions and walks the result for prototype keys.
  if (leaf.url.includes('node_modules/secure-json-parse') && leaf.functionName === '_parse') return 'JSON.parse'
  for (const frame of stack) {
    // The pod's shape check (core/pod-shape.ts) runs inside the body's 'end' callback: without this
    // it counted as body read.
    if (frame.url.includes('node_modules/secure-json-parse') || frame.url.endsWith('/core/pod-shape.js')) return 'shape check'
    const stage = stageByFunction[frame.functionName]
    if (stage !== undefined && (frame.url.includes('/dist') || frame.url.includes('node_modules/fastify') || frame.url.startsWith('node:'))) return stage
  }
  const area = areaOf(leaf)
  if (area === 'runtime (native: TLS, sockets, compiler)' || area === 'node (lib)' || area === 'fastify' || area === 'runtime (builtins)') return 'TLS/HTTP'
  return 'other'
}

/** The area a frame belongs to, by the file it comes from. */
export function areaOf (frame: CallFrame): string {
  const { url, functionName } = frame
  if (functionName === '(garbage collector)') return 'gc'
  if (functionName === '(idle)') return 'idle'
  if (functionName === '(program)' || functionName === '(root)') return 'runtime (native: TLS, sockets, compiler)'
  // dist/ is the server's build; dist-bench/src/ the same sources compiled for the in-process core bench.
  if (/\/dist(-bench\/src)?\/core\//.test(url)) return 'src/core'
  if (/\/dist(-bench\/src)?\/admission\//.test(url)) return 'src/admission'
  if (/\/dist(-bench\/src)?\/(http\/|serve)/.test(url)) return 'src/http'
  if (url.includes('/dist-bench/bench/')) return 'bench harness'
  if (/node_modules\/(pino|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|on-exit-leak-free|@pinojs)/.test(url)) return 'logging (pino)'
  if (url.includes('node_modules/prom-client') || url.includes('node_modules/tdigest') || url.includes('node_modules/bintrees')) return 'metrics (prom-client)'
  if (url.includes('node_modules/fast-json-patch')) return 'fast-json-patch'
  if (/node_modules\/(fastify|@fastify|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|abstract-logging|toad-cache|process-warning|rfdc|fast-querystring)/.test(url)) return 'fastify'
  if (url === '' && (functionName === 'parse' || functionName === 'stringify')) return `JSON.${functionName}`
  if (url.startsWith('node:')) return 'node (lib)'
  return url === '' ? 'runtime (builtins)' : 'other'
}

function keyOf (frame: CallFrame): string {
  const file = frame.url === '' ? '' : ` ${frame.url.replace(`file://${repoRoot}`, '').replace(/^dist-bench\//, '').replace(/^.*node_modules\//, '')}:${frame.lineNumber + 1}`
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${file}`
}

/** Functions whose inclusive time tells where an admission's cost goes. */
const inclusiveNames = new Set([
  'inject', 'diffPatch', 'encodePatch', 'reviewAdmission', 'parseReview', 'podToInject', 'compare',
  'isDeepStrictEqual', 'rewriteProbes', 'buildProxyContainer', 'buildInitContainer', 'decide', 'resolveSettings',
  'defaultJsonParser', 'serialize', 'write', 'onResponse', 'observe', 'inc'
])

/**
 * Summarises the samples taken inside `window` (the load run: start-up and shutdown are left out);
 * all samples when no window is given.
 */
export function summariseProfile (profile: CpuProfile, requests: number, review: string, connections: number, window?: Window): ProfileSummary {
  const byId = new Map(profile.nodes.map(node => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const self = new Map<string, number>()
  const area = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const split = new Map<string, number>()
  let busyUs = 0
  const { samples, timeDeltas } = profile
  let at = profile.startTime
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0
    if (window !== undefined && (at < window.fromUs || at > window.toUs)) continue
    // timeDeltas[i + 1] is the time from sample i to the next one: the time sample i stands for.
    const us = timeDeltas[i + 1] ?? 0
    const node = byId.get(samples[i] as number)
    if (node === undefined || node.callFrame.functionName === '(idle)') continue
    busyUs += us
    const key = keyOf(node.callFrame)
    self.set(key, (self.get(key) ?? 0) + us)
    const a = areaOf(node.callFrame)
    area.set(a, (area.get(a) ?? 0) + us)
    const stack: CallFrame[] = []
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame
      if (frame !== undefined) stack.push(frame)
    }
    const stage = splitOf(stack)
    split.set(stage, (split.get(stage) ?? 0) + us)
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame
      if (frame === undefined || !(inclusiveNames.has(frame.functionName) || frame.url.includes('/dist/core/') || frame.url.includes('/dist-bench/src/core/'))) continue
      const k = keyOf(frame)
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + us)
    }
  }
  const entries = (map: Map<string, number>, limit: number, minPercent = 0): ProfileEntry[] => [...map.entries()]
    .map(([name, us]) => ({ name, ms: round(us / 1000), percent: round((100 * us) / busyUs) }))
    .filter(e => e.percent >= minPercent)
    .sort((a, b) => b.ms - a.ms)
    .slice(0, limit)
  return {
    review,
    connections,
    requests,
    busyMs: round(busyUs / 1000),
    busyUsPerRequest: requests === 0 ? Number.NaN : round(busyUs / requests),
    byArea: entries(area, 20),
    topSelf: entries(self, 20),
    inclusive: entries(inclusive, 25, 0.5),
    split: stages.map(name => ({ name, ms: round((split.get(name) ?? 0) / 1000), percent: round((100 * (split.get(name) ?? 0)) / busyUs) }))
  }
}

export async function runProfile (spec: ReviewSpec, certs: Certificates, tmp: string, connections: number, durationS: number, log: (line: string) => void): Promise<ProfileSummary> {
  const dir = `${tmp}/cpu-profile-${spec.name}`
  mkdirSync(dir, { recursive: true })
  // The unbundled build (the same code): time is attributed to areas by file.
  const ours = await startOurServer(certs, `${tmp}/profile.log`, ['--cpu-prof', '--cpu-prof-dir', dir], unbundledCliPath)
  let requests = 0
  let window: Window | undefined
  try {
    // Warm-up first, outside the window: the profile then shows the steady state.
    await keepAliveLoad(ours, spec.body, connections, 1, undefined)
    const fromUs = Number(process.hrtime.bigint() / 1000n)
    const sample = await keepAliveLoad(ours, spec.body, connections, durationS, undefined)
    window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) }
    requests = sample.requests
  } finally {
    const code = await stopProcess(ours)
    if (code !== 0) log(`profile: the server exited with ${String(code)}`)
  }
  const file = readdirSync(dir).find(name => name.endsWith('.cpuprofile'))
  if (file === undefined) throw new Error(`no .cpuprofile written in ${dir}`)
  const summary = summariseProfile(JSON.parse(readFileSync(`${dir}/${file}`, 'utf8')) as CpuProfile, requests, spec.name, connections, window)
  log(`profile ${spec.name} c=${connections}: ${summary.busyUsPerRequest} µs busy/request; by area: ` +
    summary.byArea.slice(0, 8).map(e => `${e.name} ${e.percent}%`).join(', '))
  log(`profile ${spec.name} split (µs/request): ` + (summary.split ?? []).filter(e => e.ms > 0).map(e => `${e.name} ${round((e.ms * 1000) / Math.max(1, requests))} (${e.percent}%)`).join(', '))
  log(`profile ${spec.name} top self: ` + summary.topSelf.slice(0, 8).map(e => `${e.name} ${e.percent}%`).join(', '))
  return summary
}

/**
 * Profiles the core in this process (node:inspector, 100 µs sampling) while it injects and patches
 * one pod in a loop for durationMs: which core functions the time goes to, with no HTTP around it.
 */
export async function runCoreProfile (spec: ReviewSpec, operation: () => unknown, durationMs: number, log: (line: string) => void): Promise<ProfileSummary> {
  const session = new Session()
  session.connect()
  try {
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 100 })
    await session.post('Profiler.start')
    const end = Date.now() + durationMs
    let iterations = 0
    while (Date.now() < end) {
      operation()
      iterations++
    }
    const { profile } = await session.post('Profiler.stop')
    const summary = summariseProfile(profile as unknown as CpuProfile, iterations, spec.name, 0)
    log(`core profile ${spec.name}: ${summary.busyUsPerRequest} µs/injection; inclusive: ` +
      summary.inclusive.slice(0, 8).map(e => `${e.name.split(' ')[0] ?? ''} ${e.percent}%`).join(', '))
    return summary
  } finally {
    session.disconnect()
  }
}

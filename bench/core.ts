// The injection core alone, in-process: inject + diffPatch + encodePatch on realistic pods, its parts,
// and how its time grows with pod size. The baseline measured in the same run is a JSON round trip
// (JSON.parse(JSON.stringify(pod))) of the same pod: the least any code that looks at every field pays.
import { defaultConfig } from '../src/core/config.js'
import { inject } from '../src/core/inject.js'
import { parseReview } from '../src/admission/parse.js'
import { encodeReview } from '../src/admission/responses.js'
import { podToInject, reviewAdmission } from '../src/admission/review.js'
import { diffPatch, encodePatch } from '../src/core/patch.js'
import type { Pod, RequestInfo } from '../src/core/types.js'
import type { MeasureOptions, Measurement } from './measure.js'
import { measureInterleaved } from './measure.js'
import type { ReviewSpec } from './reviews.js'
import { defaultedReview, envOnlyShapes, largeReview, scalingReview, scalingShapes } from './reviews.js'
import type { LinearFit } from './stats.js'
import { linearFit, round } from './stats.js'

const request: RequestInfo = { namespace: 'bookinfo' }

export interface CorePodResult {
  name: string
  reviewBytes: number
  containers: number
  envTotal: number
  patchOperations: number
  patchBytes: number
  /** inject + diffPatch + encodePatch: what the webhook asks of the core per review. */
  full: Measurement
  inject: Measurement
  /** diffPatch + encodePatch, given the injected pod. */
  patch: Measurement
  /** JSON.parse of the review body: what the server pays before the core runs. */
  parseBody: Measurement
  /** Baseline: JSON.parse(JSON.stringify(pod)). */
  jsonRoundTrip: Measurement
  /** full.meanUs / jsonRoundTrip.meanUs */
  ratioToRoundTrip: number
}

export interface ScalingPoint {
  name: string
  containers: number
  envTotal: number
  reviewBytes: number
  full: Measurement
  /** full.meanUs / envTotal (absent for 0 env vars). */
  usPerEnvVar?: number
  jsonRoundTrip: Measurement
  ratioToRoundTrip: number
}

export interface ScalingSeries {
  description: string
  points: ScalingPoint[]
  /** full.meanUs against envTotal. */
  fitByEnvVars: LinearFit
  /** full.meanUs against review bytes. */
  fitByBytes: LinearFit
  /** full.meanUs against the number of containers. */
  fitByContainers?: LinearFit
  /** Time at the largest point ÷ time at half its size (2 means linear; 4 would be quadratic). */
  doublingRatio?: number
}

export interface CoreResults {
  pods: CorePodResult[]
  scaling: ScalingSeries
  envOnly: ScalingSeries
  /**
   * Issue 2: 50 containers × 5,000 env vars must inject and patch in well under 100 ms. "Well under"
   * is checked as: CPU time per injection under 10 ms (a tenth of the budget) and wall p99 under
   * 100 ms. The wall maximum is reported but not judged: on a shared machine it is set by the
   * longest time the process waited for a core, not by the code.
   */
  largestPod: { name: string, meanMs: number, p99Ms: number, maxMs: number, wellUnder100ms: boolean }
  /** Heap held by one review in flight (heldInFlight); absent without --expose-gc. */
  inFlightHeap?: InFlightHeap[]
}

export interface InFlightHeap {
  review: string
  reviewBytes: number
  /** KiB of V8 heap per review held: body text, parsed review, injected pod, verdict and answer. */
  heldKiB: number
  /** heldKiB ÷ the body's size. */
  perBodyByte: number
  /** KiB per review once only its answer is left (what the server keeps while writing it). */
  answerKiB: number
}

/**
 * What one review in flight keeps in the heap, everything the server holds between reading the body
 * and writing the answer: `count` reviews taken through the webhook's steps and held, the heap used
 * read after full GCs before and after. The in-flight budget (src/http/server.ts) assumes ~6× the body.
 */
export function heldInFlight (spec: ReviewSpec, count = 64): InFlightHeap | undefined {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) return undefined
  const config = defaultConfig()
  const one = (): { text: string, body: unknown, answer: string } => {
    const text = Buffer.from(spec.body).toString('utf8')
    const body: unknown = JSON.parse(text)
    const parsed = parseReview(body)
    if (!parsed.ok) throw new Error(`${spec.name}: ${parsed.message}`)
    const verdict = reviewAdmission(parsed.review, config, {}, podToInject(parsed.review.request))
    return { text, body, answer: encodeReview(verdict.review) }
  }
  for (let i = 0; i < 20; i++) one()
  const settle = (): number => { gc(); gc(); return process.memoryUsage().heapUsed }
  const before = settle()
  const held = Array.from({ length: count }, one)
  const withAll = settle()
  const answers = held.map(h => h.answer)
  held.length = 0
  const withAnswers = settle()
  const bytes = Buffer.byteLength(spec.body)
  const kib = (n: number): number => round(n / count / 1024)
  answers.length = 0
  return { review: spec.name, reviewBytes: bytes, heldKiB: kib(withAll - before), perBodyByte: round((withAll - before) / count / bytes), answerKiB: kib(withAnswers - before) }
}

function injectOrThrow (spec: ReviewSpec): Pod {
  const result = inject(spec.pod, request, defaultConfig())
  if (result.outcome !== 'injected') throw new Error(`${spec.name}: expected the pod to be injected, got ${result.outcome}`)
  return result.pod
}

/** What the webhook asks of the core per review: inject, then the patch on the wire (base64). */
export function injectAndPatch (pod: Pod): () => string {
  const config = defaultConfig()
  return () => {
    const result = inject(pod, request, config)
    if (result.outcome !== 'injected') throw new Error(`expected injected, got ${result.outcome}`)
    return encodePatch(diffPatch(pod, result.pod))
  }
}

function countContainers (pod: Pod): { containers: number, envTotal: number } {
  const containers = pod.spec?.containers ?? []
  return { containers: containers.length, envTotal: containers.reduce((n, c) => n + (c.env?.length ?? 0), 0) }
}

function measurePod (spec: ReviewSpec, options: MeasureOptions): CorePodResult {
  const config = defaultConfig()
  const injected = injectOrThrow(spec)
  const ops = diffPatch(spec.pod, injected)
  const m = measureInterleaved({
    full: injectAndPatch(spec.pod),
    inject: () => inject(spec.pod, request, config),
    patch: () => encodePatch(diffPatch(spec.pod, injected)),
    parseBody: () => JSON.parse(spec.body) as unknown,
    jsonRoundTrip: () => JSON.parse(JSON.stringify(spec.pod)) as unknown
  }, options)
  return {
    name: spec.name,
    reviewBytes: Buffer.byteLength(spec.body),
    ...countContainers(spec.pod),
    patchOperations: ops.length,
    patchBytes: encodePatch(ops).length,
    ...m,
    ratioToRoundTrip: round(m.full.meanUs / m.jsonRoundTrip.meanUs)
  }
}

function measureSeries (description: string, shapes: ReadonlyArray<{ containers: number, envTotal: number }>, options: MeasureOptions): ScalingSeries {
  const specs = shapes.map(({ containers, envTotal }) => scalingReview(containers, envTotal))
  // Every size and its baseline in one interleaved measurement: a burst of load from elsewhere is
  // spread over all sizes instead of bending the line at one of them.
  const operations: Record<string, () => unknown> = {}
  for (const spec of specs) {
    injectOrThrow(spec)
    operations[`${spec.name}/full`] = injectAndPatch(spec.pod)
    operations[`${spec.name}/json`] = () => JSON.parse(JSON.stringify(spec.pod)) as unknown
  }
  const m = measureInterleaved(operations, options)
  const points = specs.map((spec, i): ScalingPoint => {
    const { containers, envTotal } = shapes[i] as { containers: number, envTotal: number }
    const full = m[`${spec.name}/full`] as Measurement
    const jsonRoundTrip = m[`${spec.name}/json`] as Measurement
    return {
      name: spec.name,
      containers,
      envTotal,
      reviewBytes: Buffer.byteLength(spec.body),
      full,
      ...(envTotal > 0 ? { usPerEnvVar: round(full.meanUs / envTotal) } : {}),
      jsonRoundTrip,
      ratioToRoundTrip: round(full.meanUs / jsonRoundTrip.meanUs)
    }
  })
  const times = points.map(p => p.full.meanUs)
  const byEnv = linearFit(points.map(p => p.envTotal), times)
  const byBytes = linearFit(points.map(p => p.reviewBytes), times)
  const containerCounts = new Set(points.map(p => p.containers))
  const last = points[points.length - 1]
  const half = last === undefined ? undefined : points.find(p => p.envTotal * 2 === last.envTotal && p.containers * 2 === last.containers)
  return {
    description,
    points,
    fitByEnvVars: roundFit(byEnv),
    fitByBytes: roundFit(byBytes),
    ...(containerCounts.size > 1 ? { fitByContainers: roundFit(linearFit(points.map(p => p.containers), times)) } : {}),
    ...(last !== undefined && half !== undefined ? { doublingRatio: round(last.full.meanUs / half.full.meanUs) } : {})
  }
}

function roundFit (fit: LinearFit): LinearFit {
  return { slope: round(fit.slope, 4), intercept: round(fit.intercept, 4), r2: round(fit.r2, 5), maxRelativeResidual: round(fit.maxRelativeResidual) }
}

export function runCoreBench (options: MeasureOptions, log: (line: string) => void): CoreResults {
  const pods: CorePodResult[] = []
  for (const spec of [defaultedReview(), largeReview()]) {
    const result = measurePod(spec, options)
    log(`core ${result.name}: ${result.full.meanUs} µs/injection (${Math.round(result.full.opsPerSecond)}/s), p99 ${result.full.p99Us} µs; ` +
      `inject ${result.inject.meanUs} µs, patch ${result.patch.meanUs} µs, parse body ${result.parseBody.meanUs} µs, ×${result.ratioToRoundTrip} a JSON round trip`)
    pods.push(result)
  }
  const scaling = measureSeries('containers × env vars (total), 100 env vars per container, tiny to 50 × 5,000', scalingShapes, options)
  for (const p of scaling.points) log(`core scaling ${p.name}: ${p.full.meanUs} µs (${p.reviewBytes} B review)${p.usPerEnvVar === undefined ? '' : `, ${p.usPerEnvVar} µs/env var`}`)
  log(`core scaling fit: ${scaling.fitByContainers?.slope ?? 'n/a'} µs/container (with 100 env vars each) + ${scaling.fitByContainers?.intercept ?? 'n/a'} µs, r² ${scaling.fitByContainers?.r2 ?? 'n/a'}; 50×5000 ÷ 25×2500 = ${scaling.doublingRatio ?? 'n/a'}`)
  const envOnly = measureSeries('50 containers, env vars (total) from 0 to 5,000', envOnlyShapes, options)
  log(`core env-only fit (50 containers): ${envOnly.fitByEnvVars.slope} µs/env var + ${envOnly.fitByEnvVars.intercept} µs, r² ${envOnly.fitByEnvVars.r2}`)
  const largest = scaling.points[scaling.points.length - 1]
  if (largest === undefined) throw new Error('no scaling points')
  const inFlightHeap = [defaultedReview(), largeReview()].flatMap(spec => heldInFlight(spec) ?? [])
  for (const h of inFlightHeap) log(`core in-flight heap ${h.review}: ${h.heldKiB} KiB per review held (×${h.perBodyByte} its body), ${h.answerKiB} KiB once only the answer is left`)
  return {
    inFlightHeap,
    pods,
    scaling,
    envOnly,
    largestPod: {
      name: largest.name,
      meanMs: round(largest.full.meanUs / 1000),
      p99Ms: round(largest.full.p99Us / 1000),
      maxMs: round(largest.full.maxUs / 1000),
      wellUnder100ms: largest.full.meanUs < 10_000 && largest.full.p99Us < 100_000
    }
  }
}

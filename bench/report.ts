// Markdown tables from bench/results/results.json: bench/results/summary.md is rewritten by every
// `make bench`, and BENCHMARKS.md quotes the tables of the run it reports.
//
//   node dist-bench/bench/report.js [results.json] [summary.md]     (run.ts also calls renderSummary)
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { AdmissionResults } from './admission.js'
import type { BudgetResults } from './budget.js'
import type { CliResults } from './cli.js'
import type { ColdStartResults } from './cold-start.js'
import type { CoreResults } from './core.js'
import type { ProfileSummary } from './profile.js'

export interface ReportInput {
  startedAt?: string
  durationS?: number
  quick?: boolean
  environment?: {
    node: string
    openssl: string
    fastify: string
    commit: string
    cpuModel: string
    nproc: number
    memoryGiB: number
    kernel: string
    pinned: boolean
    loadAverage: { before: number, after: number }
  }
  core?: CoreResults
  admission?: AdmissionResults
  coldStart?: ColdStartResults
  profile?: { core: ProfileSummary[], server: ProfileSummary[] }
  budget?: BudgetResults
  cli?: CliResults
}

function table (header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>): string => `| ${cells.map(String).join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`

export interface MemoryPerInFlight { review: string, server: string, peaks: Array<[number, number]>, kibPerInFlight: number }

/** Peak RSS by concurrency for each server and review; the slope from the lowest to the highest concurrency. */
export function memoryPerInFlight (a: AdmissionResults): MemoryPerInFlight[] {
  const out: MemoryPerInFlight[] = []
  const reviews = [...new Set(a.keepAlive.map(p => p.review))]
  for (const review of reviews) {
    const points = a.keepAlive.filter(p => p.review === review).sort((x, y) => x.connections - y.connections)
    if (points.length < 2) continue
    for (const server of ['ours', 'baseline', 'istio'] as const) {
      const peaks = points.flatMap(p => { const f = p[server]; return f === undefined ? [] : [[p.connections, f.peakRssMiB] as [number, number]] })
      const first = peaks[0]
      const last = peaks[peaks.length - 1]
      if (first === undefined || last === undefined || last[0] === first[0]) continue
      out.push({ review, server, peaks, kibPerInFlight: Math.round(((last[1] - first[1]) * 1024) / (last[0] - first[0])) })
    }
  }
  return out
}

export interface Goal { goal: string, target: string, measured: string, met: boolean | undefined }

/** Issue 16's goals, from one run's results: met, missed, or not measured in this run (undefined). */
export function goals (r: ReportInput): Goal[] {
  const out: Goal[] = []
  const keepAlive = r.admission?.keepAlive ?? []
  for (const [review, connections, limit] of [['defaulted-5kb', 1, 1.25], ['defaulted-5kb', 8, 1.25], ['large-200kb', 1, 1.15], ['large-200kb', 8, 1.15]] as const) {
    const p = keepAlive.find(k => k.review === review && k.connections === connections)
    out.push({
      goal: `CPU per request ÷ the constant-answer baseline, ${review} c=${connections}`,
      target: `≤ ×${limit}`,
      measured: p === undefined ? 'not measured' : `×${p.ratio.cpuPerRequest} (${p.ours.cpuUsPerRequest} ÷ ${p.baseline.cpuUsPerRequest} µs)`,
      met: p === undefined ? undefined : p.ratio.cpuPerRequest <= limit
    })
  }
  const s = r.coldStart
  out.push({
    goal: 'cold start: spawn to the first 200 on /readyz (median)',
    target: '≤ 150 ms',
    measured: s === undefined ? 'not measured' : `${s.ours.medianMs} ms${s.istio === undefined ? '' : ` (Istio ${s.istio.medianMs} ms)`}; node -e '' ${s.nodeEmpty.medianMs} ms`,
    met: s === undefined ? undefined : s.ours.medianMs <= 150
  })
  const highest = keepAlive.filter(k => k.review === 'defaulted-5kb').sort((a, b) => b.connections - a.connections)[0]
  out.push({
    goal: `peak RSS, defaulted-5kb at c=${highest?.connections ?? 64}, ours ÷ Istio's`,
    target: '≤ ×1',
    measured: highest?.istio === undefined ? 'not measured (no Istio in this run)' : `${highest.ours.peakRssMiB} ÷ ${highest.istio.peakRssMiB} MiB = ×${highest.ratioToIstio?.peakRss ?? '?'}`,
    met: highest?.istio === undefined ? undefined : highest.ours.peakRssMiB <= highest.istio.peakRssMiB
  })
  const open = r.admission?.openLoop ?? []
  out.push({
    goal: 'open-loop p50/p99/p99.9 at 25/50/75 % of capacity, ours, baseline and Istio',
    target: 'measured, coordinated-omission-free',
    measured: open.length === 0 ? 'not measured' : `${open.length} runs: ${[...new Set(open.map(p => p.server))].join(', ')}`,
    met: open.length === 0 ? undefined : ['ours', 'baseline', 'istio'].every(server => open.some(p => p.server === server))
  })
  return out
}

export function renderSummary (r: ReportInput): string {
  const out: string[] = []
  const env = r.environment
  out.push('# Benchmark results (generated by `make bench`)', '')
  if (env !== undefined) {
    out.push(`${r.startedAt ?? ''} · commit ${env.commit} · ${env.cpuModel}, ${env.nproc} CPUs, ${env.memoryGiB} GiB, Linux ${env.kernel} · ` +
      `Node ${env.node}, OpenSSL ${env.openssl}, fastify ${env.fastify} · ${env.pinned ? 'servers on CPU 0, load generator on CPU 1' : 'not pinned'} · ` +
      `load average ${env.loadAverage.before} before, ${env.loadAverage.after} after · ${r.durationS ?? '?'} s${r.quick === true ? ' · QUICK RUN (short durations: indicative only)' : ''}`, '')
  }
  const goalRows = goals(r)
  if (goalRows.some(g => g.met !== undefined)) {
    out.push('## Goals of issue 16 in this run', '')
    out.push(table(['goal', 'target', 'measured', 'result'], goalRows.map(g => [g.goal, g.target, g.measured, g.met === undefined ? '–' : g.met ? 'met' : 'missed'])), '')
  }
  if (r.core !== undefined) {
    const c = r.core
    out.push('## The core alone (CPU µs per injection: inject + diffPatch + encodePatch)', '')
    out.push(table(
      ['pod', 'review', 'containers', 'env vars', 'patch ops / base64', 'µs/injection (CPU)', 'injections/s (one core)', 'wall p50 / p99 µs', 'inject µs', 'diffPatch+encodePatch µs', 'JSON.parse of the review µs', 'baseline: JSON round trip µs', 'ratio to baseline'],
      c.pods.map(p => [p.name, kib(p.reviewBytes), p.containers, p.envTotal, `${p.patchOperations} / ${kib(p.patchBytes)}`, p.full.meanUs, Math.round(p.full.opsPerSecond),
        `${p.full.p50Us} / ${p.full.p99Us}`, p.inject.meanUs, p.patch.meanUs, p.parseBody.meanUs, p.jsonRoundTrip.meanUs, `×${p.ratioToRoundTrip}`])
    ), '')
    for (const series of [c.scaling, c.envOnly]) {
      out.push(`### Scaling: ${series.description}`, '')
      out.push(table(
        ['pod', 'containers', 'env vars', 'review', 'µs/injection (CPU)', 'µs per env var', 'wall p99 µs', 'JSON round trip µs', 'ratio to round trip'],
        series.points.map(p => [p.name, p.containers, p.envTotal, kib(p.reviewBytes), p.full.meanUs, p.usPerEnvVar ?? '–', p.full.p99Us, p.jsonRoundTrip.meanUs, `×${p.ratioToRoundTrip}`])
      ), '')
      const fits = [`by env vars: ${series.fitByEnvVars.slope} µs/env var + ${series.fitByEnvVars.intercept} µs (r² ${series.fitByEnvVars.r2})`]
      if (series.fitByContainers !== undefined) fits.push(`by containers: ${series.fitByContainers.slope} µs/container + ${series.fitByContainers.intercept} µs (r² ${series.fitByContainers.r2})`)
      fits.push(`by review bytes: ${series.fitByBytes.slope} µs/byte (r² ${series.fitByBytes.r2})`)
      if (series.doublingRatio !== undefined) fits.push(`largest ÷ half its size: ×${series.doublingRatio} (2 = linear, 4 = quadratic)`)
      out.push(`Least-squares fits — ${fits.join('; ')}.`, '')
    }
    const l = c.largestPod
    if (c.inFlightHeap !== undefined && c.inFlightHeap.length > 0) {
      out.push('### Heap held per review in flight (body text, parsed review, injected pod, verdict, answer; 64 held, after full GCs)', '')
      out.push(table(['review', 'body bytes', 'KiB held per review', '× its body', 'KiB once only the answer is left'],
        c.inFlightHeap.map(h => [h.review, h.reviewBytes, h.heldKiB, `×${h.perBodyByte}`, h.answerKiB])), '')
    }
    out.push(`Largest pod (${l.name}): ${l.meanMs} ms CPU per injection, wall p99 ${l.p99Ms} ms (max ${l.maxMs} ms, set by waits for a core) — ` +
      `${l.wellUnder100ms ? 'well under 100 ms (CPU < 10 ms, wall p99 < 100 ms)' : 'NOT well under 100 ms'}.`, '')
  }
  if (r.admission !== undefined) {
    const a = r.admission
    out.push('## Admission over HTTPS keep-alive (autocannon, HTTP/1.1, no pipelining)', '')
    if (a.istioAbsent !== undefined) out.push(`Istio's webhook was not measured in this run: ${a.istioAbsent}`, '')
    const withIstio = a.keepAlive.filter(p => p.istio !== undefined)
    if (withIstio.length > 0) {
      out.push(`### Headline: ours, the constant-answer baseline and Istio's webhook (istio.io/istio ${a.istioVersion ?? '?'}), same reviews, same rounds`, '')
      out.push(table(
        ['review', 'conns', 'ours req/s', 'ours CPU µs/req', 'baseline CPU µs/req', 'Istio req/s', 'Istio CPU µs/req', 'ours ÷ baseline CPU', 'ours ÷ Istio CPU', 'ours ÷ Istio req/s', 'ours / Istio p99 ms', 'ours / Istio peak RSS MiB'],
        withIstio.map(p => [p.review, p.connections, p.ours.requestsPerSecond, p.ours.cpuUsPerRequest, p.baseline.cpuUsPerRequest,
          p.istio?.requestsPerSecond ?? '–', p.istio?.cpuUsPerRequest ?? '–', `×${p.ratio.cpuPerRequest}`, `×${p.ratioToIstio?.cpuPerRequest ?? '–'}`,
          `×${p.ratioToIstio?.requestsPerSecond ?? '–'}`, `${p.ours.latency.p99Ms} / ${p.istio?.latency.p99Ms ?? '–'}`, `${p.ours.peakRssMiB} / ${p.istio?.peakRssMiB ?? '–'}`])
      ), '')
    }
    if (a.patches !== undefined && Object.keys(a.patches).length > 0) {
      out.push(table(['review', 'ours: patch bytes / operations', 'Istio: patch bytes / operations'],
        Object.entries(a.patches).map(([review, p]) => [review, `${p.ours.bytes} / ${p.ours.operations}`, p.istio === undefined ? '–' : `${p.istio.bytes} / ${p.istio.operations}`])), '')
    }
    const memory = memoryPerInFlight(a)
    if (memory.length > 0) {
      out.push('### Memory: peak RSS by concurrency, and RSS per in-flight request ((peak at the highest − peak at 1 connection) ÷ the difference in connections)', '')
      out.push(table(['review', 'server', 'peak RSS MiB by connections', 'KiB per in-flight request'],
        memory.map(m => [m.review, m.server, m.peaks.map(([c, mib]) => `${c}: ${mib}`).join(', '), m.kibPerInFlight])), '')
    }
    out.push(table(
      ['review', 'conns', 'ours req/s', 'ours p50 / p99 / p99.9 ms', 'ours CPU µs/req', 'ours peak RSS MiB', 'baseline req/s', 'baseline p50 / p99 / p99.9 ms', 'baseline CPU µs/req', 'baseline peak RSS MiB', 'req/s ratio', 'p50 ratio', 'p99 ratio', 'CPU/req ratio', 'errors'],
      a.keepAlive.map(p => [p.review, p.connections,
        p.ours.requestsPerSecond, `${p.ours.latency.p50Ms} / ${p.ours.latency.p99Ms} / ${p.ours.latency.p999Ms}`, p.ours.cpuUsPerRequest, p.ours.peakRssMiB,
        p.baseline.requestsPerSecond, `${p.baseline.latency.p50Ms} / ${p.baseline.latency.p99Ms} / ${p.baseline.latency.p999Ms}`, p.baseline.cpuUsPerRequest, p.baseline.peakRssMiB,
        `×${p.ratio.requestsPerSecond}`, `×${p.ratio.p50}`, `×${p.ratio.p99}`, `×${p.ratio.cpuPerRequest}`,
        p.ours.errors + p.ours.non2xx + p.baseline.errors + p.baseline.non2xx])
    ), '')
    if (a.openLoop !== undefined && a.openLoop.length > 0) {
      out.push('## Open loop: latency at fixed arrival rates (from the time each request was due: no coordinated omission)', '')
      out.push(table(['review', 'server', '% of capacity', 'rate req/s', 'achieved req/s', 'p50 / p99 / p99.9 ms', 'max ms', 'CPU µs/req', 'connections', 'client lag p99 / max ms', 'client CPU µs/req (share of its core)', 'errors'],
        a.openLoop.map(p => [p.review, p.server, Math.round(p.fraction * 100), p.targetRps, p.achievedRps,
          `${p.latency.p50Ms} / ${p.latency.p99Ms} / ${p.latency.p999Ms}`, p.latency.maxMs, p.cpuUsPerRequest, p.connections ?? '–',
          `${p.p99SendLagMs ?? '–'} / ${p.maxSendLagMs}`, p.clientCpuUsPerRequest === undefined ? '–' : `${p.clientCpuUsPerRequest} (${Math.round((p.clientCpuShare ?? 0) * 100)} %)`, p.errors + p.non2xx])
      ), '', 'A client lag p99 above ~1 ms means the load generator (one core, shared) fell behind its schedule: that point\'s latencies are upper bounds.', '')
    }
    if (a.cappedHeap !== undefined && a.cappedHeap.length > 0) {
      out.push('## Our server with a capped old space (--max-old-space-size; the Deployment in manifests/ sets one)', '')
      out.push(table(
        ['review', 'conns', 'heap', 'req/s', 'CPU µs/req', 'peak RSS MiB', 'default heap: CPU µs/req', 'default heap: peak RSS MiB'],
        a.cappedHeap.map(p => {
          const same = a.keepAlive.find(k => k.review === p.review && k.connections === p.connections)
          return [p.review, p.connections, `--max-old-space-size=${p.maxOldSpaceMiB}`, p.sample.requestsPerSecond, p.sample.cpuUsPerRequest, p.sample.peakRssMiB,
            same?.ours.cpuUsPerRequest ?? '–', same?.ours.peakRssMiB ?? '–']
        })
      ), '')
    }
    if (a.connectionCost.length > 0) {
      out.push('## Connection cost: a new TLS connection per request vs keep-alive (node:https client)', '')
      out.push(table(
        ['server', 'review', 'conns', 'keep-alive req/s', 'keep-alive CPU µs/req', 'keep-alive p50 ms', 'new-connection req/s', 'new-connection CPU µs/req', 'new-connection p50 / p99 ms', 'CPU/req ×', 'req/s ×'],
        a.connectionCost.map(p => [p.server, p.review, p.connections, p.keepAlive.requestsPerSecond, p.keepAlive.cpuUsPerRequest, p.keepAlive.latency.p50Ms,
          p.newConnection.requestsPerSecond, p.newConnection.cpuUsPerRequest, `${p.newConnection.latency.p50Ms} / ${p.newConnection.latency.p99Ms}`, `×${p.ratio.cpuPerRequest}`, `×${p.ratio.requestsPerSecond}`])
      ), '')
    }
  }
  if (r.coldStart !== undefined) {
    const s = r.coldStart
    out.push(`## Cold start: spawn to the first 200 on /readyz over HTTPS (median of ${s.runs})`, '')
    out.push(table(['process', 'median ms', 'min ms', 'max ms'], [
      ['sidecar-injector serve (the bundle, compile cache warm)', s.ours.medianMs, s.ours.minMs, s.ours.maxMs],
      ['baseline fastify server', s.baseline.medianMs, s.baseline.minMs, s.baseline.maxMs],
      ["node -e ''", s.nodeEmpty.medianMs, s.nodeEmpty.minMs, s.nodeEmpty.maxMs],
      ["node -e \"await import('@kubernetes/client-node')\"", s.importClientNode.medianMs, s.importClientNode.minMs, s.importClientNode.maxMs],
      ...(s.levers === undefined
        ? []
        : [['lever: the bundle without the compile cache', s.levers.bundleNoCache.medianMs, s.levers.bundleNoCache.minMs, s.levers.bundleNoCache.maxMs],
            ['lever: dist/cli.js (unbundled) with the compile cache', s.levers.unbundledCache.medianMs, s.levers.unbundledCache.minMs, s.levers.unbundledCache.maxMs],
            ['lever: dist/cli.js, no compile cache (the start before this work)', s.levers.unbundledNoCache.medianMs, s.levers.unbundledNoCache.minMs, s.levers.unbundledNoCache.maxMs]]),
      ...(s.istio === undefined ? [] : [["Istio's webhook (Go)", s.istio.medianMs, s.istio.minMs, s.istio.maxMs]]),
      ...(s.cliVersion === undefined ? [] : [['sidecar-injector --version (to exit)', s.cliVersion.medianMs, s.cliVersion.minMs, s.cliVersion.maxMs]]),
      ...(s.cliInject === undefined ? [] : [['sidecar-injector inject of one pod (to exit)', s.cliInject.medianMs, s.cliInject.minMs, s.cliInject.maxMs]])
    ]), '', `Ratio: ours ÷ baseline ×${s.ratio.toBaseline}; ours ÷ node -e '' ×${s.ratio.toNodeEmpty}${s.ratio.toIstio === undefined ? '' : `; ours ÷ Istio ×${s.ratio.toIstio}`}.`, '')
  }
  if (r.profile !== undefined) {
    out.push('## Profiles', '')
    for (const p of [...r.profile.core, ...r.profile.server]) {
      const where = p.connections === 0 ? 'core in-process' : `server under load, ${p.connections} connections`
      out.push(`### ${p.review} (${where}): ${p.busyUsPerRequest} µs busy per ${p.connections === 0 ? 'injection' : 'request'}`, '')
      if (p.connections !== 0) out.push(`By area: ${p.byArea.map(e => `${e.name} ${e.percent}%`).join(', ')}.`, '')
      if (p.connections !== 0 && p.split !== undefined && p.requests > 0) {
        out.push(table(['stage of a request', 'µs per request (sampled)', '% of busy time'],
          p.split.map(e => [e.name, Math.round((e.ms * 1000) / p.requests), e.percent])), '')
      }
      out.push(table(['function (inclusive)', '% of busy time'], p.inclusive.slice(0, 12).map(e => [`\`${e.name}\``, e.percent])), '')
      out.push(table(['function (self)', '% of busy time'], p.topSelf.slice(0, 10).map(e => [`\`${e.name.replace(/\|/g, '\\|')}\``, e.percent])), '')
    }
  }
  if (r.budget !== undefined) {
    const b = r.budget
    const ratio = (value: number, base: number): string => base > 0 ? `×${(value / base).toFixed(1)}` : '–'
    out.push(`## The in-flight budget: simultaneous ${kib(b.reviewBytes)} reviews (--max-old-space-size=${b.maxOldSpaceMiB})`, '')
    out.push(`Baseline, one review alone in the same run: ${b.baseline.servedP50Ms} ms, peak RSS ${b.baseline.peakRssMiB} MiB.`, '')
    out.push(table(
      ['at once', 'served (200)', 'refused (429)', 'errors', 'served p50 / max ms', 'p50 to baseline', '429 answered within ms', 'peak RSS MiB', 'RSS to baseline'],
      b.points.map(p => [p.concurrency, p.served, p.rejected, p.errors, `${p.servedP50Ms} / ${p.servedMaxMs}`, ratio(p.servedP50Ms, b.baseline.servedP50Ms),
        p.rejectedMaxMs, p.peakRssMiB, ratio(p.peakRssMiB, b.baseline.peakRssMiB)])
    ), '')
  }
  if (r.cli !== undefined) out.push(...renderCli(r.cli))
  return `${out.join('\n')}\n`
}

const verdict = (met: boolean | null): string => met === null ? 'not measured (no istioctl)' : met ? 'met' : 'missed'

/** The offline CLI against istioctl kube-inject (bench/cli.ts), with issue 15's targets. */
export function renderCli (c: CliResults): string[] {
  const out = [`## The offline CLI against \`istioctl kube-inject\` (${c.corpus.source}: ${c.corpus.workloads} workloads in ${c.corpus.documents} documents, ${kib(c.corpus.bytes)})`, '']
  const th = c.many.istioctl
  out.push(table(['measure', 'ours', 'istioctl', 'ratio', 'target', 'result'], [
    ['one workload, wall ms (median)', c.oneWorkload.oursMs, c.oneWorkload.istioctlMs ?? '–', c.oneWorkload.ratio === null ? '–' : `×${c.oneWorkload.ratio}`, '≤ ×0.5', verdict(c.oneWorkload.ratio === null ? null : c.oneWorkload.ratio <= 0.5)],
    [`${c.corpus.workloads} workloads, CPU ms`, c.many.ours.cpuMs, th?.cpuMs ?? '–', c.many.cpuSpeedup === null ? '–' : `${c.many.cpuSpeedup}× faster`, '≥ 5× faster', verdict(c.many.cpuSpeedup === null ? null : c.many.cpuSpeedup >= 5)],
    [`${c.corpus.workloads} workloads, peak RSS MiB`, c.many.ours.maxRssMiB, th?.maxRssMiB ?? '–', c.many.rssRatio === null ? '–' : `×${c.many.rssRatio}`, '≤ ×1', verdict(c.many.rssRatio === null ? null : c.many.rssRatio <= 1)],
    [`${c.corpus.workloads} workloads, wall ms`, c.many.ours.wallMs, th?.wallMs ?? '–', th === null ? '–' : `×${Math.round((c.many.ours.wallMs / th.wallMs) * 100) / 100}`, '–', '–'],
    ['start-up to the first byte of output, ms (median)', c.startup.firstByteMs, '–', '–', '≤ 100 ms', verdict(c.startup.firstByteMs <= 100)]
  ]), '')
  out.push(`Start-up to the first byte (median): the bundle with V8's compile cache ${c.startup.firstByteMs} ms; without the cache ${c.startup.firstByteNoCacheMs} ms` +
    `${c.startup.firstByteUnbundledMs === undefined ? '' : `; the unbundled dist/cli.js with the cache ${c.startup.firstByteUnbundledMs} ms`}; \`node -e\` writing one byte ${c.startup.nodeEmptyMs} ms.`, '')
  const s = c.splitUs
  out.push('Cost split per workload (µs of CPU, warm, one process; each document timed stage by stage):', '')
  out.push(table(['read', 'parse', 'inject', 're-emit', 'write', 'sum', 'a streamed run, untimed'], [[s.read, s.parse, s.inject, s.emit, s.write, s.total, s.streamed]]), '')
  if (c.liveHeapMiB !== undefined) {
    out.push(`Live heap (after a full GC): ${c.liveHeapMiB.start} MiB at rest, ${c.liveHeapMiB.input} MiB with the input read, at most ${c.liveHeapMiB.peak} MiB while streaming it.`, '')
  }
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const resultsFile = process.argv[2] ?? fileURLToPath(new URL('../../bench/results/results.json', import.meta.url))
  const outFile = process.argv[3] ?? fileURLToPath(new URL('../../bench/results/summary.md', import.meta.url))
  writeFileSync(outFile, renderSummary(JSON.parse(readFileSync(resultsFile, 'utf8')) as ReportInput))
  process.stdout.write(`wrote ${outFile}\n`)
}

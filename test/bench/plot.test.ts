import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import type { AdmissionResults, ServerFigures } from '../../bench/admission.js'
import type { CoreResults, ScalingPoint } from '../../bench/core.js'
import type { Measurement } from '../../bench/measure.js'
import { escapeXml, latencySvg, linearTicks, logTicks, plotAll, scalingSvg } from '../../bench/plot.js'

function measurement (meanUs: number): Measurement {
  return { meanUs, runMeansUs: [meanUs], wallMeanUs: meanUs, p50Us: meanUs, p99Us: meanUs * 2, maxUs: meanUs * 3, opsPerSecond: 1e6 / meanUs, iterations: 10 }
}

function server (p50Ms: number, rps: number): ServerFigures {
  return {
    requestsPerSecond: rps,
    cpuUsPerRequest: 300,
    peakRssMiB: 90,
    latency: { p50Ms, p90Ms: p50Ms * 2, p99Ms: p50Ms * 4, p999Ms: p50Ms * 8, maxMs: p50Ms * 10, samples: 1000 },
    errors: 0,
    non2xx: 0,
    rounds: []
  }
}

const admission: AdmissionResults = {
  responseBytes: { small: 10_000 },
  connectionCost: [],
  keepAlive: [1, 8, 64].flatMap(c => ['small <5>', 'large'].map(review => ({
    review,
    reviewBytes: review === 'large' ? 200_000 : 5000,
    connections: c,
    ours: server(0.4 * c, 2000),
    baseline: server(0.3 * c, 2600),
    ratio: { requestsPerSecond: 0.77, p50: 1.33, p99: 1.33, cpuPerRequest: 1.5 }
  })))
}

function point (containers: number, envTotal: number): ScalingPoint {
  return { name: `c${containers}-e${envTotal}`, containers, envTotal, reviewBytes: 3000 + envTotal * 80, full: measurement(100 + envTotal * 0.7), jsonRoundTrip: measurement(50 + envTotal * 0.3), ratioToRoundTrip: 2 }
}
const fit = { slope: 0.7, intercept: 100, r2: 1, maxRelativeResidual: 0 }
const core = {
  pods: [],
  scaling: { description: '', points: [point(1, 0), point(10, 1000), point(50, 5000)], fitByEnvVars: fit, fitByBytes: fit },
  envOnly: { description: '', points: [point(50, 0), point(50, 5000)], fitByEnvVars: fit, fitByBytes: fit },
  largestPod: { name: 'c50-e5000', meanMs: 3.6, p99Ms: 7.2, maxMs: 10.8, wellUnder100ms: true }
} satisfies CoreResults

t.test('ticks', async t => {
  t.same(logTicks(0.1, 10), [0.1, 0.2, 0.5, 1, 2, 5, 10])
  t.same(linearTicks(3600), [0, 1000, 2000, 3000, 4000])
  t.same(linearTicks(0), [0])
})

t.test('XML escaping', async t => {
  t.equal(escapeXml('a<b & "c">'), 'a&lt;b &amp; &quot;c&quot;&gt;')
})

t.test('the latency plot has a panel per review, a group per concurrency and a legend', async t => {
  const svg = latencySvg(admission, 'AMD EPYC, 2 CPUs')
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.match(svg, /small &lt;5&gt; \(5 KiB review\)/, 'review names are escaped')
  t.match(svg, /large \(195 KiB review\)/)
  for (const c of [1, 8, 64]) t.match(svg, new RegExp(`>c=${c}<`))
  t.equal(svg.match(/<rect x=[^/]*><title>/g)?.length, 2 * 3 * 4, 'four bars per group')
  t.match(svg, /ours p50/)
  t.match(svg, /baseline p99/)
  t.notMatch(svg, /NaN|undefined/)
})

t.test('the scaling plot shows both series with their fits', async t => {
  const svg = scalingSvg(core, 'subtitle')
  t.equal(svg.match(/<circle [^>]*><title>/g)?.length, 5, 'one point per measurement')
  t.match(svg, /fit: 0.7 µs per env var \+ 100 µs, r² = 1/)
  t.match(svg, />5000</, 'x axis reaches 5,000 env vars')
  t.notMatch(svg, /NaN|undefined/)
})

t.test('plotAll writes what the results allow', async t => {
  const dir = mkdtempSync(`${tmpdir()}/plot-test-`)
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  t.same(plotAll({}, dir), [], 'nothing to plot')
  const written = plotAll({ admission, core, environment: { cpuModel: 'AMD EPYC', nproc: 2, node: 'v20' } }, dir)
  t.same(written, [`${dir}/latency.svg`, `${dir}/scaling.svg`])
  t.match(readFileSync(`${dir}/scaling.svg`, 'utf8'), /AMD EPYC, 2 CPUs, Node v20/)
})

// SVG plots from bench/results/results.json, written by hand (no plotting dependency):
//   latency.svg  p50 and p99 admission latency, ours vs the baseline, per review and concurrency;
//   scaling.svg  core time per injection against env vars (containers × env vars), with the fitted line.
//
//   node dist-bench/bench/plot.js [results.json] [out-dir]     (run.ts also calls plotAll)
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { AdmissionResults } from './admission.js'
import type { CoreResults } from './core.js'

interface PlotInput { admission?: AdmissionResults, core?: CoreResults, environment?: { cpuModel: string, nproc: number, node: string } }

const colours = { ours: '#1f6fb4', oursLight: '#8db8de', baseline: '#c8553d', baselineLight: '#eeb0a2', fit: '#555555', grid: '#dddddd', text: '#222222' }
const font = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"'

export function escapeXml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function text (x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(content)}</text>`
}

/** Tick values for a log axis covering [min, max]: 1, 2, 5 × powers of ten. */
export function logTicks (min: number, max: number): number[] {
  const ticks: number[] = []
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v)
    }
  }
  return ticks
}

/** Round tick values for a linear axis from 0 to max. */
export function linearTicks (max: number, count = 5): number[] {
  if (max <= 0) return [0]
  const raw = max / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map(m => m * magnitude).find(s => s >= raw) ?? raw
  // From 0 to the first tick at or above max, so that the axis covers every value.
  const ticks = [0]
  while ((ticks[ticks.length - 1] as number) < max * 0.9999) ticks.push(Number((ticks.length * step).toPrecision(6)))
  return ticks
}

function formatMs (v: number): string {
  return v >= 1 ? `${v} ms` : `${Math.round(v * 1000)} µs`
}

/** Grouped bars on a log scale: per review a panel, per concurrency a group of four bars. */
export function latencySvg (admission: AdmissionResults, subtitle: string): string {
  const reviews = [...new Set(admission.keepAlive.map(p => p.review))]
  const panelW = 420
  const panelH = 300
  const margin = { top: 70, left: 70, right: 20, bottom: 70 }
  const width = margin.left + reviews.length * panelW + margin.right
  const height = margin.top + panelH + margin.bottom
  const values = admission.keepAlive.flatMap(p => [p.ours.latency.p50Ms, p.ours.latency.p99Ms, p.baseline.latency.p50Ms, p.baseline.latency.p99Ms]).filter(v => v > 0)
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)))
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)))
  const y = (v: number): number => margin.top + panelH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * panelH
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${font} font-size="12" fill="${colours.text}">`)
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`)
  out.push(text(margin.left, 24, 'Admission latency over HTTPS keep-alive (log scale): ours vs baseline', 'font-size="16" font-weight="600"'))
  out.push(text(margin.left, 44, subtitle, 'font-size="11" fill="#555"'))
  reviews.forEach((review, r) => {
    const x0 = margin.left + r * panelW
    const points = admission.keepAlive.filter(p => p.review === review)
    for (const t of logTicks(lo, hi)) {
      out.push(`<line x1="${x0}" x2="${x0 + panelW - 30}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="${colours.grid}"/>`)
      if (r === 0) out.push(text(x0 - 8, y(t) + 4, formatMs(t), 'text-anchor="end" font-size="11"'))
    }
    out.push(text(x0 + (panelW - 30) / 2, margin.top - 8, `${review} (${Math.round((points[0]?.reviewBytes ?? 0) / 1024)} KiB review)`, 'text-anchor="middle" font-weight="600"'))
    const groupW = (panelW - 30) / points.length
    const barW = Math.min(22, (groupW - 20) / 4)
    points.forEach((p, g) => {
      const bars = [
        { v: p.ours.latency.p50Ms, c: colours.ours },
        { v: p.ours.latency.p99Ms, c: colours.oursLight },
        { v: p.baseline.latency.p50Ms, c: colours.baseline },
        { v: p.baseline.latency.p99Ms, c: colours.baselineLight }
      ]
      const gx = x0 + g * groupW + (groupW - barW * 4) / 2
      bars.forEach((b, i) => {
        const top = y(b.v)
        out.push(`<rect x="${(gx + i * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(margin.top + panelH - top).toFixed(1)}" fill="${b.c}"><title>${escapeXml(`${b.v} ms`)}</title></rect>`)
      })
      out.push(text(x0 + g * groupW + groupW / 2, margin.top + panelH + 18, `c=${p.connections}`, 'text-anchor="middle"'))
      out.push(text(x0 + g * groupW + groupW / 2, margin.top + panelH + 34, `${Math.round(p.ours.requestsPerSecond)} vs ${Math.round(p.baseline.requestsPerSecond)} req/s`, 'text-anchor="middle" font-size="10" fill="#555"'))
    })
  })
  const legend = [['ours p50', colours.ours], ['ours p99', colours.oursLight], ['baseline p50', colours.baseline], ['baseline p99', colours.baselineLight]] as const
  legend.forEach(([label, c], i) => {
    const lx = margin.left + i * 120
    out.push(`<rect x="${lx}" y="${height - 22}" width="12" height="12" fill="${c}"/>`)
    out.push(text(lx + 16, height - 12, label))
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/** Points (ms) against env vars, one line per series, with the least-squares line of the first. */
export function scalingSvg (core: CoreResults, subtitle: string): string {
  const width = 760
  const height = 500
  // The legend sits between the title and the plot, so that it never hides a point.
  const margin = { top: 130, left: 70, right: 30, bottom: 60 }
  const plotW = width - margin.left - margin.right
  const plotH = height - margin.top - margin.bottom
  const series = [
    { label: 'containers × env vars, 100 per container (1×0 … 50×5,000)', points: core.scaling.points, colour: colours.ours, fit: core.scaling.fitByEnvVars },
    { label: '50 containers, env vars 0 … 5,000', points: core.envOnly.points, colour: colours.baseline, fit: core.envOnly.fitByEnvVars }
  ]
  const maxX = Math.max(...series.flatMap(s => s.points.map(p => p.envTotal)))
  const maxY = Math.max(...series.flatMap(s => s.points.map(p => p.full.meanUs / 1000)))
  const xTicks = linearTicks(maxX)
  const yTicks = linearTicks(maxY)
  const xMax = xTicks[xTicks.length - 1] ?? maxX
  const yMax = yTicks[yTicks.length - 1] ?? maxY
  const x = (v: number): number => margin.left + (v / xMax) * plotW
  const y = (v: number): number => margin.top + plotH - (v / yMax) * plotH
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${font} font-size="12" fill="${colours.text}">`)
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`)
  out.push(text(margin.left, 24, 'Core CPU time per injection against pod size', 'font-size="16" font-weight="600"'))
  out.push(text(margin.left, 44, `inject + diffPatch + encodePatch, median of the runs' CPU time · ${subtitle}`, 'font-size="11" fill="#555"'))
  for (const t of yTicks) {
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="${colours.grid}"/>`)
    out.push(text(margin.left - 8, y(t) + 4, `${t} ms`, 'text-anchor="end" font-size="11"'))
  }
  for (const t of xTicks) {
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="${colours.grid}"/>`)
    out.push(text(x(t), margin.top + plotH + 18, String(t), 'text-anchor="middle" font-size="11"'))
  }
  out.push(text(margin.left + plotW / 2, height - 24, 'env vars in the pod (total)', 'text-anchor="middle"'))
  series.forEach((s, i) => {
    const fx = (v: number): number => (s.fit.slope * v + s.fit.intercept) / 1000
    const xs = s.points.map(p => p.envTotal)
    const x1 = Math.min(...xs)
    const x2 = Math.max(...xs)
    out.push(`<line x1="${x(x1).toFixed(1)}" y1="${y(fx(x1)).toFixed(1)}" x2="${x(x2).toFixed(1)}" y2="${y(fx(x2)).toFixed(1)}" stroke="${s.colour}" stroke-dasharray="5 4" stroke-width="1.5"/>`)
    const path = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p.envTotal).toFixed(1)},${y(p.full.meanUs / 1000).toFixed(1)}`).join(' ')
    out.push(`<path d="${path}" fill="none" stroke="${s.colour}" stroke-width="1" opacity="0.5"/>`)
    for (const p of s.points) {
      out.push(`<circle cx="${x(p.envTotal).toFixed(1)}" cy="${y(p.full.meanUs / 1000).toFixed(1)}" r="4" fill="${s.colour}"><title>${escapeXml(`${p.name}: ${p.full.meanUs} µs`)}</title></circle>`)
    }
    const ly = 70 + i * 30
    out.push(`<circle cx="${margin.left + 14}" cy="${ly - 4}" r="4" fill="${s.colour}"/>`)
    out.push(text(margin.left + 24, ly, s.label))
    out.push(text(margin.left + 24, ly + 14, `fit: ${s.fit.slope} µs per env var + ${Math.round(s.fit.intercept)} µs, r² = ${s.fit.r2}`, 'font-size="11" fill="#555"'))
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/** Writes every plot the results allow; returns the files written. */
export function plotAll (results: PlotInput, outDir: string): string[] {
  const env = results.environment
  const subtitle = env === undefined ? '' : `${env.cpuModel}, ${env.nproc} CPUs, Node ${env.node}`
  const written: string[] = []
  if (results.admission !== undefined && results.admission.keepAlive.length > 0) {
    writeFileSync(`${outDir}/latency.svg`, latencySvg(results.admission, subtitle))
    written.push(`${outDir}/latency.svg`)
  }
  if (results.core !== undefined) {
    writeFileSync(`${outDir}/scaling.svg`, scalingSvg(results.core, subtitle))
    written.push(`${outDir}/scaling.svg`)
  }
  return written
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const resultsFile = process.argv[2] ?? fileURLToPath(new URL('../../bench/results/results.json', import.meta.url))
  const outDir = process.argv[3] ?? fileURLToPath(new URL('../../bench/results', import.meta.url))
  const written = plotAll(JSON.parse(readFileSync(resultsFile, 'utf8')) as PlotInput, outDir)
  process.stdout.write(`wrote ${written.join(', ')}\n`)
}

// Small, dependency-free statistics for the benchmark reports: medians of runs, a least-squares line
// and how well it fits. Pure functions (tested in test/bench/stats.test.ts).

export function median (values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values')
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export interface LinearFit {
  /** y = slope · x + intercept */
  slope: number
  intercept: number
  /** Coefficient of determination: 1 is a perfect line. */
  r2: number
  /** The largest |residual| as a fraction of the measured y at that point. */
  maxRelativeResidual: number
}

/** Ordinary least squares of y on x. */
export function linearFit (xs: readonly number[], ys: readonly number[]): LinearFit {
  if (xs.length !== ys.length || xs.length < 2) throw new Error('linearFit needs two equally long series of at least 2 points')
  const n = xs.length
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx
    const dy = (ys[i] as number) - my
    sxy += dx * dy
    sxx += dx * dx
    syy += dy * dy
  }
  if (sxx === 0) throw new Error('linearFit needs at least two distinct x values')
  const slope = sxy / sxx
  const intercept = my - slope * mx
  let sse = 0
  let maxRelativeResidual = 0
  for (let i = 0; i < n; i++) {
    const y = ys[i] as number
    const residual = y - (slope * (xs[i] as number) + intercept)
    sse += residual * residual
    if (y !== 0) maxRelativeResidual = Math.max(maxRelativeResidual, Math.abs(residual / y))
  }
  const r2 = syy === 0 ? 1 : 1 - sse / syy
  return { slope, intercept, r2, maxRelativeResidual }
}

/** Rounds to a number of significant digits, for readable JSON and tables. */
export function round (value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value
  const scale = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(value))))
  return Math.round(value * scale) / scale
}

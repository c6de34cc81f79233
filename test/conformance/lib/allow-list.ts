// The committed list of differences from Istio we accept, each with its reason. An entry matches a
// difference by `<property> <detail>` (`*` matches anything), optionally only on one path or mode.
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import type { Difference } from './compare.js'

export type Path = 'offline' | 'webhook'
export type Mode = 'classic' | 'native'

export interface Allowance {
  difference: string
  reason: string
  path?: Path
  mode?: Mode
  /** A glob over the case name (`<source> <kind>/<name>`). */
  workload?: string
}

const globToRegExp = (glob: string): RegExp =>
  new RegExp(`^${glob.split('*').map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)

export function parseAllowList (text: string): Allowance[] {
  const doc: unknown = parse(text)
  if (!Array.isArray(doc)) throw new Error('the allow-list must be a YAML list')
  return doc.map((entry: unknown, i) => {
    const e = entry as Partial<Allowance>
    if (typeof e.difference !== 'string' || typeof e.reason !== 'string' || e.reason.trim() === '') {
      throw new Error(`allow-list entry ${i + 1}: needs a difference and a one-line reason`)
    }
    if (e.reason.includes('\n')) throw new Error(`allow-list entry ${i + 1}: the reason must be one line`)
    return e as Allowance
  })
}

export function loadAllowList (file: string): Allowance[] {
  return parseAllowList(readFileSync(file, 'utf8'))
}

export function keyOf (d: Difference): string {
  return `${d.property} ${d.detail}`
}

/** The allowance that covers a difference, or undefined. */
export function findAllowance (list: readonly Allowance[], d: Difference, where: { path: Path, mode: Mode, workload: string }): Allowance | undefined {
  const key = keyOf(d)
  return list.find(a =>
    globToRegExp(a.difference).test(key) &&
    (a.path === undefined || a.path === where.path) &&
    (a.mode === undefined || a.mode === where.mode) &&
    (a.workload === undefined || globToRegExp(a.workload).test(where.workload)))
}

// `npm run bench -- --only <parts>` measures some parts and keeps the others from the previous
// results.json. The header of the file (time, commit, load average) then describes only the newest
// run, so each part also records the run that measured it: a kept figure is never credited to a
// commit or a machine load it was not measured at (bench/report.ts prints the kept parts' runs).
import type { BenchResults } from './run.js'

export const parts = ['core', 'admission', 'memory-limit', 'cold-start', 'profile', 'cli', 'budget'] as const
export type Part = typeof parts[number]

export interface PartProvenance { startedAt: string, commit: string, quick: boolean, loadAverage: { before: number, after: number } }

const partKey = { core: 'core', admission: 'admission', 'memory-limit': 'memoryLimit', 'cold-start': 'coldStart', profile: 'profile', cli: 'cli', budget: 'budget' } as const satisfies Record<Part, keyof BenchResults>

/** Where each part of a results file came from; a file from before `measuredBy` existed credits its header. */
function provenanceOf (results: BenchResults): Partial<Record<Part, PartProvenance>> {
  if (results.measuredBy !== undefined) return results.measuredBy
  const header: PartProvenance = { startedAt: results.startedAt, commit: results.environment.commit, quick: results.quick, loadAverage: results.environment.loadAverage }
  return Object.fromEntries(parts.filter(p => results[partKey[p]] !== undefined).map(p => [p, header]))
}

/** The results to write: this run's parts over the previous file's, each part with its own run. */
export function mergeRuns (previous: BenchResults | undefined, current: BenchResults, measured: ReadonlySet<Part>): BenchResults {
  const thisRun: PartProvenance = { startedAt: current.startedAt, commit: current.environment.commit, quick: current.quick, loadAverage: current.environment.loadAverage }
  const own: Partial<Record<Part, PartProvenance>> = Object.fromEntries([...measured].map(p => [p, thisRun]))
  const fresh = Object.fromEntries(Object.entries(current).filter(([, v]) => v !== undefined)) as Partial<BenchResults>
  if (previous === undefined) return { ...current, measuredBy: own }
  return { ...previous, ...fresh, measuredBy: { ...provenanceOf(previous), ...own } }
}

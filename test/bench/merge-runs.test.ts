import t from 'tap'
import { mergeRuns } from '../../bench/merge-runs.js'
import type { Part } from '../../bench/merge-runs.js'
import { renderSummary } from '../../bench/report.js'
import type { BenchResults } from '../../bench/run.js'

function run (startedAt: string, commit: string, load: number, parts: Partial<BenchResults>): BenchResults {
  return {
    startedAt,
    durationS: 60,
    quick: false,
    environment: { node: 'v24', v8: '13', openssl: '3', fastify: '5', commit, cpuModel: 'cpu', nproc: 2, memoryGiB: 24, kernel: '6', pinned: true, exposeGc: true, loadAverage: { before: load, after: load } },
    settings: {} as BenchResults['settings'],
    ...parts
  }
}

const cli = { marker: 'cli of the old run' } as unknown as NonNullable<BenchResults['cli']>
const budget = { marker: 'budget of the new run' } as unknown as NonNullable<BenchResults['budget']>

/** The header and provenance lines only: the stand-in parts above are not real tables. */
function headerOnly ({ cli: _cli, budget: _budget, ...rest }: BenchResults): Partial<BenchResults> {
  return rest
}

t.test('a partial run keeps the other parts, each credited to the run that measured it', async t => {
  const old = mergeRuns(undefined, run('2026-01-01T00:00:00Z', 'aaaaaaa', 0.5, { cli }), new Set<Part>(['cli']))
  const merged = mergeRuns(old, run('2026-01-02T00:00:00Z', 'bbbbbbb', 7, { budget }), new Set<Part>(['budget']))
  t.equal(merged.cli, cli, 'the old part is kept')
  t.equal(merged.budget, budget, 'the new part is there')
  t.equal(merged.environment.commit, 'bbbbbbb', 'the header is the newest run')
  t.equal(merged.measuredBy?.cli?.commit, 'aaaaaaa')
  t.equal(merged.measuredBy?.cli?.loadAverage.before, 0.5)
  t.equal(merged.measuredBy?.budget?.commit, 'bbbbbbb')
  const md = renderSummary(headerOnly(merged))
  t.match(md, /Parts kept from earlier runs[^\n]*\n\n- cli: 2026-01-01T00:00:00Z · commit aaaaaaa · load average 0\.5 before, 0\.5 after\n/)
  t.notMatch(md, /- budget:/, 'the part this run measured is not listed as kept')
})

t.test('a results file written before parts carried their run credits its own header to its parts', async t => {
  const legacy = run('2026-01-01T00:00:00Z', 'aaaaaaa', 0.5, { cli })
  const merged = mergeRuns(legacy, run('2026-01-02T00:00:00Z', 'bbbbbbb', 7, { budget }), new Set<Part>(['budget']))
  t.same(Object.keys(merged.measuredBy ?? {}).sort(), ['budget', 'cli'])
  t.equal(merged.measuredBy?.cli?.startedAt, '2026-01-01T00:00:00Z')
})

t.test('a full run lists nothing as kept', async t => {
  const full = mergeRuns(undefined, run('2026-01-02T00:00:00Z', 'bbbbbbb', 1, { cli, budget }), new Set<Part>(['cli', 'budget']))
  t.notMatch(renderSummary(headerOnly(full)), /kept from earlier runs/)
})

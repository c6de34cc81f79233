import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { defaultConfig } from '../../src/core/config.js'
import { decide } from '../../src/core/policy.js'
import type { LabelSelector, Pod } from '../../src/core/types.js'
import { deepFreeze, fixturesDir } from '../helpers/fixtures.js'

interface Row {
  name: string
  policy: 'enabled' | 'disabled'
  labels?: Record<string, string>
  annotations?: Record<string, string>
  hostNetwork?: boolean
  namespace?: string | null
  requestNamespace?: string
  never?: LabelSelector[]
  always?: LabelSelector[]
  want: 'inject' | 'skip'
  reason: string
  warning?: boolean
}

const rows = parse(readFileSync(join(fixturesDir, 'policy-truth-table.yaml'), 'utf8')) as Row[]

t.ok(rows.length >= 20, 'the truth table has its rows')
for (const row of rows) {
  t.test(row.name, async t => {
    const config = { ...defaultConfig(), policy: row.policy, neverInjectSelector: row.never ?? [], alwaysInjectSelector: row.always ?? [] }
    const metadata: NonNullable<Pod['metadata']> = { name: 'p' }
    if (row.namespace !== null) metadata.namespace = row.namespace ?? 'apps'
    if (row.labels !== undefined) metadata.labels = row.labels
    if (row.annotations !== undefined) metadata.annotations = row.annotations
    const pod = deepFreeze<Pod>({ metadata, spec: { containers: [{ name: 'app', image: 'app' }], ...(row.hostNetwork === true ? { hostNetwork: true } : {}) } })
    const { decision, warnings } = decide(pod, row.requestNamespace !== undefined ? { namespace: row.requestNamespace } : {}, config)
    t.equal(decision.inject ? 'inject' : 'skip', row.want)
    t.equal(decision.reason, row.reason)
    t.match(decision.message, /\w+ \w+/, 'every decision carries a sentence')
    t.equal(warnings.length > 0, row.warning === true, 'an invalid value is reported as a warning')
  })
}

t.test('a pod carrying the status annotation is re-injected, not skipped', async t => {
  const pod: Pod = { metadata: { name: 'p', namespace: 'a', annotations: { 'sidecar.istio.io/status': '{}' } }, spec: { containers: [] } }
  const { decision } = decide(pod, {}, defaultConfig())
  t.match(decision, { inject: true, reinjection: true })
})

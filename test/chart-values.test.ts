// The chart's values.yaml against the injector's own config: every config field is a value with the
// config file's name and the injector's default, every value is documented, and the README's table
// is the one values.yaml generates. Rendering (helm template) is checked in test/helm (make helm-test).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { defaultConfig, validateConfig } from '../src/core/config.js'
import { chartDir, valueRows, withFreshTable } from './helpers/chart-values-table.js'

const valuesYaml = readFileSync(join(chartDir, 'values.yaml'), 'utf8')
const values = parseYaml(valuesYaml) as { config: Record<string, unknown>, revision: unknown }

t.test('config: every field of the injector config, with its default', async t => {
  const { revision, ...expected } = defaultConfig()
  t.equal(revision, '', 'the default revision is empty')
  t.equal(values.revision, revision, 'the top-level revision value takes its place (it also names objects and selectors)')
  t.same(values.config, expected, 'values.yaml config equals defaultConfig() field for field')
  t.same(Object.keys(values.config).sort(), Object.keys(expected).sort(), 'no extra and no missing field')
  const result = validateConfig({ ...values.config, revision: 'canary' })
  t.ok(result.ok, 'the config parser accepts it as written, with a revision', result.ok ? {} : { problems: result.problems })
})

t.test('every value is documented', async t => {
  const { rows, undocumented } = valueRows(valuesYaml)
  t.same(undocumented, [], 'no value without a comment')
  const keys = rows.map(r => r.key)
  const leaves = (prefix: string, value: unknown): string[] => typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0
    ? Object.entries(value).flatMap(([k, v]) => leaves(`${prefix}.${k}`, v))
    : [prefix]
  for (const leaf of leaves('config', values.config)) {
    t.ok(keys.some(k => leaf === k || leaf.startsWith(`${k}.`)), `${leaf} has a row`)
  }
  for (const key of ['replicaCount', 'podDisruptionBudget.enabled', 'resources', 'priorityClass.create', 'networkPolicy.enabled', 'affinity', 'tls.mode', 'revision']) {
    t.ok(keys.includes(key), `${key} has a row`)
  }
})

t.test('the README table is generated from values.yaml (make chart-docs)', async t => {
  const readme = readFileSync(join(chartDir, 'README.md'), 'utf8')
  t.equal(readme, withFreshTable(readme, valuesYaml), 'README.md is up to date')
  t.not(withFreshTable(readme, valuesYaml.replace('replicaCount: 2', 'replicaCount: 3')), readme, 'a changed default changes the table')
})

import t from 'tap'
import { Registry } from 'prom-client'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { InjectorConfig, Pod } from '../../src/core/types.js'
import { auditMetricName, startAuditMetric } from '../../src/kube/audit-metric.js'
import { clusterOf, fakeAuditApi } from '../helpers/fake-audit-api.js'
import { loadPod } from '../helpers/fixtures.js'

function pod (name: string, namespace: string, injected: boolean): Pod {
  const base = loadPod('simple.yaml')
  const p: Pod = { ...base, metadata: { ...base.metadata, name, namespace } }
  if (!injected) return p
  const result = inject(p, {}, defaultConfig())
  if (result.outcome !== 'injected') throw new Error('expected an injection')
  return result.pod
}

const logger = { info: () => {}, warn: () => {} }

t.test('the audit metric publishes missing and stale pods by namespace, and follows config reloads', async t => {
  const cluster = clusterOf([{ metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } } }, { metadata: { name: 'fine', labels: { 'istio-injection': 'enabled' } } }], [pod('a', 'shop', false), pod('b', 'shop', true), pod('c', 'fine', true)])
  let config: InjectorConfig = defaultConfig()
  const registry = new Registry()
  const metric = startAuditMetric({ api: fakeAuditApi(cluster), config: () => config, registry, intervalMs: 3_600_000, logger })
  t.teardown(metric.stop)
  await metric.refresh()
  const values = async (): Promise<Record<string, number>> => {
    const json = await registry.getMetricsAsJSON()
    const m = json.find(x => x.name === auditMetricName)
    return Object.fromEntries((m?.values ?? []).map(v => [`${String(v.labels.namespace)}/${String(v.labels.kind)}`, v.value]))
  }
  t.same(await values(), { 'shop/missing': 1, 'shop/stale': 0, 'fine/missing': 0, 'fine/stale': 0 })

  config = defaultConfig()
  config.images.proxy = 'example.com/proxyv2:2.0'
  await metric.refresh()
  t.same(await values(), { 'shop/missing': 1, 'shop/stale': 1, 'fine/missing': 0, 'fine/stale': 1 }, 'a new proxy image makes injected pods stale')
})

t.test('a failed run keeps the last values', async t => {
  const cluster = clusterOf([{ metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } } }], [pod('a', 'shop', false)])
  const api = fakeAuditApi(cluster)
  let fail = false
  const registry = new Registry()
  const warnings: string[] = []
  const metric = startAuditMetric({
    api: { ...api, listPods: namespace => { if (fail) throw new Error('connection refused'); return api.listPods(namespace) } },
    config: defaultConfig,
    registry,
    intervalMs: 3_600_000,
    logger: { info: () => {}, warn: (_obj, msg) => { warnings.push(msg) } }
  })
  t.teardown(metric.stop)
  await metric.refresh()
  fail = true
  await metric.refresh()
  t.match(warnings, [/the audit failed/])
  t.match(await registry.metrics(), /sidecar_injector_audit_pods\{namespace="shop",kind="missing"\} 1/)
})

// The webhook's optional audit metric (serve --audit-metric-interval, off by default): every interval,
// the same audit as `sidecar-injector audit` over the namespaces the webhook selects, published as
// sidecar_injector_audit_pods{namespace, kind="missing"|"stale"} for alerting. A periodic paginated
// list rather than a pod watch: memory stays bounded by a page, and a config reload is reflected at
// the next run without keeping every pod. Needs the optional RBAC of manifests/audit/metric-rbac.yaml.
import type { Registry } from 'prom-client'
import { Gauge } from 'prom-client'
import type { InjectorConfig } from '../core/types.js'
import type { AuditApi } from './audit-api.js'
import { auditCluster } from './audit-cluster.js'

export interface AuditMetricLogger {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
}

export interface AuditMetricOptions {
  api: AuditApi
  config: () => InjectorConfig
  registry: Registry
  intervalMs: number
  logger: AuditMetricLogger
}

export interface AuditMetric {
  /** Runs one audit now and publishes it (the timer does this every interval). */
  refresh: () => Promise<void>
  stop: () => void
}

export const auditMetricName = 'sidecar_injector_audit_pods'

export function startAuditMetric (options: AuditMetricOptions): AuditMetric {
  const gauge = new Gauge({
    name: auditMetricName,
    help: 'Pods whose sidecar is missing or stale, by namespace, at the last periodic audit',
    labelNames: ['namespace', 'kind'],
    registers: [options.registry]
  })
  let running: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  const run = async (): Promise<void> => {
    const began = Date.now()
    try {
      const report = await auditCluster(options.api, options.config(), 'selected', text => { options.logger.warn({}, text.trimEnd()) })
      if (stopped) return
      // Every audited namespace is published, zeros included, so a fixed namespace drops to 0.
      gauge.reset()
      for (const namespace of report.namespaces) {
        gauge.set({ namespace, kind: 'missing' }, 0)
        gauge.set({ namespace, kind: 'stale' }, 0)
      }
      for (const w of report.workloads) {
        gauge.inc({ namespace: w.workload.namespace, kind: 'missing' }, w.counts.missing)
        gauge.inc({ namespace: w.workload.namespace, kind: 'stale' }, w.counts.stale)
      }
      options.logger.info({ pods: report.podsScanned, missing: report.counts.missing, stale: report.counts.stale, ms: Date.now() - began }, 'audit metric refreshed')
    } catch (err) {
      // The last published values stay: a failed run says nothing new about the pods.
      options.logger.warn({ err }, 'audit metric: the audit failed; keeping the last values')
    }
  }
  const refresh = async (): Promise<void> => {
    running ??= run().finally(() => { running = undefined })
    await running
  }
  const schedule = (): void => {
    if (stopped) return
    timer = setTimeout(() => { refresh().finally(schedule).catch(() => {}) }, options.intervalMs)
    timer.unref()
  }
  refresh().finally(schedule).catch(() => {})
  return {
    refresh,
    stop: () => {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
    }
  }
}

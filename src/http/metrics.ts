// The webhook's Prometheus metrics, registered on a registry the caller owns (never prom-client's
// global one, so that two servers in one process, e.g. in tests, do not collide). Every label has a
// bounded set of values: HTTP status codes, stable reason codes, success/failure.
import type { Registry } from 'prom-client'
import { Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client'

export interface WebhookMetrics {
  registry: Registry
  /** POST /inject answers, by HTTP status code. */
  requests: Counter<'code'>
  injections: Counter
  skips: Counter<'reason'>
  rejections: Counter
  /** Requests answered without a verdict: bad-request, payload-too-large, unsupported-media-type, overloaded, internal. */
  errors: Counter<'type'>
  duration: Histogram<'decision'>
  certificateExpiry: Gauge
  certificateReloads: Counter<'result'>
  configReloads: Counter<'result'>
  draining: Gauge
}

export type ErrorType = 'bad-request' | 'payload-too-large' | 'unsupported-media-type' | 'overloaded' | 'internal'

export function createMetrics (registry: Registry, options: { defaultMetrics?: boolean } = {}): WebhookMetrics {
  const registers = [registry]
  // process_*, nodejs_eventloop_lag_seconds and friends.
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry })
  return {
    registry,
    requests: new Counter({ name: 'sidecar_injector_requests_total', help: 'AdmissionReview requests answered, by HTTP status code', labelNames: ['code'], registers }),
    injections: new Counter({ name: 'sidecar_injector_injections_total', help: 'Pods answered with a sidecar patch', registers }),
    skips: new Counter({ name: 'sidecar_injector_skips_total', help: 'Reviews allowed unchanged, by reason code', labelNames: ['reason'], registers }),
    rejections: new Counter({ name: 'sidecar_injector_rejections_total', help: 'Pods denied (allowed: false) for invalid annotations', registers }),
    errors: new Counter({ name: 'sidecar_injector_errors_total', help: 'Requests answered with an HTTP error, by type', labelNames: ['type'], registers }),
    // Sub-millisecond buckets: the API server's own histogram starts at 5 ms and cannot resolve us.
    duration: new Histogram({
      name: 'sidecar_injector_admission_duration_seconds',
      help: 'Time to answer an AdmissionReview, from parsed body to response, by decision',
      labelNames: ['decision'],
      buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
      registers
    }),
    certificateExpiry: new Gauge({ name: 'sidecar_injector_certificate_expiry_timestamp_seconds', help: 'notAfter of the serving certificate, as a Unix time', registers }),
    certificateReloads: new Counter({ name: 'sidecar_injector_certificate_reloads_total', help: 'Serving certificate reloads, by result', labelNames: ['result'], registers }),
    configReloads: new Counter({ name: 'sidecar_injector_config_reloads_total', help: 'Config file reloads, by result', labelNames: ['result'], registers }),
    draining: new Gauge({ name: 'sidecar_injector_draining', help: '1 while the server drains before shutting down', registers })
  }
}

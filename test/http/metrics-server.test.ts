// The metrics listener on loopback, plain HTTP: every metric of src/http/metrics.ts is exposed, HEAD
// works as Prometheus' up-checks use it, anything else is a 404 in the webhook's error shape, and a
// registry that fails gives a 500 without details (logged).
import t from 'tap'
import { Registry } from 'prom-client'
import { createMetrics } from '../../src/http/metrics.js'
import { buildMetricsServer } from '../../src/http/metrics-server.js'
import { captureLogs } from '../helpers/webhook.js'

async function listening (registry: Registry): Promise<{ base: string, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs()
  const app = buildMetricsServer({ logger: logs.logger, registry })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const address = app.server.address()
  if (typeof address !== 'object' || address === null) throw new Error('no address')
  return { base: `http://127.0.0.1:${address.port}`, logs }
}

t.test('GET /metrics: every webhook metric, in the Prometheus text format', async t => {
  const registry = new Registry()
  createMetrics(registry, { defaultMetrics: false })
  const { base, logs } = await listening(registry)
  const res = await fetch(`${base}/metrics`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
  const body = await res.text()
  for (const name of ['sidecar_injector_requests_total', 'sidecar_injector_injections_total', 'sidecar_injector_skips_total',
    'sidecar_injector_rejections_total', 'sidecar_injector_errors_total', 'sidecar_injector_admission_duration_seconds',
    'sidecar_injector_certificate_expiry_timestamp_seconds', 'sidecar_injector_certificate_reloads_total',
    'sidecar_injector_config_reloads_total', 'sidecar_injector_draining']) {
    t.match(body, new RegExp(`^# TYPE ${name} `, 'm'), name)
  }
  const head = await fetch(`${base}/metrics`, { method: 'HEAD' })
  t.equal(head.status, 200, 'HEAD')
  t.same(logs.lines().map(l => l.msg), [`Server listening at ${base}`], 'scrapes write no log line (fastify\'s own line at listen only)')
})

t.test('other paths and methods: 404 in the error shape, bounded', async t => {
  const { base } = await listening(new Registry())
  for (const [method, path] of [['GET', '/'], ['GET', '/inject'], ['POST', '/metrics'], ['DELETE', '/metrics'], ['GET', `/${'x'.repeat(10_000)}`]] as const) {
    const res = await fetch(`${base}${path}`, { method })
    t.equal(res.status, 404, `${method} ${path.slice(0, 20)}`)
    const body = await res.json() as { statusCode: number, reason: string, message: string }
    t.equal(body.statusCode, 404)
    t.equal(body.reason, 'not-found')
    t.match(body.message, /; the metrics port serves GET \/metrics$/)
    t.ok(body.message.length < 300, `a short message (${body.message.length} characters)`)
  }
  const withBody = await fetch(`${base}/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"not json' })
  t.equal(withBody.status, 404, 'a body is not parsed: still a 404')
  const large = await fetch(`${base}/x`, { method: 'POST', body: 'x'.repeat(64 * 1024) })
  t.equal(large.status, 413, 'a body over 1 KiB is refused')
  t.same(await large.json(), { statusCode: 413, reason: 'bad-request', message: 'the metrics port serves GET /metrics' })
})

t.test('a collector that throws: 500 without details, logged', async t => {
  const registry = new Registry()
  registry.registerMetric({
    name: 'broken',
    get: async () => { throw new Error('collector failed: secret detail') }
  } as unknown as Parameters<Registry['registerMetric']>[0])
  const { base, logs } = await listening(registry)
  const res = await fetch(`${base}/metrics`)
  t.equal(res.status, 500)
  t.same(await res.json(), { statusCode: 500, reason: 'internal-error', message: 'internal error; see the webhook log' })
  t.match(logs.lines().find(l => l.msg === 'internal error answering a metrics scrape'), { err: { message: 'collector failed: secret detail' } })
})

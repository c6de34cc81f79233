// The composition root in-process: flags and environment, files in Secret/ConfigMap-style volumes,
// certificate and config hot reload through the real watcher on a real TLS socket.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { Agent as HttpAgent, createServer, request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:tls'
import { setTimeout as sleep } from 'node:timers/promises'
import { Registry } from 'prom-client'
import { UsageError } from '../src/cli/io.js'
import { parseServeSettings } from '../src/cli/serve.js'
import { MissingCertificateError, startServer } from '../src/serve.js'
import type { ServeSettings } from '../src/serve.js'
import type { CertificateSource } from '../src/tls/file-source.js'
import type { KeyPair } from '../src/tls/key-pair.js'
import { createTestCa, issueTestServing } from './helpers/certificates.js'
import { runLoad } from './helpers/load.js'
import { clusterOf, fakeAuditApi } from './helpers/fake-audit-api.js'
import { connectOutcome } from './helpers/ports.js'
import { createVolume } from './helpers/volume.js'
import { captureLogs, reviewFor, samplePod } from './helpers/webhook.js'

const servername = 'sidecar-injector.sidecar-injector.svc'
const ca = await createTestCa()
const first = await issueTestServing(ca)
const second = await issueTestServing(ca)
const fingerprint = (pair: KeyPair): string => new X509Certificate(pair.cert).fingerprint256

async function servedFingerprint (port: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: ca.cert, servername }, () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.end()
    })
    socket.on('error', reject)
  })
}

async function postReview (port: number, body: string): Promise<{ status: number, json: any }> {
  return await new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, method: 'POST', path: '/inject', ca: ca.cert, servername, agent: false, headers: { 'content-type': 'application/json' } }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function waitFor (check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return true
    await sleep(25)
  }
  return await check()
}

t.test('flags win over INJECTOR_* variables, which win over defaults', async t => {
  t.same(parseServeSettings([], {}), { port: 9443, host: '0.0.0.0', tlsMinVersion: 'TLSv1.2', logLevel: 'info', drainSeconds: 10 })
  const env = {
    INJECTOR_PORT: '8443',
    INJECTOR_TLS_CERT_FILE: '/env/tls.crt',
    INJECTOR_TLS_PRIVATE_KEY_FILE: '/env/tls.key',
    INJECTOR_CONFIG: '/env/config.yaml',
    INJECTOR_LOG_LEVEL: 'debug',
    INJECTOR_DRAIN_SECONDS: '3',
    INJECTOR_TLS_MIN_VERSION: 'TLSv1.3',
    INJECTOR_HOST: '127.0.0.1'
  }
  t.same(parseServeSettings([], env), {
    port: 8443,
    host: '127.0.0.1',
    tlsMinVersion: 'TLSv1.3',
    logLevel: 'debug',
    drainSeconds: 3,
    tlsCertFile: '/env/tls.crt',
    tlsPrivateKeyFile: '/env/tls.key',
    configFile: '/env/config.yaml'
  })
  t.same(parseServeSettings(['--port', '10250', '--tls-cert-file', '/flag/tls.crt', '--tls-private-key-file=/flag/tls.key', '--config', '/flag/c.yaml',
    '--log-level', 'warn', '--drain-seconds', '0.5', '--tls-min-version', 'TLSv1.2', '--host', '::'], env), {
    port: 10250,
    host: '::',
    tlsMinVersion: 'TLSv1.2',
    logLevel: 'warn',
    drainSeconds: 0.5,
    tlsCertFile: '/flag/tls.crt',
    tlsPrivateKeyFile: '/flag/tls.key',
    configFile: '/flag/c.yaml'
  })
  t.equal(parseServeSettings(['--help'], {}), 'help')
  for (const [args, message] of [
    [['--port', 'https'], /--port/],
    [['--port', '70000'], /--port/],
    [['--drain-seconds', '-1'], /--drain-seconds/],
    [['--drain-seconds', '3000000'], /--drain-seconds must be a number from 0 to 3600/],
    [['--drain-seconds', '3600.5'], /--drain-seconds/],
    [['--log-level', 'loud'], /--log-level/],
    [['--tls-min-version', 'TLSv1.1'], /--tls-min-version/],
    [['--bogus'], /bogus/],
    [['positional'], /positional/]
  ] as Array<[string[], RegExp]>) {
    t.throws(() => parseServeSettings(args, {}), message, args.join(' '))
    t.throws(() => parseServeSettings(args, {}), UsageError)
  }
  t.throws(() => parseServeSettings([], { INJECTOR_PORT: 'x' }), /--port/, 'a bad variable is reported too')
})

t.test('--metrics-port: off by default and at 0, from the flag or INJECTOR_METRICS_PORT, never the webhook port', async t => {
  t.notOk(Object.hasOwn(parseServeSettings([], {}) as ServeSettings, 'metricsPort'), 'no metrics listener by default')
  t.notOk(Object.hasOwn(parseServeSettings(['--metrics-port', '0'], {}) as ServeSettings, 'metricsPort'), '0: no metrics listener')
  t.match(parseServeSettings(['--metrics-port', '8080'], {}), { port: 9443, metricsPort: 8080 })
  t.match(parseServeSettings([], { INJECTOR_METRICS_PORT: '9090' }), { metricsPort: 9090 })
  t.match(parseServeSettings(['--metrics-port=8081'], { INJECTOR_METRICS_PORT: '9090' }), { metricsPort: 8081 }, 'the flag wins')
  t.match(parseServeSettings(['--port', '0', '--metrics-port', '0'], {}), { port: 0 }, 'both 0: an ephemeral webhook port and no metrics listener')
  for (const [args, env, message] of [
    [['--metrics-port', '9443'], {}, /^--metrics-port must differ from --port \(both 9443\): the webhook port serves admission and probes only$/],
    [['--port', '8080', '--metrics-port', '8080'], {}, /--metrics-port must differ from --port \(both 8080\)/],
    [[], { INJECTOR_PORT: '8080', INJECTOR_METRICS_PORT: '8080' }, /--metrics-port must differ from --port/],
    [['--metrics-port', '65536'], {}, /^--metrics-port must be an integer from 0 to 65535, got '65536'$/],
    [['--metrics-port=-1'], {}, /--metrics-port must be an integer from 0 to 65535, got '-1'/],
    [['--metrics-port', '1e3'], {}, /--metrics-port must be an integer/],
    [['--metrics-port', '0x50'], {}, /--metrics-port must be an integer/],
    [['--metrics-port', ''], {}, /--metrics-port must be an integer from 0 to 65535, got ''/],
    [['--metrics-port', '8080.5'], {}, /--metrics-port must be an integer/],
    [['--metrics-port', '9'.repeat(400)], {}, /got '9{32}'$/],
    [['--port', '1e3'], {}, /--port must be an integer from 0 to 65535, got '1e3'/],
    [['--port', ' 80'], {}, /--port must be an integer/]
  ] as Array<[string[], Record<string, string>, RegExp]>) {
    t.throws(() => parseServeSettings(args, env), UsageError, `${args.join(' ')} ${JSON.stringify(env)}: a usage error`)
    t.throws(() => parseServeSettings(args, env), message)
  }
})

function settingsFor (files: { cert: string, key: string, config?: string }): ServeSettings {
  const settings: ServeSettings = { port: 0, host: '127.0.0.1', tlsMinVersion: 'TLSv1.2', logLevel: 'info', drainSeconds: 0.2, tlsCertFile: files.cert, tlsPrivateKeyFile: files.key }
  if (files.config !== undefined) settings.configFile = files.config
  return settings
}

t.test('refuses to start without TLS files or with an invalid config, naming every problem', async t => {
  const { logger } = captureLogs()
  await t.rejects(startServer({ port: 0, host: '127.0.0.1', tlsMinVersion: 'TLSv1.2', logLevel: 'info', drainSeconds: 0 }, { logger }), MissingCertificateError)
  const volume = await createVolume({ 'tls.crt': first.cert, 'tls.key': first.key, config: 'policy: sometimes\nports:\n  inbound: 0\n' })
  t.teardown(volume.remove)
  await t.rejects(startServer(settingsFor({ cert: volume.path('tls.crt'), key: volume.path('tls.key'), config: volume.path('config') }), { logger }),
    /policy.*ports\.inbound|ports\.inbound.*policy/s)
  const mismatched = await createVolume({ 'tls.crt': first.cert, 'tls.key': second.key })
  t.teardown(mismatched.remove)
  await t.rejects(startServer(settingsFor({ cert: mismatched.path('tls.crt'), key: mismatched.path('tls.key') }), { logger }), /does not match/)
})

t.test('certificate hot reload from a Secret volume under load: no failed request, new connections get the new certificate', async t => {
  const volume = await createVolume({ 'tls.crt': first.cert, 'tls.key': first.key })
  t.teardown(volume.remove)
  const { logger, lines } = captureLogs()
  const running = await startServer(settingsFor({ cert: volume.path('tls.crt'), key: volume.path('tls.key') }), {
    logger, registry: new Registry(), watch: { debounceMs: 50, pollMs: 0 }
  })
  t.teardown(running.shutdown)
  t.equal(await servedFingerprint(running.port), fingerprint(first))
  const body = JSON.stringify(reviewFor(samplePod(), { uid: 'reload' }))
  const load = runLoad({ port: running.port, ca: ca.cert, body, uid: 'reload', durationMs: 2000, concurrency: 3, freshConnectionWorkers: 2 })
  await sleep(500)
  await volume.update({ 'tls.crt': second.cert, 'tls.key': second.key })
  t.ok(await waitFor(async () => await servedFingerprint(running.port) === fingerprint(second), 1000), 'new connections get the new certificate')
  const result = await load
  t.equal(result.failed, 0, `no failed request (${result.errors.slice(0, 3).join('; ')})`)
  t.ok(result.ok > 0, `${result.ok} requests answered`)
  t.ok(result.handshakes.some(h => h.fingerprint256 === fingerprint(second)), 'the load itself reconnected to the new certificate')
  t.match(lines().find(l => l.msg === 'serving certificate reloaded'), { subjectAltName: /sidecar-injector\.sidecar-injector\.svc/ })
  t.match(await running.metrics.registry.metrics(), /sidecar_injector_certificate_reloads_total\{result="success"\} 1/)

  // A half-written pair (key of another certificate) is refused; the served certificate stays.
  await volume.update({ 'tls.crt': first.cert, 'tls.key': second.key })
  t.ok(await waitFor(() => lines().some(l => l.msg === 'kept the current serving certificate: refused the new certificate: the private key does not match the certificate'), 1000), 'a mismatched pair is refused with a log line')
  t.equal(await servedFingerprint(running.port), fingerprint(second))
})

t.test('config hot reload from a ConfigMap volume: the next request uses it; an invalid one is refused and the old one keeps serving', async t => {
  const volume = await createVolume({ 'tls.crt': first.cert, 'tls.key': first.key, config: 'policy: enabled\n' })
  t.teardown(volume.remove)
  const { logger, lines } = captureLogs()
  const running = await startServer(settingsFor({ cert: volume.path('tls.crt'), key: volume.path('tls.key'), config: volume.path('config') }), {
    logger, watch: { debounceMs: 50, pollMs: 0 }
  })
  t.teardown(running.shutdown)
  const body = JSON.stringify(reviewFor(samplePod()))
  t.equal((await postReview(running.port, body)).json.response.patchType, 'JSONPatch', 'policy enabled: injected')

  await volume.update({ 'tls.crt': first.cert, 'tls.key': first.key, config: 'policy: disabled\n' })
  t.ok(await waitFor(() => running.config().policy === 'disabled', 2000), 'the new config was loaded')
  t.same((await postReview(running.port, body)).json.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true }, 'policy disabled: skipped')

  await volume.update({ 'tls.crt': first.cert, 'tls.key': first.key, config: 'policy: enabled\nproxyUID: -5\nimages:\n  proxy: ""\nnoSuchField: 1\n' })
  t.ok(await waitFor(() => lines().some(l => l.msg?.toString().startsWith('refused the new config') === true), 2000), 'the invalid config was refused')
  const refusal = lines().find(l => l.msg?.toString().startsWith('refused the new config') === true)
  t.equal(refusal?.level, 50)
  for (const path of ['proxyUID', 'images.proxy', 'noSuchField']) {
    t.match(refusal?.msg, path, `the log line names ${path}`)
  }
  t.equal(running.config().policy, 'disabled', 'the previous config keeps serving')
  t.same((await postReview(running.port, body)).json.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true })
  const metricsText = await running.metrics.registry.metrics()
  t.match(metricsText, /sidecar_injector_config_reloads_total\{result="success"\} 1/)
  t.match(metricsText, /sidecar_injector_config_reloads_total\{result="failure"\} 1/)
  t.ok(await waitFor(() => lines().some(l => l.msg === 'config reloaded'), 10), 'a good reload is logged')
})

t.test('a certificate source can be plugged in (self-managed TLS): its updates are served', async t => {
  let push: ((pair: KeyPair) => void) | undefined
  let stopped = false
  const source: CertificateSource = {
    load: async () => first,
    watch: update => { push = update; return () => { stopped = true } }
  }
  const { logger } = captureLogs()
  const running = await startServer({ port: 0, host: '127.0.0.1', tlsMinVersion: 'TLSv1.3', logLevel: 'info', drainSeconds: 0 }, {
    logger, certificates: source, facts: () => ({ nativeSidecarsSupported: true })
  })
  t.equal(await servedFingerprint(running.port), fingerprint(first))
  push?.(second)
  t.equal(await servedFingerprint(running.port), fingerprint(second))
  const answer = await postReview(running.port, JSON.stringify(reviewFor(samplePod())))
  const ops = JSON.parse(Buffer.from(answer.json.response.patch, 'base64').toString()) as Array<{ path: string, value?: any }>
  t.ok(ops.some(op => JSON.stringify(op.value ?? null).includes('"restartPolicy":"Always"')), 'the facts provider reached the core (native sidecar)')
  await running.shutdown()
  t.equal(stopped, true, 'shutdown stops the source')
})

async function plainGet (port: number, path: string): Promise<{ status: number, type: string, text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() }
}

async function tlsGet (port: number, path: string): Promise<{ status: number, text: string }> {
  return await new Promise((resolve, reject) => {
    httpsRequest({ host: '127.0.0.1', port, path, ca: ca.cert, servername, agent: false }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    }).on('error', reject).end()
  })
}

const staticCertificates: CertificateSource = { load: async () => first, watch: () => () => {} }

t.test('metrics on their own plain-HTTP port; the webhook port answers /metrics with a 404 in the error shape', async t => {
  const { logger, lines } = captureLogs()
  const running = await startServer({ port: 0, metricsPort: 0, host: '127.0.0.1', tlsMinVersion: 'TLSv1.2', logLevel: 'info', drainSeconds: 0 }, {
    logger, registry: new Registry(), certificates: staticCertificates
  })
  t.teardown(running.shutdown)
  const metricsPort = running.metricsPort ?? 0
  t.ok(metricsPort > 0 && metricsPort !== running.port, `a port of its own (${metricsPort}, webhook ${running.port})`)
  t.match(lines().find(l => l.msg === 'metrics listening'), { host: '127.0.0.1', port: metricsPort })

  t.equal((await postReview(running.port, JSON.stringify(reviewFor(samplePod())))).status, 200)
  const scraped = await plainGet(metricsPort, '/metrics')
  t.equal(scraped.status, 200)
  t.match(scraped.type, /^text\/plain; version=0\.0\.4/)
  t.match(scraped.text, /^sidecar_injector_injections_total 1$/m, 'the admission just answered on the webhook port is counted')
  t.match(scraped.text, /^sidecar_injector_requests_total\{code="200"\} 1$/m)
  t.match(scraped.text, /^sidecar_injector_certificate_expiry_timestamp_seconds \d+$/m)
  t.match(scraped.text, /^process_resident_memory_bytes \d+$/m, 'prom-client\'s process metrics')

  const onWebhook = await tlsGet(running.port, '/metrics')
  t.equal(onWebhook.status, 404, 'no /metrics on the webhook port')
  t.same(JSON.parse(onWebhook.text), {
    statusCode: 404,
    reason: 'not-found',
    message: 'no route for GET /metrics; the webhook port serves POST /inject, GET /healthz and GET /readyz (metrics have a port of their own: --metrics-port)'
  })
  t.equal((await tlsGet(running.port, '/readyz')).status, 200, 'the probes stay on the webhook port')
  for (const path of ['/readyz', '/inject', '/healthz']) {
    const other = await plainGet(metricsPort, path)
    t.equal(other.status, 404, `${path}: not on the metrics port`)
    t.same(JSON.parse(other.text), { statusCode: 404, reason: 'not-found', message: `no route for GET ${path}; the metrics port serves GET /metrics` })
  }
  const posted = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' })
  t.equal(posted.status, 404, 'POST: no route, whatever the body')
  t.match(await posted.json(), { statusCode: 404, reason: 'not-found' })
  await t.rejects(tlsGet(metricsPort, '/metrics'), 'the metrics port speaks plain HTTP, not TLS')
  t.same(lines().map(l => l.msg as string).filter(m => m !== 'admission' && !m.startsWith('Server listening at')), ['serving certificate loaded', 'listening', 'metrics listening'],
    'scrapes and 404s write no log line')
})

t.test('without a metrics port: no metrics listener, and the webhook port still serves no /metrics', async t => {
  const { logger, lines } = captureLogs()
  const running = await startServer({ port: 0, host: '127.0.0.1', tlsMinVersion: 'TLSv1.2', logLevel: 'info', drainSeconds: 0 }, {
    logger, registry: new Registry(), certificates: staticCertificates
  })
  t.teardown(running.shutdown)
  t.equal(running.metricsPort, undefined)
  t.match(lines().find(l => l.msg === 'no metrics listener'), { hint: /--metrics-port/ })
  t.equal((await tlsGet(running.port, '/metrics')).status, 404)
})

t.test('graceful shutdown: metrics are served through the drain, then both listeners close', async t => {
  const { logger, lines } = captureLogs()
  const running = await startServer({ port: 0, metricsPort: 0, host: '127.0.0.1', tlsMinVersion: 'TLSv1.2', logLevel: 'info', drainSeconds: 1 }, {
    logger, registry: new Registry(), certificates: staticCertificates
  })
  const metricsPort = running.metricsPort ?? 0
  // Prometheus keeps its connection between scrapes: an idle kept-alive socket must not hold the close.
  const agent = new HttpAgent({ keepAlive: true })
  t.teardown(() => { agent.destroy() })
  const keptAlive = await new Promise<number>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port: metricsPort, path: '/metrics', agent }, res => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) }).on('error', reject).end()
  })
  t.equal(keptAlive, 200)
  const stopped = running.shutdown()
  await sleep(300)
  const during = await plainGet(metricsPort, '/metrics')
  t.equal(during.status, 200, 'scraped during the drain')
  t.match(during.text, /^sidecar_injector_draining 1$/m, 'showing the drain')
  t.equal((await tlsGet(running.port, '/readyz')).status, 503)
  await stopped
  t.equal(await connectOutcome(running.port), 'refused', 'the webhook port is closed')
  t.equal(await connectOutcome(metricsPort), 'refused', 'the metrics port is closed')
  t.ok(lines().findIndex(l => l.msg === 'closed') >= 0)
})

t.test('a metrics port already in use: startServer fails with the address, and leaves no webhook port listening', async t => {
  const taken = createServer()
  await new Promise<void>(resolve => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { taken.close() })
  const address = taken.address()
  const busyPort = typeof address === 'object' && address !== null ? address.port : 0
  const { logger, lines } = captureLogs()
  await t.rejects(startServer({ port: 0, metricsPort: busyPort, host: '127.0.0.1', tlsMinVersion: 'TLSv1.2', logLevel: 'info', drainSeconds: 0 }, {
    logger, registry: new Registry(), certificates: staticCertificates
  }), { code: 'EADDRINUSE' })
  const webhookPort = lines().find(l => l.msg === 'listening')?.port as number
  t.ok(webhookPort > 0)
  t.equal(await connectOutcome(webhookPort), 'refused', 'the webhook port it had opened is closed again')
})

t.test('--audit-metric-interval: off by default; on, the audit metric is served on /metrics and stops with the server', async t => {
  t.notOk(Object.hasOwn(parseServeSettings([], {}) as ServeSettings, 'auditMetricSeconds'), 'off by default')
  t.match(parseServeSettings(['--audit-metric-interval', '300'], {}), { auditMetricSeconds: 300 })
  t.match(parseServeSettings([], { INJECTOR_AUDIT_METRIC_INTERVAL: '60' }), { auditMetricSeconds: 60 })
  t.throws(() => parseServeSettings(['--audit-metric-interval', '5m'], {}), /--audit-metric-interval must be a whole number of seconds, got '5m'/)

  const cluster = clusterOf([{ metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } } }], [samplePod()].map(p => ({ ...p, metadata: { ...p.metadata, namespace: 'shop' } })))
  const { logger } = captureLogs()
  const registry = new Registry()
  const running = await startServer({ port: 0, metricsPort: 0, host: '127.0.0.1', tlsMinVersion: 'TLSv1.3', logLevel: 'info', drainSeconds: 0, auditMetricSeconds: 3600 }, {
    logger, registry, certificates: staticCertificates, auditApi: async () => fakeAuditApi(cluster)
  })
  t.ok(await waitFor(async () => /sidecar_injector_audit_pods\{namespace="shop",kind="missing"\} 1/.test((await plainGet(running.metricsPort ?? 0, '/metrics')).text), 10_000),
    'the pod created without the webhook is counted as missing')
  await running.shutdown()
})

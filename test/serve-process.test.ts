// The real `sidecar-injector serve` process (src/cli.ts, run through the same TypeScript loader tap
// uses): SIGTERM while a bounded load runs must fail no request, metrics stay scrapeable through the
// drain, and the process must exit 0 with both its listeners closed.
import t from 'tap'
import { spawn } from 'node:child_process'
import { request as httpsRequest } from 'node:https'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { createTestCa, issueTestServing } from './helpers/certificates.js'
import { runLoad } from './helpers/load.js'
import { connectOutcome, freePort } from './helpers/ports.js'
import { createVolume } from './helpers/volume.js'
import { reviewFor, samplePod } from './helpers/webhook.js'

// Spawning a TypeScript child and draining it takes ~15 s, more on a busy machine: tap's 30 s default is too tight.
t.setTimeout(120_000)

const ca = await createTestCa()
const serving = await issueTestServing(ca)

t.test('SIGTERM under load: readiness false, Connection: close, no failed request, exit 0', async t => {
  const volume = await createVolume({ 'tls.crt': serving.cert, 'tls.key': serving.key })
  t.teardown(volume.remove)
  // Only the TypeScript loader of tap's own flags: the child runs the sources as the tests do.
  const loader = process.execArgv.filter(arg => arg.includes('@tapjs/typescript') || arg === '--enable-source-maps')
  // The metrics port through its variable, as a Deployment may set it; a port the system just freed.
  const metricsPort = await freePort()
  const child = spawn(process.execPath, [...loader, 'src/cli.ts', 'serve', '--port', '0', '--host', '127.0.0.1', '--drain-seconds', '2.5',
    '--tls-cert-file', volume.path('tls.crt')], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, INJECTOR_TLS_PRIVATE_KEY_FILE: volume.path('tls.key'), INJECTOR_LOG_LEVEL: 'info', INJECTOR_METRICS_PORT: String(metricsPort) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, any>> = []
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  let webhookPort = 0
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'metrics listening' line within 30 s; stderr: ${stderr}`)), 30_000)
    createInterface({ input: child.stdout }).on('line', line => {
      const entry = JSON.parse(line) as Record<string, any>
      lines.push(entry)
      if (entry.msg === 'listening') webhookPort = entry.port as number
      if (entry.msg === 'metrics listening') { clearTimeout(timer); resolve(webhookPort) }
    })
  })
  t.match(lines.find(l => l.msg === 'metrics listening'), { port: metricsPort })

  const body = JSON.stringify(reviewFor(samplePod(), { uid: 'process' }))
  const load = runLoad({ port, ca: ca.cert, body, uid: 'process', durationMs: 1800, concurrency: 4, freshConnectionWorkers: 1 })
  await sleep(500)
  child.kill('SIGTERM')
  await sleep(200)
  const readyz = await new Promise<number>((resolve, reject) => {
    httpsRequest({ host: '127.0.0.1', port, path: '/readyz', ca: ca.cert, servername: 'sidecar-injector.sidecar-injector.svc', agent: false }, res => {
      res.resume()
      resolve(res.statusCode ?? 0)
    }).on('error', reject).end()
  })
  t.equal(readyz, 503, 'readiness is false as soon as SIGTERM arrives')
  const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
  t.equal(scrape.status, 200, 'metrics are scraped during the drain')
  t.match(await scrape.text(), /^sidecar_injector_draining 1$/m)
  child.kill('SIGTERM') // a second signal during the drain must not cut it short
  const result = await load
  t.equal(result.failed, 0, `no failed request (${result.errors.slice(0, 3).join('; ')})`)
  t.ok(result.keptAlive > 0, `${result.keptAlive} answers before SIGTERM kept their connection`)
  t.ok(result.closed > 0, `${result.closed} answers after SIGTERM carried Connection: close`)

  const code = await Promise.race([exited, sleep(10_000).then(() => 'timeout')])
  t.equal(code, 0, 'exit 0 after the drain')
  for (const [name, closedPort] of [['webhook', port], ['metrics', metricsPort]] as const) {
    t.equal(await connectOutcome(closedPort), 'refused', `the ${name} port is closed`)
  }
  const messages = lines.map(l => l.msg as string).filter(m => m !== 'admission')
  t.same(messages.slice(-4), ['shutting down', 'draining: readiness is false, answers close their connections', 'already shutting down', 'closed'])
  t.match(lines.find(l => l.msg === 'shutting down'), { signal: 'SIGTERM', drainSeconds: 2.5 })
  t.equal(lines.filter(l => l.msg === 'admission').length, result.ok, 'one log line per admission')
})

// The real `sidecar-injector serve` process under the Deployment's Node flags (NODE_OPTIONS in
// manifests/deployment.yaml: the old space capped at 256 MiB): 16 simultaneous ~3 MiB reviews plus 20 clients that send reviews and
// never read their answers must not crash it, and other clients must still be served. Before the
// in-flight budget and the write timeout, this load killed the process (heap out of memory).
import t from 'tap'
import type { Test } from 'tap'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { connect as tlsConnect } from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { createInterface } from 'node:readline'
import { admissionReview, generatePod } from '../bench/reviews.js'
import { deploymentNodeOptions } from '../bench/servers.js'
import { createTestCa, issueTestServing } from './helpers/certificates.js'
import { createVolume } from './helpers/volume.js'
import { reviewFor, samplePod } from './helpers/webhook.js'

t.setTimeout(600_000)

const repoRoot = new URL('..', import.meta.url).pathname

const servername = 'sidecar-injector.sidecar-injector.svc'

async function post (port: number, ca: string, body: string): Promise<{ status: number, bytes: number } | { error: string }> {
  return await new Promise(resolve => {
    const req = httpsRequest({
      host: '127.0.0.1',
      port,
      path: '/inject',
      method: 'POST',
      ca,
      servername,
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
    }, res => {
      let bytes = 0
      res.on('data', (chunk: Buffer) => { bytes += chunk.length })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }))
    })
    req.on('error', err => resolve({ error: err.message }))
    req.end(body)
  })
}

/** POSTs until the answer is not a 429 (the budget frees as answers are written or cut), at most `tries` times. */
async function postUntilAdmitted (port: number, ca: string, body: string, tries = 20): Promise<Awaited<ReturnType<typeof post>>> {
  let answer = await post(port, ca, body)
  for (let i = 1; i < tries && 'status' in answer && answer.status === 429; i++) answer = await post(port, ca, body)
  return answer
}

// ~3 MiB of env: 40 containers sharing 20,000 env vars, with kube-controller-manager's managedFields.
const envPod = (): string => JSON.stringify(admissionReview(generatePod({ containers: 40, envTotal: 20_000, managedFields: true })))

// ~3 MiB of probe headers: the pod that got ~6× answers before they were made proportional.
function probeHeaderPod (): string {
  const pod = samplePod()
  const container = pod.spec?.containers[0]
  if (container?.readinessProbe?.httpGet !== undefined) {
    container.readinessProbe.httpGet.httpHeaders = Array.from({ length: 20_000 }, (_, i) => ({ name: `X-Header-${i}`, value: 'v'.repeat(40) }))
    container.livenessProbe = structuredClone(container.readinessProbe)
  }
  return JSON.stringify(reviewFor(pod))
}

for (const [name, makeReview, maxAnswerRatio] of [['env vars', envPod, 0.25], ['probe headers', probeHeaderPod, 2]] as const) {
  t.test(`16 simultaneous 3 MiB reviews (${name}) and 20 non-reading clients under a 256 MiB heap: no crash, others served`, async t => {
    await storm(t, makeReview(), maxAnswerRatio)
  })
}

async function storm (t: Test, large: string, maxAnswerRatio: number): Promise<void> {
  const ca = await createTestCa()
  const serving = await issueTestServing(ca)
  const volume = await createVolume({ 'tls.crt': serving.cert, 'tls.key': serving.key })
  t.teardown(volume.remove)
  // MEMORY_TEST_ENTRY=dist/cli.js measures a built server (figures for docs/operations.md); by default
  // the sources run through tap's TypeScript loader, whose compiler then shares the capped heap.
  const entry = process.env.MEMORY_TEST_ENTRY
  const loader = entry !== undefined ? [] : process.execArgv.filter(arg => arg.includes('@tapjs/typescript') || arg === '--enable-source-maps')
  const child = spawn(process.execPath, [...deploymentNodeOptions(repoRoot), ...loader, entry ?? 'src/cli.ts', 'serve', '--port', '0', '--host', '127.0.0.1',
    '--tls-cert-file', volume.path('tls.crt'), '--tls-private-key-file', volume.path('tls.key'), '--log-level', 'info'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<string>(resolve => child.on('exit', (code, signal) => resolve(`exit ${code} ${signal}`)))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'listening' line within 60 s; stderr: ${stderr}`)), 60_000)
    child.on('exit', () => reject(new Error(`exited before listening: ${stderr}`)))
    createInterface({ input: child.stdout }).on('line', line => {
      const entry = JSON.parse(line) as Record<string, unknown>
      if (entry.msg === 'listening') { clearTimeout(timer); resolve(entry.port as number) }
    })
  })

  t.ok(large.length > 2.5 * 1024 * 1024 && large.length < 3.5 * 1024 * 1024, `a ${(large.length / 1048576).toFixed(2)} MiB review`)

  // 20 clients send two pipelined reviews each and never read.
  const silent: TLSSocket[] = []
  const request = `POST /inject HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(large)}\r\n\r\n${large}`
  for (let i = 0; i < 20; i++) {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.cert, servername })
    socket.on('error', () => {})
    socket.pause()
    socket.write(request)
    socket.write(request)
    silent.push(socket)
  }
  t.teardown(() => { for (const s of silent) s.destroy() })

  const answers = await Promise.all(Array.from({ length: 16 }, async () => await post(port, ca.cert, large)))
  const statuses = answers.map(a => 'status' in a ? a.status : a.error)
  t.ok(answers.every(a => 'status' in a && (a.status === 200 || a.status === 429)), `every large review answered 200 or 429: ${statuses.join(',')}`)

  // Unread answers hold their bytes of the budget until the write timeout (10 s) cuts their clients.
  const small = await postUntilAdmitted(port, ca.cert, JSON.stringify(reviewFor(samplePod())))
  t.match(small, { status: 200 }, 'another client is served')
  const after = await postUntilAdmitted(port, ca.cert, large)
  t.match(after, { status: 200 }, 'a large review is served after the storm')
  t.equal(child.exitCode, null, 'the process is alive')
  const outcome = await Promise.race([exited, new Promise<string>(resolve => setTimeout(() => resolve('alive'), 500))])
  t.equal(outcome, 'alive', stderr.slice(-2000))
  const largest = answers.reduce((max, a) => 'bytes' in a ? Math.max(max, a.bytes) : max, 0)
  // Peak resident set of the server (Linux), for docs/operations.md.
  const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '')
  t.comment(`server peak RSS ${/VmHWM:\s*(\d+ kB)/.exec(status)?.[1] ?? 'unknown'}`)
  t.comment(`statuses ${statuses.join(',')}; largest answer ${largest} bytes for a ${large.length} byte review`)
  t.ok(largest < large.length * maxAnswerRatio, `answers at most ${maxAnswerRatio}× the review`)
  child.kill('SIGTERM')
}

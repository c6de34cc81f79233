// The server's memory and time bounds: the in-flight budget (wait, then 429), the write timeout that
// frees a client that never reads its answer, and the shape of 404s.
import t from 'tap'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ClusterFacts, Pod } from '../../src/core/types.js'
import { buildTestServer, reviewFor, samplePod } from '../helpers/webhook.js'

const json = { 'content-type': 'application/json' }

/** A facts provider that holds every review until release() is called: reviews stay in flight. */
function heldFacts (): { facts: (pod: Pod) => Promise<ClusterFacts>, release: () => void, held: () => number } {
  let open: Array<() => void> = []
  let count = 0
  return {
    facts: async () => {
      count++
      await new Promise<void>(resolve => open.push(resolve))
      return {}
    },
    release: () => { for (const r of open) r(); open = [] },
    held: () => count
  }
}

async function until (condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

t.test('beyond the in-flight request budget a review waits, then gets a fast 429 with Retry-After', async t => {
  const held = heldFacts()
  const { server, metrics, logs } = buildTestServer({ facts: held.facts, budget: { requests: 2, waitMs: 300 } })
  t.teardown(() => server.app.close())
  const payload = JSON.stringify(reviewFor(samplePod()))
  const first = server.app.inject({ method: 'POST', url: '/inject', headers: json, payload })
  const second = server.app.inject({ method: 'POST', url: '/inject', headers: json, payload })
  await until(() => held.held() === 2, 'two reviews in flight')
  const third = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload })
  t.equal(third.statusCode, 429)
  t.equal(third.headers['retry-after'], '1')
  t.same(third.json(), { statusCode: 429, reason: 'overloaded', message: 'too many reviews in progress; retry later' })
  t.equal(held.held(), 2, 'the refused review never reached the core')
  t.match(logs.lines(), [{ msg: /in-flight budget is spent/, inFlightRequests: 2 }])
  t.match(await metrics.registry.getSingleMetricAsString('sidecar_injector_errors_total'), /type="overloaded"} 1/)

  // One that arrives while full and gets room within its wait is served.
  const waiting = server.app.inject({ method: 'POST', url: '/inject', headers: json, payload })
  await sleep(50)
  held.release()
  for (const res of await Promise.all([first, second])) t.equal(res.statusCode, 200)
  await until(() => held.held() === 3, 'the waiting review admitted')
  held.release()
  t.equal((await waiting).statusCode, 200, 'a review that waited for room is answered')
})

t.test('the byte budget: a review too large for the room left waits; one larger than the whole budget still gets in alone', async t => {
  const held = heldFacts()
  const body = JSON.stringify(reviewFor(samplePod()))
  const { server } = buildTestServer({ facts: held.facts, budget: { bytes: body.length + 10, requests: 100, waitMs: 200 } })
  t.teardown(() => server.app.close())
  const first = server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: body })
  await until(() => held.held() === 1, 'one review in flight')
  const second = await server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: body })
  t.equal(second.statusCode, 429, 'no room for a second body')
  held.release()
  t.equal((await first).statusCode, 200)

  const big = JSON.stringify(reviewFor({ ...samplePod(), metadata: { ...samplePod().metadata, annotations: { padding: 'x'.repeat(100_000) } } }))
  const alone = server.app.inject({ method: 'POST', url: '/inject', headers: json, payload: big })
  await until(() => held.held() === 2, 'the large review admitted')
  held.release()
  t.equal((await alone).statusCode, 200, 'a body larger than the budget is served when nothing else is in flight')
})

t.test('a client that never reads its answer is cut after the write timeout', async t => {
  const { server, logs } = buildTestServer({ timeouts: { writeTimeoutMs: 500 } })
  t.teardown(() => server.app.close())
  await server.app.listen({ port: 0, host: '127.0.0.1' })
  const address = server.app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  // Many ports: ISTIO_META_POD_PORTS lists them all, so the answer is larger than the socket buffers.
  const pod = samplePod()
  const container = pod.spec?.containers[0]
  if (container !== undefined) container.ports = Array.from({ length: 30_000 }, (_, i) => ({ name: `p${i}`, containerPort: 1024 + i, protocol: 'TCP' }))
  const body = JSON.stringify(reviewFor(pod))
  const sockets: Socket[] = []
  const request = `POST /inject HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  for (let i = 0; i < 2; i++) {
    const socket = connect(port, '127.0.0.1')
    socket.pause() // never reads
    socket.on('error', () => {})
    // Pipelined: the answers together are larger than loopback's socket buffers (a few MiB).
    for (let r = 0; r < 6; r++) socket.write(request)
    sockets.push(socket)
  }
  t.teardown(() => { for (const s of sockets) s.destroy() })
  const connections = async (): Promise<number> => await new Promise(resolve => { server.app.server.getConnections((_err, n) => resolve(n)) })
  const cut = (): number => logs.lines().filter(l => l.msg === 'the client did not read its answer in time; closing the connection').length
  await until(() => cut() >= 2, 'two write timeouts', 60_000)
  await until(() => sockets.every(s => s.destroyed || s.readableEnded || s.closed), 'the client sockets closed by the server', 5_000).catch(() => {})
  t.equal(await connections(), 0, 'the server holds no connection of a non-reading client')
  // A reading client is served as before.
  const res = await fetch(`http://127.0.0.1:${port}/inject`, { method: 'POST', headers: json, body: JSON.stringify(reviewFor(samplePod())) })
  t.equal(res.status, 200)
})

t.test('404 answers have the documented error shape', async t => {
  const { server } = buildTestServer()
  t.teardown(() => server.app.close())
  for (const [method, url] of [['GET', '/nope'], ['GET', '/inject'], ['POST', `/${'x'.repeat(10_000)}`]] as const) {
    const res = await server.app.inject({ method, url })
    t.equal(res.statusCode, 404)
    const body = res.json<{ statusCode: number, reason: string, message: string }>()
    t.equal(body.statusCode, 404)
    t.equal(body.reason, 'not-found')
    t.match(body.message, /POST \/inject/)
    t.ok(res.body.length < 400, `a short answer (${res.body.length} bytes)`)
  }
})

// The server's memory and time bounds: the in-flight budget (wait, then 429, sooner when the API
// server's ?timeout= says it gives up sooner), the write timeout that frees a client that never reads
// its answer, and the shape of 404s.
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

async function listenOnLoopback (app: { listen: (o: { port: number, host: string }) => Promise<string>, server: { address: () => unknown } }): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address() as { port?: number } | null
  return address?.port ?? 0
}

t.test('?timeout= from the API server: a queued review stops waiting in time to be answered before it gives up', async t => {
  const held = heldFacts()
  // One review at a time, and a wait for room far longer than any timeout below.
  const { server, logs } = buildTestServer({ facts: held.facts, budget: { requests: 1, waitMs: 60_000 } })
  t.teardown(() => server.app.close())
  const port = await listenOnLoopback(server.app)
  const body = JSON.stringify(reviewFor(samplePod()))
  const post = async (query: string): Promise<Response> => await fetch(`http://127.0.0.1:${port}/inject${query}`, { method: 'POST', headers: json, body })
  const first = post('?timeout=10s')
  await until(() => held.held() === 1, 'one review in flight')

  const refused = await post('?timeout=1s')
  t.equal(held.held(), 1, 'answered while the first review still holds the only room')
  t.equal(refused.status, 429)
  t.equal(refused.headers.get('retry-after'), '1')
  t.same(await refused.json(), { statusCode: 429, reason: 'overloaded', message: 'too many reviews in progress; retry later' })
  t.match(logs.lines().at(-1), { msg: /in-flight budget is spent/, timeoutMs: 1000, waitMs: 500 }, 'it waited half its timeout, not the budget\'s 60 s')
  held.release()
  t.equal((await first).status, 200)
})

t.test('?timeout= that cannot be read is ignored: the budget\'s own wait, and no 400', async t => {
  const held = heldFacts()
  const { server, logs } = buildTestServer({ facts: held.facts, budget: { requests: 1, waitMs: 300 } })
  t.teardown(() => server.app.close())
  const port = await listenOnLoopback(server.app)
  const body = JSON.stringify(reviewFor(samplePod()))
  const post = async (query: string): Promise<Response> => await fetch(`http://127.0.0.1:${port}/inject${query}`, { method: 'POST', headers: json, body })
  const first = post('')
  await until(() => held.held() === 1, 'one review in flight')
  for (const query of ['?timeout=soon', '?timeout=-5s', '?timeout=0s', '?timeout=1s&timeout=2s', `?timeout=${'9'.repeat(5000)}s`, '?timeout[a]=1s', '?timeout=1%00s']) {
    const res = await post(query)
    t.equal(res.status, 429, `${query.slice(0, 40)}: the budget's wait, then 429`)
    const line = logs.lines().at(-1)
    t.match(line, { msg: /in-flight budget is spent/, waitMs: 300 })
    t.notOk(line !== undefined && 'timeoutMs' in line, 'no timeout taken from it')
  }
  held.release()
  t.equal((await first).status, 200)
  const served = post('?timeout=soon')
  await until(() => held.held() === 2, 'the review with an unreadable timeout reached the core')
  held.release()
  t.equal((await served).status, 200, 'with room, an unreadable timeout changes nothing')
})

/** A POST /inject whose body arrives in two parts, pauseMs apart, over a raw loopback socket. */
async function slowPost (port: number, query: string, body: string, pauseMs: number): Promise<{ status: number, json: any }> {
  const socket = connect(port, '127.0.0.1')
  let text = ''
  socket.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  const closed = new Promise<void>(resolve => socket.on('close', () => resolve()))
  socket.write(`POST /inject${query} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`)
  await sleep(pauseMs)
  // Not end(): a half-closed request may be dropped; connection: close has the server close after answering.
  socket.write(body.slice(10))
  await closed
  const [head = '', payload = ''] = text.split('\r\n\r\n')
  return { status: Number(head.split(' ')[1]), json: JSON.parse(payload) }
}

t.test('a review whose ?timeout= passed before it could be worked on is refused without running the core', async t => {
  const counted = heldFacts()
  const { server, metrics, logs } = buildTestServer({ facts: counted.facts })
  t.teardown(() => server.app.close())
  const port = await listenOnLoopback(server.app)
  const body = JSON.stringify(reviewFor(samplePod()))
  const late = await slowPost(port, '?timeout=1s', body, 1200)
  t.equal(late.status, 429)
  t.same(late.json, { statusCode: 429, reason: 'deadline-exceeded', message: 'the API server\'s timeout (1 s) passed before this review could be worked on; retry later' })
  t.equal(counted.held(), 0, 'the core never saw it')
  t.notOk(logs.lines().some(l => l.msg === 'admission'), 'no admission was made')
  t.match(logs.lines().at(-1), { reason: 'deadline-exceeded', timeoutMs: 1000 })
  t.match(await metrics.registry.getSingleMetricAsString('sidecar_injector_errors_total'), /type="overloaded"} 1/)

  // The same slow body with time left, and without a timeout: served.
  const inTime = slowPost(port, '?timeout=30s', body, 1200)
  const noTimeout = slowPost(port, '', body, 1200)
  await until(() => counted.held() === 2, 'both reached the core')
  counted.release()
  t.equal((await inTime).status, 200)
  t.equal((await noTimeout).status, 200)
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

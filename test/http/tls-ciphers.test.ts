// TLS 1.2 suites on a real socket: by default ECDHE with AEAD ciphers only; --tls-cipher-suites takes
// the IANA names Kubernetes components take. Each case is one handshake from a client offering one suite.
import t from 'tap'
import { connect } from 'node:tls'
import type { ConnectionOptions } from 'node:tls'
import { Registry } from 'prom-client'
import { defaultConfig } from '../../src/core/config.js'
import { createMetrics } from '../../src/http/metrics.js'
import { buildServer } from '../../src/http/server.js'
import { defaultCipherSuites, openSslCiphers } from '../../src/http/tls-ciphers.js'
import { parseServeSettings } from '../../src/cli/serve.js'
import { createTestCa, issueTestServing } from '../helpers/certificates.js'
import { captureLogs } from '../helpers/webhook.js'

const servername = 'sidecar-injector.sidecar-injector.svc'
const ca = await createTestCa()
const pair = await issueTestServing(ca)

async function listen (ciphers?: string): Promise<{ port: number, close: () => Promise<void> }> {
  const config = defaultConfig()
  const server = buildServer({
    logger: captureLogs().logger,
    config: () => config,
    metrics: createMetrics(new Registry(), { defaultMetrics: false }),
    tls: { ...pair, ...(ciphers === undefined ? {} : { ciphers }) }
  })
  await server.app.listen({ port: 0, host: '127.0.0.1' })
  const address = server.app.server.address()
  return { port: typeof address === 'object' && address !== null ? address.port : 0, close: async () => { await server.app.close() } }
}

/** The negotiated cipher's OpenSSL name, or the handshake error. */
async function offer (port: number, options: ConnectionOptions): Promise<string> {
  return await new Promise(resolve => {
    const socket = connect({ host: '127.0.0.1', port, ca: ca.cert, servername, ...options }, () => {
      const name = socket.getCipher().name
      socket.end()
      resolve(name)
    })
    socket.on('error', err => { resolve(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`) })
  })
}

const tls12 = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const

t.test('by default TLS 1.2 offers ECDHE with AEAD ciphers only', async t => {
  const { port, close } = await listen()
  t.teardown(close)
  for (const cipher of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
    t.equal(await offer(port, { ...tls12, ciphers: cipher }), cipher, `${cipher} accepted`)
  }
  for (const cipher of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'ECDHE-ECDSA-AES128-CCM8', 'ECDHE-ECDSA-ARIA128-GCM-SHA256', 'ECDHE-ECDSA-AES128-SHA256']) {
    t.match(await offer(port, { ...tls12, ciphers: cipher }), /^error/, `${cipher} refused`)
  }
  t.match(await offer(port, { minVersion: 'TLSv1.3' }), /^TLS_AES_|^TLS_CHACHA20/, 'TLS 1.3 keeps its suites')
})

t.test('--tls-cipher-suites takes IANA names and replaces the TLS 1.2 list', async t => {
  const chosen = openSslCiphers(['TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA'])
  if (!chosen.ok) throw new Error('a known suite was refused')
  const { port, close } = await listen(chosen.ciphers)
  t.teardown(close)
  t.equal(await offer(port, { ...tls12, ciphers: 'ECDHE-ECDSA-AES128-SHA' }), 'ECDHE-ECDSA-AES128-SHA', 'the named CBC suite is now accepted')
  t.match(await offer(port, { ...tls12, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), /^error/, 'and only it')
  t.match(await offer(port, { minVersion: 'TLSv1.3' }), /^TLS_AES_|^TLS_CHACHA20/, 'TLS 1.3 still works')

  const settings = parseServeSettings(['--tls-cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305'], {})
  t.match(settings, { tlsCiphers: /ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305$/ })
  t.match(parseServeSettings([], { INJECTOR_TLS_CIPHER_SUITES: defaultCipherSuites.join(',') }), { tlsCiphers: /ECDHE-ECDSA-AES128-GCM-SHA256/ })
  t.throws(() => parseServeSettings(['--tls-cipher-suites', 'TLS_RSA_WITH_RC4_128_SHA'], {}), /unknown suite 'TLS_RSA_WITH_RC4_128_SHA'/)
})

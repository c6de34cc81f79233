import { X509Certificate } from 'node:crypto'
import { connect, createServer } from 'node:tls'
import type { Server } from 'node:tls'
import t from 'tap'
import { createKubeApi } from '../../src/kube/api.js'
import { createSelfManagedTls } from '../../src/tls/self-managed.js'
import type { SelfManagedTlsOptions } from '../../src/tls/self-managed.js'
import type { KeyPair } from '../../src/tls/key-pair.js'
import { createCertificateAuthority, readNotAfter, splitPemBundle } from '../../src/tls/certificates.js'
import { collections, eventually, startFakeApiServer } from '../helpers/fake-api-server.js'

const suffix = 'sidecar-injector.istio.io'
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }
const webhookConfig = (caBundle?: string): any => ({
  metadata: { name: 'sidecar-injector' },
  webhooks: [`rev.namespace.${suffix}`, `namespace.${suffix}`, 'foreign.example.com'].map(name => ({
    name, clientConfig: { service: { name: 'sidecar-injector', namespace: 'mesh', path: '/inject' }, ...(caBundle === undefined ? {} : { caBundle }) }
  }))
})
const bundlesIn = (config: any): Array<string | undefined> => config.webhooks.map((w: any) => w.clientConfig.caBundle === undefined ? undefined : Buffer.from(w.clientConfig.caBundle, 'base64').toString())

async function setup (t: any, over: Partial<SelfManagedTlsOptions> = {}): Promise<{ fake: Awaited<ReturnType<typeof startFakeApiServer>>, make: () => ReturnType<typeof createSelfManagedTls> }> {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  const make = (): ReturnType<typeof createSelfManagedTls> => createSelfManagedTls({
    api: createKubeApi(fake.kubeConfig),
    namespace: 'mesh',
    serviceName: 'sidecar-injector',
    webhookConfigName: 'sidecar-injector',
    caSecretName: 'sidecar-injector-ca',
    logger: quiet,
    minRetryMs: 20,
    maxRetryMs: 200,
    ...over
  })
  return { fake, make }
}

/** A TLS handshake as the API server makes it: trusting only caBundle, checking <svc>.<ns>.svc. */
async function handshake (server: Server, bundle: string): Promise<string> {
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return await new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: bundle, servername: 'sidecar-injector.mesh.svc' }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? ''
      socket.end()
      resolve(serial)
    })
    socket.on('error', reject)
  })
}

t.test('load: a CA in the Secret, a serving certificate for the Service, the caBundle in every entry', async t => {
  const { fake, make } = await setup(t)
  fake.put(collections.webhooks, webhookConfig())
  const tls = make()
  const pair = await tls.load()
  const secret = fake.get(collections.secrets('mesh'), 'sidecar-injector-ca')
  const caCert = Buffer.from(secret?.data['ca.crt'], 'base64').toString()
  const leaf = new X509Certificate(pair.cert)
  t.ok(leaf.verify(new X509Certificate(caCert).publicKey), 'signed by the CA of the Secret')
  t.equal(leaf.subjectAltName, 'DNS:sidecar-injector, DNS:sidecar-injector.mesh, DNS:sidecar-injector.mesh.svc, DNS:sidecar-injector.mesh.svc.cluster.local')
  const hours = (readNotAfter(pair.cert).getTime() - Date.now()) / 3_600_000
  t.ok(hours > 23.9 && hours <= 24, `short-lived: ${hours.toFixed(2)} h`)
  t.equal(tls.bundle(), caCert)
  t.same(bundlesIn(fake.get(collections.webhooks, 'sidecar-injector')), [caCert, caCert, undefined], 'our entries only')
  t.ok(Math.abs((tls.nextRenewal()?.getTime() ?? 0) - (Date.now() + 16 * 3_600_000)) < 60_000, 'renewal planned with a third of the lifetime left')

  const server = createServer({ key: pair.key, cert: pair.cert })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  t.equal(await handshake(server, tls.bundle() ?? ''), leaf.serialNumber, 'a client trusting only the bundle accepts the served certificate')
})

t.test('the caBundle is repaired when the configuration is re-applied without it, or created later', async t => {
  const { fake, make } = await setup(t)
  const tls = make()
  await tls.load()
  const stop = tls.watch(() => {})
  t.teardown(stop)
  await eventually(() => fake.openWatches() === 1)
  const bundle = tls.bundle()

  fake.put(collections.webhooks, webhookConfig())
  await eventually(() => bundlesIn(fake.get(collections.webhooks, 'sidecar-injector'))[0] === bundle, 3000, 'a late configuration to be patched')
  fake.put(collections.webhooks, webhookConfig())
  await eventually(() => bundlesIn(fake.get(collections.webhooks, 'sidecar-injector'))[1] === bundle, 3000, 'a wiped caBundle to be repaired')
  const wrong = '-----BEGIN CERTIFICATE-----\nWRONG\n-----END CERTIFICATE-----\n'
  fake.put(collections.webhooks, webhookConfig(Buffer.from(wrong).toString('base64')))
  await eventually(() => bundlesIn(fake.get(collections.webhooks, 'sidecar-injector'))[0] === bundle, 3000, 'an edited caBundle to be repaired')
  t.same(bundlesIn(fake.get(collections.webhooks, 'sidecar-injector')), [bundle, bundle, wrong], 'the foreign entry is not ours to fix')
  const patches = fake.requests.filter(r => r.method === 'PATCH').length
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(fake.requests.filter(r => r.method === 'PATCH').length, patches, 'our own patch does not trigger another one')
})

t.test('the serving certificate is renewed before expiry without a restart, and the new one is served', async t => {
  const { fake, make } = await setup(t, { servingValidityMs: 3000 })
  fake.put(collections.webhooks, webhookConfig())
  const tls = make()
  const first = await tls.load()
  const server = createServer({ key: first.key, cert: first.cert })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const updates: KeyPair[] = []
  const stop = tls.watch(pair => {
    updates.push(pair)
    server.setSecureContext({ key: pair.key, cert: pair.cert })
  })
  t.teardown(stop)
  const bundle = tls.bundle() ?? ''
  t.equal(await handshake(server, bundle), new X509Certificate(first.cert).serialNumber)
  await eventually(() => updates.length >= 1, 5000, 'a renewal')
  const renewed = updates[0] as KeyPair
  t.ok(Date.now() < readNotAfter(first.cert).getTime(), 'renewed before the first one expired')
  t.not(renewed.cert, first.cert)
  t.equal(await handshake(server, bundle), new X509Certificate(renewed.cert).serialNumber, 'the same trusted CA, the new certificate')
  t.ok((tls.nextRenewal()?.getTime() ?? 0) > Date.now(), 'and the next renewal is planned')
})

t.test('replicas agree: one CA, one bundle, no patch fight — even after another replica changed the CA', async t => {
  const { fake, make } = await setup(t)
  fake.put(collections.webhooks, webhookConfig())
  const a = make()
  const b = make()
  await Promise.all([a.load(), b.load()])
  t.equal(a.bundle(), b.bundle())
  const stops = [a.watch(() => {}), b.watch(() => {})]
  t.teardown(() => { for (const stop of stops) stop() })
  await eventually(() => fake.openWatches() === 2)

  // Another replica (simulated) rotates the CA: new CA in the Secret, old one kept as previous, bundle published.
  const secret = fake.get(collections.secrets('mesh'), 'sidecar-injector-ca') as any
  const old = Buffer.from(secret.data['ca.crt'], 'base64').toString()
  const next = await createCertificateAuthority({ now: new Date(), validityMs: 86_400_000 * 3650, commonName: 'next' })
  fake.put(collections.secrets('mesh'), {
    ...secret,
    data: { 'ca.crt': Buffer.from(next.cert).toString('base64'), 'ca.key': Buffer.from(next.key).toString('base64'), 'previous-ca.crt': secret.data['ca.crt'] }
  })
  const patchesBefore = fake.requests.filter(r => r.method === 'PATCH').length
  fake.put(collections.webhooks, webhookConfig(Buffer.from(next.cert + old).toString('base64')))
  await eventually(() => a.bundle() === next.cert + old && b.bundle() === next.cert + old, 3000, 'both replicas to adopt the new bundle')
  await new Promise(resolve => setTimeout(resolve, 200))
  t.equal(fake.requests.filter(r => r.method === 'PATCH').length, patchesBefore, 'neither replica patched the configuration back')
  t.same(splitPemBundle(a.bundle() ?? ''), [next.cert, old])
})

t.test('an API error at renewal keeps the current certificate and retries', async t => {
  const { fake, make } = await setup(t, { servingValidityMs: 3000 })
  fake.put(collections.webhooks, webhookConfig())
  const tls = make()
  await tls.load()
  fake.failNext('GET', '/api/v1/namespaces/mesh/secrets/sidecar-injector-ca', 500)
  const updates: KeyPair[] = []
  const stop = tls.watch(pair => { updates.push(pair) })
  t.teardown(stop)
  await eventually(() => updates.length >= 1, 6000, 'a renewal after the failure')
  t.ok(fake.requests.filter(r => r.method === 'GET' && r.url === '/api/v1/namespaces/mesh/secrets/sidecar-injector-ca').length >= 3, 'load, the failed read, the retry')
})

t.test('a CA change reaches the caBundle before a certificate from the new CA is served', async t => {
  // A CA that lives 8 s and is replaced with 6.5 s left: the first renewal (~2 s in) rotates it.
  const { fake, make } = await setup(t, { servingValidityMs: 3000, caValidityMs: 8000, caRenewBeforeMs: 6500, caPropagationDelayMs: 300 })
  fake.put(collections.webhooks, webhookConfig())
  const tls = make()
  await tls.load()
  const firstCa = tls.bundle() ?? ''
  const served: Array<{ pair: KeyPair, at: number, bundleInConfig: string | undefined }> = []
  const stop = tls.watch(pair => { served.push({ pair, at: Date.now(), bundleInConfig: bundlesIn(fake.get(collections.webhooks, 'sidecar-injector'))[0] }) })
  t.teardown(stop)
  await eventually(() => served.length >= 1, 6000, 'the renewal that rotates the CA')
  const { pair, at, bundleInConfig } = served[0] as { pair: KeyPair, at: number, bundleInConfig: string }
  const [newCa, previous] = splitPemBundle(bundleInConfig)
  t.equal(previous, firstCa, 'the previous CA is still trusted')
  t.not(newCa, firstCa, 'the CA changed')
  t.ok(new X509Certificate(pair.cert).verify(new X509Certificate(newCa ?? '').publicKey), 'the new certificate comes from the new CA')
  const patchedAt = fake.requests.filter(r => r.method === 'PATCH').at(-1)?.at ?? Infinity
  t.ok(at - patchedAt >= 300, `served ${at - patchedAt} ms after the caBundle patch (propagation delay 300 ms)`)
})

t.test('a certificate whose CA left the bundle (CA Secret re-created) is renewed at once', async t => {
  const { fake, make } = await setup(t, { caPropagationDelayMs: 100 })
  fake.put(collections.webhooks, webhookConfig())
  const tls = make()
  const first = await tls.load()
  const updates: KeyPair[] = []
  const stop = tls.watch(pair => { updates.push(pair) })
  t.teardown(stop)
  await eventually(() => fake.openWatches() === 1)
  t.ok((tls.nextRenewal()?.getTime() ?? 0) > Date.now() + 3_600_000, 'no renewal planned for hours')

  // Someone deleted the Secret; another replica created a new CA (no previous) and published it alone.
  const secret = fake.get(collections.secrets('mesh'), 'sidecar-injector-ca') as any
  const fresh = await createCertificateAuthority({ now: new Date(), validityMs: 86_400_000 * 3650, commonName: 'fresh' })
  fake.put(collections.secrets('mesh'), { ...secret, data: { 'ca.crt': Buffer.from(fresh.cert).toString('base64'), 'ca.key': Buffer.from(fresh.key).toString('base64') } })
  fake.put(collections.webhooks, webhookConfig(Buffer.from(fresh.cert).toString('base64')))

  await eventually(() => updates.length >= 1, 5000, 'the immediate renewal')
  const renewed = new X509Certificate((updates[0] as KeyPair).cert)
  t.ok(renewed.verify(new X509Certificate(fresh.cert).publicKey), 'the new certificate comes from the new CA')
  t.notOk(new X509Certificate(first.cert).verify(new X509Certificate(fresh.cert).publicKey), 'the old one did not')
  t.equal(tls.bundle(), fresh.cert)
})

t.test('start-up retries the first certificate for a while, then gives up with the error', async t => {
  const { fake, make } = await setup(t, { startupTimeoutMs: 2000 })
  fake.failNext('GET', '/api/v1/namespaces/mesh/secrets/sidecar-injector-ca', 503)
  fake.failNext('GET', '/api/v1/namespaces/mesh/secrets/sidecar-injector-ca', 403)
  const pair = await make().load()
  t.ok(new X509Certificate(pair.cert).checkHost('sidecar-injector.mesh.svc'), 'issued after two failed reads')

  const { fake: down, make: makeDown } = await setup(t, { startupTimeoutMs: 300 })
  for (let i = 0; i < 20; i++) down.failNext('GET', '/api/v1/namespaces/mesh/secrets/sidecar-injector-ca', 503)
  const began = Date.now()
  await t.rejects(makeDown().load(), 'an API server that stays down fails start-up')
  t.ok(Date.now() - began < 2000, `within the start-up timeout (${Date.now() - began} ms)`)
})

// The renewal machine's transitions, driven one at a time; each failure is counted with its reason.
t.test('transitions: API server away at renewal → counted, retried, renewed; state back to scheduled', async t => {
  const failures: string[] = []
  const { fake, make } = await setup(t, { servingValidityMs: 3000, onFailure: reason => { failures.push(reason) } })
  fake.put(collections.webhooks, webhookConfig())
  const tls = make()
  await tls.load()
  t.equal(tls.state(), 'idle', 'idle before watch')
  fake.failNext('GET', '/api/v1/namespaces/mesh/secrets/sidecar-injector-ca', 503)
  const updates: KeyPair[] = []
  const stop = tls.watch(pair => { updates.push(pair) })
  t.teardown(stop)
  t.equal(tls.state(), 'scheduled', 'scheduled once watching')
  await eventually(() => updates.length >= 1, 6000, 'a renewal after the failure')
  t.same(failures.filter(f => f === 'renewal-failed'), ['renewal-failed'], 'the failed renewal is counted once')
  await eventually(() => tls.state() === 'scheduled', 2000, 'scheduled again')
})

t.test('transitions: caBundle drift → repaired; a patch the API server refuses is counted', async t => {
  const failures: string[] = []
  const { fake, make } = await setup(t, { onFailure: reason => { failures.push(reason) } })
  fake.put(collections.webhooks, webhookConfig())
  const tls = make()
  await tls.load()
  const stop = tls.watch(() => {})
  t.teardown(stop)
  await eventually(() => fake.openWatches() === 1)
  fake.failNext('GET', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/sidecar-injector', 500)
  fake.put(collections.webhooks, webhookConfig(Buffer.from('drifted').toString('base64')))
  await eventually(() => failures.includes('ca-bundle-patch-failed'), 3000, 'the refused repair to be counted')
  // The next event repairs it.
  fake.put(collections.webhooks, webhookConfig())
  await eventually(() => bundlesIn(fake.get(collections.webhooks, 'sidecar-injector'))[0] === tls.bundle(), 3000, 'the repair')
  t.pass('drift repaired after a failed attempt')
})

t.test('transitions: stop during a renewal (waiting for the CA to propagate) serves nothing more', async t => {
  // The first renewal rotates the CA and then waits 5 s for propagation; stop comes during that wait.
  const { fake, make } = await setup(t, { servingValidityMs: 3000, caValidityMs: 8000, caRenewBeforeMs: 6500, caPropagationDelayMs: 5000 })
  fake.put(collections.webhooks, webhookConfig())
  const tls = make()
  await tls.load()
  const updates: KeyPair[] = []
  const stop = tls.watch(pair => { updates.push(pair) })
  await eventually(() => tls.state() === 'propagating', 6000, 'the renewal to wait for propagation')
  stop()
  t.equal(tls.state(), 'stopped')
  await new Promise(resolve => setTimeout(resolve, 300))
  const requests = fake.requests.length
  await new Promise(resolve => setTimeout(resolve, 500))
  t.same(updates, [], 'the certificate issued before stop is not served')
  t.equal(fake.requests.length, requests, 'no request after stop')
})

import { X509Certificate } from 'node:crypto'
import t from 'tap'
import type { Test } from 'tap'
import { createKubeApi } from '../../src/kube/api.js'
import { ensureCertificateAuthority } from '../../src/tls/ca-secret.js'
import type { CaSecretOptions } from '../../src/tls/ca-secret.js'
import { createCertificateAuthority, readNotAfter, splitPemBundle } from '../../src/tls/certificates.js'
import { collections, startFakeApiServer } from '../helpers/fake-api-server.js'

const day = 24 * 60 * 60 * 1000

async function setup (t: Test): Promise<{ options: (over?: Partial<CaSecretOptions>) => CaSecretOptions, fake: Awaited<ReturnType<typeof startFakeApiServer>> }> {
  const fake = await startFakeApiServer()
  t.teardown(fake.close)
  const api = createKubeApi(fake.kubeConfig)
  return {
    fake,
    options: over => ({ api, namespace: 'mesh', name: 'injector-ca', now: () => new Date(), caValidityMs: 3650 * day, caRenewBeforeMs: 365 * day, ...over })
  }
}

t.test('the CA is created once and read back afterwards', async t => {
  const { fake, options } = await setup(t)
  const first = await ensureCertificateAuthority(options())
  t.equal(first.changed, 'created')
  t.equal(first.bundle, first.current.cert)
  const secret = fake.get(collections.secrets('mesh'), 'injector-ca')
  t.same(Object.keys(secret?.data ?? {}).sort(), ['ca.crt', 'ca.key'])
  t.equal(secret?.type, 'Opaque')
  const again = await ensureCertificateAuthority(options())
  t.equal(again.changed, 'unchanged')
  t.same(again.current, first.current)
  t.ok(new X509Certificate(first.current.cert).ca)
})

t.test('concurrent replicas agree on one CA (create-if-absent)', async t => {
  const { fake, options } = await setup(t)
  const results = await Promise.all([1, 2, 3, 4].map(async () => await ensureCertificateAuthority(options())))
  const certs = new Set(results.map(r => r.current.cert))
  t.equal(certs.size, 1, 'every replica uses the same CA')
  t.equal(results.filter(r => r.changed === 'created').length, 1, 'exactly one created it')
  t.ok(fake.requests.filter(r => r.method === 'POST').length >= 2, 'the others lost a real create race (409)')
})

t.test('a CA near expiry is replaced and the previous one stays in the bundle', async t => {
  const { fake, options } = await setup(t)
  const old = await createCertificateAuthority({ now: new Date(), validityMs: 30 * day, commonName: 'old' })
  fake.put(collections.secrets('mesh'), {
    metadata: { name: 'injector-ca', namespace: 'mesh' },
    data: { 'ca.crt': Buffer.from(old.cert).toString('base64'), 'ca.key': Buffer.from(old.key).toString('base64') }
  })
  const rotated = await ensureCertificateAuthority(options())
  t.equal(rotated.changed, 'rotated')
  t.not(rotated.current.cert, old.cert)
  t.ok(readNotAfter(rotated.current.cert).getTime() > Date.now() + 3000 * day)
  t.same(splitPemBundle(rotated.bundle), [rotated.current.cert, old.cert], 'bundle = new CA, then the previous one')
  const secret = fake.get(collections.secrets('mesh'), 'injector-ca')
  t.equal(Buffer.from(secret?.data['previous-ca.crt'], 'base64').toString(), old.cert)

  const later = await ensureCertificateAuthority(options())
  t.equal(later.changed, 'unchanged')
  t.equal(later.bundle, rotated.bundle, 'every replica derives the same bundle from the Secret')
  const afterOldExpired = await ensureCertificateAuthority(options({ now: () => new Date(Date.now() + 31 * day) }))
  t.equal(afterOldExpired.bundle, rotated.current.cert, 'an expired previous CA leaves the bundle')
})

t.test('two replicas rotating at once: one wins, the other adopts its CA', async t => {
  const { fake, options } = await setup(t)
  const old = await createCertificateAuthority({ now: new Date(), validityMs: 30 * day })
  fake.put(collections.secrets('mesh'), {
    metadata: { name: 'injector-ca', namespace: 'mesh' },
    data: { 'ca.crt': Buffer.from(old.cert).toString('base64'), 'ca.key': Buffer.from(old.key).toString('base64') }
  })
  const [a, b] = await Promise.all([ensureCertificateAuthority(options()), ensureCertificateAuthority(options())])
  t.equal(a?.current.cert, b?.current.cert)
  t.equal(a?.bundle, b?.bundle)
  t.same([a?.changed, b?.changed].sort(), ['rotated', 'unchanged'])
})

t.test('a Secret that does not hold a matching pair is never overwritten', async t => {
  const { fake, options } = await setup(t)
  const one = await createCertificateAuthority({ now: new Date(), validityMs: day })
  const two = await createCertificateAuthority({ now: new Date(), validityMs: day })
  fake.put(collections.secrets('mesh'), {
    metadata: { name: 'injector-ca', namespace: 'mesh' },
    data: { 'ca.crt': Buffer.from(one.cert).toString('base64'), 'ca.key': Buffer.from(two.key).toString('base64') }
  })
  await t.rejects(ensureCertificateAuthority(options()), /does not hold a matching ca\.crt and ca\.key; delete it/)
  t.equal(fake.requests.filter(r => r.method === 'PUT' || r.method === 'POST').length, 0)
})

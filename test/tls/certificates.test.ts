import { execFileSync } from 'node:child_process'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import {
  clockSkewMs, createCertificateAuthority, issueServingCertificate, readNotAfter,
  serviceDnsNames, splitPemBundle
} from '../../src/tls/certificates.js'
import { checkKeyPair } from '../../src/tls/key-pair.js'

const hour = 60 * 60 * 1000
const now = new Date('2026-01-01T00:00:00Z')

function opensslText (pem: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'certs-test-'))
  writeFileSync(join(dir, 'c.pem'), pem)
  return execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-text'], { encoding: 'utf8' })
}

t.test('serviceDnsNames lists the four Service names, .svc included (what the API server checks)', async t => {
  t.same(serviceDnsNames('injector', 'mesh'), ['injector', 'injector.mesh', 'injector.mesh.svc', 'injector.mesh.svc.cluster.local'])
  t.equal(serviceDnsNames('a', 'b', 'corp.example')[3], 'a.b.svc.corp.example')
})

t.test('an ECDSA P-256 CA signs a serving certificate for the Service names and IPs', async t => {
  const ca = await createCertificateAuthority({ now, validityMs: 10 * 24 * hour })
  const leaf = await issueServingCertificate({
    ca, dnsNames: serviceDnsNames('injector', 'mesh'), ipAddresses: ['127.0.0.1', '::1'], now, validityMs: 24 * hour
  })
  const caX = new X509Certificate(ca.cert)
  const leafX = new X509Certificate(leaf.cert)

  t.ok(ca.cert.endsWith('-----END CERTIFICATE-----\n') && leaf.key.endsWith('-----END PRIVATE KEY-----\n'), 'PEM ends with a newline')
  t.equal(caX.ca, true, 'the CA is a CA')
  t.equal(leafX.ca, false, 'the serving certificate is not a CA')
  t.ok(leafX.verify(caX.publicKey), 'the serving certificate is signed by the CA')
  t.ok(leafX.checkIssued(caX), 'issuer matches the CA subject')
  t.notOk(caX.verify(leafX.publicKey), 'and not the other way round')
  t.ok(caX.verify(caX.publicKey), 'the CA is self-signed')

  t.equal(leafX.subjectAltName, 'DNS:injector, DNS:injector.mesh, DNS:injector.mesh.svc, DNS:injector.mesh.svc.cluster.local, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1')
  t.equal(leafX.checkHost('injector.mesh.svc'), 'injector.mesh.svc')
  t.equal(leafX.checkIP('127.0.0.1'), '127.0.0.1')
  t.equal(leafX.checkHost('other.mesh.svc'), undefined)
  t.same(leafX.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth only')

  t.equal(leafX.publicKey.asymmetricKeyType, 'ec')
  t.equal(leafX.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  t.ok(checkKeyPair(leaf).ok, 'the key belongs to the certificate')
  t.ok(checkKeyPair(ca).ok)
  t.notOk(checkKeyPair({ cert: leaf.cert, key: ca.key }).ok, 'a foreign key is detected')

  t.equal(new Date(leafX.validFrom).getTime(), now.getTime() - clockSkewMs, 'backdated by the clock skew')
  t.equal(readNotAfter(leaf.cert).getTime(), now.getTime() + 24 * hour)
  t.equal(readNotAfter(ca.cert).getTime(), now.getTime() + 10 * 24 * hour)

  const leafText = opensslText(leaf.cert)
  t.match(leafText, /Signature Algorithm: ecdsa-with-SHA256/, 'signed with SHA-256')
  t.match(leafText, /X509v3 Key Usage: critical\s+Digital Signature\n/, 'key usage: digital signature only')
  t.match(leafText, /X509v3 Basic Constraints: critical\s+CA:FALSE/)
  t.match(leafText, /Subject: CN ?= ?injector\n/)
  const caText = opensslText(ca.cert)
  t.match(caText, /Signature Algorithm: ecdsa-with-SHA256/)
  t.match(caText, /X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/)
  t.match(caText, /CA:TRUE, pathlen:0/)
})

t.test('RSA is available when asked for, and the serving key follows the CA key type', async t => {
  const ca = await createCertificateAuthority({ now, validityMs: hour, keyType: 'rsa' })
  const leaf = await issueServingCertificate({ ca, dnsNames: ['localhost'], now, validityMs: hour })
  t.equal(createPrivateKey(leaf.key).asymmetricKeyType, 'rsa')
  t.ok(new X509Certificate(leaf.cert).verify(new X509Certificate(ca.cert).publicKey))
  t.match(opensslText(leaf.cert), /Signature Algorithm: sha256WithRSAEncryption/)
  t.match(opensslText(leaf.cert), /Digital Signature, Key Encipherment/)
})

t.test('bad requests are refused', async t => {
  const ca = await createCertificateAuthority({ now, validityMs: hour })
  await t.rejects(issueServingCertificate({ ca, dnsNames: [], now, validityMs: hour }), /at least one DNS name or IP/)
  await t.rejects(issueServingCertificate({ ca, dnsNames: ['a'], ipAddresses: ['1.2.3'], now, validityMs: hour }), /not an IP address: '1.2.3'/)
  await t.rejects(createCertificateAuthority({ now, validityMs: 0 }), /validity must be positive/)
  const ipOnly = await issueServingCertificate({ ca, dnsNames: [], ipAddresses: ['10.0.0.1'], now, validityMs: hour })
  t.equal(new X509Certificate(ipOnly.cert).subjectAltName, 'IP Address:10.0.0.1')
})

t.test('splitPemBundle returns each certificate of a bundle', async t => {
  const a = await createCertificateAuthority({ now, validityMs: hour, commonName: 'a' })
  const b = await createCertificateAuthority({ now, validityMs: hour, commonName: 'b' })
  const parts = splitPemBundle(a.cert + b.cert)
  t.equal(parts.length, 2)
  t.equal(new X509Certificate(parts[1] ?? '').subject, 'CN=b')
  t.same(splitPemBundle(''), [])
})

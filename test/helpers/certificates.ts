// Test PKI: a CA and serving certificates for 127.0.0.1, made with src/tls (selfsigned, ECDSA, sha256).
import { createCertificateAuthority, issueServingCertificate } from '../../src/tls/certificates.js'
import type { KeyPair } from '../../src/tls/key-pair.js'

const hour = 60 * 60 * 1000

export async function createTestCa (commonName = 'sidecar-injector-test-ca'): Promise<KeyPair> {
  return await createCertificateAuthority({ commonName, now: new Date(), validityMs: 24 * hour })
}

/** A serving certificate for 127.0.0.1 and the Service's name, signed by `ca`. */
export async function issueTestServing (ca: KeyPair, validityMs = 24 * hour): Promise<KeyPair> {
  return await issueServingCertificate({
    ca,
    dnsNames: ['sidecar-injector.sidecar-injector.svc'],
    ipAddresses: ['127.0.0.1'],
    now: new Date(),
    validityMs
  })
}

// The one key-pair type and the one key-pair check: a serving pair is checked before the server uses
// it (at start-up and on every hot reload, so that a half-written or mismatched pair on disk never
// replaces a working one), and the self-managed CA read back from its Secret is checked the same way.
import { X509Certificate, createPrivateKey } from 'node:crypto'

/** PEM text of a certificate (chain) and its private key. */
export interface KeyPair { cert: string, key: string }

export interface CertificateInfo {
  subject: string
  subjectAltName: string
  notBefore: Date
  notAfter: Date
  fingerprint256: string
}

export type CheckedKeyPair = { ok: true, info: CertificateInfo } | { ok: false, problem: string }

/** Parses both halves and checks that the key is the certificate's; with `now`, also that it has not expired. */
export function checkKeyPair (pair: KeyPair, now?: Date): CheckedKeyPair {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(pair.cert)
  } catch (err) {
    return { ok: false, problem: `the certificate does not parse: ${(err as Error).message}` }
  }
  let matches: boolean
  try {
    matches = cert.checkPrivateKey(createPrivateKey(pair.key))
  } catch (err) {
    return { ok: false, problem: `the private key does not parse: ${(err as Error).message}` }
  }
  if (!matches) return { ok: false, problem: 'the private key does not match the certificate' }
  const info: CertificateInfo = {
    subject: cert.subject,
    subjectAltName: cert.subjectAltName ?? '',
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256
  }
  if (now !== undefined && info.notAfter.getTime() <= now.getTime()) return { ok: false, problem: `the certificate expired at ${info.notAfter.toISOString()}` }
  return { ok: true, info }
}

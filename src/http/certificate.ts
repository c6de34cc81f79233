// Checks a serving key pair before the server uses it: at start-up and on every hot reload, so that a
// half-written or mismatched pair on disk never replaces a working one.
import { X509Certificate, createPrivateKey } from 'node:crypto'

/** PEM text of a private key and its certificate (chain). */
export interface KeyPair { key: string, cert: string }

export interface CertificateInfo {
  subject: string
  subjectAltName: string
  notBefore: Date
  notAfter: Date
  fingerprint256: string
}

export type CheckedKeyPair = { ok: true, info: CertificateInfo } | { ok: false, problem: string }

export function checkKeyPair (pair: KeyPair, now: Date = new Date()): CheckedKeyPair {
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
  if (info.notAfter.getTime() <= now.getTime()) return { ok: false, problem: `the certificate expired at ${info.notAfter.toISOString()}` }
  return { ok: true, info }
}

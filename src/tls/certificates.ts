// Certificates for the webhook's TLS: a CA and the serving certificate it signs, made with selfsigned.
// Used by `sidecar-injector certs` (files on disk) and by the self-managed TLS of src/kube (in-cluster).
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { generate } from 'selfsigned'
import type { KeyPair } from './key-pair.js'

/** ECDSA P-256 by default: signing costs ~30 µs against ~0.9 ms for RSA-2048, and Go's TLS client accepts it. */
export type KeyType = 'ec' | 'rsa'

export interface CertificateAuthorityOptions {
  commonName?: string
  /** When the CA becomes valid; it is backdated by `clockSkewMs`. */
  now: Date
  validityMs: number
  keyType?: KeyType
}

export interface ServingCertificateOptions {
  ca: KeyPair
  /** DNS SANs; the first one is also the subject CN (the API server ignores the CN, Go ≥ 1.15 checks SANs only). */
  dnsNames: readonly string[]
  ipAddresses?: readonly string[]
  now: Date
  validityMs: number
}

/** Certificates start this much before `now`, so that a node whose clock lags a little still accepts them. */
export const clockSkewMs = 5 * 60 * 1000

const day = 24 * 60 * 60 * 1000
/** Defaults for `sidecar-injector certs`: the CA lasts 10 years, the serving certificate 1 year. */
export const defaultCaValidityMs = 3650 * day
export const defaultServingValidityMs = 365 * day

/**
 * The names the API server and the cluster use for a Service. The API server verifies
 * `<svc>.<ns>.svc` (https://github.com/kubernetes/apiserver/blob/master/pkg/util/webhook/client.go);
 * the others serve in-cluster clients and `kubectl port-forward`.
 */
export function serviceDnsNames (service: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`]
}

function validity (now: Date, validityMs: number): { notBeforeDate: Date, notAfterDate: Date } {
  if (!(validityMs > 0)) throw new RangeError(`certificate validity must be positive, got ${validityMs} ms`)
  return { notBeforeDate: new Date(now.getTime() - clockSkewMs), notAfterDate: new Date(now.getTime() + validityMs) }
}

/** A self-signed CA that may sign serving certificates only (pathLen 0). */
export async function createCertificateAuthority (options: CertificateAuthorityOptions): Promise<KeyPair> {
  const keyType = options.keyType ?? 'ec'
  const pems = await generate([{ name: 'commonName', value: options.commonName ?? 'sidecar-injector-ca' }], {
    algorithm: 'sha256',
    keyType,
    ...(keyType === 'ec' ? { curve: 'P-256' as const } : { keySize: 2048 }),
    ...validity(options.now, options.validityMs),
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
    ]
  })
  return toPair(pems)
}

/** A serving certificate for the given names, signed by `ca`, with a key of the CA's type. */
export async function issueServingCertificate (options: ServingCertificateOptions): Promise<KeyPair> {
  const ips = options.ipAddresses ?? []
  const [commonName] = options.dnsNames
  if (commonName === undefined && ips.length === 0) throw new RangeError('a serving certificate needs at least one DNS name or IP address')
  for (const ip of ips) {
    if (isIP(ip) === 0) throw new RangeError(`not an IP address: '${ip}'`)
  }
  // selfsigned imports the CA key with the leaf's key type, so both must agree.
  const keyType: KeyType = createPrivateKey(options.ca.key).asymmetricKeyType === 'rsa' ? 'rsa' : 'ec'
  const pems = await generate([{ name: 'commonName', value: commonName ?? ips[0] ?? '' }], {
    algorithm: 'sha256',
    keyType,
    ...(keyType === 'ec' ? { curve: 'P-256' as const } : { keySize: 2048 }),
    ...validity(options.now, options.validityMs),
    ca: options.ca,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      // keyEncipherment only matters for RSA key exchange (TLS 1.2 RSA suites); ECDSA keys only sign.
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: keyType === 'rsa', critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...options.dnsNames.map(value => ({ type: 2 as const, value })),
          ...ips.map(ip => ({ type: 7 as const, ip }))
        ]
      }
    ]
  })
  return toPair(pems)
}

/** selfsigned ends the certificate without a newline; files and bundles want one. */
function toPair (pems: { cert: string, private: string }): KeyPair {
  const line = (pem: string): string => pem.endsWith('\n') ? pem : `${pem}\n`
  return { cert: line(pems.cert), key: line(pems.private) }
}

/** Every certificate of a PEM bundle, in order. */
export function splitPemBundle (bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map(pem => `${pem}\n`) ?? []
}

/** The certificates of a PEM CA bundle, each checked to parse; `problem` reads after the file's name. */
export function readCaBundle (pem: string): { ok: true, certs: string[] } | { ok: false, problem: string } {
  const certs = splitPemBundle(pem)
  if (certs.length === 0) return { ok: false, problem: ' holds no PEM certificate' }
  for (const cert of certs) {
    try {
      // eslint-disable-next-line no-new
      new X509Certificate(cert)
    } catch (err) {
      return { ok: false, problem: `: ${(err as Error).message}` }
    }
  }
  return { ok: true, certs }
}

/** When a PEM certificate stops being valid (the first certificate of a bundle). */
export function readNotAfter (certPem: string): Date {
  return new Date(new X509Certificate(certPem).validTo)
}

// The self-managed CA, kept in a Secret of the injector's namespace. Every replica runs this and they
// agree without leader election: the Secret is created once (create-if-absent: a 409 means another
// replica won, and its CA is read back), and a CA change is an update guarded by resourceVersion
// (a conflict means another replica changed it first). The previous CA stays in the bundle until it
// expires, so serving certificates it signed remain trusted while they live.
import type { V1Secret } from '@kubernetes/client-node'
import type { KubeApi } from '../kube/api.js'
import { createCertificateAuthority, readNotAfter, splitPemBundle } from './certificates.js'
import { checkKeyPair } from './key-pair.js'
import type { KeyPair } from './key-pair.js'

export const caCertKey = 'ca.crt'
export const caKeyKey = 'ca.key'
export const previousCaCertKey = 'previous-ca.crt'

export interface CertificateAuthorityState {
  /** The CA that signs serving certificates now. */
  current: KeyPair
  /** The PEM bundle for the webhook's caBundle: the current CA, then the previous one while it is valid. */
  bundle: string
  /** Whether this call created or replaced the CA. */
  changed: 'created' | 'rotated' | 'unchanged'
}

export interface CaSecretOptions {
  api: Pick<KubeApi, 'readSecret' | 'createSecret' | 'replaceSecret'>
  namespace: string
  name: string
  now: () => Date
  /** Lifetime of a new CA. */
  caValidityMs: number
  /** A CA with less than this left is replaced (its successor is trusted alongside it). */
  caRenewBeforeMs: number
  /** Defaults to createCertificateAuthority (ECDSA P-256). */
  generateCa?: (now: Date, validityMs: number) => Promise<KeyPair>
}

const maxAttempts = 5

function decode (secret: V1Secret, key: string): string | undefined {
  const value = secret.data?.[key]
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8')
}

function encode (text: string): string {
  return Buffer.from(text, 'utf8').toString('base64')
}

function bundleOf (current: string, previous: string | undefined, now: Date): string {
  const previousValid = previous !== undefined && splitPemBundle(previous).length > 0 && readNotAfter(previous) > now
  return previousValid && previous !== current ? current + previous : current
}

function secretBody (namespace: string, name: string, ca: KeyPair, previousCert?: string, resourceVersion?: string): V1Secret {
  const data: Record<string, string> = { [caCertKey]: encode(ca.cert), [caKeyKey]: encode(ca.key) }
  if (previousCert !== undefined) data[previousCaCertKey] = encode(previousCert)
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/part-of': 'sidecar-injector', 'app.kubernetes.io/component': 'webhook-ca' },
      ...(resourceVersion === undefined ? {} : { resourceVersion })
    },
    type: 'Opaque',
    data
  }
}

/** Reads the CA from the Secret, creating it when absent and replacing it when it nears expiry. */
export async function ensureCertificateAuthority (options: CaSecretOptions): Promise<CertificateAuthorityState> {
  const { api, namespace, name } = options
  const generate = options.generateCa ?? (async (now, validityMs) => await createCertificateAuthority({ now, validityMs }))
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const now = options.now()
    const secret = await api.readSecret(namespace, name)
    if (secret === undefined) {
      const ca = await generate(now, options.caValidityMs)
      const created = await api.createSecret(namespace, secretBody(namespace, name, ca))
      if (created === 'exists') continue // another replica created it first: use theirs
      return { current: ca, bundle: ca.cert, changed: 'created' }
    }
    const cert = decode(secret, caCertKey)
    const key = decode(secret, caKeyKey)
    if (cert === undefined || key === undefined || !checkKeyPair({ cert, key }).ok) {
      // Never overwrite a Secret we cannot read: it may be someone's, and deleting it is a clear fix.
      throw new Error(`Secret ${namespace}/${name} does not hold a matching ${caCertKey} and ${caKeyKey}; delete it to have a new CA created`)
    }
    const previous = decode(secret, previousCaCertKey)
    if (readNotAfter(cert).getTime() - now.getTime() > options.caRenewBeforeMs) {
      return { current: { cert, key }, bundle: bundleOf(cert, previous, now), changed: 'unchanged' }
    }
    const next = await generate(now, options.caValidityMs)
    const replaced = await api.replaceSecret(namespace, secretBody(namespace, name, next, cert, secret.metadata?.resourceVersion))
    if (replaced === 'conflict') continue // another replica rotated it first: read theirs
    return { current: next, bundle: bundleOf(next.cert, cert, now), changed: 'rotated' }
  }
  throw new Error(`Secret ${namespace}/${name} kept changing under ${maxAttempts} attempts to read or write it`)
}

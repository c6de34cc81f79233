// TLS 1.2 cipher suites: the names Kubernetes components take in --tls-cipher-suites (the IANA names Go
// uses, https://pkg.go.dev/crypto/tls#pkg-constants) mapped to the OpenSSL names Node's `ciphers` takes
// (https://www.openssl.org/docs/man3.0/man1/openssl-ciphers.html). TLS 1.3 suites are all AEAD and
// keep Node's defaults, as Go keeps its own (Go does not let them be configured either).

/** IANA name → OpenSSL name, for the suites Go offers on TLS 1.2 with ECDHE or RSA key exchange. */
const openSslNames: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  // Go's older spellings of the two above, still accepted by Kubernetes components.
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  // Not forward-secret or not AEAD: accepted only when asked for by name.
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384'
}

/** The default: ECDHE key exchange (forward secrecy) with AEAD ciphers only; no CBC, SHA-1, CCM8 or ARIA. */
export const defaultCipherSuites = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'
] as const

// Node's TLS 1.3 defaults, named so that a `ciphers` string does not drop them.
const tls13Suites = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256'

/** The OpenSSL `ciphers` string for a list of IANA names, or the first unknown name. */
export function openSslCiphers (names: readonly string[]): { ok: true, ciphers: string } | { ok: false, unknown: string } {
  const out: string[] = []
  for (const name of names) {
    const openSsl = openSslNames[name]
    if (openSsl === undefined) return { ok: false, unknown: name }
    if (!out.includes(openSsl)) out.push(openSsl)
  }
  return { ok: true, ciphers: `${tls13Suites}:${out.join(':')}` }
}

export const knownCipherSuites: readonly string[] = Object.keys(openSslNames)

export const defaultCiphers = (openSslCiphers(defaultCipherSuites) as { ciphers: string }).ciphers

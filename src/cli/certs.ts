// `sidecar-injector certs`: a CA and a serving certificate for the webhook Service, written as files
// (ca.crt, tls.crt, tls.key) for a local run or a static-certificate install.
import { randomBytes, X509Certificate } from 'node:crypto'
import { access, chmod, mkdir, rename, stat, writeFile } from 'node:fs/promises'
import { dirname, resolve, join } from 'node:path'
import type { CliCommand } from './io.js'
import { parseFlags, UsageError } from './io.js'
import { defaultNamespace, defaultServiceName } from '../kube/names.js'
import type { KeyType } from '../tls/certificates.js'
import {
  createCertificateAuthority, defaultCaValidityMs, issueServingCertificate, serviceDnsNames
} from '../tls/certificates.js'

const help = `usage: sidecar-injector certs --out <dir> [flags]

Writes a CA (ca.crt) and a serving certificate signed by it (tls.crt, tls.key) for the webhook Service.
The certificate names <svc>, <svc>.<ns>, <svc>.<ns>.svc and <svc>.<ns>.svc.<cluster-domain>.

  --out <dir>             directory to write to (created if missing)
  --service <name>        Service name (default ${defaultServiceName})
  --namespace <ns>        Service namespace (default ${defaultNamespace})
  --cluster-domain <d>    cluster DNS domain (default cluster.local)
  --dns <name>            extra DNS name (repeatable)
  --ip <ip>               extra IP address, e.g. 127.0.0.1 for a local run (repeatable)
  --days <n>              serving certificate validity in days (default 365; the CA gets 10 years)
  --key-type <ec|rsa>     key type (default ec: ECDSA P-256)
  --force                 overwrite existing files
`

const day = 24 * 60 * 60 * 1000

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

/** RFC 1123 label, as Kubernetes requires for Service and Namespace names. */
function isDnsLabel (value: string): boolean {
  return dnsLabel.test(value)
}

/** RFC 1123 subdomain (at most 253 characters), with an optional leading wildcard label. */
function isDnsName (value: string): boolean {
  const name = value.startsWith('*.') ? value.slice(2) : value
  return name.length > 0 && name.length <= 253 && name.split('.').every(isDnsLabel)
}

function shorten (value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value
}

/**
 * mkdir -p that gives up: Node's recursive mkdir loops for ever where a parent exists but refuses
 * children with ENOENT (/proc). Here ENOENT creates the parent once, then the retry's error is final.
 */
async function makeDirectory (path: string, depth = 0): Promise<void> {
  try {
    await mkdir(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST' && (await stat(path)).isDirectory()) return
    if (code !== 'ENOENT' || dirname(path) === path || depth > 64) throw err
    await makeDirectory(dirname(path), depth + 1)
    await mkdir(path)
  }
}

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

/** Writes through a temporary file created with the final mode, so a key is never readable by others, even briefly. */
async function writeFileAtomic (path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`
  await writeFile(tmp, text, { mode, flag: 'w' })
  await chmod(tmp, mode)
  await rename(tmp, path)
}

const flagOptions = {
  out: { type: 'string' },
  service: { type: 'string', default: defaultServiceName },
  namespace: { type: 'string', default: defaultNamespace },
  'cluster-domain': { type: 'string', default: 'cluster.local' },
  dns: { type: 'string', multiple: true, default: [] as string[] },
  ip: { type: 'string', multiple: true, default: [] as string[] },
  days: { type: 'string', default: '365' },
  'key-type': { type: 'string', default: 'ec' },
  force: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false }
} as const

export const run: CliCommand = async (args, io) => {
  const values = parseFlags(args, flagOptions)
  if (values.help) {
    io.stdout(help)
    return 0
  }
  if (values.out === undefined || values.out === '') throw new UsageError('--out <dir> is required')
  const days = Number(values.days)
  // At most the CA's own validity: beyond it the chain is invalid anyway, and 1e9 days overflowed the
  // certificate's date fields (an unreadable certificate, then a crash).
  const maxDays = defaultCaValidityMs / day
  if (!Number.isInteger(days) || days < 1 || days > maxDays) throw new UsageError(`--days must be a whole number from 1 to ${maxDays} (the CA's validity), got '${values.days}'`)
  for (const [flag, value] of [['--service', values.service], ['--namespace', values.namespace]] as const) {
    if (!isDnsLabel(value)) throw new UsageError(`${flag} must be an RFC 1123 label (lower-case letters, digits and '-', at most 63), got '${shorten(value)}'`)
  }
  for (const [flag, value] of [['--cluster-domain', values['cluster-domain']], ...values.dns.map(d => ['--dns', d] as const)] as const) {
    if (!isDnsName(value)) throw new UsageError(`${flag} must be an RFC 1123 DNS name (optionally starting with '*.'), got '${shorten(value)}'`)
  }
  const keyType = values['key-type']
  if (keyType !== 'ec' && keyType !== 'rsa') throw new UsageError(`--key-type must be 'ec' or 'rsa', got '${keyType}'`)

  const out = resolve(io.cwd, values.out)
  const files = { ca: join(out, 'ca.crt'), cert: join(out, 'tls.crt'), key: join(out, 'tls.key') }
  if (!values.force) {
    const present = []
    for (const path of Object.values(files)) if (await exists(path)) present.push(path)
    if (present.length > 0) {
      io.stderr(`sidecar-injector certs: not overwriting ${present.join(', ')} (use --force to replace them)\n`)
      return 1
    }
  }

  const now = new Date()
  const dnsNames = [...serviceDnsNames(values.service, values.namespace, values['cluster-domain']), ...values.dns]
  let serving
  const ca = await createCertificateAuthority({ now, validityMs: defaultCaValidityMs, keyType: keyType satisfies KeyType, commonName: `${values.service}.${values.namespace} CA` })
  try {
    serving = await issueServingCertificate({ ca, dnsNames, ipAddresses: values.ip, now, validityMs: days * day })
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message)
    throw err
  }

  await makeDirectory(out)
  await writeFileAtomic(files.ca, ca.cert, 0o644)
  await writeFileAtomic(files.cert, serving.cert, 0o644)
  await writeFileAtomic(files.key, serving.key, 0o600)
  // The CA key is not written: a new certificate means a new CA and a new caBundle (see certs/README.md).
  const x509 = new X509Certificate(serving.cert)
  io.stdout(`wrote ${files.ca}, ${files.cert} and ${files.key} (mode 0600)\n` +
    `  names: ${x509.subjectAltName ?? ''}\n` +
    `  valid until ${new Date(x509.validTo).toISOString()}\n`)
  return 0
}

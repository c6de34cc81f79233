// The options of `sidecar-injector capture`, read from argv and the environment with Istio's
// istio-iptables names: every flag also has an env form (the long name upper-cased, '-' → '_'),
// and an explicit flag wins over the env var.
// https://github.com/istio/istio/blob/master/tools/istio-iptables/pkg/cmd/root.go
import { parseArgs } from 'node:util'
import type { Cidr } from './cidr.js'
import { parseCidr } from './cidr.js'

export type PortSelection =
  | { readonly kind: 'none' }
  | { readonly kind: 'all' }
  | { readonly kind: 'list', readonly ports: readonly number[] }

export type CidrSelection =
  | { readonly kind: 'none' }
  | { readonly kind: 'all' }
  | { readonly kind: 'list', readonly cidrs: readonly Cidr[] }

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'none'

/** Which iptables front end writes the rules: the image's default (`iptables`, an alternatives link) or a forced back end. */
export type IptablesBinary = 'iptables' | 'iptables-legacy' | 'iptables-nft'
const iptablesBinaries: readonly IptablesBinary[] = ['iptables', 'iptables-legacy', 'iptables-nft']

export interface CaptureOptions {
  /** -p: where outbound TCP is redirected (Envoy's outbound listener). */
  readonly envoyPort: number
  /** -z: where inbound TCP is redirected (Envoy's inbound listener). */
  readonly inboundCapturePort: number
  /** -e: the HBONE port, never captured inbound nor looped back. */
  readonly inboundTunnelPort: number
  /** -u: processes running as these uids are never captured (the proxy). */
  readonly proxyUids: readonly number[]
  /** -g: the same for gids (defaults to the uids). */
  readonly proxyGids: readonly number[]
  /** -b: inbound ports captured; `none` disables inbound capture. */
  readonly inboundPorts: PortSelection
  /** -d: inbound ports never captured (used only with `-b *`). */
  readonly inboundExcludePorts: readonly number[]
  /** -i: outbound destinations captured; `none` disables outbound capture. */
  readonly outboundCidrs: CidrSelection
  /** -x: outbound destinations never captured. */
  readonly outboundExcludeCidrs: readonly Cidr[]
  /** -q: outbound ports captured whatever the destination. */
  readonly outboundPorts: readonly number[]
  /** -o: outbound ports never captured (TCP and UDP). */
  readonly outboundExcludePorts: readonly number[]
  /** -k: interfaces whose inbound traffic is treated as outbound (VMs in pods). */
  readonly virtualInterfaces: readonly string[]
  /** -c: interfaces never captured in either direction. */
  readonly excludeInterfaces: readonly string[]
  /** --drop-invalid: drop conntrack INVALID packets (mangle table). */
  readonly dropInvalid: boolean
  /** --dual-stack: write IPv6 rules even if the pod's first address is IPv4. */
  readonly dualStack: boolean
  /** --redirect-dns (REDIRECT_DNS, ISTIO_META_DNS_CAPTURE): DNS to the resolv.conf servers goes to the agent on 15053. */
  readonly redirectDns: boolean
  /** --capture-all-dns: with --redirect-dns, every destination port 53 is captured, not only the resolv.conf servers. */
  readonly captureAllDns: boolean
  /** ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: the "local" IPv4 destination (IPv6 always uses ::1/128). */
  readonly loopbackCidr: Cidr
  /** ISTIO_OUTBOUND_OWNER_GROUPS: only these groups are captured (`*` = all). */
  readonly ownerGroupsInclude: readonly string[] | '*'
  /** ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: these groups are never captured. */
  readonly ownerGroupsExclude: readonly string[]
  /** --force-iptables-binary: e.g. iptables-legacy on a node whose kernel has no nf_tables. */
  readonly iptablesBinary: IptablesBinary
  /** -n/--dry-run: print the rules, run nothing. */
  readonly dryRun: boolean
  /** --log_output_level (Istio's `scope:level` list; the `default` scope is honoured). */
  readonly logLevel: LogLevel
  readonly help: boolean
}

export type CaptureProblemCode =
  | 'unknown-flag'
  | 'missing-value'
  | 'unexpected-argument'
  | 'unsupported-flag'
  | 'invalid-port'
  | 'invalid-port-list'
  | 'invalid-cidr'
  | 'wildcard-not-allowed'
  | 'invalid-id'
  | 'invalid-interface'
  | 'invalid-boolean'
  | 'invalid-log-level'
  | 'unknown-interception-mode'
  | 'tproxy-unsupported'
  | 'conflicting-owner-groups'
  | 'invalid-iptables-binary'

/** One reason why the command line or the environment cannot be used; `code` is stable. */
export interface CaptureProblem {
  readonly code: CaptureProblemCode
  readonly message: string
}

export type CaptureOptionsResult =
  /** `warnings`: values that were tolerated (e.g. an unknown log level), to be logged. */
  | { readonly ok: true, readonly options: CaptureOptions, readonly warnings: readonly CaptureProblem[] }
  | { readonly ok: false, readonly problems: readonly CaptureProblem[] }

type Env = Readonly<Record<string, string | undefined>>

interface FlagSpec {
  readonly long: string
  readonly short?: string
  readonly type: 'string' | 'boolean'
  /** Extra env names Istio also reads (e.g. ISTIO_META_DNS_CAPTURE from proxyMetadata). */
  readonly envAliases?: readonly string[]
  /** Accepted for compatibility with istio-iptables but changes nothing here (see the README). */
  readonly ignored?: true
  /** Known istio-iptables flag that this command refuses, with the reason. */
  readonly unsupported?: string
  /** Not read from the environment. */
  readonly noEnv?: true
}

const flags: readonly FlagSpec[] = [
  { long: 'envoy-port', short: 'p', type: 'string' },
  { long: 'inbound-capture-port', short: 'z', type: 'string' },
  { long: 'inbound-tunnel-port', short: 'e', type: 'string' },
  { long: 'proxy-uid', short: 'u', type: 'string' },
  { long: 'proxy-gid', short: 'g', type: 'string' },
  { long: 'istio-inbound-interception-mode', short: 'm', type: 'string' },
  { long: 'istio-inbound-ports', short: 'b', type: 'string' },
  { long: 'istio-local-exclude-ports', short: 'd', type: 'string' },
  { long: 'istio-service-cidr', short: 'i', type: 'string' },
  { long: 'istio-service-exclude-cidr', short: 'x', type: 'string' },
  { long: 'istio-outbound-ports', short: 'q', type: 'string' },
  { long: 'istio-local-outbound-ports-exclude', short: 'o', type: 'string' },
  { long: 'kube-virt-interfaces', short: 'k', type: 'string' },
  { long: 'istio-exclude-interfaces', short: 'c', type: 'string' },
  { long: 'istio-inbound-tproxy-mark', short: 't', type: 'string', ignored: true },
  { long: 'istio-inbound-tproxy-route-table', short: 'r', type: 'string', ignored: true },
  { long: 'dry-run', short: 'n', type: 'boolean' },
  { long: 'drop-invalid', type: 'boolean', envAliases: ['INVALID_DROP'] },
  { long: 'dual-stack', type: 'boolean', envAliases: ['ISTIO_DUAL_STACK'] },
  { long: 'redirect-dns', type: 'boolean', envAliases: ['ISTIO_META_DNS_CAPTURE'] },
  { long: 'capture-all-dns', type: 'boolean' },
  { long: 'log_output_level', type: 'string', noEnv: true },
  { long: 'log_as_json', type: 'boolean', noEnv: true, ignored: true },
  // We always compare with iptables-save and reconcile (see src/capture/reconcile.ts), so these are no-ops.
  { long: 'force-apply', type: 'boolean', noEnv: true, ignored: true },
  { long: 'reconcile', type: 'boolean', noEnv: true, ignored: true },
  { long: 'run-validation', type: 'boolean', noEnv: true, unsupported: 'the CNI validation mode is not implemented' },
  { long: 'skip-rule-apply', type: 'boolean', noEnv: true, unsupported: 'the CNI validation mode is not implemented' },
  { long: 'cleanup-only', type: 'boolean', noEnv: true, unsupported: 'cleanup without applying is not implemented' },
  { long: 'native-nftables', type: 'boolean', noEnv: true, unsupported: 'only the iptables(-nft or -legacy) front end is supported' },
  { long: 'force-iptables-binary', type: 'string' },
  { long: 'help', short: 'h', type: 'boolean', noEnv: true }
]

export function envNameOf (long: string): string {
  return long.toUpperCase().replaceAll('-', '_')
}

const usageRows: ReadonlyArray<readonly [string, string]> = [
  ['-p, --envoy-port PORT', 'outbound TCP is redirected to this port (15001)'],
  ['-z, --inbound-capture-port PORT', 'inbound TCP is redirected to this port (15006)'],
  ['-e, --inbound-tunnel-port PORT', 'HBONE port, never captured (15008)'],
  ['-u, --proxy-uid UIDS', 'processes with these uids are not captured (1337)'],
  ['-g, --proxy-gid GIDS', 'processes with these gids are not captured (= -u)'],
  ['-m, --istio-inbound-interception-mode MODE', 'REDIRECT (TPROXY is refused)'],
  ['-b, --istio-inbound-ports PORTS|*', "inbound ports captured; '' = no inbound capture"],
  ['-d, --istio-local-exclude-ports PORTS', 'inbound ports not captured (with -b *)'],
  ['-i, --istio-service-cidr CIDRS|*', "outbound destinations captured; '' = no outbound capture"],
  ['-x, --istio-service-exclude-cidr CIDRS', 'outbound destinations not captured'],
  ['-q, --istio-outbound-ports PORTS', 'outbound ports captured whatever the destination'],
  ['-o, --istio-local-outbound-ports-exclude PORTS', 'outbound ports not captured (TCP and UDP)'],
  ['-k, --kube-virt-interfaces NICS', 'inbound traffic of these interfaces is treated as outbound'],
  ['-c, --istio-exclude-interfaces NICS', 'these interfaces are never captured'],
  ['--drop-invalid', 'drop packets conntrack marks INVALID'],
  ['--dual-stack', 'also write IPv6 rules (otherwise: when the pod\'s first address is IPv6)'],
  ['--redirect-dns', 'send DNS for the resolv.conf servers to the agent on 15053'],
  ['--capture-all-dns', 'with --redirect-dns: every port-53 destination'],
  ['--force-iptables-binary NAME', 'iptables-legacy or iptables-nft instead of the image\'s iptables'],
  ['-n, --dry-run', 'print the iptables-restore input, change nothing'],
  ['--log_output_level SCOPE:LEVEL', 'debug also prints the applied rules; warn/error/none quieten'],
  ['-h, --help', 'this text']
]

export function formatCaptureUsage (): string {
  const width = Math.max(...usageRows.map(([f]) => f.length))
  const rows = usageRows.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`)
  return [
    'usage: sidecar-injector capture [flags]',
    '',
    'Writes the iptables rules that send a pod\'s TCP traffic through the sidecar proxy',
    '(one iptables-restore --noflush per address family; a re-run changes nothing).',
    '',
    ...rows,
    '',
    'Every flag can also be set by an env var: the long name upper-cased, \'-\' replaced by \'_\'',
    '(ENVOY_PORT, ISTIO_SERVICE_CIDR, ...). A flag wins over its env var.',
    ''
  ].join('\n')
}

/** Parses argv (without the command name) and the environment into validated options. */
export function parseCaptureOptions (args: readonly string[], env: Env): CaptureOptionsResult {
  const problems: CaptureProblem[] = []
  const explicitFalse = new Set<string>()
  // Go's flag package accepts `--flag=true|false` for booleans; node's parseArgs does not.
  const normalised: string[] = []
  for (const arg of args) {
    const m = /^--([a-z_-]+)=(.*)$/.exec(arg)
    const spec = m === null ? undefined : flags.find(f => f.long === m[1] && f.type === 'boolean')
    if (m === null || spec === undefined) { normalised.push(arg); continue }
    const value = parseGoBool(m[2] ?? '')
    if (value === undefined) {
      problems.push({ code: 'invalid-boolean', message: `--${spec.long}: '${m[2] ?? ''}' is not a boolean (true or false)` })
    } else if (value) {
      normalised.push(`--${spec.long}`)
    } else {
      explicitFalse.add(spec.long)
    }
  }

  let values: Record<string, string | boolean | undefined>
  try {
    const options = Object.fromEntries(flags.map(f => [f.long, f.short === undefined ? { type: f.type } : { type: f.type, short: f.short }]))
    const parsed = parseArgs({ args: normalised, options, strict: true, allowPositionals: false })
    values = parsed.values
  } catch (err) {
    const code = (err as { code?: string }).code
    const message = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err)
    problems.push({
      code: code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 'unknown-flag' : code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? 'unexpected-argument' : 'missing-value',
      message
    })
    return { ok: false, problems }
  }

  /** The flag's value if given, else its env var (or an alias), else undefined. */
  const raw = (long: string): { value: string, source: string } | undefined => {
    const spec = flags.find(f => f.long === long)
    if (spec === undefined) throw new Error(`no flag ${long}`)
    const name = spec.short === undefined ? `--${long}` : `-${spec.short}/--${long}`
    const fromFlag = values[long]
    if (fromFlag !== undefined) return { value: String(fromFlag), source: name }
    if (explicitFalse.has(long)) return { value: 'false', source: name }
    if (spec.noEnv === true) return undefined
    for (const envName of [envNameOf(long), ...(spec.envAliases ?? [])]) {
      const fromEnv = env[envName]
      if (fromEnv !== undefined) return { value: fromEnv, source: `${name} (env ${envName})` }
    }
    return undefined
  }

  for (const spec of flags) {
    if (spec.unsupported !== undefined && (values[spec.long] === true)) {
      problems.push({ code: 'unsupported-flag', message: `--${spec.long} is not supported: ${spec.unsupported}` })
    }
  }

  const port = (long: string, fallback: number): number => {
    const r = raw(long)
    if (r === undefined) return fallback
    const n = parsePort(r.value.trim(), 1)
    if (n === undefined) {
      problems.push({ code: 'invalid-port', message: `${r.source}: '${r.value}' is not a port (1-65535)` })
      return fallback
    }
    return n
  }
  const portList = (long: string, wildcard: boolean): PortSelection => {
    const r = raw(long)
    if (r === undefined || r.value.trim() === '') return { kind: 'none' }
    const items = r.value.split(',').map(s => s.trim())
    if (items.includes('*')) {
      if (wildcard && items.length === 1) return { kind: 'all' }
      problems.push(wildcard
        ? { code: 'invalid-port-list', message: `${r.source}: '*' must be the whole value, got '${r.value}'` }
        : { code: 'wildcard-not-allowed', message: `${r.source}: '*' is not allowed in this list, got '${r.value}'` })
      return { kind: 'none' }
    }
    const ports: number[] = []
    for (const item of items) {
      const n = parsePort(item, 0)
      if (n === undefined) {
        problems.push({ code: 'invalid-port-list', message: `${r.source}: '${item}' in '${r.value}' is not a port (0-65535)` })
        return { kind: 'none' }
      }
      if (!ports.includes(n)) ports.push(n)
    }
    return { kind: 'list', ports }
  }
  const listed = (selection: PortSelection): readonly number[] => selection.kind === 'list' ? selection.ports : []
  const cidrList = (long: string, wildcard: boolean): CidrSelection => {
    const r = raw(long)
    if (r === undefined || r.value.trim() === '') return { kind: 'none' }
    const items = r.value.split(',').map(s => s.trim())
    if (items.includes('*')) {
      if (wildcard && items.length === 1) return { kind: 'all' }
      problems.push(wildcard
        ? { code: 'invalid-cidr', message: `${r.source}: '*' must be the whole value, got '${r.value}'` }
        : { code: 'wildcard-not-allowed', message: `${r.source}: '*' is not allowed in an exclude list, got '${r.value}'` })
      return { kind: 'none' }
    }
    const cidrs: Cidr[] = []
    for (const item of items) {
      const cidr = parseCidr(item)
      if (cidr === undefined) {
        problems.push({ code: 'invalid-cidr', message: `${r.source}: '${item}' in '${r.value}' is not a CIDR (like 10.0.0.0/8 or fd00::/8)` })
        return { kind: 'none' }
      }
      if (!cidrs.some(c => c.text === cidr.text)) cidrs.push(cidr)
    }
    return { kind: 'list', cidrs }
  }
  const idList = (long: string, fallback: readonly number[]): readonly number[] => {
    const r = raw(long)
    if (r === undefined || r.value.trim() === '') return fallback
    const ids: number[] = []
    for (const item of r.value.split(',').map(s => s.trim())) {
      // 4294967295 is (uid_t)-1, "no id"; owner matching takes a number (names are not resolved here).
      if (!/^\d{1,10}$/.test(item) || Number(item) > 4294967294) {
        problems.push({ code: 'invalid-id', message: `${r.source}: '${item}' is not a numeric id` })
        return fallback
      }
      if (!ids.includes(Number(item))) ids.push(Number(item))
    }
    return ids
  }
  const nicList = (long: string): readonly string[] => {
    const r = raw(long)
    if (r === undefined || r.value.trim() === '') return []
    const nics: string[] = []
    for (const item of r.value.split(',').map(s => s.trim())) {
      // Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace; iptables allows a trailing '+'.
      if (!/^[A-Za-z0-9_.@-]{1,15}\+?$/.test(item) || item === '.' || item === '..') {
        problems.push({ code: 'invalid-interface', message: `${r.source}: '${item}' is not an interface name` })
        return []
      }
      if (!nics.includes(item)) nics.push(item)
    }
    return nics
  }
  const bool = (long: string): boolean => {
    const r = raw(long)
    if (r === undefined) return false
    const b = parseGoBool(r.value.trim())
    if (b === undefined) {
      problems.push({ code: 'invalid-boolean', message: `${r.source}: '${r.value}' is not a boolean (true or false)` })
      return false
    }
    return b
  }

  const envoyPort = port('envoy-port', 15001)
  const inboundCapturePort = port('inbound-capture-port', 15006)
  const inboundTunnelPort = port('inbound-tunnel-port', 15008)
  const proxyUids = idList('proxy-uid', [1337])
  const proxyGids = idList('proxy-gid', proxyUids)

  const mode = raw('istio-inbound-interception-mode')
  if (mode !== undefined) {
    const value = mode.value.trim()
    if (value === 'TPROXY') {
      problems.push({
        code: 'tproxy-unsupported',
        message: `${mode.source}: TPROXY interception is not supported by this command (it needs policy routing and a proxy with CAP_NET_ADMIN); use REDIRECT`
      })
    } else if (value !== 'REDIRECT' && value !== '') {
      problems.push({ code: 'unknown-interception-mode', message: `${mode.source}: unknown interception mode '${mode.value}' (expected REDIRECT)` })
    }
  }

  const inboundPorts = portList('istio-inbound-ports', true)
  const inboundExcludePorts = listed(portList('istio-local-exclude-ports', false))
  const outboundCidrs = cidrList('istio-service-cidr', true)
  const excluded = cidrList('istio-service-exclude-cidr', false)
  const outboundExcludeCidrs = excluded.kind === 'list' ? excluded.cidrs : []
  const outboundPorts = listed(portList('istio-outbound-ports', false))
  const outboundExcludePorts = listed(portList('istio-local-outbound-ports-exclude', false))
  const virtualInterfaces = nicList('kube-virt-interfaces')
  const excludeInterfaces = nicList('istio-exclude-interfaces')
  const dropInvalid = bool('drop-invalid')
  const dualStack = bool('dual-stack')
  const dryRun = bool('dry-run')
  let iptablesBinary: IptablesBinary = 'iptables'
  const binary = raw('force-iptables-binary')
  if (binary !== undefined && binary.value.trim() !== '') {
    const known = iptablesBinaries.find(b => b === binary.value.trim())
    if (known === undefined) {
      problems.push({ code: 'invalid-iptables-binary', message: `${binary.source}: '${binary.value}' is not one of ${iptablesBinaries.join(', ')}` })
    } else {
      iptablesBinary = known
    }
  }
  const redirectDns = bool('redirect-dns')
  const captureAllDns = bool('capture-all-dns')

  let loopbackCidr = parseCidr('127.0.0.1/32') as Cidr
  const loopbackText = env.ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR
  if (loopbackText !== undefined && loopbackText.trim() !== '') {
    const cidr = parseCidr(loopbackText.trim())
    if (cidr?.family !== 'ipv4') {
      problems.push({ code: 'invalid-cidr', message: `env ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '${loopbackText}' is not an IPv4 CIDR` })
    } else {
      loopbackCidr = cidr
    }
  }

  const groupList = (name: string): readonly string[] | undefined => {
    const text = env[name]?.trim()
    if (text === undefined || text === '') return undefined
    const items = text.split(',').map(s => s.trim())
    for (const item of items) {
      if (!/^[A-Za-z0-9_.-]+$/.test(item) && item !== '*') {
        problems.push({ code: 'invalid-id', message: `env ${name}: '${item}' is not a group name or id` })
        return undefined
      }
    }
    return items
  }
  const include = groupList('ISTIO_OUTBOUND_OWNER_GROUPS')
  const ownerGroupsExclude = groupList('ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE') ?? []
  const ownerGroupsInclude = include === undefined || include.includes('*') ? '*' : include
  if (ownerGroupsInclude !== '*' && ownerGroupsExclude.length > 0) {
    problems.push({ code: 'conflicting-owner-groups', message: 'set only one of ISTIO_OUTBOUND_OWNER_GROUPS and ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE' })
  }

  // The log level comes from a pod annotation (sidecar.istio.io/agentLogLevel): a bad one is not worth
  // failing the pod's start for, so it is a warning and the level stays info.
  const warnings: CaptureProblem[] = []
  let logLevel: LogLevel = 'info'
  const logText = values.log_output_level
  if (typeof logText === 'string' && logText.trim() !== '') {
    const level = parseLogLevel(logText.trim())
    if (level === undefined) {
      warnings.push({ code: 'invalid-log-level', message: `--log_output_level: '${logText}' is not a list of scope:level (levels: debug, info, warn, error, none); using info` })
    } else {
      logLevel = level
    }
  }

  if (problems.length > 0) return { ok: false, problems }
  return {
    ok: true,
    options: {
      envoyPort,
      inboundCapturePort,
      inboundTunnelPort,
      proxyUids,
      proxyGids,
      inboundPorts,
      inboundExcludePorts,
      outboundCidrs,
      outboundExcludeCidrs,
      outboundPorts,
      outboundExcludePorts,
      virtualInterfaces,
      excludeInterfaces,
      dropInvalid,
      dualStack,
      redirectDns,
      captureAllDns,
      loopbackCidr,
      iptablesBinary,
      ownerGroupsInclude,
      ownerGroupsExclude,
      dryRun,
      logLevel,
      help: values.help === true
    },
    warnings
  }
}

function parsePort (text: string, min: number): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined
  const n = Number(text)
  return n >= min && n <= 65535 ? n : undefined
}

/** Go's strconv.ParseBool, which istio-iptables uses for its env vars. */
function parseGoBool (text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false
  return undefined
}

const levels: Readonly<Record<string, LogLevel>> = { debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error', fatal: 'error', none: 'none' }

/** Istio's `scope:level,scope:level` (or a bare level); the `default` scope decides. */
function parseLogLevel (text: string): LogLevel | undefined {
  let result: LogLevel = 'info'
  for (const entry of text.split(',')) {
    const [scope, level] = entry.includes(':') ? entry.split(':', 2) : ['default', entry]
    const name = level?.trim() ?? ''
    const known = Object.hasOwn(levels, name) ? levels[name] : undefined
    if (known === undefined) return undefined
    if (scope?.trim() === 'default') result = known
  }
  return result
}

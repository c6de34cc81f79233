// The options of `sidecar-injector capture`, read from argv and the environment with Istio's
// istio-iptables names: every flag also has an env form (the long name upper-cased, '-' → '_'),
// and an explicit flag wins over the env var.
// https://github.com/istio/istio/blob/master/tools/istio-iptables/pkg/cmd/root.go
import { parseArgs } from 'node:util'
import type { Cidr } from './cidr.js'
import { parseCidr } from './cidr.js'
import { describeValueProblem, parseCidrList, parseGoBool, parseIdList, parseInterfaceList, parsePort, parsePortList } from './values.js'
import type { CidrSelection, Parsed, PortSelection, ValueProblem } from './values.js'
import { envNameOf, lookupFlagOrEnv } from '../shared/flag-env.js'
import type { Environment, FlagValues } from '../shared/flag-env.js'

export type { CidrSelection, PortSelection } from './values.js'

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
  /** The long name of the flag whose value is refused, and the variable it came from, if any. */
  readonly flag?: string
  readonly variable?: string
  /** The message without its source, for a caller that names the source its own way. */
  readonly reason?: string
}

export type CaptureOptionsResult =
  /** `warnings`: values that were tolerated (e.g. an unknown log level), to be logged. */
  | { readonly ok: true, readonly options: CaptureOptions, readonly warnings: readonly CaptureProblem[] }
  | { readonly ok: false, readonly problems: readonly CaptureProblem[] }

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
export function parseCaptureOptions (args: readonly string[], env: Environment): CaptureOptionsResult {
  const read = readFlags(args)
  if (!read.ok) return { ok: false, problems: read.problems }
  const r = new OptionReader(read.values, read.explicitFalse, env, read.problems)
  r.refuseUnsupported()
  const envoyPort = r.port('envoy-port', 15001)
  const inboundCapturePort = r.port('inbound-capture-port', 15006)
  const inboundTunnelPort = r.port('inbound-tunnel-port', 15008)
  const proxyUids = r.idList('proxy-uid', [1337])
  const ports = { envoyPort, inboundCapturePort, inboundTunnelPort, proxyUids, proxyGids: r.idList('proxy-gid', proxyUids) }
  r.interceptionMode()
  const excluded = r.cidrList('istio-service-exclude-cidr', false)
  const capture = {
    inboundPorts: r.portList('istio-inbound-ports', true),
    inboundExcludePorts: listed(r.portList('istio-local-exclude-ports', false)),
    outboundCidrs: r.cidrList('istio-service-cidr', true),
    outboundExcludeCidrs: excluded.kind === 'list' ? excluded.cidrs : [],
    outboundPorts: listed(r.portList('istio-outbound-ports', false)),
    outboundExcludePorts: listed(r.portList('istio-local-outbound-ports-exclude', false)),
    virtualInterfaces: r.nicList('kube-virt-interfaces'),
    excludeInterfaces: r.nicList('istio-exclude-interfaces')
  }
  const switches = {
    dropInvalid: r.bool('drop-invalid'),
    dualStack: r.bool('dual-stack'),
    dryRun: r.bool('dry-run'),
    iptablesBinary: r.iptablesBinary(),
    redirectDns: r.bool('redirect-dns'),
    captureAllDns: r.bool('capture-all-dns')
  }
  const environment = { loopbackCidr: r.loopbackCidr(), ...r.ownerGroups() }
  const logLevel = r.logLevel()
  if (r.problems.length > 0) return { ok: false, problems: r.problems }
  return {
    ok: true,
    options: { ...ports, ...capture, ...switches, ...environment, logLevel, help: read.values.help === true },
    warnings: r.warnings
  }
}

type ReadFlags =
  | { ok: true, values: FlagValues, explicitFalse: ReadonlySet<string>, problems: CaptureProblem[] }
  | { ok: false, problems: CaptureProblem[] }

/** argv through node's parseArgs, after turning Go's `--flag=true|false` booleans (which parseArgs refuses) into its forms. */
function readFlags (args: readonly string[]): ReadFlags {
  const problems: CaptureProblem[] = []
  const explicitFalse = new Set<string>()
  const normalised: string[] = []
  for (const arg of args) {
    const m = /^--([a-z_-]+)=(.*)$/.exec(arg)
    const spec = m === null ? undefined : flags.find(f => f.long === m[1] && f.type === 'boolean')
    if (m === null || spec === undefined) { normalised.push(arg); continue }
    const value = parseGoBool(m[2] ?? '')
    if (value === undefined) {
      problems.push({ code: 'invalid-boolean', flag: spec.long, message: `--${spec.long}: '${m[2] ?? ''}' is not a boolean (true or false)` })
    } else if (value) {
      normalised.push(`--${spec.long}`)
    } else {
      explicitFalse.add(spec.long)
    }
  }
  try {
    const options = Object.fromEntries(flags.map(f => [f.long, f.short === undefined ? { type: f.type } : { type: f.type, short: f.short }]))
    const { values } = parseArgs({ args: normalised, options, strict: true, allowPositionals: false })
    return { ok: true, values: values as FlagValues, explicitFalse, problems }
  } catch (err) {
    const code = (err as { code?: string }).code
    const message = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err)
    problems.push({
      code: code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 'unknown-flag' : code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' ? 'unexpected-argument' : 'missing-value',
      message
    })
    return { ok: false, problems }
  }
}

function listed (selection: PortSelection): readonly number[] {
  return selection.kind === 'list' ? selection.ports : []
}

interface RawValue {
  readonly value: string
  /** How the message names it: `-p/--envoy-port`, or `-p/--envoy-port (env ENVOY_PORT)`. */
  readonly source: string
  readonly flag: string
  readonly variable?: string
}

/** Reads one option at a time from the flags and the environment, collecting every problem. */
class OptionReader {
  readonly problems: CaptureProblem[]
  readonly warnings: CaptureProblem[] = []
  private readonly values: FlagValues
  private readonly explicitFalse: ReadonlySet<string>
  private readonly env: Environment

  constructor (values: FlagValues, explicitFalse: ReadonlySet<string>, env: Environment, problems: CaptureProblem[]) {
    this.values = values
    this.explicitFalse = explicitFalse
    this.env = env
    this.problems = problems
  }

  /** The flag's value if given, else its env var (or an alias), else undefined. */
  raw (long: string): RawValue | undefined {
    const spec = flags.find(f => f.long === long)
    if (spec === undefined) throw new Error(`no flag ${long}`)
    const name = spec.short === undefined ? `--${long}` : `-${spec.short}/--${long}`
    if (this.values[long] === undefined && this.explicitFalse.has(long)) return { value: 'false', source: name, flag: long }
    const variables = spec.noEnv === true ? [] : [envNameOf(long), ...(spec.envAliases ?? [])]
    const found = lookupFlagOrEnv(this.values, long, variables, this.env)
    if (found === undefined) return undefined
    return found.from === 'flag'
      ? { value: String(found.value), source: name, flag: long }
      : { value: found.value, source: `${name} (env ${found.variable})`, flag: long, variable: found.variable }
  }

  private fail (r: RawValue, code: CaptureProblemCode, message: string): void {
    this.problems.push({ code, message: `${r.source}: ${message}`, reason: message, flag: r.flag, ...(r.variable === undefined ? {} : { variable: r.variable }) })
  }

  /** A list value through its parser; a problem names the item within the value, or the value. */
  private list<T> (long: string, parse: (text: string) => Parsed<T>, fallback: T, itemInValue = true): T {
    const r = this.raw(long)
    if (r === undefined) return fallback
    const parsed = parse(r.value)
    if (parsed.ok) return parsed.value
    this.fail(r, parsed.code, listProblem(parsed, r.value, itemInValue))
    return fallback
  }

  refuseUnsupported (): void {
    for (const spec of flags) {
      if (spec.unsupported !== undefined && (this.values[spec.long] === true)) {
        this.problems.push({ code: 'unsupported-flag', flag: spec.long, message: `--${spec.long} is not supported: ${spec.unsupported}` })
      }
    }
  }

  port (long: string, fallback: number): number {
    const r = this.raw(long)
    if (r === undefined) return fallback
    const n = parsePort(r.value.trim(), 1)
    if (n !== undefined) return n
    this.fail(r, 'invalid-port', `'${r.value}' is not a port (1-65535)`)
    return fallback
  }

  portList (long: string, wildcard: boolean): PortSelection {
    return this.list(long, text => parsePortList(text, wildcard), { kind: 'none' })
  }

  cidrList (long: string, wildcard: boolean): CidrSelection {
    return this.list(long, text => parseCidrList(text, wildcard), { kind: 'none' })
  }

  idList (long: string, fallback: readonly number[]): readonly number[] {
    const ids = this.list(long, parseIdList, fallback, false)
    return ids.length === 0 ? fallback : ids
  }

  nicList (long: string): readonly string[] {
    return this.list(long, parseInterfaceList, [], false)
  }

  bool (long: string): boolean {
    const r = this.raw(long)
    if (r === undefined) return false
    const b = parseGoBool(r.value.trim())
    if (b !== undefined) return b
    this.fail(r, 'invalid-boolean', `'${r.value}' is not a boolean (true or false)`)
    return false
  }

  interceptionMode (): void {
    const mode = this.raw('istio-inbound-interception-mode')
    const value = mode?.value.trim()
    if (mode === undefined || value === 'REDIRECT' || value === '') return
    if (value === 'TPROXY') {
      this.fail(mode, 'tproxy-unsupported', 'TPROXY interception is not supported by this command (it needs policy routing and a proxy with CAP_NET_ADMIN); use REDIRECT')
    } else {
      this.fail(mode, 'unknown-interception-mode', `unknown interception mode '${mode.value}' (expected REDIRECT)`)
    }
  }

  iptablesBinary (): IptablesBinary {
    const binary = this.raw('force-iptables-binary')
    if (binary === undefined || binary.value.trim() === '') return 'iptables'
    const known = iptablesBinaries.find(b => b === binary.value.trim())
    if (known !== undefined) return known
    this.fail(binary, 'invalid-iptables-binary', `'${binary.value}' is not one of ${iptablesBinaries.join(', ')}`)
    return 'iptables'
  }

  loopbackCidr (): Cidr {
    const fallback = parseCidr('127.0.0.1/32') as Cidr
    const text = this.env.ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR
    if (text === undefined || text.trim() === '') return fallback
    const cidr = parseCidr(text.trim())
    if (cidr?.family === 'ipv4') return cidr
    this.problems.push({ code: 'invalid-cidr', variable: 'ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR', message: `env ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '${text}' is not an IPv4 CIDR` })
    return fallback
  }

  ownerGroups (): Pick<CaptureOptions, 'ownerGroupsInclude' | 'ownerGroupsExclude'> {
    const include = this.groupList('ISTIO_OUTBOUND_OWNER_GROUPS')
    const ownerGroupsExclude = this.groupList('ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE') ?? []
    const ownerGroupsInclude = include === undefined || include.includes('*') ? '*' : include
    if (ownerGroupsInclude !== '*' && ownerGroupsExclude.length > 0) {
      this.problems.push({ code: 'conflicting-owner-groups', variable: 'ISTIO_OUTBOUND_OWNER_GROUPS', message: 'set only one of ISTIO_OUTBOUND_OWNER_GROUPS and ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE' })
    }
    return { ownerGroupsInclude, ownerGroupsExclude }
  }

  private groupList (variable: string): readonly string[] | undefined {
    const text = this.env[variable]?.trim()
    if (text === undefined || text === '') return undefined
    const items = text.split(',').map(s => s.trim())
    const bad = items.find(item => !/^[A-Za-z0-9_.-]+$/.test(item) && item !== '*')
    if (bad === undefined) return items
    this.problems.push({ code: 'invalid-id', variable, message: `env ${variable}: '${bad}' is not a group name or id` })
    return undefined
  }

  // The log level comes from a pod annotation (sidecar.istio.io/agentLogLevel): a bad one is not worth
  // failing the pod's start for, so it is a warning and the level stays info.
  logLevel (): LogLevel {
    const text = this.values.log_output_level
    if (typeof text !== 'string' || text.trim() === '') return 'info'
    const level = parseLogLevel(text.trim())
    if (level !== undefined) return level
    this.warnings.push({ code: 'invalid-log-level', flag: 'log_output_level', message: `--log_output_level: '${text}' is not a list of scope:level (levels: debug, info, warn, error, none); using info` })
    return 'info'
  }
}

/** `'<item>' in '<value>' <reason>` for a bad list item, else `<reason>, got '<value>'`. */
function listProblem (problem: ValueProblem, value: string, itemInValue: boolean): string {
  if (problem.item === undefined) return `${problem.reason}, got '${value}'`
  return itemInValue ? `'${problem.item}' in '${value}' ${problem.reason}` : describeValueProblem(problem)
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

import t from 'tap'
import { parseCaptureOptions } from '../../src/capture/options.js'
import type { CaptureOptions, CaptureProblemCode } from '../../src/capture/options.js'
import { sidecarArgs } from './golden-cases.js'

function ok (args: readonly string[], env: Record<string, string> = {}): CaptureOptions {
  const parsed = parseCaptureOptions(args, env)
  if (!parsed.ok) throw new Error(parsed.problems.map(p => `${p.code}: ${p.message}`).join('; '))
  return parsed.options
}

function problems (args: readonly string[], env: Record<string, string> = {}): Array<{ code: CaptureProblemCode, message: string }> {
  const parsed = parseCaptureOptions(args, env)
  return parsed.ok ? [] : [...parsed.problems]
}

t.test('the injector\'s default args, with the log flag it appends', async t => {
  const o = ok([...sidecarArgs, '--log_output_level=default:info'])
  t.equal(o.envoyPort, 15001)
  t.equal(o.inboundCapturePort, 15006)
  t.equal(o.inboundTunnelPort, 15008)
  t.same(o.proxyUids, [1337])
  t.same(o.proxyGids, [1337], '-g defaults to -u')
  t.same(o.inboundPorts, { kind: 'all' })
  t.same(o.inboundExcludePorts, [15090, 15021, 15020])
  t.same(o.outboundCidrs, { kind: 'all' })
  t.same(o.outboundExcludeCidrs, [], "-x '' is an empty list")
  t.equal(o.dryRun, false)
  t.equal(o.logLevel, 'info')
})

t.test('binary defaults capture nothing: -b and -i empty', async t => {
  const o = ok([])
  t.same(o.inboundPorts, { kind: 'none' })
  t.same(o.outboundCidrs, { kind: 'none' })
  t.same(o.proxyUids, [1337])
  t.equal(o.loopbackCidr.text, '127.0.0.1/32')
})

t.test('long flags, env forms and precedence', async t => {
  const o = ok(['--envoy-port', '16001', '--istio-service-cidr=10.0.0.0/8', '--proxy-gid', '5,6', '--dry-run'])
  t.equal(o.envoyPort, 16001)
  t.same(o.outboundCidrs.kind === 'list' ? o.outboundCidrs.cidrs.map(c => c.text) : o.outboundCidrs, ['10.0.0.0/8'])
  t.same(o.proxyGids, [5, 6])
  t.equal(o.dryRun, true)
  const env = ok([], { ENVOY_PORT: '17001', ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE: '7, 8', KUBE_VIRT_INTERFACES: 'eth1', DRY_RUN: 'true', DROP_INVALID: '1', ISTIO_DUAL_STACK: 'true' })
  t.equal(env.envoyPort, 17001)
  t.same(env.outboundExcludePorts, [7, 8], 'items are trimmed')
  t.same(env.virtualInterfaces, ['eth1'])
  t.equal(env.dryRun, true)
  t.equal(env.dropInvalid, true, 'DROP_INVALID accepts Go booleans')
  t.equal(env.dualStack, true, 'ISTIO_DUAL_STACK is an alias of DUAL_STACK')
  t.equal(ok(['-p', '15001'], { ENVOY_PORT: '9' }).envoyPort, 15001, 'a flag wins over its env var')
  t.equal(ok(['--dry-run=false'], { DRY_RUN: 'true' }).dryRun, false, '--flag=false wins over the env var')
  t.equal(ok(['--drop-invalid=true']).dropInvalid, true)
  t.equal(ok(['-n']).dryRun, true)
})

t.test('DNS capture: the flag, REDIRECT_DNS, and ISTIO_META_DNS_CAPTURE from proxyMetadata', async t => {
  t.equal(ok([]).redirectDns, false)
  t.equal(ok(['--redirect-dns']).redirectDns, true)
  t.equal(ok([], { REDIRECT_DNS: 'true' }).redirectDns, true)
  t.equal(ok([], { ISTIO_META_DNS_CAPTURE: 'true' }).redirectDns, true)
  t.equal(ok(['--redirect-dns=false'], { ISTIO_META_DNS_CAPTURE: 'true' }).redirectDns, false, 'the flag wins')
  t.equal(ok([], { CAPTURE_ALL_DNS: 'true' }).captureAllDns, true)
})

t.test('a bad log level is tolerated with a warning (it comes from a pod annotation)', async t => {
  const parsed = parseCaptureOptions(['--log_output_level=default:loud'], {})
  t.equal(parsed.ok, true)
  if (!parsed.ok) return
  t.equal(parsed.options.logLevel, 'info')
  t.equal(parsed.warnings[0]?.code, 'invalid-log-level')
  t.equal(ok(['--log_output_level=default:constructor']).logLevel, 'info', 'no prototype lookups')
  t.equal(ok(['--log_output_level=warning']).logLevel, 'warn')
})

t.test('--force-iptables-binary picks the back end', async t => {
  t.equal(ok([]).iptablesBinary, 'iptables')
  t.equal(ok(['--force-iptables-binary', 'iptables-legacy']).iptablesBinary, 'iptables-legacy')
  t.equal(ok([], { FORCE_IPTABLES_BINARY: 'iptables-nft' }).iptablesBinary, 'iptables-nft')
  t.same(problems(['--force-iptables-binary=nft']).map(p => p.code), ['invalid-iptables-binary'])
})

t.test('accepted for compatibility and ignored', async t => {
  const o = ok([...sidecarArgs, '--log_as_json', '--force-apply', '--reconcile', '-t', '1337', '-r', '133'])
  t.equal(o.envoyPort, 15001)
  t.equal(ok(['--log_output_level=default:debug']).logLevel, 'debug')
  t.equal(ok(['--log_output_level=default:warn,ads:debug']).logLevel, 'warn')
  t.equal(ok(['--log_output_level=error']).logLevel, 'error')
  t.equal(ok(['-m', 'REDIRECT']).envoyPort, 15001)
  t.equal(ok(['-m', '']).envoyPort, 15001, "'' is REDIRECT, Istio's default")
})

t.test('CIDRs are canonical and deduplicated; both families kept', async t => {
  const o = ok(['-x', '10.1.2.3/8, 10.0.0.0/8,FD00:0:0::1/8', '-i', '2001:DB8::/32'])
  t.same(o.outboundExcludeCidrs.map(c => [c.family, c.text]), [['ipv4', '10.0.0.0/8'], ['ipv6', 'fd00::/8']])
  t.same(o.outboundCidrs.kind === 'list' ? o.outboundCidrs.cidrs.map(c => c.text) : [], ['2001:db8::/32'])
})

const refusals: Array<{ args: string[], env?: Record<string, string>, code: CaptureProblemCode, mentions: RegExp }> = [
  { args: ['-p', '70000'], code: 'invalid-port', mentions: /-p\/--envoy-port: '70000' is not a port/ },
  { args: ['-z', 'abc'], code: 'invalid-port', mentions: /inbound-capture-port/ },
  { args: ['-p', '0'], code: 'invalid-port', mentions: /'0'/ },
  { args: [], env: { ENVOY_PORT: 'x' }, code: 'invalid-port', mentions: /env ENVOY_PORT/ },
  { args: ['-d', '15090,abc'], code: 'invalid-port-list', mentions: /'abc' in '15090,abc'/ },
  { args: ['-b', '80,'], code: 'invalid-port-list', mentions: /'' in '80,'/ },
  { args: ['-b', '*,80'], code: 'invalid-port-list', mentions: /'\*' must be the whole value/ },
  { args: ['-d', '*'], code: 'wildcard-not-allowed', mentions: /'\*' is not allowed/ },
  { args: ['-o', '*'], code: 'wildcard-not-allowed', mentions: /istio-local-outbound-ports-exclude/ },
  { args: ['-x', '*'], code: 'wildcard-not-allowed', mentions: /-x\/--istio-service-exclude-cidr: '\*' is not allowed in an exclude list/ },
  { args: ['-x', '10.0.0.0/8,*'], code: 'wildcard-not-allowed', mentions: /exclude list/ },
  { args: ['-i', '10.0.0.1'], code: 'invalid-cidr', mentions: /'10.0.0.1' in '10.0.0.1' is not a CIDR/ },
  { args: ['-i', '10.0.0.0/33'], code: 'invalid-cidr', mentions: /10.0.0.0\/33/ },
  { args: ['-x', '300.0.0.0/8'], code: 'invalid-cidr', mentions: /300/ },
  { args: ['-x', 'fd00:::/8'], code: 'invalid-cidr', mentions: /fd00/ },
  { args: ['-i', '*,10.0.0.0/8'], code: 'invalid-cidr', mentions: /must be the whole value/ },
  { args: ['-u', 'istio-proxy'], code: 'invalid-id', mentions: /'istio-proxy' is not a numeric id/ },
  { args: ['-k', 'eth 1'], code: 'invalid-interface', mentions: /'eth 1'/ },
  { args: ['-c', 'averyveryverylongname'], code: 'invalid-interface', mentions: /not an interface name/ },
  { args: ['-m', 'TPROXY'], code: 'tproxy-unsupported', mentions: /TPROXY interception is not supported.*use REDIRECT/ },
  { args: [], env: { ISTIO_INBOUND_INTERCEPTION_MODE: 'TPROXY' }, code: 'tproxy-unsupported', mentions: /env ISTIO_INBOUND_INTERCEPTION_MODE/ },
  { args: ['-m', 'redirect'], code: 'unknown-interception-mode', mentions: /unknown interception mode 'redirect'/ },
  { args: ['-m', 'NONE'], code: 'unknown-interception-mode', mentions: /'NONE'/ },
  { args: [], env: { ISTIO_META_DNS_CAPTURE: 'maybe' }, code: 'invalid-boolean', mentions: /env ISTIO_META_DNS_CAPTURE/ },
  { args: ['--run-validation'], code: 'unsupported-flag', mentions: /CNI validation/ },
  { args: ['--native-nftables'], code: 'unsupported-flag', mentions: /native-nftables/ },
  { args: ['--bogus'], code: 'unknown-flag', mentions: /'--bogus'/ },
  { args: ['-p'], code: 'missing-value', mentions: /argument missing/ },
  { args: ['extra'], code: 'unexpected-argument', mentions: /extra/ },
  { args: ['--dry-run=maybe'], code: 'invalid-boolean', mentions: /'maybe' is not a boolean/ },
  { args: [], env: { DROP_INVALID: 'yes' }, code: 'invalid-boolean', mentions: /env DROP_INVALID/ },
  { args: [], env: { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '::1/128' }, code: 'invalid-cidr', mentions: /not an IPv4 CIDR/ },
  { args: [], env: { ISTIO_OUTBOUND_OWNER_GROUPS: 'java', ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '888' }, code: 'conflicting-owner-groups', mentions: /only one/ }
]

for (const r of refusals) {
  t.test(`refused: ${[...r.args, ...Object.entries(r.env ?? {}).map(([k, v]) => `${k}=${v}`)].join(' ') || '(env)'} → ${r.code}`, async t => {
    const found = problems(r.args, r.env)
    t.equal(found[0]?.code, r.code)
    t.match(found[0]?.message, r.mentions)
  })
}

t.test('every problem is reported at once', async t => {
  const found = problems(['-p', 'x', '-x', '*', '-m', 'TPROXY'])
  t.same(found.map(p => p.code).sort(), ['invalid-port', 'tproxy-unsupported', 'wildcard-not-allowed'])
})

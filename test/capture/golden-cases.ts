// The golden cases: one per option, each with the flags and why it matters. Shared by rules.test.ts
// (rule text) and netns.test.ts (the same rules as iptables-save lists them after a real apply).
import type { CaptureOptions } from '../../src/capture/options.js'
import { parseCaptureOptions } from '../../src/capture/options.js'
import type { Ruleset } from '../../src/capture/rules.js'
import { buildRulesets } from '../../src/capture/rules.js'

/** The init container's args as the injector writes them (docs/istio-compatibility.md). */
export const sidecarArgs = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020']

export interface GoldenCase {
  name: string
  args: readonly string[]
  env?: Record<string, string>
  /** The pod has IPv6 (its first address). */
  ipv6?: boolean
  /** The pod's /etc/resolv.conf (read for DNS capture). */
  resolvConf?: string
  why: string
}

/** The injected init container of test/fixtures/injected/annotated.*.yaml (the core's golden pod with every traffic annotation). */
export const annotatedArgs = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '10.0.0.0/8,172.16.0.0/12', '-x', '10.96.0.1/32', '-b', '9080,9443',
  '-d', '15090,15021,9443,15030', '-q', '443', '-o', '3306,5432', '-k', 'net1', '-c', 'eth9', '--log_output_level=default:debug']

const kubeResolvConf = 'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n'

export function optionsOf (args: readonly string[], env: Record<string, string> = {}): CaptureOptions {
  const parsed = parseCaptureOptions(args, env)
  if (!parsed.ok) throw new Error(parsed.problems.map(p => `${p.code}: ${p.message}`).join('; '))
  return parsed.options
}

/** The rulesets of a case, built the way the capture command builds them. */
export function rulesetsOf (c: GoldenCase): { options: CaptureOptions, rulesets: Ruleset[] } {
  const options = optionsOf(c.args, c.env)
  return { options, rulesets: buildRulesets(options, { podHasIpv6: c.ipv6 === true, resolvConf: () => c.resolvConf }).rulesets }
}

export const goldenCases: GoldenCase[] = [
  { name: 'default-sidecar', args: [...sidecarArgs, '--log_output_level=default:info'], why: 'the injector\'s default init args' },
  { name: 'default-sidecar-ipv6', args: sidecarArgs, ipv6: true, why: 'the same on a pod whose first address is IPv6: a second ruleset with ::6/128 and ::1/128' },
  { name: 'empty', args: [], why: 'binary defaults (-b \'\', -i \'\'): chains and proxy RETURNs only, no PREROUTING jump, no ISTIO_REDIRECT jump' },
  { name: 'inbound-ports-include', args: ['-b', '32000,31000', '-d', '15090'], why: '-b list: one ISTIO_IN_REDIRECT per port in order; -d ignored' },
  { name: 'inbound-ports-wildcard', args: ['-b', '*'], why: '-b *: PREROUTING jump and a final ISTIO_IN_REDIRECT' },
  { name: 'ipnets', args: ['-i', '10.0.0.0/8'], why: '-i CIDR: a final -d 10.0.0.0/8 -j ISTIO_REDIRECT' },
  { name: 'ipnets-canonical', args: ['-i', '10.1.2.3/8,10.0.0.0/8'], why: 'CIDRs are written as their network address, duplicates dropped' },
  { name: 'outbound-ports-include', args: ['-q', '32000,31000'], why: '-q: per-port ISTIO_REDIRECT after the localhost RETURN' },
  { name: 'outbound-ports-exclude', args: [...sidecarArgs, '-o', '7,8,9'], why: '-o: TCP and UDP RETURNs first in ISTIO_OUTPUT' },
  { name: 'exclude-cidr-dual-stack', args: [...sidecarArgs, '-x', '1.1.0.0/16,fd00::/8', '--dual-stack'], why: '-x per family: the v4 CIDR only in IPv4, the v6 one only in IPv6' },
  { name: 'include-cidr-v6-only', args: [...sidecarArgs.slice(0, 8), '-i', '2001:db8::/32', '-b', '*'], ipv6: true, why: '-i with only an IPv6 CIDR: no outbound capture in IPv4' },
  { name: 'kube-virt-interfaces', args: ['-k', 'eth1,eth2', '-i', '*'], why: '-k with -i *: RETURN inserted first, then ISTIO_REDIRECT inserted above them' },
  { name: 'ipnets-with-kube-virt-interfaces', args: ['-k', 'eth1,eth2', '-i', '10.0.0.0/8'], why: '-k with -i CIDR: PREROUTING -d CIDR -i NIC -j ISTIO_REDIRECT' },
  { name: 'exclude-interfaces', args: [...sidecarArgs, '-c', 'not-istio-nic'], why: '-c: PREROUTING and OUTPUT RETURN before anything else' },
  { name: 'loopback-outbound-iprange', args: ['-i', '127.1.2.3/32', '-u', '3,4', '-g', '1,2'], why: 'an included loopback CIDR drops the -o lo ! --uid-owner RETURNs' },
  { name: 'uid-gid', args: [...sidecarArgs, '-u', '3,4', '-g', '1,2'], why: 'one triplet per uid, then per gid' },
  { name: 'outbound-owner-groups', args: sidecarArgs, env: { ISTIO_OUTBOUND_OWNER_GROUPS: 'java,202' }, why: 'one combined ! --gid-owner RETURN' },
  { name: 'outbound-owner-groups-exclude', args: sidecarArgs, env: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '888,ftp' }, why: 'one --gid-owner RETURN per group' },
  { name: 'drop-invalid', args: [...sidecarArgs, '--drop-invalid'], why: 'mangle ISTIO_DROP for conntrack INVALID' },
  { name: 'host-ipv4-loopback-cidr', args: sidecarArgs, env: { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '127.0.0.1/8' }, why: 'every 127.0.0.1/32 becomes 127.0.0.0/8; 127.0.0.6/32 unchanged' },
  { name: 'custom-ports', args: ['-p', '16001', '-z', '16006', '-e', '16008', '-b', '*', '-i', '*'], why: 'custom redirect targets and tunnel port' },
  { name: 'dns-sidecar', args: sidecarArgs, env: { ISTIO_META_DNS_CAPTURE: 'true' }, resolvConf: kubeResolvConf, why: 'DNS capture from proxyMetadata: the resolv.conf server to 15053, conntrack zones in raw' },
  { name: 'dns-uid-gid', args: [...sidecarArgs, '-u', '3,4', '-g', '1,2', '--redirect-dns'], resolvConf: 'nameserver 127.0.0.53\n', why: 'DNS forms of the owner rules: uids get multiport ! 53,15008, gids keep ! 15008' },
  { name: 'dns-capture-all', args: [...sidecarArgs, '--redirect-dns', '--capture-all-dns'], why: 'capture-all: every port-53 destination, no -d' },
  { name: 'dns-dual-stack', args: sidecarArgs, env: { REDIRECT_DNS: 'true' }, ipv6: true, resolvConf: 'nameserver 10.96.0.10\nnameserver fd00:10:96::a\n', why: 'each family redirects its own servers' },
  { name: 'dns-no-server', args: [...sidecarArgs, '--redirect-dns'], resolvConf: '# no nameserver\n', why: 'no known server: owner rules in DNS form, nothing redirected' },
  { name: 'injected-annotated', args: annotatedArgs, env: { ISTIO_META_DNS_CAPTURE: 'true' }, resolvConf: kubeResolvConf, why: 'the core\'s annotated pod: every traffic annotation plus DNS capture' }
]

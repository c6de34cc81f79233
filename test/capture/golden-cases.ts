// The golden cases: one per option, each with the flags and why it matters. Shared by rules.test.ts
// (rule text) and netns.test.ts (the same rules as iptables-save lists them after a real apply).
/** The init container's args as the injector writes them (shared/reference/istio-semantics.md §3.2). */
export const sidecarArgs = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020']

export interface GoldenCase { name: string, args: string[], env?: Record<string, string>, ipv6?: boolean, why: string }

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
  { name: 'custom-ports', args: ['-p', '16001', '-z', '16006', '-e', '16008', '-b', '*', '-i', '*'], why: 'custom redirect targets and tunnel port' }
]

// The DNS servers that DNS capture redirects: the `nameserver` lines of the pod's /etc/resolv.conf, as
// istio-iptables reads them (only when capture-all is off). https://man7.org/linux/man-pages/man5/resolv.conf.5.html
import type { Family } from './cidr.js'
import { formatIpv6, parseIpv4, parseIpv6 } from './cidr.js'

export interface DnsServer {
  readonly family: Family
  /** The address as iptables-save prints it. */
  readonly address: string
}

/** Parses resolv.conf text; lines that are not a valid `nameserver ADDRESS` are ignored, as the resolver does. */
export function parseResolvConf (text: string): DnsServer[] {
  const servers: DnsServer[] = []
  for (const line of text.split('\n')) {
    const fields = line.replace(/[#;].*$/, '').trim().split(/\s+/)
    if (fields[0] !== 'nameserver' || fields[1] === undefined) continue
    // A link-local v6 server may carry a zone (fe80::1%eth0); iptables matches the address alone.
    const address = fields[1].replace(/%.*$/, '')
    const v4 = parseIpv4(address)
    const v6 = v4 === undefined ? parseIpv6(address) : undefined
    const server: DnsServer | undefined = v4 !== undefined
      ? { family: 'ipv4', address: v4.join('.') }
      : v6 !== undefined ? { family: 'ipv6', address: formatIpv6(v6) } : undefined
    if (server !== undefined && !servers.some(s => s.address === server.address)) servers.push(server)
  }
  return servers
}

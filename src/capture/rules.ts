// The rule builder: capture options → the iptables rules of one address family, in Istio's order
// (istio-iptables REDIRECT mode, tools/istio-iptables/pkg/capture/run.go; summarised in
// docs/capture.md). Rules are written in the canonical form iptables-save
// prints them (`-s`/`-d`/`-i`/`-o`/`-p` first, `-m tcp` before `--dport`), which matches the same
// packets as Istio's text and lets reconcile.ts compare the live rules with a string comparison.
import type { Cidr, Family } from './cidr.js'
import type { DnsServer } from './dns.js'
import { parseResolvConf } from './dns.js'
import { parseGroupFile, resolveGroups } from './groups.js'
import type { CaptureOptions, IptablesBinary } from './options.js'

export type TableName = 'nat' | 'mangle' | 'raw'

export const istioChains = {
  inbound: 'ISTIO_INBOUND',
  redirect: 'ISTIO_REDIRECT',
  inRedirect: 'ISTIO_IN_REDIRECT',
  output: 'ISTIO_OUTPUT',
  outputDns: 'ISTIO_OUTPUT_DNS',
  drop: 'ISTIO_DROP'
} as const

/** The agent's DNS proxy port (istio-agent listens on 15053). */
export const dnsProxyPort = 15053

/** One rule: appended (`-A`) or inserted at the top (`-I CHAIN 1`) of a chain. */
export interface RuleOp {
  readonly table: TableName
  readonly op: 'append' | 'insert'
  readonly chain: string
  /** The rule's matches and target, as iptables-save prints them (without `-A CHAIN`). */
  readonly spec: string
}

export interface Ruleset {
  readonly family: Family
  /** Our chains per table, in creation order. */
  readonly chains: ReadonlyArray<{ readonly table: TableName, readonly chain: string }>
  /** The rules, in application order. */
  readonly ops: readonly RuleOp[]
}

interface Match {
  /** Source / destination; undefined means any (capture-all DNS). */
  readonly s?: string | undefined
  readonly d?: string | undefined
  readonly notD?: string
  readonly i?: string
  readonly o?: string
  readonly p?: 'tcp' | 'udp'
  readonly sport?: number
  readonly dport?: number
  readonly notDport?: number
  /** Further matches, already written (`-m owner --uid-owner 1337`). */
  readonly m?: string
  readonly j: string
}

/** Renders a rule in iptables-save's order of options. */
function spec (match: Match): string {
  const parts: string[] = []
  if (match.s !== undefined) parts.push(`-s ${match.s}`)
  if (match.notD !== undefined) parts.push(`! -d ${match.notD}`)
  if (match.d !== undefined) parts.push(`-d ${match.d}`)
  if (match.i !== undefined) parts.push(`-i ${match.i}`)
  if (match.o !== undefined) parts.push(`-o ${match.o}`)
  if (match.p !== undefined) parts.push(`-p ${match.p}`)
  if (match.sport !== undefined) parts.push(`-m ${match.p ?? 'tcp'} --sport ${match.sport}`)
  if (match.dport !== undefined) parts.push(`-m ${match.p ?? 'tcp'} --dport ${match.dport}`)
  if (match.notDport !== undefined) parts.push(`-m ${match.p ?? 'tcp'} ! --dport ${match.notDport}`)
  if (match.m !== undefined) parts.push(match.m)
  parts.push(`-j ${match.j}`)
  return parts.join(' ')
}

/** Istio's rule: IPv6 is enabled when the first non-loopback, non-link-local address of the pod is IPv6. */
export function detectIpv6 (addresses: ReadonlyArray<{ readonly address: string, readonly family: string | number, readonly internal: boolean }>): boolean {
  for (const a of addresses) {
    if (a.internal) continue
    const v6 = a.family === 'IPv6' || a.family === 6
    if (v6 && /^fe[89ab]/i.test(a.address)) continue
    if (!v6 && a.address.startsWith('169.254.')) continue
    return v6
  }
  return false
}

/** The families to write: IPv4 always, IPv6 when the pod has IPv6 (or --dual-stack). */
export function familiesFor (options: CaptureOptions, podHasIpv6: boolean): readonly Family[] {
  return podHasIpv6 || options.dualStack ? ['ipv4', 'ipv6'] : ['ipv4']
}

/**
 * What the pod tells the rules: whether it has IPv6, its /etc/resolv.conf (read only for DNS capture)
 * and its /etc/group (read only when owner groups are named).
 */
export interface PodFacts {
  readonly podHasIpv6: boolean
  readonly resolvConf?: () => string | undefined
  readonly groupFile?: () => string | undefined
}

/** The rulesets to write for this pod, one per family, and what is worth a warning. */
export function buildRulesets (given: CaptureOptions, facts: PodFacts): { rulesets: Ruleset[], warnings: string[] } {
  let options = given
  const named = [...(given.ownerGroupsInclude === '*' ? [] : given.ownerGroupsInclude), ...given.ownerGroupsExclude].some(g => !/^\d+$/.test(g))
  if (named) {
    const gids = parseGroupFile(facts.groupFile?.() ?? '')
    options = {
      ...given,
      ownerGroupsInclude: given.ownerGroupsInclude === '*' ? '*' : resolveGroups(given.ownerGroupsInclude, gids),
      ownerGroupsExclude: resolveGroups(given.ownerGroupsExclude, gids)
    }
  }
  const families = familiesFor(options, facts.podHasIpv6)
  const warnings: string[] = []
  let servers: DnsServer[] = []
  if (options.redirectDns && !options.captureAllDns) {
    servers = parseResolvConf(facts.resolvConf?.() ?? '')
    for (const family of families) {
      const label = family === 'ipv4' ? 'IPv4' : 'IPv6'
      if (!servers.some(s => s.family === family)) warnings.push(`${label}: DNS capture is on but /etc/resolv.conf names no ${label} nameserver; no DNS is redirected`)
    }
  }
  return { rulesets: families.map(family => buildRuleset(options, family, servers)), warnings }
}

/**
 * The rules of one family. `dnsServers` (from the pod's resolv.conf) matter only with --redirect-dns
 * and without --capture-all-dns; each family uses its own servers.
 */
export function buildRuleset (options: CaptureOptions, family: Family, dnsServers: readonly DnsServer[] = []): Ruleset {
  const v6 = family === 'ipv6'
  const { inbound, redirect, inRedirect, output, outputDns, drop } = istioChains
  // The proxy's inbound passthrough connects to the app from 127.0.0.6 (::6 for IPv6).
  const inboundPassthrough = v6 ? '::6/128' : '127.0.0.6/32'
  const localhost = v6 ? '::1/128' : options.loopbackCidr.text
  const ofFamily = (cidrs: readonly Cidr[]): readonly Cidr[] => cidrs.filter(c => c.family === family)

  const chains: Array<{ table: TableName, chain: string }> = []
  const ops: RuleOp[] = []
  const append = (chain: string, match: Match, table: TableName = 'nat'): void => { ops.push({ table, op: 'append', chain, spec: spec(match) }) }
  const insert = (chain: string, match: Match): void => { ops.push({ table: 'nat', op: 'insert', chain, spec: spec(match) }) }
  const hostBits = v6 ? 128 : 32
  const servers = dnsServers.filter(s => s.family === family).map(s => `${s.address}/${hostBits}`)
  // Without a known server (and without capture-all) nothing is redirected, but the owner rules keep their DNS form.
  const dns = options.redirectDns
  const dnsTargets: ReadonlyArray<string | undefined> = !dns ? [] : options.captureAllDns ? [undefined] : servers

  for (const chain of [inbound, redirect, inRedirect, output]) chains.push({ table: 'nat', chain })

  // 1. Excluded NICs are never captured, in either direction.
  for (const nic of options.excludeInterfaces) {
    append('PREROUTING', { i: nic, j: 'RETURN' })
    append('OUTPUT', { o: nic, j: 'RETURN' })
  }
  // 2. Virtual NICs skip inbound capture (their traffic is captured as outbound in step 18).
  for (const nic of options.virtualInterfaces) insert('PREROUTING', { i: nic, j: 'RETURN' })
  // 3. Drop packets conntrack cannot place, which would otherwise leave the pod un-NATed.
  if (options.dropInvalid) {
    chains.push({ table: 'mangle', chain: drop })
    append('PREROUTING', { m: '-m conntrack --ctstate INVALID', j: drop }, 'mangle')
    append(drop, { j: 'DROP' }, 'mangle')
  }
  // 4-6. HBONE passes untouched; the two redirect targets.
  append(inbound, { p: 'tcp', dport: options.inboundTunnelPort, j: 'RETURN' })
  append(redirect, { p: 'tcp', j: `REDIRECT --to-ports ${options.envoyPort}` })
  append(inRedirect, { p: 'tcp', j: `REDIRECT --to-ports ${options.inboundCapturePort}` })

  // 7. Inbound.
  const inboundPorts = options.inboundPorts
  if (inboundPorts.kind !== 'none') {
    append('PREROUTING', { p: 'tcp', j: inbound })
    if (inboundPorts.kind === 'all') {
      for (const port of options.inboundExcludePorts) append(inbound, { p: 'tcp', dport: port, j: 'RETURN' })
      append(inbound, { p: 'tcp', j: inRedirect })
    } else {
      for (const port of inboundPorts.ports) append(inbound, { p: 'tcp', dport: port, j: inRedirect })
    }
  }

  // 8. Every outbound packet goes through ISTIO_OUTPUT; only TCP is ever redirected.
  append('OUTPUT', { j: output })
  // 9. Excluded outbound ports, TCP and UDP.
  for (const port of options.outboundExcludePorts) {
    append(output, { p: 'tcp', dport: port, j: 'RETURN' })
    append(output, { p: 'udp', dport: port, j: 'RETURN' })
  }
  // 10. The proxy's inbound passthrough to the app.
  append(output, { s: inboundPassthrough, o: 'lo', j: 'RETURN' })

  // 11-12. The proxy's own traffic: not captured, except the proxy calling its own pod over lo,
  // which must go through the inbound listener. The app calling itself over lo is not captured,
  // unless an included CIDR is a loopback range.
  const includeCidrs = options.outboundCidrs.kind === 'list' ? ofFamily(options.outboundCidrs.cidrs) : []
  const loopbackIncluded = includeCidrs.some(c => c.loopback)
  const owners = [
    ...options.proxyUids.map(id => ['--uid-owner', id] as const),
    ...options.proxyGids.map(id => ['--gid-owner', id] as const)
  ]
  for (const [flag, id] of owners) {
    // With DNS capture, the proxy's DNS over lo is not looped to inbound (uids only, as in Istio) and the
    // app's DNS over lo is left to the DNS rules below.
    if (dns && flag === '--uid-owner') {
      append(output, { notD: localhost, o: 'lo', p: 'tcp', m: `-m multiport ! --dports 53,${options.inboundTunnelPort} -m owner ${flag} ${id}`, j: inRedirect })
    } else {
      append(output, { notD: localhost, o: 'lo', p: 'tcp', notDport: options.inboundTunnelPort, m: `-m owner ${flag} ${id}`, j: inRedirect })
    }
    if (!loopbackIncluded) {
      append(output, dns ? { o: 'lo', p: 'tcp', notDport: 53, m: `-m owner ! ${flag} ${id}`, j: 'RETURN' } : { o: 'lo', m: `-m owner ! ${flag} ${id}`, j: 'RETURN' })
    }
    append(output, { m: `-m owner ${flag} ${id}`, j: 'RETURN' })
  }
  // 13. Capture by process group (env only).
  if (options.ownerGroupsInclude !== '*') {
    append(output, { m: options.ownerGroupsInclude.map(g => `-m owner ! --gid-owner ${g}`).join(' '), j: 'RETURN' })
  }
  for (const group of options.ownerGroupsExclude) append(output, { m: `-m owner --gid-owner ${group}`, j: 'RETURN' })

  // 14. DNS to the pod's servers (or any, with capture-all) goes to the agent; the proxy's own DNS
  // returned above. Conntrack zones keep the app → agent and agent → server flows apart even when
  // their 5-tuples coincide: the proxy's queries and the servers' replies in zone 1, the app's
  // queries and the agent's replies in zone 2. The first CT target that matches wins (xt_CT ignores
  // packets that already have a conntrack template), so the owner rules come first.
  if (dnsTargets.length > 0) {
    chains.push({ table: 'nat', chain: outputDns }, { table: 'raw', chain: outputDns }, { table: 'raw', chain: inbound })
    append(output, { j: outputDns })
    for (const server of dnsTargets) {
      append(outputDns, { d: server, p: 'tcp', dport: 53, j: `REDIRECT --to-ports ${dnsProxyPort}` })
      append(outputDns, { d: server, p: 'udp', dport: 53, j: `REDIRECT --to-ports ${dnsProxyPort}` })
    }
    append('OUTPUT', { j: outputDns }, 'raw')
    append('PREROUTING', { j: inbound }, 'raw')
    for (const [flag, id] of owners) {
      append(outputDns, { p: 'udp', dport: 53, m: `-m owner ${flag} ${id}`, j: 'CT --zone 1' }, 'raw')
      append(outputDns, { p: 'udp', sport: dnsProxyPort, m: `-m owner ${flag} ${id}`, j: 'CT --zone 2' }, 'raw')
    }
    for (const server of dnsTargets) append(outputDns, { d: server, p: 'udp', dport: 53, j: 'CT --zone 2' }, 'raw')
    for (const server of dnsTargets) append(inbound, { s: server, p: 'udp', sport: 53, j: 'CT --zone 1' }, 'raw')
  }

  // 15. Explicit localhost (container to container) is never captured.
  append(output, { d: localhost, j: 'RETURN' })
  // 16. Excluded destinations, per family (a v6 CIDR in the list only shows in the v6 rules).
  for (const cidr of ofFamily(options.outboundExcludeCidrs)) append(output, { d: cidr.text, j: 'RETURN' })
  // 17. Included outbound ports, whatever the destination.
  for (const port of options.outboundPorts) append(output, { p: 'tcp', dport: port, j: redirect })
  // 18. Included destinations; a virtual NIC's inbound traffic is captured like outbound.
  if (options.outboundCidrs.kind === 'all') {
    append(output, { j: redirect })
    for (const nic of options.virtualInterfaces) insert('PREROUTING', { i: nic, j: redirect })
  } else if (options.outboundCidrs.kind === 'list') {
    for (const cidr of includeCidrs) {
      for (const nic of options.virtualInterfaces) insert('PREROUTING', { d: cidr.text, i: nic, j: redirect })
      append(output, { d: cidr.text, j: redirect })
    }
  }
  return { family, chains, ops }
}

/** The final order of the rules in each chain, as iptables-save would list them on a pod with no other rules. */
export function expectedChains (ruleset: Ruleset): Map<TableName, Map<string, string[]>> {
  const tables = new Map<TableName, Map<string, string[]>>()
  const chainOf = (table: TableName, chain: string): string[] => {
    let byChain = tables.get(table)
    if (byChain === undefined) { byChain = new Map(); tables.set(table, byChain) }
    let rules = byChain.get(chain)
    if (rules === undefined) { rules = []; byChain.set(chain, rules) }
    return rules
  }
  for (const { table, chain } of ruleset.chains) chainOf(table, chain)
  for (const op of ruleset.ops) {
    const rules = chainOf(op.table, op.chain)
    if (op.op === 'append') rules.push(op.spec)
    else rules.unshift(op.spec)
  }
  return tables
}

export interface RestoreCleanup {
  /** Rules of ours to delete from built-in chains (`-D CHAIN spec`), per table. */
  readonly deleteRules: ReadonlyArray<{ readonly table: TableName, readonly chain: string, readonly spec: string }>
  /** Chains of ours that are no longer wanted (flushed, then deleted). */
  readonly dropChains: ReadonlyArray<{ readonly table: TableName, readonly chain: string }>
}

const tableOrder: readonly TableName[] = ['nat', 'mangle', 'raw']

/**
 * iptables-restore input for `--noflush`. Our chains are declared with `:CHAIN - [0:0]`, which creates
 * a missing chain and flushes an existing one (so a re-apply never duplicates rules in our chains);
 * built-in chains are never flushed: the cleanup deletes only our rules from them.
 */
export function renderRestore (ruleset: Ruleset, cleanup?: RestoreCleanup): string {
  const lines: string[] = []
  for (const table of tableOrder) {
    const chains = ruleset.chains.filter(c => c.table === table)
    const ops = ruleset.ops.filter(o => o.table === table)
    const deletes = cleanup?.deleteRules.filter(r => r.table === table) ?? []
    const drops = cleanup?.dropChains.filter(c => c.table === table) ?? []
    if (chains.length === 0 && ops.length === 0 && deletes.length === 0 && drops.length === 0) continue
    lines.push(`*${table}`)
    for (const { chain } of chains) lines.push(`:${chain} - [0:0]`)
    for (const r of deletes) lines.push(`-D ${r.chain} ${r.spec}`)
    for (const { chain } of drops) lines.push(`-F ${chain}`)
    for (const { chain } of drops) lines.push(`-X ${chain}`)
    for (const op of ops) lines.push(op.op === 'append' ? `-A ${op.chain} ${op.spec}` : `-I ${op.chain} 1 ${op.spec}`)
    lines.push('COMMIT')
  }
  return lines.join('\n') + '\n'
}

/** The save and restore commands of a family: `iptables-legacy` → `ip6tables-legacy-save` for IPv6, and so on. */
export function commandsFor (family: Family, binary: IptablesBinary = 'iptables'): { save: string, restore: string } {
  const base = family === 'ipv4' ? binary : binary.replace(/^iptables/, 'ip6tables')
  return { save: `${base}-save`, restore: `${base}-restore` }
}

/** What `--dry-run` prints: each family's restore input under a comment naming the command. */
export function renderDryRun (rulesets: readonly Ruleset[], binary: IptablesBinary = 'iptables'): string {
  return rulesets.map(r => `# ${r.family === 'ipv4' ? 'IPv4' : 'IPv6'}: ${commandsFor(r.family, binary).restore} --noflush\n${renderRestore(r)}`).join('')
}

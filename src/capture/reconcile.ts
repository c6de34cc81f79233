// Idempotency: compares the rules we want with what `iptables-save` lists and decides what to apply.
// - none of our rules there → apply the rules (`absent`);
// - our chains and our rules in the built-in chains are exactly the wanted ones → nothing (`in-sync`);
// - anything else (a different config, a half-applied run) → one iptables-restore that deletes our rules
//   from the built-in chains, flushes our chains (drops those no longer wanted) and writes the rules again
//   (`drift`). Rules of others in the built-in chains are left alone.
import type { RestoreCleanup, Ruleset, TableName } from './rules.js'
import { expectedChains, renderRestore } from './rules.js'

export type RestorePlan =
  | { readonly kind: 'in-sync', readonly ruleCount: number }
  | {
    readonly kind: 'apply'
    readonly reason: 'absent' | 'drift'
    /** Why the live rules differ, one line per chain (empty for `absent`). */
    readonly differences: readonly string[]
    readonly payload: string
    readonly ruleCount: number
  }

/** table → chain → rule specs (without `-A CHAIN`), in order; chains declared with no rules are present and empty. */
export type SavedRules = Map<string, Map<string, string[]>>

export function parseIptablesSave (text: string): SavedRules {
  const tables: SavedRules = new Map()
  let current: Map<string, string[]> | undefined
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#') || line === 'COMMIT') continue
    if (line.startsWith('*')) {
      current = tables.get(line.slice(1)) ?? new Map<string, string[]>()
      tables.set(line.slice(1), current)
    } else if (line.startsWith(':') && current !== undefined) {
      const name = line.slice(1).split(' ')[0] ?? ''
      if (!current.has(name)) current.set(name, [])
    } else if (line.startsWith('-A ') && current !== undefined) {
      const rest = line.slice(3)
      const space = rest.indexOf(' ')
      const chain = space < 0 ? rest : rest.slice(0, space)
      const rules = current.get(chain) ?? []
      rules.push(space < 0 ? '' : rest.slice(space + 1))
      current.set(chain, rules)
    }
  }
  return tables
}

const ourTables: readonly TableName[] = ['nat', 'mangle', 'raw']
const builtinChains = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'])

function isOurChain (chain: string): boolean {
  return chain.startsWith('ISTIO_')
}

/**
 * Whether a rule in a built-in chain is ours: a jump to an ISTIO_ chain, or (once our chains exist in the
 * table) a per-interface RETURN that -c/-k write into nat PREROUTING/OUTPUT.
 */
function isOurBuiltinRule (table: string, chain: string, spec: string, tableHasOurChains: boolean): boolean {
  if (/(^| )-j ISTIO_\S+$/.test(spec)) return true
  if (!tableHasOurChains || table !== 'nat') return false
  return (chain === 'PREROUTING' && /^-i \S+ -j RETURN$/.test(spec)) || (chain === 'OUTPUT' && /^-o \S+ -j RETURN$/.test(spec))
}

function sameRules (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((rule, i) => rule === b[i])
}

export function planRestore (ruleset: Ruleset, saveText: string): RestorePlan {
  const expected = expectedChains(ruleset)
  const live = parseIptablesSave(saveText)
  const ruleCount = ruleset.ops.length
  const differences: string[] = []
  const deleteRules: Array<RestoreCleanup['deleteRules'][number]> = []
  const dropChains: Array<RestoreCleanup['dropChains'][number]> = []
  let residue = false

  for (const table of ourTables) {
    const want = expected.get(table) ?? new Map<string, string[]>()
    const have = live.get(table) ?? new Map<string, string[]>()
    const haveOurs = [...have.keys()].some(isOurChain)
    if (haveOurs) residue = true

    for (const [chain, rules] of have) {
      if (isOurChain(chain)) {
        const wanted = want.get(chain)
        if (wanted === undefined) {
          differences.push(`${table} ${chain}: present but not wanted`)
          dropChains.push({ table, chain })
        } else if (!sameRules(rules, wanted)) {
          differences.push(`${table} ${chain}: ${rules.length} rules differ from the ${wanted.length} wanted`)
        }
      } else if (builtinChains.has(chain)) {
        const ours = rules.filter(spec => isOurBuiltinRule(table, chain, spec, haveOurs))
        if (ours.length > 0) residue = true
        for (const spec of ours) deleteRules.push({ table, chain, spec })
        const wanted = want.get(chain) ?? []
        if (!sameRules(ours, wanted)) {
          differences.push(`${table} ${chain}: our ${ours.length} rules differ from the ${wanted.length} wanted`)
        }
      }
    }
    for (const [chain, wanted] of want) {
      if (have.has(chain)) continue
      if (isOurChain(chain)) differences.push(`${table} ${chain}: missing`)
      else if (wanted.length > 0) differences.push(`${table} ${chain}: our ${wanted.length} rules missing`)
    }
  }

  if (differences.length === 0) return { kind: 'in-sync', ruleCount }
  if (!residue) return { kind: 'apply', reason: 'absent', differences: [], payload: renderRestore(ruleset), ruleCount }
  return { kind: 'apply', reason: 'drift', differences, payload: renderRestore(ruleset, { deleteRules, dropChains }), ruleCount }
}

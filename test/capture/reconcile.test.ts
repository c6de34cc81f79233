// The drift check against real iptables-save output: the fixtures under
// test/fixtures/capture/iptables-save/ were listed by iptables-save 1.8.9 (nf_tables) in a network
// namespace after `sidecar-injector capture` (or iptables-restore of a golden, for dns-sidecar) applied
// the rules; the legacy backend lists them the same.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseCaptureOptions } from '../../src/capture/options.js'
import { parseIptablesSave, planRestore } from '../../src/capture/reconcile.js'
import { buildRuleset, renderRestore } from '../../src/capture/rules.js'
import type { Ruleset } from '../../src/capture/rules.js'
import { sidecarArgs } from './golden-cases.js'

const saved = (name: string): string => readFileSync(fileURLToPath(new URL(`../fixtures/capture/iptables-save/${name}.save`, import.meta.url)), 'utf8')

function rulesetOf (args: readonly string[]): Ruleset {
  const parsed = parseCaptureOptions(args, {})
  if (!parsed.ok) throw new Error(parsed.problems[0]?.message)
  return buildRuleset(parsed.options, 'ipv4')
}

const sidecar = rulesetOf(sidecarArgs)

t.test('parseIptablesSave keeps chains, declared-but-empty chains and rule order', async t => {
  const tables = parseIptablesSave(saved('drifted'))
  t.same([...tables.keys()], ['mangle', 'nat'])
  t.same(tables.get('mangle')?.get('ISTIO_DROP'), ['-j DROP'])
  t.same(tables.get('nat')?.get('INPUT'), [])
  t.same(tables.get('nat')?.get('PREROUTING'), ['-i eth7 -j RETURN', '-p tcp -j ISTIO_INBOUND'])
})

t.test('no rules at all (a fresh pod): apply the plain rules', async t => {
  const plan = planRestore(sidecar, '')
  t.equal(plan.kind, 'apply')
  if (plan.kind !== 'apply') return
  t.equal(plan.reason, 'absent')
  t.equal(plan.payload, renderRestore(sidecar))
  t.equal(plan.ruleCount, 18)
})

t.test('the rules as iptables-save lists them after our apply: in sync, nothing to do', async t => {
  t.same(planRestore(sidecar, saved('default-sidecar')), { kind: 'in-sync', ruleCount: 18 })
})

t.test('rules of others in the built-in chains do not matter', async t => {
  t.same(planRestore(sidecar, saved('default-sidecar-with-foreign-rules')), { kind: 'in-sync', ruleCount: 18 })
})

t.test('rules from another config: our rules are deleted, our chains flushed, unwanted chains dropped, others kept', async t => {
  const plan = planRestore(sidecar, saved('drifted'))
  t.equal(plan.kind, 'apply')
  if (plan.kind !== 'apply') return
  t.equal(plan.reason, 'drift')
  t.match(plan.differences.join('\n'), /mangle ISTIO_DROP: present but not wanted/)
  t.match(plan.differences.join('\n'), /nat ISTIO_OUTPUT: 10 rules differ from the 9 wanted/)
  const lines = plan.payload.split('\n')
  for (const line of ['-D PREROUTING -i eth7 -j RETURN', '-D PREROUTING -p tcp -j ISTIO_INBOUND', '-D OUTPUT -o eth7 -j RETURN', '-D OUTPUT -j ISTIO_OUTPUT',
    '-D PREROUTING -m conntrack --ctstate INVALID -j ISTIO_DROP', '-F ISTIO_DROP', '-X ISTIO_DROP', ':ISTIO_OUTPUT - [0:0]', '-A OUTPUT -j ISTIO_OUTPUT']) {
    t.ok(lines.includes(line), line)
  }
  // Deletions come before the rules are written again, in each table.
  t.ok(lines.indexOf('-D OUTPUT -j ISTIO_OUTPUT') < lines.indexOf('-A OUTPUT -j ISTIO_OUTPUT'))
})

t.test('a duplicated jump (e.g. a half-applied earlier run) is drift, and both copies are deleted', async t => {
  const doubled = saved('default-sidecar').replace('-A OUTPUT -j ISTIO_OUTPUT\n', '-A OUTPUT -j ISTIO_OUTPUT\n-A OUTPUT -j ISTIO_OUTPUT\n')
  const plan = planRestore(sidecar, doubled)
  t.equal(plan.kind, 'apply')
  if (plan.kind !== 'apply') return
  t.equal(plan.reason, 'drift')
  t.equal(plan.payload.split('\n').filter(l => l === '-D OUTPUT -j ISTIO_OUTPUT').length, 2)
})

t.test('a missing rule in our chain is drift', async t => {
  const plan = planRestore(sidecar, saved('default-sidecar').replace('-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n', ''))
  t.equal(plan.kind === 'apply' ? plan.reason : plan.kind, 'drift')
})

t.test('DNS capture turned off: the raw table jumps and chains go, the nat DNS chain too', async t => {
  const plan = planRestore(sidecar, saved('dns-sidecar'))
  t.equal(plan.kind === 'apply' ? plan.reason : plan.kind, 'drift')
  if (plan.kind !== 'apply') return
  const raw = plan.payload.slice(plan.payload.indexOf('*raw'))
  t.equal(raw, '*raw\n-D PREROUTING -j ISTIO_INBOUND\n-D OUTPUT -j ISTIO_OUTPUT_DNS\n-F ISTIO_INBOUND\n-F ISTIO_OUTPUT_DNS\n-X ISTIO_INBOUND\n-X ISTIO_OUTPUT_DNS\nCOMMIT\n')
  t.match(plan.payload, /^-F ISTIO_OUTPUT_DNS\n-X ISTIO_OUTPUT_DNS\n-A ISTIO_INBOUND/m, 'nat ISTIO_OUTPUT_DNS dropped before the rules are written')
})

t.test('DNS capture as applied: in sync', async t => {
  const parsed = parseCaptureOptions(sidecarArgs, { ISTIO_META_DNS_CAPTURE: 'true' })
  if (!parsed.ok) throw new Error('options')
  const dns = buildRuleset(parsed.options, 'ipv4', [{ family: 'ipv4', address: '10.96.0.10' }])
  t.same(planRestore(dns, saved('dns-sidecar')), { kind: 'in-sync', ruleCount: 29 })
})

t.test('interface RETURNs count as ours only once our chains exist in the table', async t => {
  const foreignOnly = '*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -i eth9 -j RETURN\nCOMMIT\n'
  const plan = planRestore(sidecar, foreignOnly)
  t.equal(plan.kind === 'apply' ? plan.reason : plan.kind, 'absent')
  t.notMatch(plan.kind === 'apply' ? plan.payload : '', /-D PREROUTING/)
})

// Golden files: the iptables-restore input for the injector's default flags and for each option.
// The goldens under test/fixtures/capture/ were checked by hand against istio-iptables' rule order
// (docs/capture.md); regenerate with CAPTURE_GOLDEN_UPDATE=1 and review the diff.
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { goldenCases, optionsOf, rulesetsOf, sidecarArgs } from './golden-cases.js'
import { buildRuleset, detectIpv6, expectedChains, renderDryRun } from '../../src/capture/rules.js'

const fixtures = fileURLToPath(new URL('../fixtures/capture/', import.meta.url))
const update = process.env.CAPTURE_GOLDEN_UPDATE === '1'

function render (args: readonly string[], env: Record<string, string> = {}): string {
  return renderDryRun(rulesetsOf({ name: '', args, env, why: '' }).rulesets)
}

for (const c of goldenCases) {
  t.test(`golden ${c.name}: ${c.why}`, async t => {
    const actual = renderDryRun(rulesetsOf(c).rulesets)
    const file = `${fixtures}${c.name}.rules`
    if (update) writeFileSync(file, actual)
    t.equal(actual, readFileSync(file, 'utf8'), `${c.name}.rules`)
  })
}

t.test('the env forms give the same rules as the flags; a flag wins over its env var', async t => {
  const env = {
    ENVOY_PORT: '15001',
    INBOUND_CAPTURE_PORT: '15006',
    PROXY_UID: '1337',
    ISTIO_INBOUND_INTERCEPTION_MODE: 'REDIRECT',
    ISTIO_SERVICE_CIDR: '*',
    ISTIO_SERVICE_EXCLUDE_CIDR: '',
    ISTIO_INBOUND_PORTS: '*',
    ISTIO_LOCAL_EXCLUDE_PORTS: '15090,15021,15020'
  }
  t.equal(render([], env), readFileSync(`${fixtures}default-sidecar.rules`, 'utf8'))
  t.equal(render(['-p', '15001'], { ...env, ENVOY_PORT: '9999' }), readFileSync(`${fixtures}default-sidecar.rules`, 'utf8'))
  t.match(render([], { ...env, ENVOY_PORT: '9999' }), /--to-ports 9999\n/)
})

t.test('the rules stay in Istio\'s order: the redirect is last, localhost RETURN before it', async t => {
  const chains = expectedChains(buildRuleset(optionsOf(sidecarArgs), 'ipv4'))
  const output = chains.get('nat')?.get('ISTIO_OUTPUT') ?? []
  t.equal(output.at(-1), '-j ISTIO_REDIRECT')
  t.equal(output.at(-2), '-d 127.0.0.1/32 -j RETURN')
  t.equal(output[0], '-s 127.0.0.6/32 -o lo -j RETURN')
  t.same(chains.get('nat')?.get('PREROUTING'), ['-p tcp -j ISTIO_INBOUND'])
  t.same(chains.get('nat')?.get('OUTPUT'), ['-j ISTIO_OUTPUT'])
})

t.test('IPv6 detection follows the pod\'s first non-loopback, non-link-local address', async t => {
  const lo = { address: '127.0.0.1', family: 'IPv4', internal: true }
  const lo6 = { address: '::1', family: 'IPv6', internal: true }
  const ll = { address: 'fe80::1', family: 'IPv6', internal: false }
  t.equal(detectIpv6([lo, lo6, ll, { address: '10.1.0.5', family: 'IPv4', internal: false }, { address: 'fd00::5', family: 'IPv6', internal: false }]), false)
  t.equal(detectIpv6([lo, ll, { address: 'fd00::5', family: 'IPv6', internal: false }, { address: '10.1.0.5', family: 'IPv4', internal: false }]), true)
  t.equal(detectIpv6([{ address: '169.254.1.1', family: 'IPv4', internal: false }, { address: '2001:db8::1', family: 6, internal: false }]), true)
  t.equal(detectIpv6([lo, lo6]), false)
})

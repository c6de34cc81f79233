// The capture adapter with a fake iptables (a parameter, as every fake here): what it runs, in which
// order, and what it says when iptables is missing or refuses. The real iptables is in test/capture/netns.test.ts.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import type { CaptureDeps, ExecResult, InterfaceAddress } from '../../src/cli/capture.js'
import { runCapture } from '../../src/cli/capture.js'
import type { CliIo } from '../../src/cli/io.js'
import { UsageError } from '../../src/cli/io.js'
import { sidecarArgs } from '../capture/golden-cases.js'

const fixture = (path: string): string => readFileSync(fileURLToPath(new URL(`../fixtures/capture/${path}`, import.meta.url)), 'utf8')

interface Call { command: string, args: readonly string[], stdin: string | undefined }

function harness (answer: (call: Call, calls: readonly Call[]) => ExecResult, addresses: InterfaceAddress[] = [{ name: 'eth0', address: '10.1.0.5', family: 'IPv4', internal: false }], resolvConf?: string) {
  const calls: Call[] = []
  let stdout = ''
  let stderr = ''
  const io: CliIo = {
    stdout: text => { stdout += text },
    stderr: text => { stderr += text },
    env: {},
    stdin: Readable.from([]),
    cwd: '/'
  }
  const deps: CaptureDeps = {
    exec: async (command, args, stdin) => {
      const call = { command, args, stdin }
      calls.push(call)
      return answer(call, calls)
    },
    interfaces: () => addresses,
    resolvConf: () => resolvConf,
    groupFile: () => 'root:x:0:\nftp:x:50:\n'
  }
  return { io, deps, calls, out: () => stdout, err: () => stderr }
}

const exited = (code: number, stdout = '', stderr = ''): ExecResult => ({ status: 'exited', code, stdout, stderr })

t.test('dry-run prints the rules and runs nothing', async t => {
  const h = harness(() => { throw new Error('nothing may run') })
  t.equal(await runCapture([...sidecarArgs, '--dry-run'], h.io, h.deps), 0)
  t.equal(h.out(), fixture('default-sidecar.rules'))
  t.same(h.calls, [])
  const short = harness(() => { throw new Error('nothing may run') })
  t.equal(await runCapture([...sidecarArgs, '-n'], short.io, short.deps), 0)
  t.equal(short.out(), fixture('default-sidecar.rules'))
})

t.test('a fresh pod: save, one restore --noflush with the rules on stdin, save again to verify', async t => {
  let saves = 0
  const h = harness(call => {
    if (call.command === 'iptables-save') return exited(0, saves++ === 0 ? '' : fixture('iptables-save/default-sidecar.save'))
    return exited(0)
  })
  t.equal(await runCapture(sidecarArgs, h.io, h.deps), 0)
  t.same(h.calls.map(c => [c.command, ...c.args]), [['iptables-save'], ['iptables-restore', '--noflush'], ['iptables-save']])
  t.equal(h.calls[1]?.stdin, fixture('default-sidecar.rules').replace(/^#.*\n/, ''))
  t.match(h.out(), /IPv4: applied 18 rules with iptables-restore/)
  t.equal(h.err(), '')
})

t.test('a re-run with the rules in place changes nothing', async t => {
  const h = harness(() => exited(0, fixture('iptables-save/default-sidecar.save')))
  t.equal(await runCapture(sidecarArgs, h.io, h.deps), 0)
  t.same(h.calls.map(c => c.command), ['iptables-save'])
  t.match(h.out(), /IPv4: the 18 rules are already in place; nothing to do/)
})

t.test('drift: replaced in one restore, the differences logged', async t => {
  let saves = 0
  const h = harness(call => call.command === 'iptables-save'
    ? exited(0, saves++ === 0 ? fixture('iptables-save/drifted.save') : fixture('iptables-save/default-sidecar.save'))
    : exited(0))
  t.equal(await runCapture(sidecarArgs, h.io, h.deps), 0)
  t.equal(h.calls.filter(c => c.command === 'iptables-restore').length, 1)
  t.match(h.calls[1]?.stdin, /^-D OUTPUT -j ISTIO_OUTPUT$/m)
  t.match(h.out(), /existing rules differ \(.*mangle ISTIO_DROP: present but not wanted.*\); replacing them/)
})

t.test('iptables missing: exit 1 with what to install', async t => {
  const h = harness(() => ({ status: 'not-found' }))
  t.equal(await runCapture(sidecarArgs, h.io, h.deps), 1)
  t.match(h.err(), /^capture: iptables-missing: iptables-save not found on PATH; the init image needs the iptables package/)
})

t.test('iptables refuses a rule: exit 1 with its stderr and the input', async t => {
  const h = harness(call => call.command === 'iptables-save'
    ? exited(0, '')
    : exited(2, '', 'iptables-restore v1.8.9 (nf_tables): Couldn\'t load match `owner\':No such file or directory\nError occurred at line: 16\n'))
  t.equal(await runCapture(sidecarArgs, h.io, h.deps), 1)
  t.match(h.err(), /capture: iptables-refused: iptables-restore --noflush exited with 2: iptables-restore v1.8.9 \(nf_tables\): Couldn't load match `owner'/)
  t.match(h.err(), /Error occurred at line: 16/)
  t.match(h.err(), /--- input ---\n\*nat\n/)
})

t.test('iptables-save failing (e.g. no NET_ADMIN) is reported, nothing applied', async t => {
  const h = harness(() => exited(4, '', 'iptables-save v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)\n'))
  t.equal(await runCapture(sidecarArgs, h.io, h.deps), 1)
  t.match(h.err(), /iptables-save-failed: iptables-save exited with 4: .*Permission denied/)
  t.same(h.calls.map(c => c.command), ['iptables-save'])
})

t.test('rules listed back differently: a warning, still exit 0', async t => {
  const h = harness(() => exited(0, ''))
  t.equal(await runCapture(sidecarArgs, h.io, h.deps), 0)
  t.match(h.err(), /capture: IPv4: applied 18 rules, but iptables-save lists them differently/)
})

t.test('an IPv6 pod: ::6 on lo, then IPv4 and IPv6 rules', async t => {
  const h = harness(call => exited(0, ''), [
    { name: 'lo', address: '::1', family: 'IPv6', internal: true },
    { name: 'eth0', address: 'fd00::5', family: 'IPv6', internal: false }
  ])
  t.equal(await runCapture([...sidecarArgs, '--log_output_level=default:error'], h.io, h.deps), 0)
  t.same(h.calls.map(c => [c.command, ...c.args]), [
    ['iptables-save'], ['iptables-restore', '--noflush'], ['iptables-save'],
    ['ip', '-6', 'addr', 'add', '::6/128', 'dev', 'lo'],
    ['ip6tables-save'], ['ip6tables-restore', '--noflush'], ['ip6tables-save']
  ])
  t.match(h.calls[5]?.stdin, /-A ISTIO_OUTPUT -s ::6\/128 -o lo -j RETURN/)
  t.equal(h.out(), '', 'error level: no info lines')
  t.equal(h.err(), '', 'error level: warnings hidden too')
})

t.test('log levels: debug prints the input, warn hides the info lines', async t => {
  const debug = harness(call => exited(0, call.command === 'iptables-save' && debug.calls.length > 1 ? fixture('iptables-save/default-sidecar.save') : ''))
  t.equal(await runCapture([...sidecarArgs, '--log_output_level=default:debug'], debug.io, debug.deps), 0)
  t.match(debug.out(), /IPv4: iptables-restore --noflush <<EOF\n\*nat\n/)
  const quiet = harness(() => exited(0, fixture('iptables-save/default-sidecar.save')))
  t.equal(await runCapture([...sidecarArgs, '--log_output_level=default:warn'], quiet.io, quiet.deps), 0)
  t.equal(quiet.out(), '')
})

t.test('bad flags are a usage error naming every problem with its code; TPROXY is refused', async t => {
  const h = harness(() => { throw new Error('nothing may run') })
  await t.rejects(runCapture(['-p', '99999', '-x', '*'], h.io, h.deps), new UsageError("invalid-port: -p/--envoy-port: '99999' is not a port (1-65535)\nwildcard-not-allowed: -x/--istio-service-exclude-cidr: '*' is not allowed in an exclude list, got '*'"))
  await t.rejects(runCapture([...sidecarArgs.slice(0, 6), '-m', 'TPROXY'], h.io, h.deps), { name: 'UsageError', message: /^tproxy-unsupported: -m\/--istio-inbound-interception-mode: TPROXY interception is not supported/ })
  t.same(h.calls, [])
})

t.test('DNS capture reads resolv.conf; no nameserver there is a warning, not a failure', async t => {
  const h = harness(() => { throw new Error('nothing may run') }, undefined, 'nameserver 10.96.0.10\n')
  t.equal(await runCapture([...sidecarArgs, '-n'], { ...h.io, env: { ISTIO_META_DNS_CAPTURE: 'true' } }, h.deps), 0)
  t.match(h.out(), /^-A ISTIO_OUTPUT_DNS -d 10.96.0.10\/32 -p udp -m udp --dport 53 -j REDIRECT --to-ports 15053$/m)
  const none = harness(() => { throw new Error('nothing may run') }, undefined, undefined)
  t.equal(await runCapture([...sidecarArgs, '-n', '--redirect-dns'], none.io, none.deps), 0)
  t.match(none.err(), /capture: IPv4: DNS capture is on but \/etc\/resolv.conf names no IPv4 nameserver; no DNS is redirected/)
  t.notMatch(none.out(), /ISTIO_OUTPUT_DNS/)
})

t.test('an unknown log level is a warning, the rules are still applied', async t => {
  const h = harness(() => exited(0, fixture('iptables-save/default-sidecar.save')))
  t.equal(await runCapture([...sidecarArgs, '--log_output_level=default:loud'], h.io, h.deps), 0)
  t.match(h.err(), /capture: invalid-log-level: --log_output_level: 'default:loud' is not a list of scope:level .*; using info/)
  t.match(h.out(), /already in place/)
})

t.test('--force-iptables-binary iptables-legacy: the legacy commands for both families', async t => {
  const h = harness(() => exited(0, ''), [{ name: 'eth0', address: 'fd00::5', family: 'IPv6', internal: false }, { name: 'lo', address: '::6', family: 'IPv6', internal: true }])
  t.equal(await runCapture([...sidecarArgs, '--force-iptables-binary=iptables-legacy'], h.io, h.deps), 0)
  t.same([...new Set(h.calls.map(c => c.command))], ['iptables-legacy-save', 'iptables-legacy-restore', 'ip6tables-legacy-save', 'ip6tables-legacy-restore'], '::6 already on lo: no ip call')
  const dry = harness(() => { throw new Error('nothing may run') })
  t.equal(await runCapture([...sidecarArgs, '-n', '--force-iptables-binary', 'iptables-nft'], dry.io, dry.deps), 0)
  t.match(dry.out(), /^# IPv4: iptables-nft-restore --noflush$/m)
})

t.test('named owner groups are written as the gids /etc/group gives; unknown names are left to iptables', async t => {
  const h = harness(() => { throw new Error('nothing may run') })
  t.equal(await runCapture([...sidecarArgs, '-n'], { ...h.io, env: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: 'ftp,java,7' } }, h.deps), 0)
  t.match(h.out(), /^-A ISTIO_OUTPUT -m owner --gid-owner 50 -j RETURN\n-A ISTIO_OUTPUT -m owner --gid-owner java -j RETURN\n-A ISTIO_OUTPUT -m owner --gid-owner 7 -j RETURN$/m)
})

t.test('--help prints the flags', async t => {
  const h = harness(() => { throw new Error('nothing may run') })
  t.equal(await runCapture(['--help'], h.io, h.deps), 0)
  t.match(h.out(), /usage: sidecar-injector capture/)
  t.match(h.out(), /-x, --istio-service-exclude-cidr CIDRS/)
})

// The capture rules for real: two network namespaces made by this test (a "pod" and a "peer" joined by
// a veth pair, addresses from the TEST-NET ranges 192.0.2.0/24 and 198.51.100.0/24 that exist only
// inside them), `sidecar-injector capture` run inside the pod namespace with the real iptables-restore,
// and real TCP connections. Every listener answers with its own name, so each check reads which
// listener a connection reached. Needs root and iproute2; skips only where a namespace cannot be made.
import t from 'tap'
import { execFile, spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { planRestore } from '../../src/capture/reconcile.js'
import { goldenCases, rulesetsOf, sidecarArgs } from './golden-cases.js'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const id = `${process.pid % 100000}`
const pod = `sicap-pod-${id}`
const peer = `sicap-peer-${id}`
const scratch = `sicap-scratch-${id}`
/** An IPv6-only pod and peer (documentation range 2001:db8::/32), for the auto-detected IPv6 rules. */
const pod6 = `sicap-pod6-${id}`
const peer6 = `sicap-peer6-${id}`
const pod6Ip = '2001:db8:5::2'
const peer6Ip = '2001:db8:5::1'
const podIp = '192.0.2.2'
const peerIp = '192.0.2.1'
/** A second network behind the peer, to exclude with -x. */
const peerFarIp = '198.51.100.1'
const stepTimeoutMs = 20_000

interface Run { code: number, stdout: string, stderr: string, timedOut: boolean }

// tap instruments child node processes through NODE_OPTIONS (process info written under .tap/), and
// puts it back into the env of whatever is spawned: the processes started here are not tests, and those
// running as uid 1337 could not write there, so `env -u` removes it right before node starts.
const plainNode = ['env', '-u', 'NODE_OPTIONS']

function run (command: string, args: readonly string[], timeout = stepTimeoutMs): Promise<Run> {
  return new Promise(resolve => {
    execFile(command, args, { cwd: repo, timeout, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr: err !== null && typeof err.code !== 'number' ? `${stderr}${err.message}` : stderr, timedOut: err?.killed === true })
    })
  })
}

async function must (command: string, ...args: string[]): Promise<string> {
  const r = await run(command, args)
  if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

/** Why the test cannot run here, or undefined. Only a namespace that cannot be made is a reason. */
function cannotRun (): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root (run as root, as CI does)'
  const probe = spawnSync('ip', ['netns', 'add', `sicap-probe-${id}`], { encoding: 'utf8', timeout: 10_000 })
  if (probe.error !== undefined) return `ip (iproute2) is not installed: ${probe.error.message}`
  if (probe.status !== 0) return `cannot create a network namespace: ${probe.stderr.trim()}`
  spawnSync('ip', ['netns', 'del', `sicap-probe-${id}`], { timeout: 10_000 })
  return undefined
}

// A tiny peer program, run with `node -e` inside a namespace (no file to read, so it also runs as uid 1337):
//   serve [udp:]name@host:port[>uhost:uport] ...   answer each TCP connection / UDP datagram with the
//       listener's name; with `>`, a UDP listener first asks uhost:uport and answers `name>its answer`
//       (a DNS agent relaying upstream); prints "ready"
//   agent   for each "tcp|udp host port" line on stdin, connect or send and print the first line
//           answered, or error:CODE / timeout (one process per namespace and uid)
const peerProgram = `
const net = require('node:net')
const dgram = require('node:dgram')
const [mode, ...rest] = process.argv.slice(1)
const split = address => { const i = address.lastIndexOf(':'); return [address.slice(0, i), Number(address.slice(i + 1))] }
const ask = (host, port) => new Promise(resolve => {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  const timer = setTimeout(() => { socket.close(); resolve('timeout') }, 3000)
  socket.on('message', msg => { clearTimeout(timer); socket.close(); resolve(msg.toString().split('\\n')[0]) })
  socket.on('error', err => { clearTimeout(timer); socket.close(); resolve('error:' + err.code) })
  socket.send('query', port, host)
})
if (mode === 'serve') {
  let pending = rest.length
  const ready = () => { if (--pending === 0) console.log('ready') }
  for (const spec of rest) {
    const udp = spec.startsWith('udp:')
    const [name, target] = (udp ? spec.slice(4) : spec).split('@')
    const [address, upstream] = target.split('>')
    const [host, port] = split(address)
    const fail = err => { console.log('listen-error ' + spec + ' ' + err.code); process.exit(1) }
    if (udp) {
      const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
      socket.on('error', fail)
      socket.on('message', async (msg, from) => {
        const answer = upstream === undefined ? name : name + '>' + await ask(...split(upstream))
        socket.send(answer + '\\n', from.port, from.address)
      })
      socket.bind(port, host, ready)
    } else {
      const server = net.createServer(socket => { socket.on('error', () => {}); socket.end(name + '\\n') })
      server.on('error', fail)
      server.listen({ host, port }, ready)
    }
  }
} else {
  const connect = (host, port) => new Promise(resolve => {
    let data = ''
    const socket = net.connect({ host, port })
    const timer = setTimeout(() => { socket.destroy(); resolve('timeout') }, 3000)
    socket.setEncoding('utf8')
    socket.on('data', chunk => { data += chunk })
    socket.on('end', () => { clearTimeout(timer); resolve(data.split('\\n')[0]) })
    socket.on('error', err => { clearTimeout(timer); resolve('error:' + err.code) })
  })
  let queue = Promise.resolve()
  require('node:readline').createInterface({ input: process.stdin }).on('line', line => {
    const [proto, host, port] = line.split(' ')
    queue = queue.then(() => proto === 'udp' ? ask(host, Number(port)) : connect(host, Number(port))).then(answer => { process.stdout.write(answer + '\\n') })
  })
  console.log('ready')
}
setTimeout(() => process.exit(0), 300000).unref()
process.on('SIGTERM', () => process.exit(0))
`

const servers: ChildProcess[] = []

function serve (ns: string, listeners: readonly string[], uid?: number): Promise<void> {
  const asUser = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups']
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, ...plainNode, ...asUser, process.execPath, '-e', peerProgram, 'serve', ...listeners], { stdio: ['ignore', 'pipe', 'inherit'] })
    servers.push(child)
    const timer = setTimeout(() => { reject(new Error(`listeners in ${ns} not ready in time`)) }, stepTimeoutMs)
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      if (out.includes('ready')) { clearTimeout(timer); resolve() }
      if (out.includes('listen-error')) { clearTimeout(timer); reject(new Error(out)) }
    })
    child.on('exit', code => { clearTimeout(timer); reject(new Error(`listeners in ${ns} exited with ${code}: ${out}`)) })
  })
}

interface Agent { readonly child: ChildProcess, readonly answers: string[], readonly waiting: Array<(line: string) => void> }
const agents = new Map<string, Promise<Agent>>()

function startAgent (ns: string, uid: number | undefined): Promise<Agent> {
  const asUser = uid === undefined ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups']
  const child = spawn('ip', ['netns', 'exec', ns, ...plainNode, ...asUser, process.execPath, '-e', peerProgram, 'agent'], { stdio: ['pipe', 'pipe', 'inherit'] })
  servers.push(child)
  const agent: Agent = { child, answers: [], waiting: [] }
  let buffered = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk
    let newline
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline)
      buffered = buffered.slice(newline + 1)
      const waiter = agent.waiting.shift()
      if (waiter === undefined) agent.answers.push(line)
      else waiter(line)
    }
  })
  return nextLine(agent).then(line => {
    if (line !== 'ready') throw new Error(`client agent in ${ns} (uid ${uid ?? 0}) said ${line}`)
    return agent
  })
}

function nextLine (agent: Agent): Promise<string> {
  const ready = agent.answers.shift()
  if (ready !== undefined) return Promise.resolve(ready)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('client agent did not answer in time')) }, stepTimeoutMs)
    agent.waiting.push(line => { clearTimeout(timer); resolve(line) })
  })
}

/** Connects from inside `ns`, as root or as another uid, and returns the name of the listener reached. */
async function reach (ns: string, host: string, port: number, uid?: number, proto: 'tcp' | 'udp' = 'tcp'): Promise<string> {
  const key = `${ns}/${uid ?? 0}`
  let agent = agents.get(key)
  if (agent === undefined) {
    agent = startAgent(ns, uid)
    agents.set(key, agent)
  }
  const a = await agent
  a.child.stdin?.write(`${proto} ${host} ${port}\n`)
  return await nextLine(a)
}

/**
 * The CLI's sources transpiled once to plain JavaScript, as the build does, so that each run inside the
 * namespace starts in milliseconds rather than going through the TypeScript loader. They go under
 * node_modules/.cache so that the dispatcher's imports of dependencies resolve as in dist/.
 */
const built = join(repo, 'node_modules', '.cache', `sicap-cli-${id}`)

function buildCli (): void {
  const sources = readdirSync(join(repo, 'src'), { recursive: true, encoding: 'utf8' }).filter(f => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  for (const source of sources) {
    const out = ts.transpileModule(readFileSync(join(repo, 'src', source), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } })
    mkdirSync(dirname(join(built, 'src', source)), { recursive: true })
    writeFileSync(join(built, 'src', source.replace(/\.ts$/, '.js')), out.outputText)
  }
  writeFileSync(join(built, 'package.json'), '{"type":"module"}\n')
}

/** `sidecar-injector capture` itself (src/cli.ts, transpiled), run inside the pod namespace. */
async function capture (args: readonly string[], env: readonly string[] = [], ns = pod): Promise<Run & { ms: number }> {
  const started = process.hrtime.bigint()
  const r = await run('ip', ['netns', 'exec', ns, ...plainNode, ...env, process.execPath, join(built, 'src/cli.js'), 'capture', ...args], 60_000)
  return { ...r, ms: Number((process.hrtime.bigint() - started) / 1_000_000n) }
}

/** iptables-save without its comment lines (which carry timestamps). */
async function rulesIn (ns: string, save = 'iptables-save'): Promise<string> {
  const text = await must('ip', 'netns', 'exec', ns, save)
  return text.split('\n').filter(line => !line.startsWith('#')).join('\n')
}

const count = (text: string, line: string): number => text.split('\n').filter(l => l === line).length

// Two namespaces, 20-odd node processes and ~25 real connections: more than tap's 30 s default on a busy machine.
t.setTimeout(180_000)

const reason = cannotRun()
if (reason !== undefined) {
  t.comment(`netns capture test skipped: ${reason}`)
  t.plan(0, `skipped: ${reason}`)
} else {
  t.teardown(async () => {
    for (const child of servers) child.kill('SIGTERM')
    for (const ns of [pod, peer, scratch, pod6, peer6]) await run('ip', ['netns', 'del', ns])
    rmSync(`/etc/netns/${pod}`, { recursive: true, force: true })
    rmSync(built, { recursive: true, force: true })
  })

  t.test('iptables is installed (CI installs it in .ci/run)', async t => {
    const version = await run('iptables', ['--version'])
    t.equal(version.code, 0, `iptables --version: ${version.stdout.trim()}${version.stderr.trim()}`)
    t.comment(`backend: ${version.stdout.trim()}`)
  })

  t.test('two namespaces joined by a veth pair, listeners answering with their names', async t => {
    buildCli()
    // Names carry this process's pid; a run killed before its teardown may have left them behind.
    for (const ns of [pod, peer, scratch, pod6, peer6]) await run('ip', ['netns', 'del', ns])
    await must('ip', 'netns', 'add', pod)
    await must('ip', 'netns', 'add', peer)
    await must('ip', 'link', 'add', `sicp${id}`, 'type', 'veth', 'peer', 'name', `sicq${id}`)
    await must('ip', 'link', 'set', `sicp${id}`, 'netns', pod)
    await must('ip', 'link', 'set', `sicq${id}`, 'netns', peer)
    await must('ip', '-n', pod, 'link', 'set', `sicp${id}`, 'name', 'eth0')
    await must('ip', '-n', peer, 'link', 'set', `sicq${id}`, 'name', 'eth0')
    for (const ns of [pod, peer]) {
      await must('ip', '-n', ns, 'link', 'set', 'lo', 'up')
      await must('ip', '-n', ns, 'link', 'set', 'eth0', 'up')
    }
    await must('ip', '-n', pod, 'addr', 'add', `${podIp}/24`, 'dev', 'eth0')
    await must('ip', '-n', pod, 'route', 'add', '198.51.100.0/24', 'via', peerIp)
    await must('ip', '-n', peer, 'addr', 'add', `${peerIp}/24`, 'dev', 'eth0')
    await must('ip', '-n', peer, 'addr', 'add', `${peerFarIp}/24`, 'dev', 'eth0')
    // The pod: the proxy's two listeners, the app, and a port the injector excludes from inbound capture.
    await serve(pod, ['outbound@0.0.0.0:15001', 'inbound@0.0.0.0:15006', 'pod-app@0.0.0.0:8080', 'pod-15021@0.0.0.0:15021'])
    await serve(peer, [`peer@${peerIp}:8080`, `peer-far@${peerFarIp}:8080`, `peer-9999@${peerIp}:9999`])
    t.equal(await reach(pod, peerIp, 8080), 'peer', 'before capture: pod → peer reaches the peer')
    t.equal(await reach(pod, peerFarIp, 8080), 'peer-far', 'before capture: pod → the far network reaches it')
    t.equal(await reach(peer, podIp, 8080), 'pod-app', 'before capture: peer → pod reaches the app')
    t.equal(await rulesIn(pod), '', 'before capture: no rules in the pod namespace')
  })

  t.test('the injector\'s default args, applied by `sidecar-injector capture`', async t => {
    const first = await capture([...sidecarArgs, '--log_output_level=default:info'])
    t.equal(first.code, 0, first.stderr)
    t.match(first.stdout, /IPv4: applied 18 rules with iptables-restore/)
    t.equal(first.stderr, '', 'no warning: iptables-save lists the rules exactly as written')
    t.comment(`apply: ${first.ms} ms (node start included)`)

    t.equal(await reach(pod, peerIp, 8080), 'outbound', '(a) app → peer:8080 is redirected to the outbound listener 15001')
    t.equal(await reach(pod, peerFarIp, 8080), 'outbound', '(a) app → 198.51.100.1:8080 as well (-i *)')
    t.equal(await reach(pod, peerIp, 9999), 'outbound', '(a) app → peer:9999 as well')
    t.equal(await reach(pod, peerIp, 8080, 1337), 'peer', '(b) the proxy uid 1337 → peer:8080 is not redirected')
    t.equal(await reach(pod, peerFarIp, 8080, 1337), 'peer-far', '(b) the proxy uid 1337 → 198.51.100.1:8080 is not redirected')
    t.equal(await reach(pod, peerIp, 8080, 1000), 'outbound', '(b) another non-root uid (1000) is redirected')
    t.equal(await reach(peer, podIp, 8080), 'inbound', '(c) peer → pod:8080 arrives at the inbound listener 15006')
    t.equal(await reach(peer, podIp, 9999), 'inbound', '(c) peer → pod:9999 (no listener there) arrives at 15006 too')
    t.equal(await reach(peer, podIp, 15021), 'pod-15021', '(c) peer → pod:15021 (-d excluded) reaches its own listener')
    t.equal(await reach(pod, '127.0.0.1', 8080), 'pod-app', '(e) app → 127.0.0.1:8080 is not captured')
    t.equal(await reach(pod, '127.0.0.1', 8080, 1337), 'pod-app', '(e) proxy → 127.0.0.1:8080 is not captured')
    t.equal(await reach(pod, podIp, 8080), 'pod-app', 'app → its own pod IP goes over lo and is not captured')
    t.equal(await reach(pod, podIp, 8080, 1337), 'inbound', 'proxy → its own pod IP goes through the inbound listener')
  })

  t.test('a re-run changes nothing: the rules are not duplicated', async t => {
    const before = await rulesIn(pod)
    const again = await capture([...sidecarArgs, '--log_output_level=default:info'])
    t.equal(again.code, 0, again.stderr)
    t.match(again.stdout, /IPv4: the 18 rules are already in place; nothing to do/)
    const after = await rulesIn(pod)
    t.equal(after, before, 'iptables-save is identical after the re-run')
    t.equal(count(after, '-A OUTPUT -j ISTIO_OUTPUT'), 1)
    t.equal(count(after, '-A PREROUTING -p tcp -j ISTIO_INBOUND'), 1)
    t.equal(after.split('\n').filter(l => l.startsWith('-A ')).length, 18, '18 rules in all')
    t.comment(`no-op re-run: ${again.ms} ms`)
  })

  const excluding = [...sidecarArgs.slice(0, 10), '-x', '198.51.100.0/24', ...sidecarArgs.slice(12), '-o', '9999']

  t.test('changed flags (-x, -o) replace the rules: excluded CIDRs and ports bypass capture', async t => {
    const r = await capture(excluding)
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /IPv4: existing rules differ \(nat ISTIO_OUTPUT: .*\); replacing them/)
    t.match(r.stdout, /IPv4: applied 21 rules/)
    t.equal(await reach(pod, peerFarIp, 8080), 'peer-far', '(d) app → 198.51.100.1:8080 (-x 198.51.100.0/24) bypasses capture')
    t.equal(await reach(pod, peerIp, 9999), 'peer-9999', '(d) app → peer:9999 (-o 9999) bypasses capture')
    t.equal(await reach(pod, peerIp, 8080), 'outbound', '(a) app → peer:8080 is still redirected')
    t.equal(await reach(peer, podIp, 8080), 'inbound', '(c) inbound capture unchanged')
    const rules = await rulesIn(pod)
    t.equal(count(rules, '-A OUTPUT -j ISTIO_OUTPUT'), 1, 'one OUTPUT jump')
    t.equal(count(rules, '-A PREROUTING -p tcp -j ISTIO_INBOUND'), 1, 'one PREROUTING jump')
    t.equal(count(rules, '-A ISTIO_OUTPUT -d 198.51.100.0/24 -j RETURN'), 1)
    t.equal(count(rules, '-A ISTIO_OUTPUT -p tcp -m tcp --dport 9999 -j RETURN'), 1)
    t.equal(rules.split('\n').filter(l => l.startsWith('-A ')).length, 21)
    const again = await capture(excluding)
    t.match(again.stdout, /IPv4: the 21 rules are already in place; nothing to do/)
    t.equal(await rulesIn(pod), rules, 'and a re-run of these flags changes nothing')
  })

  t.test('iptables refusing a rule: exit 1 with its message, the live rules untouched', async t => {
    const before = await rulesIn(pod)
    // A group unknown in the pod passes our validation; iptables itself refuses the owner match.
    const r = await capture(sidecarArgs, ['ISTIO_OUTBOUND_OWNER_GROUPS=sicap-no-such-group'])
    t.equal(r.code, 1)
    t.match(r.stderr, /^capture: iptables-refused: iptables-restore --noflush exited with \d+: .*sicap-no-such-group/m)
    t.match(r.stderr, /--- input ---/)
    t.equal(await rulesIn(pod), before, 'iptables-restore is all or nothing: the earlier rules are still there')
  })

  t.test('iptables missing from PATH: exit 1 naming the package', async t => {
    const r = await capture(sidecarArgs, ['PATH=/nonexistent'])
    t.equal(r.timedOut, false, 'it exits by itself (no timer left behind by the failed spawn)')
    t.equal(r.code, 1)
    t.match(r.stderr, /^capture: iptables-missing: iptables-save not found on PATH; the init image needs the iptables package/)
  })

  t.test('DNS capture (ISTIO_META_DNS_CAPTURE from proxyMetadata): the app\'s DNS reaches the agent on 15053', async t => {
    // `ip netns exec` shows /etc/netns/<name>/resolv.conf as /etc/resolv.conf to what it runs.
    mkdirSync(`/etc/netns/${pod}`, { recursive: true })
    writeFileSync(`/etc/netns/${pod}/resolv.conf`, `nameserver ${peerIp}\n`)
    // The agent runs as the proxy uid and relays each query upstream, as istio-agent does.
    await serve(pod, [`udp:dns-agent@0.0.0.0:15053>${peerIp}:53`, 'dns-agent-tcp@0.0.0.0:15053'], 1337)
    await serve(peer, [`udp:peer-dns@${peerIp}:53`, `peer-dns-tcp@${peerIp}:53`, `udp:peer-far-dns@${peerFarIp}:53`])
    t.equal(await reach(pod, peerIp, 53, undefined, 'udp'), 'peer-dns', 'before: app → nameserver UDP reaches it')

    const r = await capture(sidecarArgs, ['ISTIO_META_DNS_CAPTURE=true'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /IPv4: applied 29 rules with iptables-restore/)
    t.equal(r.stderr, '', 'no warning: the raw table rules are listed back as written too')
    t.equal(await reach(pod, peerIp, 53, undefined, 'udp'), 'dns-agent>peer-dns', 'app → nameserver UDP/53 goes to the agent, whose own query upstream is not captured')
    t.equal(await reach(pod, peerIp, 53), 'dns-agent-tcp', 'app → nameserver TCP/53 goes to the agent')
    t.equal(await reach(pod, peerIp, 53, 1337, 'udp'), 'peer-dns', 'the proxy uid → nameserver is not captured')
    t.equal(await reach(pod, peerFarIp, 53, undefined, 'udp'), 'peer-far-dns', 'UDP/53 to an address that is not a resolv.conf nameserver is not captured')
    t.equal(await reach(pod, peerIp, 8080), 'outbound', 'TCP capture unchanged')
    const rules = await rulesIn(pod)
    t.equal(count(rules, '-A OUTPUT -j ISTIO_OUTPUT_DNS'), 1, 'raw OUTPUT jump')
    t.equal(count(rules, `-A ISTIO_INBOUND -s ${peerIp}/32 -p udp -m udp --sport 53 -j CT --zone 1`), 1)
    const again = await capture(sidecarArgs, ['ISTIO_META_DNS_CAPTURE=true'])
    t.match(again.stdout, /IPv4: the 29 rules are already in place; nothing to do/)
    t.equal(await rulesIn(pod), rules)

    const off = await capture(sidecarArgs)
    t.match(off.stdout, /IPv4: existing rules differ .*raw ISTIO_OUTPUT_DNS: present but not wanted.*; replacing them/)
    t.match(off.stdout, /IPv4: applied 18 rules/)
    t.notMatch(await rulesIn(pod), /ISTIO_OUTPUT_DNS|CT --zone/, 'DNS capture turned off: its chains and jumps are gone')
    t.equal(await reach(pod, peerIp, 53, undefined, 'udp'), 'peer-dns', 'and DNS goes to the nameserver again')
  })

  t.test('an IPv6 pod: detected from its address, ip6tables rules and ::6 on lo, the same captures', async t => {
    await must('ip', 'netns', 'add', pod6)
    await must('ip', 'netns', 'add', peer6)
    await must('ip', 'link', 'add', `sicr${id}`, 'type', 'veth', 'peer', 'name', `sics${id}`)
    await must('ip', 'link', 'set', `sicr${id}`, 'netns', pod6)
    await must('ip', 'link', 'set', `sics${id}`, 'netns', peer6)
    await must('ip', '-n', pod6, 'link', 'set', `sicr${id}`, 'name', 'eth0')
    await must('ip', '-n', peer6, 'link', 'set', `sics${id}`, 'name', 'eth0')
    for (const ns of [pod6, peer6]) {
      await must('ip', '-n', ns, 'link', 'set', 'lo', 'up')
      await must('ip', '-n', ns, 'link', 'set', 'eth0', 'up')
    }
    // nodad: usable at once, without duplicate address detection's delay.
    await must('ip', '-n', pod6, 'addr', 'add', `${pod6Ip}/64`, 'dev', 'eth0', 'nodad')
    await must('ip', '-n', peer6, 'addr', 'add', `${peer6Ip}/64`, 'dev', 'eth0', 'nodad')
    await serve(pod6, ['outbound@:::15001', 'inbound@:::15006', 'pod-app@:::8080', 'pod-15021@:::15021'])
    await serve(peer6, [`peer@${peer6Ip}:8080`])
    t.equal(await reach(pod6, peer6Ip, 8080), 'peer', 'before capture: pod → peer')

    const r = await capture([...sidecarArgs, '--log_output_level=default:info'], [], pod6)
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /IPv6: added ::6\/128 to lo/)
    t.match(r.stdout, /IPv4: applied 18 rules with iptables-restore/)
    t.match(r.stdout, /IPv6: applied 18 rules with ip6tables-restore/)
    t.equal(r.stderr, '', 'ip6tables-save lists the rules as written')
    t.match(await must('ip', '-n', pod6, '-6', 'addr', 'show', 'dev', 'lo'), /inet6 ::6\/128/)

    t.equal(await reach(pod6, peer6Ip, 8080), 'outbound', '(a) app → [peer]:8080 is redirected to 15001')
    t.equal(await reach(pod6, peer6Ip, 8080, 1337), 'peer', '(b) the proxy uid is not redirected')
    t.equal(await reach(peer6, pod6Ip, 8080), 'inbound', '(c) peer → [pod]:8080 arrives at 15006')
    t.equal(await reach(peer6, pod6Ip, 15021), 'pod-15021', '(c) an excluded port reaches its listener')
    t.equal(await reach(pod6, '::1', 8080), 'pod-app', '(e) app → [::1]:8080 is not captured')

    const again = await capture(sidecarArgs, [], pod6)
    t.match(again.stdout, /IPv6: the 18 rules are already in place; nothing to do/)
    t.notMatch(again.stdout, /added ::6/, '::6 is already there')
  })

  t.test('dry-run inside the pod changes nothing', async t => {
    const before = await rulesIn(pod)
    const r = await capture([...sidecarArgs, '--dry-run'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^# IPv4: iptables-restore --noflush\n\*nat\n/)
    t.equal(await rulesIn(pod), before)
  })

  t.test('every golden ruleset is accepted by iptables and listed back exactly as written', async t => {
    await must('ip', 'netns', 'add', scratch)
    const clean = '*nat\nCOMMIT\n*mangle\nCOMMIT\n*raw\nCOMMIT\n'
    for (const c of goldenCases) {
      const groups = [c.env?.ISTIO_OUTBOUND_OWNER_GROUPS, c.env?.ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE].join(',')
      const named = /[a-z]/i.test(groups.replaceAll('undefined', ''))
      for (const ruleset of rulesetsOf(c).rulesets) {
        const family = ruleset.family
        const [save, restore] = family === 'ipv4' ? ['iptables-save', 'iptables-restore'] : ['ip6tables-save', 'ip6tables-restore']
        const golden = readFileSync(fileURLToPath(new URL(`../fixtures/capture/${c.name}.rules`, import.meta.url)), 'utf8')
        const section = golden.split(/^# .*\n/m).filter(s => s !== '')[family === 'ipv4' ? 0 : 1] ?? ''
        await must('sh', '-c', `printf '%s' "$1" | ip netns exec ${scratch} ${restore}`, 'sh', clean)
        const applied = await new Promise<Run>(resolve => {
          const child = execFile('ip', ['netns', 'exec', scratch, restore, '--noflush'], { timeout: stepTimeoutMs }, (err, stdout, stderr) => {
            resolve({ code: err === null ? 0 : 1, stdout, stderr, timedOut: err?.killed === true })
          })
          child.stdin?.end(section)
        })
        if (named) {
          // The golden keeps the names (no /etc/group given); iptables needs them to exist here. The
          // capture command writes gids instead: see the owner-groups test below.
          t.comment(`${c.name} ${family}: group names unknown on this machine; not applied`)
          continue
        }
        t.equal(applied.code, 0, `${c.name} ${family}: ${restore} accepts it ${applied.stderr}`)
        const plan = planRestore(ruleset, await rulesIn(scratch, save))
        t.equal(plan.kind, 'in-sync', `${c.name} ${family}: ${save} lists exactly the rules written`)
      }
    }
  })

  t.test('a named owner group is written as its gid, so a re-run is a no-op', async t => {
    await must('sh', '-c', `printf '%s' "$1" | ip netns exec ${scratch} iptables-restore`, 'sh', '*nat\nCOMMIT\n*mangle\nCOMMIT\n*raw\nCOMMIT\n')
    const r = await capture(sidecarArgs, ['ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE=root'], scratch)
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /IPv4: applied 19 rules with iptables-restore/)
    t.equal(r.stderr, '')
    t.match(await rulesIn(scratch), /^-A ISTIO_OUTPUT -m owner --gid-owner 0 -j RETURN$/m)
    const again = await capture(sidecarArgs, ['ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE=root'], scratch)
    t.match(again.stdout, /IPv4: the 19 rules are already in place; nothing to do/)
  })

  t.test('--force-iptables-binary iptables-legacy writes through the legacy back end', async t => {
    await must('sh', '-c', `printf '%s' "$1" | ip netns exec ${scratch} iptables-restore`, 'sh', '*nat\nCOMMIT\n*mangle\nCOMMIT\n*raw\nCOMMIT\n')
    const r = await capture([...sidecarArgs, '--force-iptables-binary=iptables-legacy'], [], scratch)
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /IPv4: applied 18 rules with iptables-legacy-restore/)
    t.equal((await rulesIn(scratch, 'iptables-legacy-save')).split('\n').filter(l => l.startsWith('-A ')).length, 18, 'the rules are in the legacy tables')
    t.notMatch(await rulesIn(scratch, 'iptables-nft-save'), /ISTIO_/, 'and not in nf_tables')
    const again = await capture([...sidecarArgs, '--force-iptables-binary=iptables-legacy'], [], scratch)
    t.match(again.stdout, /IPv4: the 18 rules are already in place; nothing to do/)
  })
}

// Every user mistake the CLI can meet is one line on stderr naming the file, flag or value, with exit 2
// for usage and 1 for failure — never a stack trace. Runs the real `sidecar-injector` process
// (src/cli.ts through tap's TypeScript loader), as a user would.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

t.setTimeout(240_000)

const repo = join(import.meta.dirname, '..', '..')
const loader = process.execArgv.filter(arg => arg.includes('@tapjs/typescript') || arg === '--enable-source-maps')
const dir = mkdtempSync(join(tmpdir(), 'sidecar-injector-cli-errors-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })

const aFile = join(dir, 'a-file')
writeFileSync(aFile, 'not a directory\n')
const badPod = join(dir, 'bad-pod.yaml')
writeFileSync(badPod, 'apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers: "oops"\n')
const empty = join(dir, 'empty.yaml')
writeFileSync(empty, '')
const rejected = join(repo, 'test', 'fixtures', 'manifests', 'rejected.yaml')

interface Run { code: number | null, stdout: string, stderr: string }

async function cli (args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  const child = spawn(process.execPath, [...loader, join(repo, 'src', 'cli.ts'), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

const cases: Array<{ name: string, args: string[], code: number, stderr: RegExp }> = [
  { name: 'certs --out under a file', args: ['certs', '--out', join(aFile, 'sub')], code: 1, stderr: /a-file\/sub: a part of the path is not a directory/ },
  { name: 'manifests --ca-bundle-file missing', args: ['manifests', '--ca-bundle-file', 'nope.crt'], code: 1, stderr: /nope\.crt: no such file or directory/ },
  { name: 'manifests --manifests-dir missing', args: ['manifests', '--manifests-dir', join(dir, 'missing')], code: 1, stderr: /missing.*: no such file or directory/ },
  { name: 'inject -f missing file', args: ['inject', '-f', 'missing.yaml'], code: 2, stderr: /cannot read missing\.yaml: no such file or directory/ },
  { name: 'inject on containers: "oops"', args: ['inject', '-f', badPod], code: 1, stderr: /bad-pod\.yaml|spec\.containers/ },
  { name: 'explain on containers: "oops"', args: ['explain', '-f', badPod], code: 1, stderr: /bad-pod\.yaml|spec\.containers/ },
  { name: 'serve --config missing', args: ['serve', '--config', 'injector.yaml', '--tls-cert-file', aFile, '--tls-private-key-file', aFile, '--port', '0'], code: 1, stderr: /cannot start: cannot read the config file: injector\.yaml: no such file or directory/ },
  { name: 'unknown flag', args: ['inject', '--bogus'], code: 2, stderr: /Unknown option '--bogus'/ },
  { name: 'uninject with injection flags', args: ['uninject', '-f', empty, '--native', '--namespace-labels', 'a=b'], code: 2, stderr: /--namespace-labels, --native: not used by this command/ },
  { name: 'explain -o bad', args: ['explain', '-f', empty, '-o', 'xml'], code: 2, stderr: /-o must be text, json, yaml; got 'xml'/ },
  { name: 'unknown command', args: ['bogus'], code: 2, stderr: /unknown command 'bogus'/ }
]

for (const c of cases) {
  t.test(c.name, async t => {
    const r = await cli(c.args)
    t.equal(r.code, c.code, `exit ${c.code}`)
    t.match(r.stderr, c.stderr)
    t.notMatch(r.stderr, /^ {4}at /m, 'no stack trace')
    t.notMatch(r.stdout, /^ {4}at |"stack"/m, 'no stack trace on stdout either')
    if (c.name !== 'unknown command' && c.code === 1) t.equal(r.stderr.trim().split('\n').filter(l => !l.startsWith('note:')).length, 1, 'one line')
  })
}

t.test('--version, an empty file, explain -o json', async t => {
  const version = await cli(['--version'])
  t.equal(version.code, 0)
  t.match(version.stdout, /^sidecar-injector \d+\.\d+\.\d+ \(node \d+\./)
  const inject = await cli(['inject', '-f', empty])
  t.equal(inject.code, 0)
  t.equal(inject.stdout, '')
  t.match(inject.stderr, /note: no Kubernetes object in the input/)
  const explained = await cli(['explain', '-f', rejected, '-o', 'json'])
  t.equal(explained.code, 0)
  const parsed = JSON.parse(explained.stdout) as Array<{ verdict: string, reason: string }>
  t.match(parsed, [{ verdict: 'REJECT', reason: 'invalid-annotation' }])
})

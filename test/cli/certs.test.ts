import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import t from 'tap'
import { run } from '../../src/cli/certs.js'
import type { CliIo } from '../../src/cli/io.js'
import { UsageError } from '../../src/cli/io.js'

function captureIo (cwd: string): CliIo & { out: string[], err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return { out, err, stdout: s => { out.push(s) }, stderr: s => { err.push(s) }, env: {}, stdin: Readable.from([]), cwd }
}

t.test('writes ca.crt, tls.crt and tls.key (0600) for the Service plus extra names', async t => {
  const cwd = mkdtempSync(join(tmpdir(), 'certs-cli-'))
  const io = captureIo(cwd)
  const code = await run(['--out', 'certs', '--service', 'inj', '--namespace', 'mesh', '--dns', 'inj.example', '--ip', '127.0.0.1'], io)
  t.equal(code, 0)
  const dir = join(cwd, 'certs')
  const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')))
  const leaf = new X509Certificate(readFileSync(join(dir, 'tls.crt')))
  t.ok(leaf.verify(ca.publicKey), 'tls.crt is signed by ca.crt')
  t.equal(leaf.subjectAltName, 'DNS:inj, DNS:inj.mesh, DNS:inj.mesh.svc, DNS:inj.mesh.svc.cluster.local, DNS:inj.example, IP Address:127.0.0.1')
  t.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(join(dir, 'tls.key')))), 'tls.key matches tls.crt')
  t.equal(statSync(join(dir, 'tls.key')).mode & 0o777, 0o600, 'the key is private')
  t.equal(statSync(join(dir, 'tls.crt')).mode & 0o777, 0o644)
  const days = (new Date(leaf.validTo).getTime() - Date.now()) / 86400000
  t.ok(days > 364 && days <= 365, `valid for a year (${days.toFixed(2)} days)`)
  t.match(io.out.join(''), /wrote .*ca\.crt.*tls\.key \(mode 0600\)/)
})

t.test('never overwrites existing files without --force', async t => {
  const cwd = mkdtempSync(join(tmpdir(), 'certs-cli-'))
  writeFileSync(join(cwd, 'tls.key'), 'keep me', { mode: 0o644 })
  const io = captureIo(cwd)
  t.equal(await run(['--out', '.'], io), 1)
  t.match(io.err.join(''), /not overwriting .*tls\.key \(use --force/)
  t.equal(readFileSync(join(cwd, 'tls.key'), 'utf8'), 'keep me')

  t.equal(await run(['--out', '.', '--force', '--days', '2'], captureIo(cwd)), 0)
  t.match(readFileSync(join(cwd, 'tls.key'), 'utf8'), /BEGIN PRIVATE KEY/)
  t.equal(statSync(join(cwd, 'tls.key')).mode & 0o777, 0o600, 'an overwritten key also ends up 0600')
  const leaf = new X509Certificate(readFileSync(join(cwd, 'tls.crt')))
  t.equal(leaf.checkHost('sidecar-injector.sidecar-injector.svc'), 'sidecar-injector.sidecar-injector.svc', 'default Service and namespace')
})

t.test('an output directory that cannot be made is an error, not an endless loop', async t => {
  // The error goes to the CLI's error handler (src/cli/errors.ts), which words it for the user.
  await t.rejects(run(['--out', '/proc/sidecar-injector-test/x'], captureIo(tmpdir())), { code: 'ENOENT' })
})

t.test('the largest --days and a wildcard --dns name are accepted', async t => {
  const cwd = mkdtempSync(join(tmpdir(), 'certs-'))
  t.equal(await run(['--out', '.', '--days', '3650', '--dns', '*.example.com'], captureIo(cwd)), 0)
  const leaf = new X509Certificate(readFileSync(join(cwd, 'tls.crt')))
  t.match(leaf.subjectAltName, /DNS:\*\.example\.com/)
})

t.test('bad flags are usage errors', async t => {
  const io = captureIo(tmpdir())
  await t.rejects(run([], io), UsageError)
  await t.rejects(run(['--out', 'x', '--ip', 'nope'], io), /not an IP address/)
  for (const days of ['0', '-1', '1.5', '3651', '1e9', 'NaN']) {
    await t.rejects(run(['--out', 'x', `--days=${days}`], io), /--days must be a whole number from 1 to 3650/, `--days ${days}`)
  }
  for (const [flag, value] of [['--service', 'Bad_Name'], ['--service', 'a'.repeat(64)], ['--namespace', '-x'], ['--namespace', ''],
    ['--cluster-domain', 'cluster..local'], ['--dns', 'a b.example'], ['--dns', `${'a.'.repeat(127)}a`], ['--dns', 'x.*.example']]) {
    await t.rejects(run(['--out', 'x', `${flag as string}=${value as string}`], io), new RegExp(`${flag as string} must be an RFC 1123`), `${flag as string} ${(value as string).slice(0, 20)}`)
  }
  await t.rejects(run(['--out', 'x', '--key-type', 'dsa'], io), /--key-type must be/)
  await t.rejects(run(['--out', 'x', '--bogus'], io), UsageError)
  t.equal(await run(['--help'], io), 0)
  t.match(io.out.join(''), /usage: sidecar-injector certs/)
})

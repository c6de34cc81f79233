// bin/sidecar-injector, the command `make install-cli` links onto PATH: run from a copy inside a fake
// checkout whose Node is a script that prints what it was given, so the test sees the Node flags and
// arguments the launcher passes, through a symlink as make install-cli makes it.
import t from 'tap'
import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const launcher = new URL('../../bin/sidecar-injector', import.meta.url).pathname

function fakeCheckout (t: Test): { command: string, link: string } {
  const root = mkdtempSync(join(tmpdir(), 'sidecar-injector-launcher-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  mkdirSync(join(root, 'bin'))
  mkdirSync(join(root, 'dist', 'bundle'), { recursive: true })
  mkdirSync(join(root, '.tools', 'node', 'node_modules', '.bin'), { recursive: true })
  copyFileSync(launcher, join(root, 'bin', 'sidecar-injector'))
  writeFileSync(join(root, 'dist', 'bundle', 'cli.js'), '')
  const node = join(root, '.tools', 'node', 'node_modules', '.bin', 'node')
  writeFileSync(node, '#!/bin/sh\nprintf "NODE_OPTIONS=%s\\n" "$NODE_OPTIONS"; printf "%s\\n" "$@"\n')
  chmodSync(node, 0o755)
  const link = join(root, 'on-path')
  symlinkSync(join(root, 'bin', 'sidecar-injector'), link)
  return { command: join(root, 'bin', 'sidecar-injector'), link }
}

/** Through env(1): tap adds its own NODE_OPTIONS to every process the test spawns, env drops it. */
function run (command: string, args: string[], nodeOptions?: string): string[] {
  const set = nodeOptions === undefined ? [] : [`NODE_OPTIONS=${nodeOptions}`]
  return execFileSync('env', ['-u', 'NODE_OPTIONS', ...set, command, ...args], { encoding: 'utf8' }).trim().split('\n')
}

t.test('the offline commands get the young-generation cap, through the symlink too', async t => {
  const { command, link } = fakeCheckout(t)
  for (const path of [command, link]) {
    const [options, script, ...args] = run(path, ['inject', '-f', 'x.yaml'])
    t.equal(options, 'NODE_OPTIONS=--max-semi-space-size=8')
    t.match(script, /\/bin\/\.\.\/dist\/bundle\/cli\.js$/, 'the bundle of the checkout the link points into')
    t.same(args, ['inject', '-f', 'x.yaml'])
  }
})

t.test('a NODE_OPTIONS of the caller comes after the default, so its own value wins', async t => {
  const { command } = fakeCheckout(t)
  const [options] = run(command, ['explain', '-f', 'x.yaml'], '--max-semi-space-size=32 --enable-source-maps')
  t.equal(options, 'NODE_OPTIONS=--max-semi-space-size=8 --max-semi-space-size=32 --enable-source-maps')
})

t.test('serve keeps the NODE_OPTIONS it was given (its Deployment sets them)', async t => {
  const { command } = fakeCheckout(t)
  t.equal(run(command, ['serve'])[0], 'NODE_OPTIONS=')
  t.equal(run(command, ['serve'], '--max-old-space-size=256')[0], 'NODE_OPTIONS=--max-old-space-size=256')
})

t.test('an unbuilt checkout is told to build', async t => {
  const { command } = fakeCheckout(t)
  rmSync(join(command, '..', '..', 'dist'), { recursive: true })
  t.throws(() => execFileSync(command, ['--version'], { encoding: 'utf8', stdio: 'pipe' }), /not built yet: run 'make build'/)
})

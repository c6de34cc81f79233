import t from 'tap'
import type { Test } from 'tap'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run as inject } from '../../src/cli/inject.js'
import { run as uninject } from '../../src/cli/uninject.js'
import { PendingOutput, memoryBudget, pendingOutputOf } from '../../src/cli/output.js'
import { defaultConfig } from '../../src/core/config.js'
import { transformManifests } from '../../src/workloads/transform.js'
import { captureIo } from '../helpers/cli-io.js'

const root = join(import.meta.dirname, '..', '..')
const tempRoot = (t: Test): string => {
  const dir = mkdtempSync(join(tmpdir(), 'output-test-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}
/** os.tmpdir() answers $TMPDIR: the CLI's temporary files go to a directory the test looks into. */
const tmpdirFor = (t: Test, dir: string): void => {
  const saved = process.env.TMPDIR
  process.env.TMPDIR = dir
  t.teardown(() => { if (saved === undefined) delete process.env.TMPDIR; else process.env.TMPDIR = saved })
}

t.test('under the budget the output stays in memory and is written whole on commit', async t => {
  const dir = tempRoot(t)
  const output = new PendingOutput(100, dir)
  output.write('a: 1\n')
  output.write('---\nb: 2\n')
  t.equal(output.spilled, false)
  t.same(readdirSync(dir), [], 'no temporary file')
  const io = captureIo()
  t.equal(io.out(), '', 'nothing before commit')
  await output.commit(io)
  t.equal(io.out(), 'a: 1\n---\nb: 2\n')
})

t.test('past the budget the output goes to a private temporary file, copied out block by block and removed', async t => {
  const dir = tempRoot(t)
  const output = new PendingOutput(1000, dir)
  // Two-byte characters across the 1 MiB blocks of the copy: none may be split.
  const piece = `é${'x'.repeat(98)}\n`
  const expected = piece.repeat(30_000)
  for (let i = 0; i < 30_000; i++) output.write(piece)
  t.equal(output.spilled, true)
  t.same(readdirSync(dir), [], 'the file is used through its descriptor, already unlinked: a killed run leaves nothing behind')
  let drains = 0
  const io = { ...captureIo(), drain: async () => { drains++ } }
  let out = ''
  await output.commit({ ...io, stdout: text => { out += text } })
  t.equal(out.length, expected.length)
  t.ok(out === expected, 'the same text, no character split')
  t.ok(drains >= 3, `stdout drained between blocks (${drains} times)`)
  t.same(readdirSync(dir), [], 'the temporary file is removed')
})

t.test('discard writes nothing and removes the temporary file', async t => {
  const dir = tempRoot(t)
  const output = new PendingOutput(10, dir)
  output.write('x'.repeat(100))
  t.equal(output.spilled, true)
  output.discard()
  t.same(readdirSync(dir), [])
  const io = captureIo()
  await output.commit(io)
  t.equal(io.out(), '')
})

t.test('where no temporary file can be made, the output stays in memory', async t => {
  const output = new PendingOutput(10, join(tempRoot(t), 'no', 'such', 'dir'))
  output.write('x'.repeat(100))
  output.write('y')
  t.equal(output.spilled, false)
  const io = captureIo()
  await output.commit(io)
  t.equal(io.out(), `${'x'.repeat(100)}y`)
})

t.test('a throw while producing removes the temporary file', async t => {
  const dir = tempRoot(t)
  tmpdirFor(t, dir)
  t.throws(() => pendingOutputOf(write => {
    write('x'.repeat(memoryBudget + 1))
    throw new Error('bug')
  }), /bug/)
  t.same(readdirSync(dir), [])
})

// A stream larger than the memory budget: the CLI spills it, and an error in its last document
// still means nothing is written.
const deployment = (i: number): string => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-${i}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers:\n      - name: app\n        image: app:1\n`
// A few workloads around a ConfigMap that alone passes the budget.
const bigConfigMap = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: |\n${'    0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n'.repeat(Math.ceil(memoryBudget / 76))}`
const large = [deployment(1), deployment(2), bigConfigMap, deployment(3)].join('---\n')

t.test('inject and uninject of a stream past the budget: all of it, or nothing when a document is bad', async t => {
  const dir = tempRoot(t)
  tmpdirFor(t, dir)

  const good = captureIo({ stdin: large, cwd: root })
  t.equal(await inject(['-f', '-'], good), 0)
  const expected = transformManifests([{ name: '<stdin>', text: large }], 'inject', { config: defaultConfig(), facts: {}, namespace: 'default', output: 'yaml' }).output
  t.ok(expected.length > memoryBudget, 'the output is past the budget')
  t.ok(good.out() === expected, 'the same output as in memory')
  t.same(readdirSync(dir), [], 'no temporary file left')

  const back = captureIo({ stdin: good.out(), cwd: root })
  t.equal(await uninject(['-f', '-'], back), 0)
  t.ok(back.out() === large, 'uninject gives the input back')

  const bad = captureIo({ stdin: `${large}---\napiVersion: v1\nkind: Pod\nmetadata:\n  labels: [unclosed\n`, cwd: root })
  t.equal(await inject(['-f', '-'], bad), 1)
  t.equal(bad.out(), '', 'nothing is written')
  t.match(bad.err(), /not valid YAML/)
  t.same(readdirSync(dir), [], 'the temporary file is removed')
})

// The webhook's batched log (src/cli/serve-log.ts) loses no line when the process ends: on an uncaught
// exception the exit flush writes the batch; a warning is written at once, with every line before it,
// so it survives a SIGKILL; and lines waiting in a batch reach the file within its flush interval.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'

t.setTimeout(60_000)
const loader = process.execArgv.filter(arg => arg.includes('@tapjs/typescript') || arg === '--enable-source-maps')
const child = new URL('../helpers/serve-log-child.ts', import.meta.url).pathname
const dir = mkdtempSync(`${tmpdir()}/serve-log-`)
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })

function start (file: string, ending: string, count: number): { exited: Promise<{ code: number | null, signal: string | null }>, kill: () => void } {
  const proc = spawn(process.execPath, [...loader, child, file, ending, String(count)], { stdio: ['ignore', 'ignore', 'pipe'] })
  return {
    exited: new Promise(resolve => proc.on('exit', (code, signal) => resolve({ code, signal }))),
    kill: () => { proc.kill('SIGKILL') }
  }
}

function lines (file: string): Array<{ level: number, msg: string, i?: number }> {
  return readFileSync(file, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as { level: number, msg: string, i?: number })
}

// 100 lines (~10 KB) leave a partial batch waiting: only the flush can write it.
t.test('an uncaught exception: every line is written by the exit flush', async t => {
  const file = `${dir}/throw.log`
  const { exited } = start(file, 'throw', 100)
  const end = await exited
  t.equal(end.code, 1, 'the process crashed')
  const written = lines(file)
  t.equal(written.length, 100)
  t.same(written.map(l => l.i), [...Array(100).keys()], 'all lines, in order')
})

t.test('a warning is written at once with the lines before it, so a SIGKILL after it loses nothing', async t => {
  const file = `${dir}/kill.log`
  const { exited } = start(file, 'kill', 30)
  const end = await exited
  t.equal(end.signal, 'SIGKILL', 'killed: no exit code ran')
  const written = lines(file)
  t.equal(written.length, 31)
  t.match(written.at(-1), { level: 40, msg: 'about to be killed' })
})

t.test('lines in a partial batch reach the file within the flush interval, the process still running', async t => {
  const file = `${dir}/wait.log`
  const { exited, kill } = start(file, 'wait', 5)
  t.teardown(kill)
  let written: unknown[] = []
  // Read every 100 ms for up to 5 s: far beyond the 100 ms interval, even on a loaded machine.
  for (let attempt = 0; attempt < 50 && written.length < 5; attempt++) {
    await sleep(100)
    try { written = lines(file) } catch {}
  }
  t.equal(written.length, 5, 'the five lines are out while the process runs')
  kill()
  await exited
})

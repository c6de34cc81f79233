import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { readFile } from 'node:fs/promises'
import { watchFiles } from '../../src/reload/file-watcher.js'
import { createVolume } from '../helpers/volume.js'

async function waitFor (check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (check()) return true
    await sleep(20)
  }
  return check()
}

t.test('a ..data symlink swap in a Secret-style volume is seen, debounced into one call', async t => {
  const volume = await createVolume({ 'tls.crt': 'one', 'tls.key': 'one' })
  t.teardown(volume.remove)
  let calls = 0
  const watcher = watchFiles([volume.path('tls.crt'), volume.path('tls.key')], () => { calls++ }, { debounceMs: 100, pollMs: 0 })
  t.teardown(watcher.close)
  await volume.update({ 'tls.crt': 'two', 'tls.key': 'two' })
  t.ok(await waitFor(() => calls > 0, 2000), 'the change was seen')
  await sleep(300)
  t.equal(calls, 1, 'the burst of events of one update is one call')
  t.equal(await readFile(volume.path('tls.crt'), 'utf8'), 'two', 're-reading the path gives the new content')
})

t.test('the poll calls back even when no event arrives', async t => {
  const volume = await createVolume({ config: 'a' })
  t.teardown(volume.remove)
  let calls = 0
  const watcher = watchFiles([volume.path('config')], () => { calls++ }, { pollMs: 100 })
  t.teardown(watcher.close)
  t.ok(await waitFor(() => calls >= 2, 1500), `polled ${calls} times`)
})

t.test('a missing directory is reported, not thrown; close stops the callbacks', async t => {
  const errors: Error[] = []
  const watcher = watchFiles(['/nonexistent-sidecar-injector/dir/file'], () => {}, { pollMs: 0, onError: err => errors.push(err) })
  watcher.close()
  t.match(errors, [{ code: 'ENOENT' }])

  const volume = await createVolume({ config: 'a' })
  t.teardown(volume.remove)
  let calls = 0
  const closed = watchFiles([volume.path('config')], () => { calls++ }, { debounceMs: 50, pollMs: 50 })
  closed.close()
  await volume.update({ config: 'b' })
  await sleep(300)
  t.equal(calls, 0)
})

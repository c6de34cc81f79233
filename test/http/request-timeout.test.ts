// The API server's ?timeout= read as Go's time.Duration.String writes it, bounded; anything else ignored.
import t from 'tap'
import { maxRequestTimeoutMs, parseRequestTimeout, waitForRoomMs } from '../../src/http/request-timeout.js'

t.test('what the API server sends: whole seconds, as Go writes a duration', async t => {
  for (const [text, ms] of [['10s', 10_000], ['1s', 1000], ['30s', 30_000], ['1m0s', 60_000], ['1m30s', 90_000], ['1h0m0s', 3_600_000]] as const) {
    t.equal(parseRequestTimeout(text), ms, text)
  }
})

t.test('the rest of Go\'s duration syntax', async t => {
  for (const [text, ms] of [['1.5s', 1500], ['500ms', 500], ['2m3.5s', 123_500], ['.5s', 500], ['1.s', 1000], ['1500us', 1.5], ['1500µs', 1.5], ['1500μs', 1.5], ['2000000ns', 2]] as const) {
    t.equal(parseRequestTimeout(text), ms, text)
  }
})

t.test('anything else is ignored (undefined), never an error', async t => {
  const ignored: unknown[] = [
    undefined, null, 10, ['1s', '2s'], { s: 1 }, '', '10', 's', '10S', '10 s', ' 10s', '10s ', '-1s', '+1s', '0s', '0', '0ms', '1e3s', '0x10s', '1s2', 'ms',
    '1d', '10sec', '1..5s', 'NaNs', 'Infinitys', '1h1s1', '\u0000', '1ｓ', '9'.repeat(31) + 's', '1h0m0.001s', '1000000h', '10s'.repeat(11)
  ]
  for (const value of ignored) t.equal(parseRequestTimeout(value), undefined, JSON.stringify(value) ?? String(value))
  t.equal(parseRequestTimeout('60m0s'), maxRequestTimeoutMs, 'an hour is the longest read')
  const hostile = '1s'.repeat(1_000_000)
  t.equal(parseRequestTimeout(hostile), undefined, 'a 2 MB value is refused by its length before any parsing')
})

t.test('the wait for room: the budget\'s, shortened to leave half the timeout (at most a second) for the work', async t => {
  t.equal(waitForRoomMs(2000, undefined), 2000, 'no timeout: the budget\'s wait')
  t.equal(waitForRoomMs(2000, 10_000), 2000, 'timeout 10s: the budget\'s wait is shorter anyway')
  t.equal(waitForRoomMs(2000, 5000), 2000, 'timeout 5s (the manifests\' timeoutSeconds): unchanged')
  t.equal(waitForRoomMs(2000, 2000), 1000, 'timeout 2s: a second for waiting, a second for the work')
  t.equal(waitForRoomMs(2000, 1000), 500, 'timeout 1s: half each')
  t.equal(waitForRoomMs(60_000, 10_000), 9000)
  t.equal(waitForRoomMs(2000, 0.001), 0.0005)
})

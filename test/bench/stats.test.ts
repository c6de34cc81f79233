import t from 'tap'
import { linearFit, median, round } from '../../bench/stats.js'

t.test('median of odd and even counts, unsorted input, input untouched', async t => {
  const values = [5, 1, 3]
  t.equal(median(values), 3)
  t.same(values, [5, 1, 3], 'the input is not sorted in place')
  t.equal(median([4, 1, 3, 2]), 2.5)
  t.equal(median([7]), 7)
  t.throws(() => median([]), /no values/)
})

t.test('linearFit recovers an exact line', async t => {
  const xs = [0, 100, 500, 1000, 5000]
  const fit = linearFit(xs, xs.map(x => 0.7 * x + 40))
  t.equal(round(fit.slope, 6), 0.7)
  t.equal(round(fit.intercept, 6), 40)
  t.equal(fit.r2, 1)
  t.ok(fit.maxRelativeResidual < 1e-9)
})

t.test('linearFit on a quadratic shows a poor fit', async t => {
  const xs = [1, 2, 3, 4, 5, 6, 7, 8]
  const fit = linearFit(xs, xs.map(x => x * x * x))
  t.ok(fit.r2 < 0.95, `r² ${fit.r2} below a line's`)
  t.ok(fit.maxRelativeResidual > 0.3, 'large residuals somewhere')
})

t.test('linearFit refuses what it cannot fit', async t => {
  t.throws(() => linearFit([1], [1]), /at least 2/)
  t.throws(() => linearFit([1, 2], [1]), /equally long/)
  t.throws(() => linearFit([3, 3], [1, 2]), /distinct x/)
})

t.test('round keeps significant digits', async t => {
  t.equal(round(123.456), 123)
  t.equal(round(0.0012345, 2), 0.0012)
  t.equal(round(98765, 2), 99000)
  t.equal(round(0), 0)
  t.ok(Number.isNaN(round(Number.NaN)))
})

import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { quantile, RollingWindow } from './rolling-window.ts'

test('counts land in the bucket of their second; old buckets roll out', () => {
  const w = new RollingWindow({ stepMs: 1000, buckets: 5 })
  w.record(10_100, true, 2)
  w.record(10_900, false, 5, 'trap')
  w.record(12_000, true, 1)
  const s = w.snapshot(12_500)
  assert.is(s.t0, 8000)
  assert.equal(s.ok, [0, 0, 1, 0, 1])
  assert.equal(s.failed, [0, 0, 1, 0, 0])
  assert.equal(s.errors, { trap: [0, 0, 1, 0, 0] })
  assert.equal(s.p50.slice(2), [2, -1, 1])
  const later = w.snapshot(17_000)
  assert.equal(later.ok, [0, 0, 0, 0, 0], 'five seconds later, all rolled out')
  assert.equal(later.errors, {}, 'codes without a failure in the window are left out')
})

test('percentiles are nearest-rank over the bucket', () => {
  const w = new RollingWindow({ buckets: 2 })
  for (let i = 1; i <= 100; i++) w.record(5000, true, i)
  const s = w.snapshot(5000)
  assert.is(s.p50[1], 50)
  assert.is(s.p99[1], 99)
  assert.is(quantile([1, 2, 3], 1), 3)
})

test('bounded: a reservoir keeps at most samplesPerBucket latencies, codes beyond the cap count as other', () => {
  const w = new RollingWindow({ buckets: 2, samplesPerBucket: 100, maxCodes: 3 })
  for (let i = 0; i < 10_000; i++) w.record(1000, true, i % 10 === 0 ? 1000 : 1)
  const s = w.snapshot(1000)
  assert.is(s.ok[1], 10_000)
  assert.ok(s.p50[1] === 1 && s.p99[1] === 1000, `uniform sample: p50 ${s.p50[1]}, p99 ${s.p99[1]}`)
  for (const c of ['a', 'b', 'c', 'd', 'e']) w.record(1000, false, 1, c)
  const e = w.snapshot(1000).errors
  assert.equal(Object.keys(e).sort(), ['a', 'b', 'other'])
  assert.is(e.other![1], 3)
})

test('options out of range are refused with the field named', () => {
  assert.throws(() => new RollingWindow({ buckets: 0 }), /rollingWindow\.buckets/)
})

test.run()

import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { afterCursor, Windower, type Reading } from './windower.ts'

const reading = (i: number, ts = 1000 + i): Reading => {
  const line = JSON.stringify({ value: i, ts })
  return { line, ts, digest: createHash('sha256').update(line).digest('hex') }
}
const opts = { graceMs: 50, maxCatchUp: 4 }

test('count windows: N readings each, seq from 1, bounds from the readings', () => {
  const w = new Windower({ count: 3 }, 0, opts)
  const closed = Array.from({ length: 7 }, (_, i) => w.push(reading(i))).flat()
  assert.equal(closed.map((c) => c.seq), [1, 2])
  assert.equal(closed[1]!.readings.map((r) => JSON.parse(r.line).value), [3, 4, 5])
  assert.is(closed[1]!.from, 1003)
  assert.is(closed[1]!.to, 1005)
  assert.is(w.buffered, 1)
  assert.equal(w.tick(1e12), [], 'count windows never close on time')
})

test('resume: after the cursor reading (by digest), or after its ts when it is not held', () => {
  const held = [0, 1, 2, 3, 4].map((i) => reading(i))
  const cursor = { ts: held[2]!.ts, digest: held[2]!.digest }
  assert.equal(afterCursor(held, cursor).map((r) => r.ts), [1003, 1004])
  // two readings with one ts: the digest tells them apart
  const same = [reading(10, 5), reading(11, 5), reading(12, 5)]
  assert.equal(afterCursor(same, { ts: 5, digest: same[0]!.digest }).map((r) => JSON.parse(r.line).value), [11, 12])
  // not held (a standby that subscribed later): whatever is newer than the cursor's ts
  assert.equal(afterCursor(held, { ts: 1001, digest: '0'.repeat(64) }).map((r) => r.ts), [1002, 1003, 1004])

  const w = new Windower({ count: 2 }, 0, opts)
  w.resume(41, undefined)
  assert.equal(w.push(reading(0)), [])
  assert.is(w.push(reading(1))[0]!.seq, 42, 'the next window after seq 41')
})

test('time windows: the grid from the epoch, closed after end + grace, empty ones too, late readings counted', () => {
  const w = new Windower({ ms: 100 }, 10_000, opts)
  w.push(reading(0, 10_010))
  w.push(reading(1, 10_090))
  w.push(reading(2, 10_150))
  assert.equal(w.tick(10_120), [], 'window 1 ends at 10100, closes at 10150')
  const first = w.tick(10_150)
  assert.equal(first.map((c) => [c.seq, c.readings.length, c.from, c.to]), [[1, 2, 10_000, 10_100]])
  assert.is(w.nextDeadline(), 10_250)
  w.push(reading(3, 10_050)) // window 1 is closed
  assert.is(w.counts.late, 1)
  const more = w.tick(10_400)
  assert.equal(more.map((c) => [c.seq, c.readings.length]), [[2, 1], [3, 0]])
})

test('time windows after a long gap: at most maxCatchUp closed, the older ones skipped (counted)', () => {
  const w = new Windower({ ms: 10 }, 0, opts)
  const closed = w.tick(1000) // windows 1..95 have ended (grace 50)
  assert.is(closed.length, 4)
  assert.equal(closed.map((c) => c.seq), [92, 93, 94, 95])
  assert.is(w.counts.skipped, 91)
  w.resume(200, undefined)
  assert.is(w.nextSeq, 201)
})

test.run()

import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { PenaltyBox } from './penalty-box.ts'
import { TrackRecord } from './track-record.ts'

test('penalty box: base × 2^(strikes−1), capped; a verified result clears it; bounded', () => {
  const box = new PenaltyBox({ baseMs: 1000, maxMs: 5000, maxAgents: 2 })
  const boxed: number[] = []
  box.on('boxed', (b) => boxed.push(b.forMs))
  for (let i = 0; i < 5; i++) box.strike('a', 0, 'timeout')
  assert.equal(boxed, [1000, 2000, 4000, 5000, 5000])
  assert.ok(box.isBoxed('a', 4999))
  assert.not.ok(box.isBoxed('a', 5000))
  box.clear('a')
  assert.is(box.strikesOf('a'), 0)
  box.strike('b', 0, 'x')
  box.strike('c', 0, 'x')
  box.strike('d', 0, 'x')
  assert.is(box.strikesOf('b'), 0, 'the oldest record forgotten at the bound')
  assert.ok(box.isBoxed('d', 10))
})

test('track record: a newcomer until enough verified results and enough time; its cap counts only those still newcomers', () => {
  let now = 0
  const r = new TrackRecord({ jobs: 3, ms: 1000, share: 0.2, window: 10, inFlight: 1, maxAgents: 100 }, () => now)
  r.seen('n')
  for (let i = 0; i < 5; i++) r.recordVerified('n')
  assert.ok(r.isNewcomer('n'), 'five results in no time: still on probation')
  now = 1000
  assert.not.ok(r.isNewcomer('n'))
  assert.ok(r.isNewcomer('fresh'))
  assert.not.ok(r.withinCap('fresh', 1), 'one job in flight at most')
  for (let i = 0; i < 10; i++) r.recordAssigned('n') // an agent of record: its jobs do not count against newcomers
  assert.ok(r.withinCap('fresh', 0))
  r.recordAssigned('fresh')
  assert.ok(r.withinCap('fresh2', 0))
  r.recordAssigned('fresh2')
  assert.not.ok(r.withinCap('fresh3', 0), 'newcomers together at most 20 % of the last 10')
  assert.ok(r.withinCap('n', 99), 'no cap for an agent of record')
})

test.run()

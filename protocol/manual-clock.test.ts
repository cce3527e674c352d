import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { systemClock } from './clock.ts'
import { ManualClock } from './manual-clock.ts'

test('timers fire in due order (ties in the order set), with now() at their due time', async () => {
  const clock = new ManualClock(1000)
  const fired: string[] = []
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20)
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10)
  clock.setTimeout(() => fired.push(`a2@${clock.now()}`), 10)
  const late = clock.setTimeout(() => fired.push('never'), 15)
  late.cancel()
  await clock.advance(19)
  assert.equal(fired, ['a@1010', 'a2@1010'])
  assert.is(clock.now(), 1019)
  await clock.advance(1)
  assert.equal(fired, ['a@1010', 'a2@1010', 'b@1020'])
  assert.is(clock.pending, 0)
})

test('intervals repeat until cancelled; a timer set by a timer fires in the same advance when due', async () => {
  const clock = new ManualClock(0)
  const at: number[] = []
  const beat = clock.setInterval(() => {
    at.push(clock.now())
    if (at.length === 2) clock.setTimeout(() => at.push(-clock.now()), 5)
  }, 100)
  await clock.advance(350)
  assert.equal(at, [100, 200, -205, 300])
  beat.cancel()
  await clock.advance(1000)
  assert.is(at.length, 4)
})

test('sleep resolves when the clock passes it; promise chains a timer starts run before the next timer', async () => {
  const clock = new ManualClock(0)
  const seen: string[] = []
  void clock.sleep(10).then(() => Promise.resolve().then(() => seen.push('chain after 10')))
  clock.setTimeout(() => seen.push('timer at 11'), 11)
  await clock.advance(20)
  assert.equal(seen, ['chain after 10', 'timer at 11'])
})

test('the system clock: real time, cancellable timers', async () => {
  const before = Date.now()
  assert.ok(Math.abs(systemClock.now() - before) < 1000)
  let fired = false
  systemClock.setTimeout(() => (fired = true), 1, { unref: true }).cancel()
  await systemClock.sleep(5)
  assert.not.ok(fired)
})

test.run()

/**
 * protocol/clock.ts: the manual clock runs timers in time order, each as often as it falls due,
 * and stops them; the system clock's timers never keep the process alive.
 *
 *   node --import tsx protocol/clock.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ManualClock, systemClock } from './clock.ts'
import { ValidationError } from './errors.ts'

test('manual clock: timers in time order, as often as due, stopped when asked', async () => {
  const clock = new ManualClock(1_000)
  const seen: string[] = []
  const stopA = clock.every(100, () => seen.push(`a@${clock.now()}`))
  clock.every(250, () => seen.push(`b@${clock.now()}`))
  await clock.advance(99)
  assert.equal(seen, [])
  await clock.advance(451)
  // ties run in the order the timers were made
  assert.equal(seen, ['a@1100', 'a@1200', 'b@1250', 'a@1300', 'a@1400', 'a@1500', 'b@1500'])
  assert.is(clock.now(), 1_550)
  stopA()
  seen.length = 0
  await clock.advance(300)
  assert.equal(seen, ['b@1750'])
  assert.is(clock.timers, 1)
  assert.throws(() => clock.every(0, () => {}), (e: unknown) => e instanceof ValidationError && e.field === 'ms')
})

test('manual clock: what a timer starts has settled when advance returns', async () => {
  const clock = new ManualClock(0)
  let done = false
  clock.every(10, () => {
    void Promise.resolve().then(() => Promise.resolve()).then(() => (done = true))
  })
  await clock.advance(10)
  assert.ok(done)
})

test('system clock: real time, an unref\'d timer that stops', async () => {
  const before = Date.now()
  assert.ok(Math.abs(systemClock.now() - before) < 1000)
  let n = 0
  const stop = systemClock.every(5, () => n++)
  await new Promise((r) => setTimeout(r, 60))
  stop()
  const after = n
  assert.ok(after >= 1, `ran ${after} times`)
  await new Promise((r) => setTimeout(r, 30))
  assert.is(n, after, 'stopped')
})

test.run()

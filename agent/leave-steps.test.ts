import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ManualClock } from '../protocol/manual-clock.ts'
import { LeaveSteps, type StalledStep } from './leave-steps.ts'

test('a step that never settles is reported by name once its bound passes, and leaving goes on', async () => {
  const clock = new ManualClock()
  const stalled: StalledStep[] = []
  const steps = new LeaveSteps(clock, (s) => stalled.push(s))
  let done = false
  const run = steps.run('executor', 10_000, () => new Promise(() => {})).then(() => (done = true))
  await clock.advance(9_999)
  assert.is(done, false, 'still inside its bound')
  assert.is(steps.current, 'executor')
  await clock.advance(1)
  await run
  assert.equal(stalled, [{ step: 'executor', ms: 10_000 }])
  assert.is(steps.current, '')
  assert.is(clock.pending, 0, 'no timer left')
})

test('a step that ends or fails in time is not reported and leaves no timer', async () => {
  const clock = new ManualClock()
  const stalled: StalledStep[] = []
  const steps = new LeaveSteps(clock, (s) => stalled.push(s))
  const order: string[] = []
  await steps.run('unsubscribe', 5_000, async () => {
    order.push('unsubscribe')
  })
  await steps.run('broker', 5_000, () => Promise.reject(new Error('socket gone')))
  await steps.run('sync', 5_000, () => {
    order.push('sync')
    throw new Error('thrown before any promise')
  })
  await steps.run('nothing', 5_000, () => undefined)
  assert.equal(order, ['unsubscribe', 'sync'])
  assert.equal(stalled, [])
  assert.is(clock.pending, 0)
})

test.run()

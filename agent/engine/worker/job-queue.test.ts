import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { JobQueue } from './job-queue.ts'

test('FIFO order across wrap-around and growth', () => {
  const q = new JobQueue<number>(1000)
  const out: number[] = []
  let next = 0
  // interleave pushes and shifts so head wraps while the ring grows
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 7; i++) assert.ok(q.push(next++))
    for (let i = 0; i < 5; i++) out.push(q.shift() as number)
  }
  out.push(...q.drain())
  assert.equal(out, Array.from({ length: next }, (_, i) => i))
  assert.is(q.length, 0)
  assert.is(q.shift(), undefined)
})

test('refuses beyond its limit, including a limit of 0', () => {
  const q = new JobQueue<string>(2)
  assert.ok(q.push('a'))
  assert.ok(q.push('b'))
  assert.not.ok(q.push('c'))
  assert.is(q.length, 2)
  assert.is(q.shift(), 'a')
  assert.ok(q.push('c'))
  assert.equal(q.drain(), ['b', 'c'])
  assert.not.ok(new JobQueue<number>(0).push(1))
})

test.run()

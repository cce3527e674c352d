// The one rate limiter (broker publish rates, gateway per-sensor rates, agent vouchers), on a
// caller's clock: known answers for the burst, the refill, the cap on saving up, a take larger than
// the burst, give-back and the wait it reports.
//   node --import tsx protocol/token-bucket.test.ts
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { TokenBucket } from './token-bucket.ts'

test('a full bucket gives its burst at once, then refills at its rate', () => {
  const b = new TokenBucket(10, 5, 0) // 10/s, burst 5
  for (let i = 0; i < 5; i++) assert.ok(b.take(0), `take ${i}`)
  assert.not.ok(b.take(0))
  assert.is(b.waitMs(0), 100) // one token at 10/s
  assert.not.ok(b.take(99))
  assert.ok(b.take(100))
  assert.not.ok(b.take(100))
})

test('idle time saves up no more than the burst', () => {
  const b = new TokenBucket(1000, 20, 0)
  for (let i = 0; i < 20; i++) b.take(0)
  assert.is(b.balance(60_000), 20)
  let n = 0
  while (b.take(60_000)) n++
  assert.is(n, 20)
})

test('a take larger than the burst passes on a full bucket and is repaid before the next', () => {
  const b = new TokenBucket(1000, 100, 0) // bytes/s, say
  assert.ok(b.take(0, 400))
  assert.is(b.balance(0), -300)
  assert.not.ok(b.take(0, 1))
  assert.is(b.waitMs(0, 1), 301) // to a balance of 1: 301 tokens at 1/ms
  assert.not.ok(b.take(300, 1)) // balance 0: not yet
  assert.ok(b.take(301, 1))
})

test('give() returns tokens up to the burst', () => {
  const b = new TokenBucket(1, 3, 0)
  b.take(0, 3)
  b.give(2)
  assert.is(b.balance(0), 2)
  b.give(10)
  assert.is(b.balance(0), 3)
})

test('a clock that goes backwards adds nothing', () => {
  const b = new TokenBucket(1000, 2, 1000)
  b.take(1000, 2)
  assert.is(b.balance(500), 0)
  assert.not.ok(b.take(500))
})

test.run()

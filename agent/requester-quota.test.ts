import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { RequesterQuota } from './requester-quota.ts'

test('a requester alone may use the agent; with another one there, it is held to its quota until it is back under', () => {
  const q = new RequesterQuota(2)
  const a = [q.enter('a'), q.enter('a'), q.enter('a')]
  assert.ok(a.every(Boolean), 'alone: past the quota')
  const b1 = q.enter('b')
  assert.ok(b1, 'another requester gets in')
  assert.ok(q.full('a'))
  assert.is(q.enter('a'), undefined, 'a is over its quota while b is here')
  a[0]!()
  a[1]!()
  assert.not.ok(q.full('a'), 'back under')
  assert.ok(q.enter('a'))
  assert.equal(q.stats(), { requesters: 2, refused: 1 })
  b1!()
  b1!() // a second release changes nothing
  assert.equal(q.stats().requesters, 1)
})

test.run()

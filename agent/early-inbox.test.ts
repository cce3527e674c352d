import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { EarlyInbox } from './early-inbox.ts'

const b = (s: string) => Buffer.from(s)

test('held per topic in arrival order, released to its handler once; others stay held', () => {
  const early = new EarlyInbox()
  const routes = new Map(early.routes(['jobs', 'streams']))
  routes.get('jobs')!('jobs', b('j1'), { retain: false })
  routes.get('streams')!('streams', b('s1'), { retain: false })
  routes.get('jobs')!('jobs', b('j2'), { retain: false })
  const got: string[] = []
  early.release('jobs', (_t, p) => got.push(p.toString()))
  assert.equal(got, ['j1', 'j2'])
  assert.is(early.size, 1)
  early.release('jobs', (_t, p) => got.push(p.toString()))
  assert.equal(got, ['j1', 'j2'], 'released once')
  early.clear()
  assert.is(early.size, 0)
  assert.equal(early.overflowed(), [])
})

test('bounded by count, bytes and the capped topics\' share: the rest counted, not held', () => {
  const early = new EarlyInbox({ maxMessages: 3, maxBytes: 10, maxCapped: 1 })
  early.routes(['jobs'], ['offers'])
  early.take('offers', b('o1'))
  early.take('offers', b('o2')) // past the capped topic's share
  early.take('jobs', b('123456789')) // 2 + 9 > 10 bytes
  early.take('jobs', b('j1'))
  early.take('jobs', b('j2'))
  early.take('jobs', b('j3')) // past the count
  assert.is(early.size, 3)
  assert.equal(early.overflowed(), [{ topic: 'offers', count: 1 }, { topic: 'jobs', count: 2 }])
  assert.equal(early.overflowed(), [], 'reported once')
})

test('a handler that throws does not stop the next one', () => {
  const early = new EarlyInbox()
  early.take('jobs', b('bad'))
  early.take('jobs', b('good'))
  const got: string[] = []
  const errors: string[] = []
  early.release('jobs', (_t, p) => {
    if (p.toString() === 'bad') throw new Error('bug')
    got.push(p.toString())
  }, (t, e) => errors.push(`${t}: ${(e as Error).message}`))
  assert.equal(got, ['good'])
  assert.equal(errors, ['jobs: bug'])
})

test.run()

/**
 * The lease book's pick rule, on its own:
 *   score = (price + 1) × (1 + in-flight / slots) × (0.5 on the requester's site); lowest wins,
 * equal scores go to the agent idle longest; expired leases are dropped.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { LeaseBook, type Lease } from './leases.ts'

const lease = (agent: string, o: Partial<Lease> = {}): Lease => ({ agent, publicKey: '00'.repeat(32), price: 1, slots: 1, site: undefined, until: 10_000, ...o })
const all = () => true
const idle = () => 0

test('the lowest price wins between idle agents; price 0 still counts load', () => {
  const book = new LeaseBook(undefined)
  book.grant('k', [lease('dear', { price: 5 }), lease('cheap', { price: 2 })], 5000)
  assert.is(book.pick('k', 0, all, idle)?.agent, 'cheap')
  const free = new LeaseBook(undefined)
  free.grant('k', [lease('f1', { price: 0 }), lease('f2', { price: 0 })], 5000)
  // (0 + 1) × (1 + 1/1) = 2 for a busy f1 against 1 for an idle f2
  assert.is(free.pick('k', 0, all, (a) => (a === 'f1' ? 1 : 0))?.agent, 'f2')
})

test('load spreads by in-flight per slot: a 4-slot agent with 2 in flight beats a 1-slot agent with 1', () => {
  const book = new LeaseBook(undefined)
  book.grant('k', [lease('small', { slots: 1 }), lease('big', { slots: 4 })], 5000)
  const inflight = (a: string) => (a === 'big' ? 2 : 1)
  // big: 2 × 1.5 = 3; small: 2 × 2 = 4
  assert.is(book.pick('k', 0, all, inflight)?.agent, 'big')
})

test('the requester site halves the score: a local agent at price 2 beats a remote one at price 1', () => {
  const book = new LeaseBook('north')
  book.grant('k', [lease('remote', { price: 1, site: 'south' }), lease('local', { price: 2, site: 'north' })], 5000)
  assert.is(book.pick('k', 0, all, idle)?.agent, 'local') // 3 × 0.5 = 1.5 < 2
  const farther = new LeaseBook('north')
  farther.grant('k', [lease('remote', { price: 1, site: 'south' }), lease('local', { price: 4, site: 'north' })], 5000)
  assert.is(farther.pick('k', 0, all, idle)?.agent, 'remote') // 5 × 0.5 = 2.5 > 2
  const nowhere = new LeaseBook(undefined)
  nowhere.grant('k', [lease('remote', { price: 1, site: 'south' }), lease('local', { price: 2, site: 'north' })], 5000)
  assert.is(nowhere.pick('k', 0, all, idle)?.agent, 'remote', 'no site of its own: no preference')
})

test('equal scores go to the agent idle longest, even within one millisecond', () => {
  const book = new LeaseBook(undefined)
  book.grant('k', [lease('a'), lease('b'), lease('c')], 5000)
  const picked = Array.from({ length: 6 }, () => book.pick('k', 0, all, idle)?.agent)
  assert.equal(picked, ['a', 'b', 'c', 'a', 'b', 'c'])
  // a new auction keeps what each agent's lease knew of its last use
  book.grant('k', [lease('c'), lease('a'), lease('b')], 5000)
  assert.is(book.pick('k', 0, all, idle)?.agent, 'a')
})

test('expired leases are dropped; unusable agents skipped; an agent that did not bid again keeps its lease until it expires', () => {
  const book = new LeaseBook(undefined)
  book.grant('k', [lease('short', { price: 0, until: 100 }), lease('long', { price: 5, until: 1000 })], 70)
  assert.is(book.pick('k', 50, all, idle)?.agent, 'short')
  assert.is(book.pick('k', 50, (a) => a !== 'short', idle)?.agent, 'long', 'skipped, not dropped')
  assert.is(book.pick('k', 100, all, idle)?.agent, 'long', 'short expired at 100')
  book.grant('k', [lease('other', { price: 9, until: 2000 })], 1400)
  assert.is(book.pick('k', 500, all, idle)?.agent, 'long', 'long did not bid again and still holds')
  assert.is(book.pick('k', 1000, all, idle)?.agent, 'other')
  assert.is(book.pick('k', 2000, all, idle), undefined)
  assert.is(book.pick('unknown', 0, all, idle), undefined)
})

test('refresh: due at the time the auction set, at once after refreshAll; drop forgets an agent in every group', () => {
  const book = new LeaseBook(undefined)
  assert.ok(book.dueForRefresh('k', 0), 'a group never auctioned is due')
  book.grant('k', [lease('a')], 700)
  book.grant('j', [lease('a'), lease('b')], 700)
  assert.not.ok(book.dueForRefresh('k', 699))
  assert.ok(book.dueForRefresh('k', 700))
  book.refreshAll()
  assert.ok(book.dueForRefresh('k', 0))
  book.drop('a')
  assert.is(book.pick('k', 0, all, idle), undefined)
  assert.is(book.pick('j', 0, all, idle)?.agent, 'b')
})

test('a refreshAll while an auction was out makes its group due again at once (a join during the offer is not lost)', () => {
  const book = new LeaseBook(undefined)
  const since = book.generation
  book.refreshAll() // an agent joined while the offer was out
  book.grant('k', [lease('a')], 5000, since)
  assert.ok(book.dueForRefresh('k', 1))
  book.grant('k', [lease('a')], 5000, book.generation)
  assert.not.ok(book.dueForRefresh('k', 1))
})

test.run()

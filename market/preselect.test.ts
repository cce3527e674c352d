/**
 * Pre-selection: whom an offer goes to (the ranking, exploration, the
 * broadcast fallback for older agents), then on the twins (in-memory bus,
 * manual clock, scripted agents): an offer reaches only the chosen, and
 * widens to every eligible agent when the chosen stay silent.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ValidationError } from '../protocol/errors.ts'
import { topics } from '../protocol/topics.ts'
import { MODULE, startBusMarket } from '../test/support/bus-market.ts'
import { mulberry32 } from '../test/support/rng.ts'
import type { AuctionReport } from './auction.ts'
import { Preselector, type Candidate } from './preselect.ts'

const cand = (id: string, over: Partial<Candidate> = {}): Candidate => ({ id, price: 1, slots: 1, load: 0, site: undefined, verified: 0, direct: true, ...over })
const ids = (cs: Candidate[]) => cs.map((c) => c.id)

test('at most k eligible agents: every one is offered to, nothing left to widen to', () => {
  const p = new Preselector({ k: 4 })
  const s = p.select([cand('a'), cand('b'), cand('c')])
  assert.equal(ids(s.chosen), ['a', 'b', 'c'])
  assert.ok(s.all)
  assert.not.ok(s.broadcast)
})

test('the best k - explore by price, load, site and record, then explore drawn from the rest', () => {
  const p = new Preselector({ k: 4, explore: 1, random: mulberry32(7) }, 'north')
  const eligible = [
    cand('dear', { price: 9 }),
    cand('cheap', { price: 1 }),
    cand('busy', { price: 1, load: 4, slots: 1 }), // (1+1)·5 = 10
    cand('local', { price: 3, site: 'north' }), // 4·0.5 = 2
    cand('proven', { price: 3, verified: 15 }), // 4/(1+4) = 0.8
    cand('mid', { price: 4 }),
    cand('other', { price: 5 }),
  ]
  const s = p.select(eligible)
  assert.is(s.chosen.length, 4)
  assert.equal(ids(s.chosen).slice(0, 3), ['proven', 'cheap', 'local'], 'best three by score, in order')
  assert.ok(['dear', 'busy', 'mid', 'other'].includes(s.chosen[3]!.id), 'the fourth explored from the rest')
  assert.not.ok(s.all)
})

test('exploration reaches every agent over a few offers (a newcomer gets work and a record)', () => {
  const p = new Preselector({ k: 3, explore: 2, random: mulberry32(1) })
  const eligible = Array.from({ length: 20 }, (_, i) => cand(`a${i}`, { price: 1 + i }))
  const seen = new Set<string>()
  for (let i = 0; i < 60; i++) for (const c of p.select(eligible).chosen) seen.add(c.id)
  assert.is(seen.size, 20, 'all 20 offered to within 60 offers')
})

test('equal scores rotate: the agent offered to longest ago goes first', () => {
  const p = new Preselector({ k: 2, explore: 0 })
  const eligible = ['a', 'b', 'c', 'd'].map((id) => cand(id))
  assert.equal(ids(p.select(eligible).chosen), ['a', 'b'])
  assert.equal(ids(p.select(eligible).chosen), ['c', 'd'])
  assert.equal(ids(p.select(eligible).chosen), ['a', 'b'])
})

test('a chosen agent that does not say directOffers: the offer goes on the broadcast topic', () => {
  const p = new Preselector({ k: 2, explore: 0 })
  const s = p.select([cand('old', { direct: false }), cand('new'), cand('dear', { price: 5 })])
  assert.equal(ids(s.chosen), ['old', 'new'])
  assert.ok(s.broadcast)
})

test('widening: the next widenBy × k by rank, then widenBy² × k, on their own topics; then all that is left on the broadcast topic', () => {
  const p = new Preselector({ k: 2, explore: 0, widenBy: 2 })
  const eligible = Array.from({ length: 40 }, (_, i) => cand(`a${i}`, { price: i }))
  const s = p.select(eligible)
  assert.equal(ids(s.chosen), ['a0', 'a1'])
  assert.is(s.rest.length, 38)
  const w1 = p.widen(s)
  assert.equal(ids(w1.next), ['a2', 'a3', 'a4', 'a5'])
  assert.not.ok(w1.broadcast)
  const w2 = p.widen(s)
  assert.equal(ids(w2.next), ['a6', 'a7', 'a8', 'a9', 'a10', 'a11', 'a12', 'a13'])
  assert.not.ok(w2.broadcast)
  const w3 = p.widen(s) // 16 next would leave 10 of 26: few enough, all of them in one broadcast
  assert.is(w3.next.length, 26)
  assert.ok(w3.broadcast)
  assert.is(s.rest.length, 0)
})

test('k 0 offers to every eligible agent; out-of-range options are refused naming the field', () => {
  const s = new Preselector({ k: 0 }).select(Array.from({ length: 30 }, (_, i) => cand(`a${i}`)))
  assert.is(s.chosen.length, 30)
  assert.ok(s.all)
  for (const [o, field] of [[{ k: -1 }, 'k'], [{ explore: 1.5 }, 'explore']] as const) {
    try {
      new Preselector(o)
      assert.unreachable(`${field} accepted`)
    } catch (err) {
      assert.instance(err, ValidationError)
      assert.match((err as Error).message, field)
    }
  }
})

const job = (id: string) => ({ id, module: MODULE, input: Buffer.from(id) })

test('on the bus: the offer reaches only the k chosen (on their own topics), the job runs on one of them', async () => {
  const m = await startBusMarket(Array.from({ length: 12 }, (_, i) => ({ direct: true, price: 1 + i })), { preselect: { k: 4, explore: 1 } })
  try {
    const broadcast: string[] = []
    const watcher = await m.bus.connect({ clientId: 'watcher' })
    watcher.route(topics.offers, (t) => broadcast.push(t))
    await watcher.subscribe(topics.offers)
    const auctions: AuctionReport[] = []
    m.requester.on('auction', (a) => auctions.push(a))
    const r = await m.requester.submit(job('p1'))
    assert.is(r.status, 'ok')
    const offered = m.agents.filter((a) => a.offers.length > 0)
    assert.is(offered.length, 4, 'four agents heard the offer')
    assert.ok(offered.some((a) => a.id === r.agent), 'the job ran on a chosen agent')
    for (const a of m.agents.slice(0, 3)) assert.ok(a.offers.length > 0, `the cheapest (${a.options.price}) chosen`)
    assert.is(broadcast.length, 0, 'nothing on the broadcast topic')
    assert.equal(auctions, [{ module: MODULE, bids: 4, eligible: 12, ms: 0, offered: 4 }])
    await watcher.close()
  } finally {
    await m.close()
  }
})

test('on the bus: the chosen stay silent, the window ends, the offer widens to every eligible agent', async () => {
  const silent = { direct: true, price: 1, bids: () => false }
  const m = await startBusMarket([silent, silent, { direct: true, price: 7 }, { direct: true, price: 8 }], { preselect: { k: 2, explore: 0 }, auctionWindowMs: 100 })
  try {
    const auctions: AuctionReport[] = []
    m.requester.on('auction', (a) => auctions.push(a))
    const p = m.requester.submit(job('w1'))
    await m.quiet()
    assert.is(m.agents[2]!.offers.length + m.agents[3]!.offers.length, 0, 'the dearer ones not asked yet')
    await m.clock.advance(100)
    const r = await p
    assert.is(r.status, 'ok')
    assert.ok([m.agents[2]!.id, m.agents[3]!.id].includes(r.agent!), 'a widened bidder took it')
    assert.is(auctions.length, 1)
    assert.equal({ offered: auctions[0]!.offered, widened: auctions[0]!.widened, eligible: auctions[0]!.eligible }, { offered: 2, widened: 1, eligible: 4 })
  } finally {
    await m.close()
  }
})

test('on the bus: older agents (no directOffers) still get offers, on the broadcast topic', async () => {
  const m = await startBusMarket([{ price: 1 }, { price: 2 }, { direct: true, price: 3 }], { preselect: { k: 2, explore: 0 } })
  try {
    const r = await m.requester.submit(job('o1'))
    assert.is(r.status, 'ok')
    assert.ok([m.agents[0]!.id, m.agents[1]!.id].includes(r.agent!))
    assert.ok(m.agents[0]!.offers.length === 1 && m.agents[1]!.offers.length === 1)
  } finally {
    await m.close()
  }
})

test.run()

/**
 * Choosing an agent, on the twins (in-memory bus, manual clock): when an
 * auction closes, whose bids count, which lease wins, when leases are
 * auctioned again.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MODULE, startBusMarket } from '../test/support/bus-market.ts'
import type { AuctionReport } from './auction.ts'

const job = (id: string, extra: object = {}) => ({ id, module: MODULE, input: Buffer.from(id), ...extra })

test('an auction closes as soon as every eligible agent bid: no waiting for the window', async () => {
  const m = await startBusMarket([{}, {}])
  try {
    const auctions: AuctionReport[] = []
    m.requester.on('auction', (a) => auctions.push(a))
    const r = await m.requester.submit(job('a1')) // the clock never moves
    assert.is(r.status, 'ok')
    assert.equal(auctions, [{ module: MODULE, bids: 2, eligible: 2, ms: 0 }])
  } finally {
    await m.close()
  }
})

test('an auction waits out its window for a silent eligible agent, then takes the bids it has', async () => {
  const m = await startBusMarket([{ price: 5 }, { price: 1, bids: () => false }], { auctionWindowMs: 100 })
  try {
    const auctions: AuctionReport[] = []
    m.requester.on('auction', (a) => auctions.push(a))
    let answered = false
    const p = m.requester.submit(job('w1')).then((r) => ((answered = true), r))
    await m.quiet()
    await m.clock.advance(99)
    assert.not.ok(answered, 'the window is still open')
    await m.clock.advance(1)
    const r = await p
    assert.is(r.agent, m.agents[0]!.id, 'the only bidder, dearer as it is')
    assert.equal(auctions, [{ module: MODULE, bids: 1, eligible: 2, ms: 100 }])
  } finally {
    await m.close()
  }
})

test('a window that ends with no bid stays open for the first late one; with none at all, no_agents after noBidWaitMs', async () => {
  const m = await startBusMarket([{ bidAfterMs: 700 }], { auctionWindowMs: 100 })
  try {
    const auctions: AuctionReport[] = []
    m.requester.on('auction', (a) => auctions.push(a))
    let answered = false
    const p = m.requester.submit(job('late1')).then((r) => ((answered = true), r))
    await m.quiet()
    await m.clock.advance(699)
    assert.not.ok(answered, 'no bid yet: still waiting past the 100 ms window')
    await m.clock.advance(1)
    const r = await p
    assert.is(r.status, 'ok', 'the late bid won instead of no_agents')
    assert.equal(auctions, [{ module: MODULE, bids: 1, eligible: 1, ms: 700 }])
  } finally {
    await m.close()
  }
  const silent = await startBusMarket([{ bids: () => false }], { auctionWindowMs: 100 })
  try {
    const p = silent.requester.submit(job('late2'))
    await silent.quiet()
    await silent.clock.advance(2000)
    const r = await p
    assert.is(r.error?.code, 'no_agents')
  } finally {
    await silent.close()
  }
})

test('ineligible agents are neither waited for nor counted, even when they bid; bids above maxPrice are dropped', async () => {
  const m = await startBusMarket([
    { labels: { site: 'a' } },
    { labels: { site: 'b' } }, // wrong label, bids anyway
    { labels: { site: 'a' }, arch: 'mips' }, // wrong arch, bids anyway
    { labels: { site: 'a' }, price: 9 }, // above maxPrice
    { labels: { site: 'a' }, price: 1, bidPrice: 50 }, // advertises 1, bids 50: dropped, and the auction waits no longer for it
  ])
  try {
    const auctions: AuctionReport[] = []
    m.requester.on('auction', (a) => auctions.push(a))
    const r = await m.requester.submit(job('e1', { constraints: { labels: { site: 'a' }, arch: process.arch }, maxPrice: 5 }))
    assert.is(r.agent, m.agents[0]!.id)
    assert.equal(auctions, [{ module: MODULE, bids: 1, eligible: 2, ms: 0 }])
  } finally {
    await m.close()
  }
})

test('no eligible agent: no_agents at once, nothing offered', async () => {
  const m = await startBusMarket([{}])
  try {
    const r = await m.requester.submit(job('n1', { constraints: { agents: ['nobody'] } }))
    assert.is(r.status, 'error')
    assert.is(r.error?.code, 'no_agents')
    assert.is(r.attempts, 0)
    assert.is(m.agents[0]!.offers.length, 0)
  } finally {
    await m.close()
  }
})

test('lease pick: price decides between idle agents; the requester site halves an agent\'s price', async () => {
  const plain = await startBusMarket([{ price: 3 }, { price: 1 }])
  try {
    assert.is((await plain.requester.submit(job('p1'))).agent, plain.agents[1]!.id)
  } finally {
    await plain.close()
  }
  // (2 + 1) × 0.5 = 1.5 beats (1 + 1) = 2
  const local = await startBusMarket([{ price: 2, labels: { site: 'north' } }, { price: 1, labels: { site: 'south' } }], { site: 'north' })
  try {
    assert.is((await local.requester.submit(job('p2'))).agent, local.agents[0]!.id)
  } finally {
    await local.close()
  }
})

test('lease pick: load spreads over equal agents, and equal scores go to the agent idle longest', async () => {
  const m = await startBusMarket([{ price: 1, answer: () => undefined }, { price: 1, answer: () => undefined }])
  try {
    // two jobs in flight at once: the second goes to the other agent (in-flight raises the score)
    void m.requester.submit(job('l1'))
    void m.requester.submit(job('l2'))
    await m.quiet()
    assert.equal(m.agents.map((a) => a.assignments.length), [1, 1])
  } finally {
    await m.close()
  }
  const seq = await startBusMarket([{ price: 1 }, { price: 1 }])
  try {
    const order: string[] = []
    for (let i = 0; i < 4; i++) order.push((await seq.requester.submit(job(`t${i}`))).agent!)
    const [a, b] = seq.agents.map((x) => x.id)
    assert.ok(order[0] === a || order[0] === b)
    assert.equal(order, [order[0], order[1], order[0], order[1]], 'idle longest first: they take turns')
    assert.is.not(order[0], order[1])
  } finally {
    await seq.close()
  }
})

test('leases carry jobs without auctions; after 70% of the shortest lease one refresh auction runs; expired leases are not used', async () => {
  const m = await startBusMarket([{ leaseMs: 1000 }])
  try {
    const agent = m.agents[0]!
    for (let i = 0; i < 3; i++) assert.is((await m.requester.submit(job(`r${i}`))).status, 'ok')
    assert.is(agent.offers.length, 1, 'one auction, three jobs')
    await m.clock.advance(700)
    assert.is((await m.requester.submit(job('r3'))).status, 'ok')
    await m.quiet()
    assert.is(agent.offers.length, 2, 'the lease was used, and refreshed in the background')
    assert.is(agent.assignments.length, 4)
    await m.clock.advance(1001)
    assert.is((await m.requester.submit(job('r4'))).status, 'ok')
    assert.is(agent.offers.length, 3, 'an expired lease needs a new auction')
  } finally {
    await m.close()
  }
})

test.run()

/**
 * The requester on the twins (in-memory bus, manual clock, scripted agents):
 * wrong results an agent signed, and failed agents, cost an attempt and move
 * the job to another agent (and put the agent in the penalty box); results
 * anyone could have forged are ignored and the real one wins; job faults do
 * not move the job; the attempts are capped; a job id is answered once;
 * options are checked.
 */
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ValidationError } from '../protocol/errors.ts'
import { createSigner, signResult } from '../protocol/signature.ts'
import { MemoryBus } from '../protocol/transport/memory-bus.ts'
import { MODULE, startBusMarket } from '../test/support/bus-market.ts'
import type { ScriptedAgent, WireAssign } from '../test/support/scripted-agent.ts'
import { Requester } from './requester.ts'

const job = (id: string, extra: object = {}) => ({ id, module: MODULE, input: Buffer.from(`input of ${id}`), ...extra })
const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

/** Wrong results the agent signed itself: its own doing. */
const SIGNED_WRONG: Record<string, (j: WireAssign, a: ScriptedAgent) => object | string> = {
  'another input': (j, a) => a.honest({ ...j, input: Buffer.from('other').toString('base64') }),
  'another module': (j, a) => a.honest({ ...j, module: 'cd'.repeat(32) }),
}

/** Results anyone on the broker could have made (from nothing, or from the agent's genuine result). */
const FORGEABLE: Record<string, (j: WireAssign, a: ScriptedAgent) => object | string> = {
  'signed by another key': (j, a) => {
    const { signature: _, ...r } = a.honest(j)
    return { ...r, signature: signResult(r, createSigner(randomBytes(32))) }
  },
  'output does not hash to outputSha256': (j, a) => ({ ...a.honest(j), output: Buffer.from('swapped').toString('base64') }),
  'output swapped with a matching hash': (j, a) => ({ ...a.honest(j), output: Buffer.from('swapped').toString('base64'), outputSha256: sha('swapped') }),
  'an ok result without output': (j, a) => ({ ...a.honest(j), output: undefined }),
  'a result that fails validation': (j, a) => ({ type: 'result', id: j.id, attempt: j.attempt, agent: a.id, status: 'ok', output: 42 }),
}

for (const [what, answer] of Object.entries(SIGNED_WRONG)) {
  test(`a wrong result the agent signed (${what}) costs it the job and a strike: retried on the next one at once`, async () => {
    const m = await startBusMarket([{ price: 0, answer }, { price: 5 }])
    try {
      const failed: string[] = []
      const boxed: string[] = []
      m.requester.on('attemptFailed', (f) => failed.push(f.agent))
      m.requester.on('boxed', (b) => boxed.push(b.agent))
      const r = await m.requester.submit(job('v1')) // the clock never moves
      assert.is(r.status, 'ok')
      assert.is(r.agent, m.agents[1]!.id)
      assert.is(r.attempts, 2)
      assert.equal(r.output, Buffer.from('input of v1'))
      assert.equal(failed, [m.agents[0]!.id])
      assert.equal(boxed, [m.agents[0]!.id])
      // the failed agent loses its lease and sits in the box: the next job goes straight to the honest one
      assert.is((await m.requester.submit(job('v2'))).attempts, 1)
      assert.is(m.agents[0]!.assignments.length, 1)
    } finally {
      await m.close()
    }
  })
}

for (const [what, answer] of Object.entries(FORGEABLE)) {
  test(`a forgeable result (${what}) is ignored: the attempt waits for the real one, which wins`, async () => {
    const m = await startBusMarket([{ price: 0, answer: () => undefined }, { price: 5 }])
    try {
      const forged: string[] = []
      const failed: string[] = []
      m.requester.on('forged', (f) => forged.push(f.reason))
      m.requester.on('rejected', (f) => forged.push(f.code))
      m.requester.on('attemptFailed', (f) => failed.push(f.agent))
      const [slow] = m.agents as [ScriptedAgent, ScriptedAgent]
      const p = m.requester.submit(job('f1'))
      await m.quiet()
      const assigned = slow.assignments[0]!
      // the forgery arrives first, in the assigned agent's name
      slow.conn.publish(assigned.replyTo, JSON.stringify(answer(assigned, slow)), { qos: 1 })
      await m.quiet()
      assert.is(forged.length, 1, forged.join())
      slow.conn.publish(assigned.replyTo, JSON.stringify(slow.honest(assigned)), { qos: 1 })
      const r = await p
      assert.equal([r.status, r.agent, r.attempts], ['ok', slow.id, 1])
      assert.equal(r.output, Buffer.from('input of f1'))
      assert.equal(failed, [])
    } finally {
      await m.close()
    }
  })
}

test('garbage that names no attempt cannot be pinned on anyone: the attempt times out, then the next agent runs the job', async () => {
  const m = await startBusMarket([{ price: 0, answer: () => '{"type":"result", oops' }, { price: 5 }])
  try {
    const rejected: string[] = []
    m.requester.on('rejected', (e) => rejected.push(e.code))
    const p = m.requester.submit(job('nj', { limits: { timeoutMs: 1000 } }))
    await m.quiet()
    assert.equal(rejected, ['invalid_json'])
    await m.clock.advance(4000)
    const r = await p
    assert.is(r.agent, m.agents[1]!.id)
    assert.is(r.attempts, 2)
  } finally {
    await m.close()
  }
})

test('a result answered by another agent than the one assigned is refused', async () => {
  const m = await startBusMarket([{ price: 0, answer: () => undefined }, { price: 5 }])
  try {
    const [silent, other] = m.agents as [ScriptedAgent, ScriptedAgent]
    const p = m.requester.submit(job('x1', { limits: { timeoutMs: 1000 } }))
    await m.quiet()
    // the other (honest) agent answers the assignment it was not given
    other.conn.publish(silent.assignments[0]!.replyTo, JSON.stringify(other.honest(silent.assignments[0]!)), { qos: 1 })
    await m.quiet()
    await m.clock.advance(4000)
    const r = await p
    assert.is(r.attempts, 2)
    assert.is(r.agent, other.id)
  } finally {
    await m.close()
  }
})

test('retryable error results (overloaded, internal, closed, rejected, limit_exceeded) move the job; job faults are the answer', async () => {
  for (const code of ['overloaded', 'internal', 'closed', 'rejected', 'limit_exceeded']) {
    const m = await startBusMarket([{ price: 0, answer: (j, a) => a.failing(j, code) }, { price: 5 }])
    try {
      const r = await m.requester.submit(job(`c-${code}`))
      assert.is(r.status, 'ok', code)
      assert.is(r.attempts, 2, code)
    } finally {
      await m.close()
    }
  }
  const m = await startBusMarket([{ price: 0, answer: (j, a) => a.failing(j, 'trap') }, { price: 5 }])
  try {
    const r = await m.requester.submit(job('fault'))
    assert.is(r.status, 'error')
    assert.equal(r.error, { code: 'trap', message: 'scripted trap' })
    assert.is(r.attempts, 1)
    assert.is(r.agent, m.agents[0]!.id, 'signed by the agent that computed it')
    assert.is(m.agents[1]!.assignments.length, 0)
  } finally {
    await m.close()
  }
})

test('a silent agent costs one attempt timeout (job timeout + slack), then the next agent runs the job', async () => {
  const m = await startBusMarket([{ price: 0, answer: () => undefined }, { price: 5 }], { attemptSlackMs: 500 })
  try {
    let done = false
    const boxed: Array<{ strikes: number; forMs: number }> = []
    m.requester.on('boxed', (b) => boxed.push({ strikes: b.strikes, forMs: b.forMs }))
    const p = m.requester.submit(job('t1', { limits: { timeoutMs: 1000 } })).then((r) => ((done = true), r))
    await m.quiet()
    await m.clock.advance(1499)
    assert.not.ok(done)
    await m.clock.advance(1)
    const r = await p
    assert.is(r.status, 'ok')
    assert.is(r.attempts, 2)
    assert.equal(boxed, [{ strikes: 1, forMs: 5000 }], 'the silent agent sits out 5 s')
  } finally {
    await m.close()
  }
})

test('an assigned agent that goes away (its last will) fails the attempt at once, without waiting for the timeout', async () => {
  const m = await startBusMarket([{ price: 0, answer: () => undefined }, { price: 5 }])
  try {
    const failed: string[] = []
    m.requester.on('attemptFailed', (f) => failed.push(f.reason))
    const p = m.requester.submit(job('g1'))
    await m.quiet()
    assert.is(m.agents[0]!.assignments.length, 1)
    m.bus.drop(m.agents[0]!.conn.clientId)
    const r = await p // the clock never moves
    assert.is(r.agent, m.agents[1]!.id)
    assert.match(failed[0]!, /went offline \(lost\)/)
    assert.is(m.requester.directory.get(m.agents[0]!.id)?.state, 'gone')
  } finally {
    await m.close()
  }
})

test('attempts are capped: agent_failed after maxAttempts agents, or when no agent is left', async () => {
  const garbage = (j: WireAssign, a: ScriptedAgent) => a.honest({ ...j, input: Buffer.from('not the input').toString('base64') })
  const m = await startBusMarket([{ price: 0, answer: garbage }, { price: 1, answer: garbage }, { price: 2, answer: garbage }], { maxAttempts: 2 })
  try {
    const r = await m.requester.submit(job('cap'))
    assert.is(r.error?.code, 'agent_failed')
    assert.is(r.attempts, 2)
    assert.match(r.error!.message, /^failed on 2 agents; last: refused result: result names another input/)
    assert.equal(m.agents.map((a) => a.assignments.length), [1, 1, 0])
  } finally {
    await m.close()
  }
  const one = await startBusMarket([{ answer: garbage }], { maxAttempts: 3 })
  try {
    const r = await one.requester.submit(job('left'))
    assert.is(r.error?.code, 'agent_failed')
    assert.is(r.attempts, 1)
    assert.match(r.error!.message, /^no agent left to retry on after: /)
  } finally {
    await one.close()
  }
})

test('unreachable agents (heartbeats stopped, presence still online) are not assigned', async () => {
  const m = await startBusMarket([{ price: 0, heartbeatMs: 1000 }, { price: 5, heartbeatMs: 1000 }])
  try {
    m.agents[0]!.pause()
    await m.clock.advance(3500)
    assert.is(m.requester.directory.get(m.agents[0]!.id)?.state, 'unreachable')
    const r = await m.requester.submit(job('u1'))
    assert.is(r.agent, m.agents[1]!.id)
    assert.is(r.attempts, 1)
  } finally {
    await m.close()
  }
})

test('a job id is answered once: concurrent and later submissions get the same answer, one assignment', async () => {
  const m = await startBusMarket([{}])
  try {
    const a = m.requester.submit(job('same'))
    const b = m.requester.submit(job('same', { input: Buffer.from('different input') }))
    assert.is(a, b)
    const r = await a
    assert.is(await m.requester.submit(job('same')), r)
    assert.is(m.agents[0]!.assignments.length, 1)
    // ids are per requester: a random one is given when none is
    const fresh = await m.requester.submit({ module: MODULE, input: Buffer.from('x') })
    assert.match(fresh.id, /^[0-9a-f]{16}$/)
  } finally {
    await m.close()
  }
})

test('the requester keeps at most answersKept answers', async () => {
  const m = await startBusMarket([{}], { answersKept: 2 })
  try {
    for (const id of ['k1', 'k2', 'k3']) await m.requester.submit(job(id))
    await m.requester.submit(job('k1')) // forgotten: run again
    assert.is(m.agents[0]!.assignments.length, 4)
  } finally {
    await m.close()
  }
})

test('a closed requester answers closed; pending attempts end', async () => {
  const m = await startBusMarket([{ answer: () => undefined }])
  const p = m.requester.submit(job('p1'))
  await m.quiet()
  await m.requester.close()
  const r = await p
  assert.is(r.status, 'error')
  assert.is((await m.requester.submit(job('p2'))).error?.code, 'closed')
  for (const a of m.agents) await a.conn.close()
})

test('the penalty box: a silent agent at price 0 sits out 5 s, then 10 s (then 20 s, unless reputation drops it first); the honest one carries the jobs meanwhile', async () => {
  const m = await startBusMarket([{ price: 0, answer: () => undefined, leaseMs: 1000 }, { price: 5, leaseMs: 1000 }], { attemptSlackMs: 0 })
  try {
    const boxed: number[] = []
    m.requester.on('boxed', (b) => boxed.push(b.forMs))
    const [silent, honest] = m.agents as [ScriptedAgent, ScriptedAgent]
    const tried: number[] = []
    const t0 = m.clock.now()
    for (let step = 0; step < 200 && boxed.length < 3; step++) {
      const before = silent.assignments.length
      const p = m.requester.submit(job(`pb${step}`, { limits: { timeoutMs: 1000 } }))
      await m.quiet()
      if (silent.assignments.length > before) {
        tried.push(m.clock.now() - t0)
        await m.clock.advance(1000) // it never answers: the attempt times out
      }
      const r = await p
      assert.equal([r.status, r.agent], ['ok', honest.id])
      await m.clock.advance(500)
    }
    // doubling per strike; verification's reputation (market/reputation.ts) may drop it for good after two timeouts
    assert.equal(boxed.slice(0, 2), [5000, 10_000])
    if (boxed.length > 2) assert.is(boxed[2], 20_000)
    // tried at once, then only after each time out (plus the attempt's own 1 s)
    assert.ok(tried.length >= 2 && tried.length <= 3, tried.join())
    assert.ok(tried[1]! - tried[0]! >= 6000 && (tried.length < 3 || tried[2]! - tried[1]! >= 11_000), tried.join())
    assert.is(m.requester.penalties.strikesOf(silent.id), tried.length)
  } finally {
    await m.close()
  }
})

test('newcomers: with agents of record usable, a price-0 newcomer gets at most its share and one job in flight', async () => {
  const m = await startBusMarket([{ price: 5, slots: 8 }, { price: 5, slots: 8 }], { newcomerJobs: 30, newcomerMs: 0, newcomerShare: 0.1, newcomerWindow: 100 })
  try {
    for (let i = 0; i < 80; i++) await m.requester.submit(job(`warm${i}`))
    assert.not.ok(m.requester.record.isNewcomer(m.agents[0]!.id))
    const { ScriptedAgent } = await import('../test/support/scripted-agent.ts')
    const fresh = await ScriptedAgent.start(m.bus, { name: 'fresh', price: 0, slots: 4096, clock: m.clock })
    await m.requester.directory.waitFor(3, 1000)
    await m.clock.advance(1000) // the join is heard at the next refresh
    const answers = []
    for (let b = 0; b < 20; b++) answers.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => m.requester.submit(job(`n${b}-${i}`))))))
    const mine = answers.filter((r) => r.agent === fresh.id).length
    assert.ok(answers.every((r) => r.status === 'ok'))
    assert.ok(mine >= 10 && mine <= 20, `the newcomer ran ${mine} of 200`)
    assert.ok(m.requester.record.isNewcomer(fresh.id), 'still short of its 30 verified results')
    // with a record it competes on price like anyone
    for (let i = 0; i < 200 && m.requester.record.isNewcomer(fresh.id); i++) await m.requester.submit(job(`more${i}`))
    assert.is((await m.requester.submit(job('after'))).agent, fresh.id)
    await fresh.conn.close()
  } finally {
    await m.close()
  }
})

test('bids count only when signed by the agent they name; admit restricts the requester to known agents', async () => {
  const m = await startBusMarket([{ price: 5 }, { price: 9, bidAfterMs: 20 }], { auctionWindowMs: 100 }) // a1's own bid comes after the forged one: only a bid that could count has its signature checked
  try {
    const refused: string[] = []
    m.requester.on('refusedBid', (b) => refused.push(`${b.agent === m.agents[0]!.id ? 'a0' : 'a1'} ${b.reason}`))
    // an outsider answers every offer with a price-0 bid in agent 1's name
    const outsider = await m.bus.connect()
    outsider.route('fm/v1/market/offers', (_t, p) => {
      const o = JSON.parse(p.toString())
      outsider.publish(o.replyTo, JSON.stringify({ type: 'bid', offerId: o.offerId, agent: m.agents[1]!.id, price: 0, load: { running: 0, queued: 0 }, slots: 4096, leaseMs: 60_000, signature: 'A'.repeat(86) + '==' }))
    })
    await outsider.subscribe('fm/v1/market/offers')
    const pending = m.requester.submit(job('b1'))
    await m.clock.advance(20)
    const r = await pending
    await m.quiet()
    assert.is(r.agent, m.agents[0]!.id, 'the forged cheap bid did not count')
    assert.ok(refused.includes('a1 bid not signed by the agent it names'), refused.join())
    await outsider.close()
  } finally {
    await m.close()
  }
  const only = await startBusMarket([{ price: 0 }, { price: 9 }])
  try {
    await only.requester.close()
    const r2 = await Requester.start({ broker: only.bus, clock: only.clock, admit: [only.agents[1]!.id] })
    await r2.directory.waitFor(2, 1000)
    const refused: string[] = []
    r2.on('refusedBid', (b) => refused.push(b.reason))
    const r = await r2.submit(job('adm'))
    assert.is(r.agent, only.agents[1]!.id)
    await r2.close()
  } finally {
    for (const a of only.agents) await a.conn.close()
  }
})

test('a presence republished, or a reconnect, reopens no lease; a new agent joining does (at most once per refreshMinMs)', async () => {
  const m = await startBusMarket([{ price: 1, leaseMs: 3_600_000 }])
  try {
    let auctions = 0
    m.requester.on('auction', () => auctions++)
    await m.requester.submit(job('l0'))
    assert.is(auctions, 1)
    const a = m.agents[0]!
    const { topics } = await import('../protocol/topics.ts')
    for (let i = 0; i < 20; i++) {
      if (i === 10) a.newEpoch()
      await a.conn.publishAsync(topics.presence(a.id), JSON.stringify(a.presence()), { retain: true })
      await m.quiet()
      await m.requester.submit(job(`l${i + 1}`))
    }
    await m.quiet()
    assert.is(auctions, 1, 'republished presences reopened no lease')
    const { ScriptedAgent } = await import('../test/support/scripted-agent.ts')
    const b = await ScriptedAgent.start(m.bus, { clock: m.clock })
    await m.quiet()
    await m.clock.advance(1000)
    await m.requester.submit(job('l-new'))
    await m.quiet()
    assert.is(auctions, 2, 'the new agent is heard')
    await b.conn.close()
  } finally {
    await m.close()
  }
})

test('options out of range are refused with the field named', async () => {
  const bus = new MemoryBus()
  for (const [field, value] of [['maxAttempts', 0], ['maxAttempts', 101], ['auctionWindowMs', 0], ['attemptSlackMs', -1], ['defaultTimeoutMs', 1.5], ['answersKept', 0], ['newcomerShare', 2], ['penaltyBaseMs', -1], ['newcomerInFlight', 0]] as const) {
    const err = await Requester.start({ broker: bus, [field]: value }).then(() => undefined, (e: unknown) => e)
    assert.instance(err, ValidationError, `${field}=${value}`)
    assert.is((err as ValidationError).field, `requester.${field}`)
  }
  assert.equal(bus.clientIds(), [], 'a refused start leaves no connection behind')
})

test.run()

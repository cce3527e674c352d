/**
 * Verification on the twins (in-memory bus, manual clock, scripted agents): k copies on distinct
 * agents, a liar outvoted, a colluding pair outvoted by referees, no_quorum, the `all` rule,
 * distinct sites preferred, spot checks catching a liar, reputation moving the pick, bounds.
 * Every quorum certificate is checked with the public verifier.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { verifyQuorumCertificate } from '../protocol/quorum-certificate.ts'
import { MODULE, startBusMarket } from '../test/support/bus-market.ts'
import { mulberry32 } from '../test/support/rng.ts'
import type { ScriptedAgent, WireAssign } from '../test/support/scripted-agent.ts'
import type { VerifierEvents } from './verification.ts'

const job = (id: string, extra: object = {}) => ({ id, module: MODULE, input: Buffer.from(`input of ${id}`), ...extra })
const lie = (j: WireAssign, a: ScriptedAgent) => a.honest(j, Buffer.from('a lie, correctly signed'))
const keysOf = (agents: ScriptedAgent[]) => (id: string) => agents.find((a) => a.id === id)?.publicKey

test('redundancy 3 on honest agents: three distinct agents agree; the certificate verifies', async () => {
  const m = await startBusMarket([{}, {}, {}, {}])
  try {
    const r = await m.requester.submit(job('q1', { redundancy: 3 }))
    assert.is(r.status, 'ok', JSON.stringify(r.error))
    assert.equal(r.output, Buffer.from('input of q1'))
    const qc = r.quorum!
    assert.is(qc.agreeing.length, 3)
    assert.is(new Set(qc.agreeing.map((s) => s.agent)).size, 3, 'distinct agents')
    assert.is(qc.dissenting, 0)
    assert.equal(verifyQuorumCertificate(qc, { keys: keysOf(m.agents) }), { ok: true, agents: qc.agreeing.map((s) => s.agent) })
    const ran = m.agents.filter((a) => a.assignments.length > 0)
    assert.is(ran.length, 3)
    // every copy ran the same deterministic job: same id, explicit limits, attempts numbered apart
    const assigns = ran.map((a) => a.assignments[0]!)
    assert.ok(assigns.every((x) => x.id === assigns[0]!.id && x.limits?.fuel === 1e10 && x.limits?.memoryMiB === 64))
    assert.is(new Set(assigns.map((x) => x.attempt)).size, 3)
  } finally {
    await m.close()
  }
})

test('a liar among three is outvoted; a referee makes the contested result a quorum of three', async () => {
  const m = await startBusMarket([{ price: 0, answer: lie }, {}, {}, {}])
  try {
    const dissent: VerifierEvents['dissent'][0][] = []
    m.requester.verifier.on('dissent', (d) => dissent.push(d))
    const r = await m.requester.submit(job('q2', { redundancy: 3 }))
    assert.is(r.status, 'ok')
    assert.equal(r.output, Buffer.from('input of q2'), 'the truth stands')
    assert.is(r.quorum!.agreeing.length, 3)
    assert.is(r.quorum!.dissenting, 1)
    assert.ok(verifyQuorumCertificate(r.quorum!).ok)
    assert.equal(dissent[0]?.outvoted, [m.agents[0]!.id])
    assert.is(dissent[0]?.referees, 1)
    assert.is(m.requester.verifier.reputation.get(m.agents[0]!.id)?.mismatched, 1)
  } finally {
    await m.close()
  }
})

test('an agent that hit its deadline is outvoted but scored as timed out, not as a liar', async () => {
  const m = await startBusMarket([{ price: 0, answer: (j, a) => a.failing(j, 'deadline') }, {}, {}, {}])
  try {
    const r = await m.requester.submit(job('q-late', { redundancy: 3 }))
    assert.is(r.status, 'ok')
    assert.is(r.quorum!.dissenting, 1)
    const rep = m.requester.verifier.reputation.get(m.agents[0]!.id)
    assert.equal([rep?.mismatched, rep?.timedOut], [0, 1])
  } finally {
    await m.close()
  }
})

test('a colluding pair (the same lie) assigned with one honest agent is outvoted by referees', async () => {
  const m = await startBusMarket([{ price: 0, answer: lie }, { price: 0, answer: lie }, {}, {}, {}])
  try {
    const r = await m.requester.submit(job('q3', { redundancy: 3 }))
    assert.is(r.status, 'ok')
    assert.equal(r.output, Buffer.from('input of q3'))
    assert.is(r.quorum!.agreeing.length, 3)
    assert.is(r.quorum!.dissenting, 2)
    assert.not.ok(r.quorum!.agreeing.some((s) => s.agent === m.agents[0]!.id || s.agent === m.agents[1]!.id))
  } finally {
    await m.close()
  }
})

test('no referee left to break the tie: no_quorum, never the liars\' answer', async () => {
  const m = await startBusMarket([{ price: 0, answer: lie }, { price: 0, answer: lie }, {}])
  try {
    const r = await m.requester.submit(job('q4', { redundancy: 3 }))
    assert.is(r.status, 'error')
    assert.is(r.error?.code, 'no_quorum')
    assert.is(r.output, undefined)
  } finally {
    await m.close()
  }
})

test('`all` needs every agent: one missing agent is no_quorum; with enough agents it stands', async () => {
  const m = await startBusMarket([{}, {}])
  try {
    const r = await m.requester.submit(job('q5', { redundancy: 3, quorum: 'all' }))
    assert.is(r.error?.code, 'no_quorum')
    const maj = await m.requester.submit(job('q6', { redundancy: 3, quorum: 'majority' }))
    assert.is(maj.status, 'ok', 'two of three is a majority when nobody disagrees')
    assert.is(maj.quorum!.agreeing.length, 2)
    assert.ok(verifyQuorumCertificate(maj.quorum!).ok)
  } finally {
    await m.close()
  }
})

test('copies prefer distinct sites', async () => {
  const m = await startBusMarket([
    { price: 0, labels: { site: 'a' } },
    { price: 0, labels: { site: 'a' } },
    { price: 1, labels: { site: 'b' } },
  ])
  try {
    const r = await m.requester.submit(job('q7', { redundancy: 2 }))
    assert.is(r.status, 'ok')
    const sites = r.quorum!.agreeing.map((s) => m.agents.find((a) => a.id === s.agent)!.options.labels!.site)
    assert.equal(sites.sort(), ['a', 'b'])
  } finally {
    await m.close()
  }
})

test('spot check: an accepted lie is re-run, referees agree with the checker, the liar is caught and loses the pick', async () => {
  const m = await startBusMarket([{ price: 0, answer: lie }, {}, {}, {}], { verification: { spotCheck: 1, random: mulberry32(7) } })
  try {
    const caught = new Promise<VerifierEvents['spotCheck'][0]>((resolve) => m.requester.verifier.on('spotCheck', resolve))
    const r = await m.requester.submit(job('s1'))
    assert.is(r.agent, m.agents[0]!.id, 'the cheapest agent ran it')
    assert.equal(r.output, Buffer.from('a lie, correctly signed'), 'a spot check comes after the answer')
    const s = await caught
    assert.is(s.outcome, 'caught')
    assert.is(s.agent, m.agents[0]!.id)
    assert.is(s.checkers.length, 3, 'the checker and two referees')
    // reputation: the liar is now far less attractive than its price of 0 suggests
    const rep = m.requester.verifier.reputation
    assert.is(rep.get(m.agents[0]!.id)!.mismatched, 1)
    assert.ok(rep.factor(m.agents[0]!.id) > 5)
    const next = await m.requester.submit(job('s2'))
    assert.is.not(next.agent, m.agents[0]!.id)
  } finally {
    await m.close()
  }
})

test('spot checks are sampled at their rate and bounded in flight', async () => {
  const m = await startBusMarket([{}, {}], { verification: { spotCheck: 0.25, random: mulberry32(3), maxSpotChecks: 1000 } })
  try {
    let checks = 0
    m.requester.verifier.on('spotCheck', () => checks++)
    for (let i = 0; i < 200; i++) await m.requester.submit(job(`r${i}`))
    await m.quiet()
    const sampled = m.requester.verifier.spot.sampled
    assert.ok(sampled > 30 && sampled < 70, `sampled ${sampled} of 200 at 0.25`)
    assert.is(checks, sampled)
  } finally {
    await m.close()
  }
})

test('redundancy out of range is refused with invalid_field', async () => {
  const m = await startBusMarket([{}])
  try {
    for (const redundancy of [0, 6, 1.5]) {
      const r = await m.requester.submit(job(`bad-${redundancy}`, { redundancy }))
      assert.is(r.error?.code, 'invalid_field')
    }
  } finally {
    await m.close()
  }
})

test.run()

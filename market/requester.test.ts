/**
 * The requester on the twins (in-memory bus, manual clock, scripted agents):
 * refused results and failed agents cost an attempt and move the job to
 * another agent; job faults do not; the attempts are capped; a job id is
 * answered once; options are checked.
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

/** Bad answers, each from the cheapest agent; the next one is honest. */
const BAD: Record<string, (j: WireAssign, a: ScriptedAgent) => object | string> = {
  'signed by another key': (j, a) => {
    const { signature: _, ...r } = a.honest(j)
    return { ...r, signature: signResult(r, createSigner(randomBytes(32))) }
  },
  'output does not hash to outputSha256': (j, a) => ({ ...a.honest(j), output: Buffer.from('swapped').toString('base64') }),
  'output swapped with a matching hash': (j, a) => ({ ...a.honest(j), output: Buffer.from('swapped').toString('base64'), outputSha256: sha('swapped') }),
  'another input': (j, a) => a.honest({ ...j, input: Buffer.from('other').toString('base64') }),
  'another module': (j, a) => a.honest({ ...j, module: 'cd'.repeat(32) }),
  'an ok result without output': (j, a) => ({ ...a.honest(j), output: undefined }),
  'a result that fails validation': (j, a) => ({ type: 'result', id: j.id, attempt: j.attempt, agent: a.id, status: 'ok', output: 42 }),
}

for (const [what, answer] of Object.entries(BAD)) {
  test(`a refused result (${what}) costs its agent the job: retried on the next one`, async () => {
    const m = await startBusMarket([{ price: 0, answer }, { price: 5 }])
    try {
      const failed: string[] = []
      m.requester.on('attemptFailed', (f) => failed.push(f.agent))
      const r = await m.requester.submit(job('v1'))
      assert.is(r.status, 'ok')
      assert.is(r.agent, m.agents[1]!.id)
      assert.is(r.attempts, 2)
      assert.equal(r.output, Buffer.from('input of v1'))
      assert.equal(failed, [m.agents[0]!.id])
      // the failed agent loses its lease: the next job goes straight to the honest one
      assert.is((await m.requester.submit(job('v2'))).attempts, 1)
      assert.is(m.agents[0]!.assignments.length, 1)
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
    const p = m.requester.submit(job('t1', { limits: { timeoutMs: 1000 } })).then((r) => ((done = true), r))
    await m.quiet()
    await m.clock.advance(1499)
    assert.not.ok(done)
    await m.clock.advance(1)
    const r = await p
    assert.is(r.status, 'ok')
    assert.is(r.attempts, 2)
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
  const garbage = (j: WireAssign, a: ScriptedAgent) => ({ type: 'result', id: j.id, attempt: j.attempt, agent: a.id, status: 'ok' })
  const m = await startBusMarket([{ price: 0, answer: garbage }, { price: 1, answer: garbage }, { price: 2, answer: garbage }], { maxAttempts: 2 })
  try {
    const r = await m.requester.submit(job('cap'))
    assert.is(r.error?.code, 'agent_failed')
    assert.is(r.attempts, 2)
    assert.match(r.error!.message, /^failed on 2 agents; last: refused result|^failed on 2 agents; last: garbage/)
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

test('options out of range are refused with the field named', async () => {
  const bus = new MemoryBus()
  for (const [field, value] of [['maxAttempts', 0], ['maxAttempts', 101], ['auctionWindowMs', 0], ['attemptSlackMs', -1], ['defaultTimeoutMs', 1.5], ['answersKept', 0]] as const) {
    const err = await Requester.start({ broker: bus, [field]: value }).then(() => undefined, (e: unknown) => e)
    assert.instance(err, ValidationError, `${field}=${value}`)
    assert.is((err as ValidationError).field, `requester.${field}`)
  }
  assert.equal(bus.clientIds(), [], 'a refused start leaves no connection behind')
})

test.run()

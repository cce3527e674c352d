/**
 * The gateway on the twins: plain-MQTT job JSON in, a verifiable result (or an
 * error with a stable code) out on `replyTo`; bad input answered when it names
 * a usable `replyTo`; a (replyTo, id) answered once; ids scoped per replyTo.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ValidationError } from '../protocol/errors.ts'
import { ManualClock, settle } from '../protocol/manual-clock.ts'
import type { Result } from '../protocol/messages.ts'
import { verifyResult } from '../protocol/signature.ts'
import { topics } from '../protocol/topics.ts'
import type { Connection } from '../protocol/transport.ts'
import { MemoryBus } from '../protocol/transport/memory-bus.ts'
import { MODULE } from '../test/support/bus-market.ts'
import { ScriptedAgent, sha256, type ScriptedAgentOptions } from '../test/support/scripted-agent.ts'
import { Gateway, type GatewayOptions } from './gateway.ts'

async function setup(agents: ScriptedAgentOptions[] = [{}], options: Partial<GatewayOptions> = {}) {
  const bus = new MemoryBus()
  const clock = new ManualClock()
  const started: ScriptedAgent[] = []
  for (const o of agents) started.push(await ScriptedAgent.start(bus, { clock, ...o }))
  const gateway = await Gateway.start({ broker: bus, clock, ...options })
  await gateway.requester.directory.waitFor(started.length, 1000)
  const sensor = await bus.connect()
  const replies: Array<Record<string, unknown> & { _topic: string }> = []
  sensor.route('#', (topic, p) => replies.push({ ...(JSON.parse(p.toString()) as Record<string, unknown>), _topic: topic }))
  await sensor.subscribe('sensors/#')
  const submit = (job: unknown) => sensor.publish(topics.submit, typeof job === 'string' ? job : JSON.stringify(job), { qos: 1 })
  const quiet = async () => {
    for (let i = 0; i < 4; i++) {
      await bus.flush()
      await settle()
    }
  }
  const close = async () => {
    await gateway.close()
    for (const c of [sensor, ...started.map((a) => a.conn)] as Connection[]) await c.close()
  }
  return { bus, clock, agents: started, gateway, sensor, replies, submit, quiet, close }
}

const job = (id: string, replyTo: string, extra: object = {}) => ({ id, module: MODULE, input: Buffer.from(`in ${id}`).toString('base64'), replyTo, ...extra })

test('a job in, a result out on its replyTo: the sensor\'s id, the mesh\'s jobId, a signature over the jobId', async () => {
  const g = await setup()
  try {
    g.submit(job('1', 'sensors/a/results'))
    await g.quiet()
    assert.is(g.replies.length, 1)
    const r = g.replies[0]!
    assert.is(r._topic, 'sensors/a/results')
    assert.is(r.id, '1')
    assert.is(r.jobId, `1@${sha256('sensors/a/results').slice(0, 12)}`)
    assert.is(r.status, 'ok')
    assert.is(Buffer.from(r.output as string, 'base64').toString(), 'in 1')
    const agent = g.agents[0]!
    const signed = r as unknown as Result
    assert.ok(verifyResult({ ...signed, id: r.jobId as string }, agent.publicKey))
    assert.not.ok(verifyResult({ ...signed, id: '1' }, agent.publicKey), 'signed over the mesh id, not the sensor id')
    const { admission, ...counts } = g.gateway.stats()
    assert.equal(counts, { received: 1, ok: 1, failed: 0, invalid: 0, duplicates: 0, inFlight: 0, errors: {} })
    assert.equal([admission.queued, admission.inFlight, admission.inputBytes], [0, 0, 0])
  } finally {
    await g.close()
  }
})

test('ids are scoped per replyTo: two sensors may both send id "1"; the same (replyTo, id) again is a duplicate', async () => {
  const g = await setup()
  try {
    g.submit(job('1', 'sensors/a/results'))
    g.submit(job('1', 'sensors/b/results'))
    g.submit(job('1', 'sensors/a/results'))
    await g.quiet()
    assert.equal(g.replies.map((r) => r._topic).sort(), ['sensors/a/results', 'sensors/b/results'])
    assert.equal(g.agents[0]!.assignments.map((a) => a.id).sort(), [`1@${sha256('sensors/a/results').slice(0, 12)}`, `1@${sha256('sensors/b/results').slice(0, 12)}`].sort())
    assert.is(g.gateway.stats().duplicates, 1)
  } finally {
    await g.close()
  }
})

test('bad input: answered with a stable code when it names a usable replyTo and id, counted always, never fatal', async () => {
  const g = await setup()
  try {
    const invalid: Array<{ code: string; answered: boolean }> = []
    g.gateway.on('invalid', (e) => invalid.push({ code: e.code, answered: e.answered }))
    g.submit('{not json')
    g.submit(job('2', 'sensors/a/results', { module: 'not-a-sha' }))
    g.submit(job('3', 'sensors/+/results'))
    g.submit({ ...job('4', 'sensors/a/results'), input: 'A'.repeat(6 * 1024 * 1024) })
    g.submit({ module: MODULE, replyTo: 'sensors/a/results' })
    await g.quiet()
    assert.equal(invalid, [
      { code: 'invalid_json', answered: false },
      { code: 'invalid_field', answered: true },
      { code: 'invalid_field', answered: false },
      { code: 'too_large', answered: true },
      { code: 'invalid_field', answered: true },
    ])
    assert.equal(g.replies.map((r) => [r.id, (r.error as { code: string }).code, (r.error as { message: string }).message.split(':')[0]]), [
      ['2', 'invalid_field', 'module'],
      ['4', 'too_large', 'message larger than 4194304 bytes'],
      [null, 'invalid_field', 'id'],
    ])
    assert.equal(g.gateway.stats().errors, { invalid_json: 1, invalid_field: 3, too_large: 1 })
    g.submit(job('5', 'sensors/a/results'))
    await g.quiet()
    assert.is(g.replies.at(-1)?.status, 'ok', 'still working')
  } finally {
    await g.close()
  }
})

test('maxInFlight: a job beyond it waits its turn; beyond maxQueued it is answered overloaded at once; error results are counted by code', async () => {
  const g = await setup([{ answer: () => undefined }], { maxInFlight: 1, maxQueued: 1 })
  try {
    g.submit(job('a', 'sensors/a/results', { limits: { timeoutMs: 1000 } }))
    g.submit(job('b', 'sensors/b/results', { limits: { timeoutMs: 1000 } }))
    g.submit(job('c', 'sensors/c/results'))
    await g.quiet()
    assert.equal(g.replies.map((r) => [r.id, (r.error as { code: string }).code]), [['c', 'overloaded']])
    assert.is(g.gateway.stats().inFlight, 1)
    assert.is(g.gateway.stats().admission.queued, 1)
    // the silent agent's attempt times out; no other agent: agent_failed; then b takes the slot — and finds the
    // only agent in the penalty box (a sloth does not win the next job): no_agents at once
    await g.clock.advance(4000)
    await g.quiet()
    assert.equal(g.replies.map((r) => [r.id, (r.error as { code: string }).code]), [['c', 'overloaded'], ['a', 'agent_failed'], ['b', 'no_agents']])
    assert.is(g.gateway.stats().inFlight, 0)
    assert.equal(g.gateway.stats().errors, { overloaded: 1, agent_failed: 1, no_agents: 1 })
    assert.equal(g.gateway.stats().admission.refused, { maxQueued: 1 })
  } finally {
    await g.close()
  }
})

test('options out of range are refused with the field named, and leave no connection behind', async () => {
  const bus = new MemoryBus()
  for (const [field, value, name] of [['maxInFlight', 0, 'gateway.maxInFlight'], ['dedupeWindow', 1.5, 'gateway.dedupeWindow'], ['maxAttempts', 0, 'requester.maxAttempts']] as const) {
    const err = await Gateway.start({ broker: bus, [field]: value }).then(() => undefined, (e: unknown) => e)
    assert.instance(err, ValidationError)
    assert.is((err as ValidationError).field, name)
  }
  await bus.flush()
  assert.equal(bus.clientIds(), [])
})

test.run()

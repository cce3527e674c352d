/**
 * The agent directory on the twins: online from the retained presence,
 * unreachable when heartbeats stop, back online with the next one, gone on
 * the will / a clean stop / a cleared presence; bad presences refused; the
 * number of agents kept bounded.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ValidationError } from '../protocol/errors.ts'
import { ManualClock, settle } from '../protocol/manual-clock.ts'
import { topics } from '../protocol/topics.ts'
import { MemoryBus } from '../protocol/transport/memory-bus.ts'
import { ScriptedAgent } from '../test/support/scripted-agent.ts'
import { AgentDirectory, type DirectoryOptions } from './directory.ts'

async function setup(options: DirectoryOptions = {}) {
  const bus = new MemoryBus()
  const clock = new ManualClock()
  const conn = await bus.connect()
  const dir = new AgentDirectory(conn, { clock, ...options })
  const events: string[] = []
  for (const e of ['online', 'unreachable', 'gone'] as const) dir.on(e, (a) => events.push(`${e} ${a.presence.name}`))
  const rejected: string[] = []
  dir.on('rejected', (r) => rejected.push(`${r.code} ${r.message}`))
  const quiet = async () => {
    await bus.flush()
    await settle()
  }
  return { bus, clock, conn, dir, events, rejected, quiet }
}

test('online from a retained presence, unreachable after missed beats, online again with the next beat', async () => {
  const { bus, clock, dir, events, quiet } = await setup({ missedBeats: 3 })
  const a = await ScriptedAgent.start(bus, { name: 'a', heartbeatMs: 1000 }) // published before the directory watches
  await dir.start()
  await quiet()
  assert.equal(events, ['online a'])
  assert.is(dir.get(a.id)?.beats, 0, 'known only from the retained presence')
  a.beat()
  await quiet()
  assert.is(dir.get(a.id)?.beats, 1)
  await clock.advance(3000)
  assert.is(dir.get(a.id)?.state, 'online', 'exactly 3 intervals is not yet missing')
  await clock.advance(300)
  assert.is(dir.get(a.id)?.state, 'unreachable')
  assert.equal(dir.list('online'), [])
  a.beat()
  await quiet()
  assert.equal(events, ['online a', 'unreachable a', 'online a'])
  assert.is(dir.list().length, 1)
  dir.stop()
})

test('gone: by the last will (lost), a clean stop (stopped), or a cleared presence', async () => {
  const { bus, dir, events, quiet } = await setup()
  await dir.start()
  const lost = await ScriptedAgent.start(bus, { name: 'lost' })
  const stopped = await ScriptedAgent.start(bus, { name: 'stopped' })
  const cleared = await ScriptedAgent.start(bus, { name: 'cleared' })
  await quiet()
  bus.drop(lost.conn.clientId)
  await stopped.stop()
  await cleared.conn.publishAsync(topics.presence(cleared.id), '', { retain: true })
  await quiet()
  assert.equal(events.filter((e) => e.startsWith('gone')), ['gone lost', 'gone stopped', 'gone cleared'])
  assert.equal(dir.list('gone').map((a) => a.reason), ['lost', 'stopped', 'cleared'])
  // a heartbeat from a gone agent changes nothing
  cleared.beat()
  await quiet()
  assert.is(dir.get(cleared.id)?.state, 'gone')
  dir.stop()
})

test('agents that left before the directory started are listed as departed, until they come back', async () => {
  const { bus, dir, quiet } = await setup()
  const early = await ScriptedAgent.start(bus, { name: 'early' })
  await early.stop()
  await dir.start()
  await quiet()
  assert.equal(dir.departed(), [{ id: early.id, name: undefined, reason: 'stopped' }])
  assert.is(dir.get(early.id), undefined)
  const again = await bus.connect()
  await again.publishAsync(topics.presence(early.id), JSON.stringify(early.presence()), { retain: true })
  await quiet()
  assert.equal(dir.departed(), [])
  assert.is(dir.get(early.id)?.state, 'online')
  dir.stop()
})

test('refused: a presence on another agent\'s topic, a key that does not derive to the id, bad JSON, bad heartbeats', async () => {
  const { bus, conn, dir, rejected, quiet } = await setup()
  await dir.start()
  const a = await ScriptedAgent.start(bus, { name: 'a' })
  const b = await ScriptedAgent.start(bus, { name: 'b' })
  await quiet()
  rejected.length = 0
  await conn.publishAsync(topics.presence(b.id), JSON.stringify(a.presence()))
  await conn.publishAsync(topics.presence(a.id), JSON.stringify({ ...a.presence(), publicKey: b.publicKey }))
  await conn.publishAsync(topics.presence(a.id), '{not json')
  await conn.publishAsync(topics.heartbeat(a.id), JSON.stringify({ id: a.id, seq: -1, load: { running: 0, queued: 0 } }))
  await conn.publishAsync(topics.heartbeat('0'.repeat(20)), JSON.stringify({ id: 'x' })) // unknown agent: ignored
  await quiet()
  assert.equal(rejected, [
    `invalid_field id: ${a.id} published on another agent's topic`,
    'invalid_field publicKey: does not derive to the agent id',
    'invalid_json message is not valid JSON',
    'invalid_field seq: expected an integer in 0..1.7976931348623157e+308',
  ])
  assert.is(dir.get(a.id)?.presence.publicKey, a.publicKey, 'the real presence stands')
  dir.stop()
})

test('maxAgents: a newcomer takes the place of the agent gone longest, and is refused when none is gone', async () => {
  const { bus, dir, rejected, quiet } = await setup({ maxAgents: 2 })
  await dir.start()
  const a = await ScriptedAgent.start(bus, { name: 'a' })
  await ScriptedAgent.start(bus, { name: 'b' })
  const c = await ScriptedAgent.start(bus, { name: 'c' })
  await quiet()
  assert.equal(dir.list('all').map((x) => x.presence.name), ['a', 'b'])
  assert.match(rejected[0]!, /^too_large directory holds 2 agents \(maxAgents\), none gone/)
  await a.stop()
  await c.conn.publishAsync(topics.presence(c.id), JSON.stringify(c.presence()), { retain: true })
  await quiet()
  assert.equal(dir.list('all').map((x) => x.presence.name), ['b', 'c'])
  dir.stop()
})

test('waitFor resolves once n agents are online and rejects with no_agents after its timeout', async () => {
  const { bus, clock, dir, quiet } = await setup()
  await dir.start()
  const two = dir.waitFor(2, 1000)
  await ScriptedAgent.start(bus)
  await ScriptedAgent.start(bus)
  await two
  const three = dir.waitFor(3, 1000).then(() => 'resolved', (e: Error & { code?: string }) => `${e.code}: ${e.message}`)
  await quiet()
  await clock.advance(1000)
  assert.is(await three, 'no_agents: only 2 of 3 agents online after 1000 ms')
  dir.stop()
})

test('options out of range are refused with the field named', async () => {
  const conn = await new MemoryBus().connect()
  for (const [field, value] of [['missedBeats', 0], ['sweepMs', 0], ['maxAgents', 0], ['maxAgents', 2.5]] as const) {
    try {
      new AgentDirectory(conn, { [field]: value })
      assert.unreachable(`${field}=${value} accepted`)
    } catch (err) {
      assert.instance(err, ValidationError)
      assert.is((err as ValidationError).field, `directory.${field}`)
    }
  }
})

test.run()

/**
 * The agent directory on the twins: online from the retained presence,
 * unreachable when heartbeats stop, back online with the next one, gone on
 * the signed will / a signed clean stop; forged, unsigned, stale presences
 * and heartbeats refused and harmless; the number of agents kept bounded.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ValidationError } from '../protocol/errors.ts'
import { ManualClock, settle } from '../protocol/manual-clock.ts'
import { topics } from '../protocol/topics.ts'
import { signStatement } from '../protocol/signed-statement.ts'
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

test('gone: by the signed last will (lost) or a signed clean stop (stopped); an empty retained clear changes nothing', async () => {
  const { bus, dir, events, rejected, quiet } = await setup()
  await dir.start()
  const lost = await ScriptedAgent.start(bus, { name: 'lost' })
  const stopped = await ScriptedAgent.start(bus, { name: 'stopped' })
  const cleared = await ScriptedAgent.start(bus, { name: 'cleared' })
  await quiet()
  bus.drop(lost.conn.clientId)
  await stopped.stop()
  await cleared.conn.publishAsync(topics.presence(cleared.id), '', { retain: true })
  await quiet()
  assert.equal(events.filter((e) => e.startsWith('gone')), ['gone lost', 'gone stopped'])
  assert.equal(dir.list('gone').map((a) => a.reason), ['lost', 'stopped'])
  assert.is(dir.get(cleared.id)?.state, 'online', 'an unsigned clear is no leave')
  assert.match(rejected.join('\n'), /bad_signature an empty presence/)
  // a heartbeat from a gone agent changes nothing
  stopped.beat()
  await quiet()
  assert.is(dir.get(stopped.id)?.state, 'gone')
  dir.stop()
})

test('agents that left before the directory started are listed as departed, until they come back in a new epoch', async () => {
  const { bus, dir, rejected, quiet } = await setup()
  const early = await ScriptedAgent.start(bus, { name: 'early' })
  await early.stop()
  await dir.start()
  await quiet()
  assert.equal(dir.departed(), [{ id: early.id, name: 'early', reason: 'stopped' }])
  assert.is(dir.get(early.id), undefined)
  const again = await bus.connect()
  // its old epoch ended: a presence of that epoch (a replay) does not bring it back
  await again.publishAsync(topics.presence(early.id), JSON.stringify(early.presence()), { retain: true })
  await quiet()
  assert.is(dir.get(early.id), undefined)
  assert.match(rejected.join('\n'), /replayed online presence of .* at epoch 1 seq \d+ is not newer than epoch 1 seq 0 \(ended\)/)
  early.newEpoch()
  await again.publishAsync(topics.presence(early.id), JSON.stringify(early.presence()), { retain: true })
  await quiet()
  assert.equal(dir.departed(), [])
  assert.is(dir.get(early.id)?.state, 'online')
  dir.stop()
})

test('refused: a presence on another agent\'s topic, a key that does not derive to the id, unsigned or re-signed presences, bad JSON, bad heartbeats', async () => {
  const { bus, conn, dir, rejected, quiet } = await setup()
  await dir.start()
  const a = await ScriptedAgent.start(bus, { name: 'a' })
  const b = await ScriptedAgent.start(bus, { name: 'b' })
  await quiet()
  rejected.length = 0
  const { signature: _s, ...unsigned } = a.presence()
  await conn.publishAsync(topics.presence(b.id), JSON.stringify(a.presence()))
  await conn.publishAsync(topics.presence(a.id), JSON.stringify({ ...a.presence(), publicKey: b.publicKey }))
  await conn.publishAsync(topics.presence(a.id), JSON.stringify({ ...a.presence(), price: { perJob: 0 } })) // changed after signing
  await conn.publishAsync(topics.presence(a.id), JSON.stringify(unsigned))
  await conn.publishAsync(topics.presence(a.id), '{not json')
  await conn.publishAsync(topics.heartbeat(a.id), JSON.stringify({ id: a.id, seq: -1, load: { running: 0, queued: 0 } }))
  await conn.publishAsync(topics.heartbeat('0'.repeat(20)), JSON.stringify({ id: 'x' })) // unknown agent: ignored
  await quiet()
  assert.equal(rejected, [
    `invalid_field id: ${a.id} published on another agent's topic`,
    `bad_signature presence of ${a.id}: not signed by the key its id derives from`,
    `bad_signature presence of ${a.id}: not signed by the key its id derives from`,
    'invalid_field signature: expected an ed25519 signature in base64',
    'invalid_json message is not valid JSON',
    'invalid_field seq: expected an integer in 0..9007199254740991',
  ])
  assert.is(dir.get(a.id)?.presence.publicKey, a.publicKey, 'the real presence stands')
  assert.is(dir.get(a.id)?.presence.price.perJob, 1)
  dir.stop()
})

test('attack: forged and stale offline statements are ignored; the victim stays online', async () => {
  const { bus, conn, dir, events, rejected, quiet } = await setup()
  await dir.start()
  const victim = await ScriptedAgent.start(bus, { name: 'v' })
  const other = await ScriptedAgent.start(bus, { name: 'o' })
  await quiet()
  const oldWill = victim.offline('lost') // what epoch 1's will says
  victim.newEpoch()
  await victim.conn.publishAsync(topics.presence(victim.id), JSON.stringify(victim.presence()), { retain: true })
  await quiet()
  rejected.length = 0
  const forged = [
    JSON.stringify({ status: 'offline', id: victim.id, reason: 'lost' }), // the attack of issue 8
    JSON.stringify({ ...JSON.parse(other.offline('stopped')), id: victim.id }), // someone else's signature
    JSON.stringify({ ...JSON.parse(victim.offline('lost')), epoch: victim.epoch + 1 }), // a changed epoch: the signature breaks
    oldWill, // a genuine will of an older epoch, replayed (or the broker's late copy)
    '',
  ]
  for (const f of forged) await conn.publishAsync(topics.presence(victim.id), f, { retain: true })
  await quiet()
  assert.is(dir.get(victim.id)?.state, 'online')
  assert.equal(events.filter((e) => e.startsWith('gone')), [])
  assert.equal(rejected.map((r) => r.split(' ')[0]), ['invalid_field', 'bad_signature', 'bad_signature', 'replayed', 'bad_signature'])
  // the real will of the current epoch is believed
  await conn.publishAsync(topics.presence(victim.id), victim.offline('lost'), { retain: true })
  await quiet()
  assert.is(dir.get(victim.id)?.state, 'gone')
  dir.stop()
})

test('attack: forged, replayed and other-epoch heartbeats keep no paused agent alive', async () => {
  const { bus, clock, conn, dir, rejected, quiet } = await setup({ missedBeats: 3 })
  await dir.start()
  const a = await ScriptedAgent.start(bus, { name: 'a', heartbeatMs: 1000 })
  await quiet()
  a.beat()
  await quiet()
  assert.is(dir.get(a.id)?.beats, 1)
  // the agent pauses; an attacker beats for it: unsigned, re-signed by another key, replayed, of another epoch
  const other = await ScriptedAgent.start(bus, { name: 'x' })
  let captured = ''
  const spy = await bus.connect()
  spy.route(topics.heartbeat(a.id), (_t, p) => (captured = p.toString()))
  await spy.subscribe(topics.heartbeat(a.id))
  a.beat()
  await quiet()
  rejected.length = 0
  for (let t = 0; t < 5; t++) {
    await conn.publishAsync(topics.heartbeat(a.id), JSON.stringify({ id: a.id, epoch: 1, seq: 100 + t, load: { running: 0, queued: 0 }, signature: 'A'.repeat(86) + '==' }))
    await conn.publishAsync(topics.heartbeat(a.id), captured)
    const theirs = { id: a.id, epoch: 1, seq: 200 + t, load: { running: 0, queued: 0 } }
    await conn.publishAsync(topics.heartbeat(a.id), JSON.stringify({ ...theirs, signature: signStatement('heartbeat', theirs, other.signer) }))
    await conn.publishAsync(topics.heartbeat(a.id), JSON.stringify({ ...JSON.parse(captured), epoch: 7 }))
    await clock.advance(1000)
    await quiet()
  }
  assert.is(dir.get(a.id)?.state, 'unreachable', 'no forged beat counts')
  assert.is(dir.get(a.id)?.beats, 2)
  assert.ok(rejected.length >= 20, rejected.join('\n'))
  // its own next beat brings it back
  a.beat()
  await quiet()
  assert.is(dir.get(a.id)?.state, 'online')
  dir.stop()
})

test('joined: once per agent, not for a republished presence or a reconnect; again after it was gone', async () => {
  const { bus, dir, quiet } = await setup()
  const joined: string[] = []
  dir.on('joined', (r) => joined.push(r.presence.name))
  await dir.start()
  const a = await ScriptedAgent.start(bus, { name: 'a' })
  await quiet()
  for (let i = 0; i < 3; i++) await a.conn.publishAsync(topics.presence(a.id), JSON.stringify(a.presence()), { retain: true })
  a.newEpoch()
  await a.conn.publishAsync(topics.presence(a.id), JSON.stringify(a.presence()), { retain: true })
  await quiet()
  assert.equal(joined, ['a'])
  assert.is(dir.get(a.id)?.presence.epoch, 2)
  await a.conn.publishAsync(topics.presence(a.id), a.offline('stopped'), { retain: true })
  a.newEpoch()
  await a.conn.publishAsync(topics.presence(a.id), JSON.stringify(a.presence()), { retain: true })
  await quiet()
  assert.equal(joined, ['a', 'a'])
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

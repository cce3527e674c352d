/**
 * Every route handler of the gateway, the requester and an agent is total:
 * random JSON, mutated valid messages and non-JSON bytes on every topic they
 * listen to are counted rejections — no handler throws (the router would
 * report it as `handlerError`), nothing crashes — and a good job still runs.
 * On the in-memory bus, with a real agent (thread executor), a real
 * requester and the real gateway. Seeded: a failure reproduces from its seed.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent } from '../agent/agent.ts'
import { startGateway, type Gateway } from '../market/gateway.ts'
import { ephemeralIdentity } from '../protocol/identity.ts'
import { topics } from '../protocol/topics.ts'
import { MemoryBus } from '../protocol/transport/memory-bus.ts'
import type { Connection } from '../protocol/transport.ts'
import * as fx from './fixtures/engine/modules.ts'
import { seededRandom, type SeededRandom } from './support/rng.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { waitFor } from './support/wait.ts'

const SEED = Number(process.env.FM_FUZZ_SEED ?? 0x9e3779b9)
const MESSAGES = 3000

const NASTY_KEYS = ['toString', 'valueOf', '__proto__', 'constructor', 'hasOwnProperty', 'then', 'length', 'type', 'id', 'attempt', 'agent']

/** A random JSON value: scalars that break naive code, nested objects with nasty keys, long strings. */
function junk(rng: SeededRandom, depth = 0): unknown {
  switch (rng.int(0, depth > 3 ? 5 : 8)) {
    case 0: return null
    case 1: return rng.pick([0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, -0])
    case 2: return rng.pick(['', 'x', '\u0000', '#', '+', '../', 'a'.repeat(rng.int(1, 5000)), '{"nested":"json"}'])
    case 3: return rng.chance(0.5)
    case 4: return rng.pick(['ok', 'error', 'bid', 'result', 'voucherAck', 'online', 'offline'])
    case 5: return 'ab'.repeat(32)
    case 6: return Array.from({ length: rng.int(0, 4) }, () => junk(rng, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      for (let i = rng.int(0, 5); i > 0; i--) o[rng.pick(NASTY_KEYS)] = junk(rng, depth + 1)
      return o
    }
  }
}

/** A valid-looking message of each kind, with random fields replaced by junk. */
function mutated(rng: SeededRandom, base: Record<string, unknown>): Record<string, unknown> {
  const m: Record<string, unknown> = { ...base }
  const keys = Object.keys(m)
  for (let i = rng.int(1, 3); i > 0; i--) {
    const k = rng.pick(keys)
    if (rng.chance(0.2)) delete m[k]
    else m[k] = junk(rng)
  }
  return m
}

function payloadFor(rng: SeededRandom, bases: Record<string, unknown>[]): Buffer {
  const r = rng.next()
  if (r < 0.1) return Buffer.from(Array.from({ length: rng.int(0, 64) }, () => rng.int(0, 255)))
  if (r < 0.15) return Buffer.from(rng.pick(['null', '[]', '""', '{', '{"id":{"toString":1}}', '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]']))
  if (r < 0.5) return Buffer.from(JSON.stringify(junk(rng)))
  return Buffer.from(JSON.stringify(mutated(rng, rng.pick(bases))))
}

let bus: MemoryBus
let agent: Agent
let gateway: Gateway
let attacker: Connection
let sensor: Connection
const handlerErrors: string[] = []

test.before(async () => {
  bus = new MemoryBus()
  const identity = ephemeralIdentity() // the gateway's: the agent takes its work
  agent = await startAgent({ broker: bus, dataDir: tmpDir('fm-total-'), name: 'total', slots: 1, isolation: 'thread', heartbeatMs: 200, acceptFrom: [identity.id] })
  gateway = await startGateway({ broker: bus, identity })
  await gateway.requester.directory.waitFor(1, 5000)
  attacker = await bus.connect({ clientId: 'attacker' })
  sensor = await bus.connect({ clientId: 'sensor' })
  // a handler that throws is reported by the router and counted with code `internal` (a validator never says `internal`)
  const onRejected = (e: { topic: string; code: string; message: string }) => e.code === 'internal' && handlerErrors.push(`${e.topic}: ${e.message}`)
  gateway.requester.on('rejected', onRejected)
  agent.on('rejected', onRejected)
})

test.after(async () => {
  await gateway?.close()
  await agent?.close({ graceMs: 100 })
})

async function goodJob(module: string, n: number): Promise<Record<string, any>> {
  const got: Buffer[] = []
  const replyTo = `total/replies/${n}`
  sensor.route(replyTo, (_t, p) => got.push(p))
  await sensor.subscribe(replyTo, 1)
  sensor.publish(topics.submit, JSON.stringify({ id: `good-${n}`, module, input: Buffer.from('still here').toString('base64'), replyTo }), { qos: 1 })
  await waitFor(() => got.length > 0, 20_000, 'the good job')
  return JSON.parse(got[0]!.toString())
}

test(`${MESSAGES} hostile messages on every route (seed ${SEED}): all rejected and counted, no handler throws, a good job still runs`, async () => {
  const module = await gateway.requester.publishModule(fx.echo().bytes)
  const before = await goodJob(module, 0)
  assert.is(before.status, 'ok')
  const rng = seededRandom(SEED)
  const inbox = topics.inbox(gateway.requester.id)
  const presence = agent.presence() as unknown as Record<string, unknown>
  const bases: Record<string, unknown>[] = [
    { type: 'bid', offerId: 'x', agent: agent.id, price: 1, load: { running: 0, queued: 0 }, slots: 1, leaseMs: 1000 },
    { type: 'result', id: 'good-0', attempt: 1, agent: agent.id, status: 'ok', output: '', outputSha256: 'ab'.repeat(32), fuel: 1, durationMs: 1, signature: 'AA==' },
    { type: 'voucherAck', agent: agent.id, channelId: '1', cumulativeAmount: '1', ok: 1 },
    { id: 'j', module, input: '', replyTo: 'total/replies/x', limits: { timeoutMs: 100 } },
    { offerId: 'o', requester: 'r', replyTo: inbox, module, inputBytes: 1 },
    { id: 'a', attempt: 1, requester: 'r', replyTo: inbox, module, input: '' },
    { channelId: '1', cumulativeAmount: '1', resultsRoot: '0x' + 'ab'.repeat(32), jobCount: '1', signature: '0x', leaves: [], replyTo: inbox },
    presence,
    { status: 'offline', id: agent.id, name: 'x', reason: 'lost' },
    { id: agent.id, load: { running: 0, queued: 0 }, at: 1 },
  ]
  const routes = [
    inbox, topics.submit, topics.offers, topics.agentJobs(agent.id), topics.agentVouchers(agent.id),
    // not the agent's own presence topic: forging it (an "offline" in its name) is what the broker's ACL stops, not a parser
    topics.heartbeat(agent.id), topics.presence('someone-else'), topics.heartbeat('someone-else'),
  ]
  const rejectedBefore = agent.stats().rejectedMessages
  for (let i = 0; i < MESSAGES; i++) {
    attacker.publish(rng.pick(routes), payloadFor(rng, bases), { qos: rng.chance(0.5) ? 1 : 0 })
    if (i % 200 === 0) await bus.flush()
  }
  await bus.flush()
  assert.is(gateway.requester.directory.list('online').length, 1, 'the agent is still online in the directory')
  assert.equal(handlerErrors, [], 'no handler threw')
  assert.ok(agent.stats().rejectedMessages > rejectedBefore, 'the agent counted what it refused')
  assert.ok(gateway.stats().invalid > 0, 'the gateway counted what it refused')
  const after = await goodJob(module, 1)
  assert.is(after.status, 'ok', JSON.stringify(after))
  assert.is(Buffer.from(after.output, 'base64').toString(), 'still here')
})

test.run()

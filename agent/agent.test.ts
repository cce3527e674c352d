/**
 * The agent on the twins: an in-memory bus, a manual clock and a scripted
 * executor (the real engines are tested in agent/engine and, end to end, in
 * test/). What is checked is the agent's own part: presence and heartbeats,
 * bids and eligibility, assignment handling, signing, shutdown.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode, JobError, ValidationError } from '../protocol/errors.ts'
import { ManualClock, settle } from '../protocol/manual-clock.ts'
import type { Result } from '../protocol/messages.ts'
import { verifyResult } from '../protocol/signature.ts'
import { StatementHasher, jobDigest, statementOf, statementSigner } from '../protocol/statement.ts'
import { topics } from '../protocol/topics.ts'
import type { Connection } from '../protocol/transport.ts'
import { MemoryBus } from '../protocol/transport/memory-bus.ts'
import { sha256 } from '../test/support/scripted-agent.ts'
import { assignment, ephemeralIdentity } from '../test/support/signed-assign.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { verifyStatement } from '../protocol/signed-statement.ts'
import { waitFor } from '../test/support/wait.ts'
import { Agent, type AgentOptions } from './agent.ts'
import { ATTESTER_FILE } from './attester-key.ts'
import type { Executor, ExecutorStats, ModuleInfo, RunOutcome, RunRequest } from './engine/executor.ts'

/** An executor whose runs the test scripts: by default an echo of the input, uppercased. */
class ScriptedExecutor implements Executor {
  readonly slots = 2
  readonly loads: string[] = []
  readonly runs: RunRequest[] = []
  queued = 0
  running = 0
  closed = false
  script: (req: RunRequest) => RunOutcome | Promise<RunOutcome> = (req) => ({
    status: 'ok', output: Buffer.from(Buffer.from(req.input).toString().toUpperCase()), fuel: 42, durationMs: 1.5,
  })

  async load(sha: string, bytes: Uint8Array): Promise<ModuleInfo> {
    this.loads.push(sha)
    if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== '\0asm') throw new JobError(ErrorCode.invalidModule, 'not WebAssembly')
    return { sha256: sha, kind: 'wasi-command', imports: [] }
  }

  async run(req: RunRequest): Promise<RunOutcome> {
    if (this.closed) throw new JobError(ErrorCode.closed, 'executor closed')
    this.runs.push(req)
    this.running++
    try {
      return await this.script(req)
    } finally {
      this.running--
    }
  }

  stats(): ExecutorStats {
    return { workers: this.slots, running: this.running, queued: this.queued, completed: 0, failed: 0, restarts: 0 }
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

const WASM = Buffer.concat([Buffer.from('\0asm\x01\0\0\0', 'latin1'), Buffer.from('scripted module')])
const MODULE = sha256(WASM)

async function setup(options: Partial<AgentOptions> = {}) {
  const bus = new MemoryBus()
  const clock = new ManualClock()
  const executor = new ScriptedExecutor()
  const peer = await bus.connect({ clientId: 'peer' })
  await peer.publishAsync(topics.module(MODULE), WASM, { retain: true })
  const got: Array<{ topic: string; body: Record<string, unknown> }> = []
  peer.route('#', (topic, p) => got.push({ topic, body: p.length ? (JSON.parse(p.toString()) as Record<string, unknown>) : {} }))
  await peer.subscribe(['fm/v1/agents/+/presence', 'fm/v1/agents/+/heartbeat', 'inbox/#'])
  const requester = ephemeralIdentity()
  const agent = await Agent.start({ broker: bus, dataDir: tmpDir('fm-agent-unit-'), clock, executor, name: 'unit', heartbeatMs: 1000, acceptFrom: [requester.id], ...options })
  const rejected: string[] = []
  agent.on('rejected', (r) => rejected.push(r.code))
  const quiet = async () => {
    for (let i = 0; i < 4; i++) {
      await bus.flush()
      await settle()
    }
  }
  await quiet()
  const on = (topic: string) => got.filter((g) => g.topic === topic).map((g) => g.body)
  const offer = (o: object = {}) => peer.publish(topics.offers, JSON.stringify({ offerId: `o${got.length}`, requester: 'r1', replyTo: 'inbox/r1', module: MODULE, requesterKey: requester.publicKeyHex, ...o }))
  let n = 0
  const assign = (o: Parameters<typeof assignment>[2] = {}) => {
    const a = assignment(requester, { agent: agent.id, module: MODULE, now: clock.now() }, { id: `j${++n}`, ...o })
    peer.publish(topics.agentJobs(agent.id), JSON.stringify(a), { qos: 1 })
    return a
  }
  const results = () => on('inbox/r1').filter((b) => b.type === 'result') as unknown as Result[]
  return { bus, clock, executor, peer: peer as Connection, agent, requester, got, on, offer, assign, results, rejected, quiet }
}

test('presence: retained on start with the terms its options set; a heartbeat every heartbeatMs of the clock', async () => {
  const t = await setup({ labels: { site: 'x' }, pricePerJob: 3, slots: 2, heartbeatMs: 500, maxFuel: 5e11, defaultFuel: 1e9 })
  const p = t.on(topics.presence(t.agent.id))[0]!
  assert.is(p.status, 'online')
  assert.is(p.id, t.agent.id)
  assert.is(p.publicKey, t.agent.publicKey)
  assert.equal(p.labels, { site: 'x' })
  assert.equal(p.price, { perJob: 3 })
  assert.is((p.capacity as { slots: number }).slots, 2)
  assert.equal(p.limits, { fuel: 5e11, memoryMiB: 256, timeoutMs: 60_000, outputBytes: 1048576, inputBytes: 1048576 })
  assert.equal(p.defaults, { fuel: 1e9, memoryMiB: 64, timeoutMs: 10_000, outputBytes: 1048576 })
  assert.is(p.heartbeatMs, 500)
  assert.is(p.since, t.clock.now())
  assert.equal(t.on(topics.heartbeat(t.agent.id)), [])
  await t.clock.advance(1500)
  assert.equal(t.on(topics.heartbeat(t.agent.id)).map((h) => h.seq), [0, 1, 2])
  await t.agent.close()
})

test('bids: on an eligible offer (price, load, slots, lease); silent on ineligible ones; invalid offers rejected', async () => {
  const t = await setup({ labels: { site: 'x' }, pricePerJob: 3, leaseMs: 20_000 })
  t.offer({ offerId: 'ok1' })
  t.offer({ offerId: 'label', constraints: { labels: { site: 'y' } } })
  t.offer({ offerId: 'arch', constraints: { arch: 'mips' } })
  t.offer({ offerId: 'agents', constraints: { agents: ['someone-else'] } })
  t.offer({ offerId: 'price', maxPrice: 2 })
  t.offer({ offerId: 'fuel', limits: { fuel: 2e12 } })
  t.offer({ offerId: 'ok2', constraints: { labels: { site: 'x' }, agents: [t.agent.id] }, maxPrice: 3, limits: { timeoutMs: 60_000 } })
  t.peer.publish(topics.offers, '{"offerId": 1}')
  await t.quiet()
  const bids = t.on('inbox/r1')
  assert.equal(bids.map((b) => b.offerId), ['ok1', 'ok2'])
  const { signature, ...bid } = bids[0]!
  assert.equal(bid, { type: 'bid', offerId: 'ok1', agent: t.agent.id, price: 3, load: { running: 0, queued: 0 }, slots: 2, leaseMs: 20_000 })
  assert.type(signature, 'string')
  assert.ok(verifyStatement('bid', bids[0]!, t.agent.publicKey), 'signed by the agent')
  assert.not.ok(verifyStatement('bid', { ...bids[0]!, price: 1 }, t.agent.publicKey))
  assert.equal(t.rejected, ['invalid_field'])
  assert.is(t.agent.stats().bids, 2)
  assert.equal(t.executor.loads, [MODULE], 'an offer prefetches its module')
  await t.agent.close()
})

test('no bid while the queue is full', async () => {
  const t = await setup({ queueLimit: 3 })
  t.executor.queued = 3
  t.offer()
  await t.quiet()
  assert.equal(t.on('inbox/r1'), [])
  t.executor.queued = 2
  t.offer()
  await t.quiet()
  assert.is(t.on('inbox/r1').length, 1)
  await t.agent.close()
})

test('an assignment runs once however often it is delivered, and is answered with a result signed by the advertised key', async () => {
  const t = await setup()
  const a = t.assign()
  t.peer.publish(topics.agentJobs(t.agent.id), JSON.stringify(a), { qos: 1 }) // QoS 1 redelivery
  await t.quiet()
  assert.is(t.executor.runs.length, 1)
  const [r] = t.results()
  assert.ok(r)
  assert.is(r.status, 'ok')
  assert.is(Buffer.from(r.output!, 'base64').toString(), 'HELLO')
  assert.is(r.outputSha256, sha256(Buffer.from('HELLO')))
  assert.is(r.inputSha256, sha256(Buffer.from('hello')))
  assert.equal([r.id, r.attempt, r.agent, r.module, r.fuel, r.durationMs], [a.id, 1, t.agent.id, MODULE, 42, 1.5])
  assert.ok(verifyResult(r, t.agent.publicKey))
  assert.not.ok(verifyResult({ ...r, fuel: 41 }, t.agent.publicKey))
  // another attempt of the same job (the requester retrying) is a new signed assignment with a new nonce
  t.assign({ id: a.id, attempt: 2 })
  await t.quiet()
  assert.is(t.executor.runs.length, 2)
  assert.equal(t.agent.stats().jobsOk, 2)
  // the first one replayed with other attempt numbers runs nothing: the signature covers attempt, the nonce is spent
  for (let attempt = 2; attempt <= 100; attempt++) t.peer.publish(topics.agentJobs(t.agent.id), JSON.stringify({ ...a, attempt }), { qos: 1 })
  await t.quiet()
  assert.is(t.executor.runs.length, 2)
  assert.is(t.rejected.filter((c) => c === 'bad_signature').length, 99)
  assert.is(t.rejected.filter((c) => c === 'replayed').length, 1)
  await t.agent.close()
})

test('co-signatures: an assignment with attest is co-signed by the data dir\'s attester, loaded on first ask; an unreadable attester key answers unattested', async () => {
  const dataDir = tmpDir('fm-agent-attest-')
  const t = await setup({ dataDir, defaultFuel: 1e6, defaultMemoryMiB: 32, maxOutputBytes: 1000 })
  assert.not.ok(existsSync(join(dataDir, ATTESTER_FILE)), 'an agent nobody asked to co-sign has no attester yet')
  t.assign()
  const court = { chainId: 31337, court: `0x${'c0'.repeat(20)}` }
  const a = t.assign({ attest: court, limits: { fuel: 5000 } })
  // the first co-signature imports the attester code (ethers): real time, not the manual clock's
  await waitFor(async () => (await t.quiet(), t.results().length >= 2), 20_000, 'the co-signed result')
  const [plain, attested] = t.results()
  assert.is(plain!.attestation, undefined, 'not asked, not co-signed')
  const attester = (JSON.parse(readFileSync(join(dataDir, ATTESTER_FILE), 'utf8')) as { address: string }).address
  const job = jobDigest({ id: a.id, module: MODULE, inputSha256: sha256(Buffer.from('hello')), fuel: 5000, memoryMiB: 32, outputBytes: 1000 })
  const signer = statementSigner(StatementHasher.for(court.chainId, court.court), statementOf(job, 'ok', attested!.outputSha256, 42), attested!.attestation!)
  assert.is(signer, attester, 'the statement (job under the limits it ran with, output, fuel) recovers to the attester')
  assert.ok(verifyResult(attested!, t.agent.publicKey), 'the ed25519 signature covers the co-signed result')
  await t.agent.close()

  const broken = tmpDir('fm-agent-attest-bad-')
  writeFileSync(join(broken, ATTESTER_FILE), 'not json')
  const u = await setup({ dataDir: broken })
  u.assign({ attest: court })
  await waitFor(async () => (await u.quiet(), u.results().length >= 1), 20_000, 'the unattested result')
  const [r] = u.results()
  assert.is(r!.status, 'ok', 'answered all the same')
  assert.is(r!.attestation, undefined, 'without a co-signature (the requester refuses it)')
  await u.agent.close()
})

test('limits the job leaves out come from the agent\'s defaults; what it sets passes through; runs are deterministic', async () => {
  const t = await setup({ defaultTimeoutMs: 2000, defaultFuel: 1e6, defaultMemoryMiB: 32, maxOutputBytes: 1000 })
  t.assign()
  t.assign({ limits: { timeoutMs: 50, fuel: 10, memoryMiB: 8, outputBytes: 5 } })
  await t.quiet()
  assert.equal(t.executor.runs.map((r) => r.limits), [
    { timeoutMs: 2000, outputBytes: 1000, stderrBytes: 4096, fuel: 1e6, memoryMiB: 32, deterministic: true },
    { timeoutMs: 50, outputBytes: 5, stderrBytes: 4096, fuel: 10, memoryMiB: 8, deterministic: true },
  ])
  await t.agent.close()
})

test('every assignment gets a signed answer: too large, limits above, unpublished module, bad module, executor refusal, job fault', async () => {
  const t = await setup({ maxInputBytes: 4, moduleFetchTimeoutMs: 300 })
  const bad = Buffer.from('not wasm at all')
  await t.peer.publishAsync(topics.module(sha256(bad)), bad, { retain: true })
  t.assign({ input: Buffer.from('too long').toString('base64') })
  t.assign({ input: Buffer.from('ok').toString('base64'), limits: { memoryMiB: 1024 } })
  t.assign({ input: Buffer.from('ok').toString('base64'), module: sha256(bad) })
  t.assign({ input: Buffer.from('ok').toString('base64'), module: sha256(bad) })
  const missing = t.assign({ input: Buffer.from('ok').toString('base64'), module: 'ee'.repeat(32) })
  await t.quiet()
  assert.not.ok(t.results().some((r) => r.id === missing.id), 'waits for the retained module first')
  await t.clock.advance(300)
  await t.quiet()
  assert.not.ok(t.results().some((r) => r.id === missing.id), 'then asks agents that cache it (fm/v1/blobs/want/<sha256>) and waits as long again')
  await t.clock.advance(300)
  await t.quiet()
  t.executor.script = () => {
    throw new JobError(ErrorCode.overloaded, 'queue full')
  }
  t.assign({ input: Buffer.from('ok').toString('base64') })
  await t.quiet()
  t.executor.script = () => ({ status: 'error', code: ErrorCode.trap, message: 'unreachable', stderr: 'at func 3', fuel: 9, durationMs: 2 })
  t.assign({ input: Buffer.from('ok').toString('base64') })
  await t.quiet()
  const rs = t.results()
  assert.equal(rs.map((r) => [r.id, r.status, r.error?.code]), [
    ['j1', 'error', 'too_large'],
    ['j2', 'error', 'limit_exceeded'],
    ['j3', 'error', 'invalid_module'],
    ['j4', 'error', 'invalid_module'],
    ['j5', 'error', 'module_not_found'],
    ['j6', 'error', 'overloaded'],
    ['j7', 'error', 'trap'],
  ])
  assert.is(rs[6]!.error!.message, 'unreachable: at func 3')
  assert.is(rs[6]!.fuel, 9)
  for (const r of rs) assert.ok(verifyResult(r, t.agent.publicKey), `${r.id} signed`)
  assert.is(t.executor.loads.filter((s) => s === sha256(bad)).length, 1, 'a bad module is judged once')
  assert.equal(t.agent.stats().jobsFailed, 7)
  await t.agent.close()
})

test('bad messages are dropped and counted, and nothing breaks', async () => {
  const t = await setup()
  t.peer.publish(topics.agentJobs(t.agent.id), 'not json', { qos: 1 })
  t.peer.publish(topics.agentJobs(t.agent.id), JSON.stringify({ id: 'x', attempt: 0 }), { qos: 1 })
  t.peer.publish(topics.offers, JSON.stringify({ offerId: 'o', requester: 'r', replyTo: 'a/#', module: MODULE }))
  await t.quiet()
  assert.equal(t.rejected.sort(), ['invalid_field', 'invalid_field', 'invalid_json'])
  assert.is(t.agent.stats().rejectedMessages, 3)
  t.assign()
  await t.quiet()
  assert.is(t.results().length, 1)
  await t.agent.close()
})

test('close: running jobs finish within the grace, later assignments are answered closed, presence left as stopped', async () => {
  const t = await setup()
  let finish: (o: RunOutcome) => void = () => {}
  t.executor.script = () => new Promise((resolve) => (finish = resolve))
  t.assign()
  await t.quiet()
  assert.is(t.agent.load().running, 1)
  const closing = t.agent.close({ graceMs: 10_000 })
  await t.quiet()
  t.assign()
  await t.quiet()
  finish({ status: 'ok', output: Buffer.from('done'), fuel: 1, durationMs: 1 })
  await closing
  await t.quiet()
  assert.equal(t.results().map((r) => [r.id, r.status, r.error?.code]), [['j2', 'error', 'closed'], ['j1', 'ok', undefined]])
  const left = JSON.parse(t.bus.retainedOn(topics.presence(t.agent.id))!.toString())
  assert.equal({ ...left, signature: undefined }, { status: 'offline', id: t.agent.id, name: 'unit', reason: 'stopped', epoch: left.epoch, publicKey: t.agent.publicKey, signature: undefined })
  assert.ok(verifyStatement('presence', left, t.agent.publicKey), 'the stop is signed')
  assert.ok(t.executor.closed)
  assert.not.ok(t.bus.clientIds().includes(`fm-agent-${t.agent.id}`))
})

test('close gives up waiting after graceMs of the clock', async () => {
  const t = await setup()
  t.executor.script = () => new Promise(() => {})
  t.assign()
  await t.quiet()
  let closed = false
  const closing = t.agent.close({ graceMs: 1000 }).then(() => (closed = true))
  await t.clock.advance(999)
  assert.not.ok(closed)
  await t.clock.advance(1)
  await closing
})

test('a dropped link: the will marks it lost; on reconnect the presence is online again; connection events tell', async () => {
  const t = await setup()
  const connection: boolean[] = []
  t.agent.on('connection', (c) => connection.push(c.connected))
  const presence = () => JSON.parse(t.bus.retainedOn(topics.presence(t.agent.id))!.toString()) as { status: string; reason?: string; epoch: number; name?: string }
  const epoch = presence().epoch
  t.bus.drop(`fm-agent-${t.agent.id}`)
  await t.quiet()
  const will = presence()
  assert.equal([will.status, will.reason, will.epoch, will.name], ['offline', 'lost', epoch, 'unit'], 'the will ends exactly the epoch of the connection that died')
  assert.ok(verifyStatement('presence', will, t.agent.publicKey), 'signed at connect')
  t.bus.reconnect(`fm-agent-${t.agent.id}`)
  await t.quiet()
  assert.is(presence().status, 'online')
  assert.ok(presence().epoch > epoch, 'a reconnect is a new epoch')
  assert.equal(connection, [false, true])
  t.assign() // subscribed again
  await t.quiet()
  assert.is(t.results().length, 1)
  await t.agent.close()
})

test('options out of range are refused with the field named; a default above its maximum too', async () => {
  const bus = new MemoryBus()
  for (const [o, field] of [
    [{ slots: 0 }, 'agent.slots'],
    [{ heartbeatMs: 50 }, 'agent.heartbeatMs'],
    [{ pricePerJob: -1 }, 'agent.pricePerJob'],
    [{ maxOutputBytes: 5 * 1024 * 1024 }, 'agent.maxOutputBytes'],
    [{ defaultFuel: 2e12 }, 'agent.defaultFuel'],
    [{ maxTimeoutMs: 1000 }, 'agent.defaultTimeoutMs'],
  ] as const) {
    const err = await Agent.start({ broker: bus, dataDir: tmpDir('fm-agent-unit-'), executor: new ScriptedExecutor(), ...o }).then(() => undefined, (e: unknown) => e)
    assert.instance(err, ValidationError, JSON.stringify(o))
    assert.is((err as ValidationError).field, field)
  }
  assert.equal(bus.clientIds(), [])
})

test.run()

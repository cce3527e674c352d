/**
 * The attack table of issue 8, the rows the signed control plane answers,
 * run against the embedded broker with no authentication at all (and, from
 * test/control-plane-mosquitto.test.ts, against Debian's Mosquitto with no ACL;
 * there the market's own rows, the fakes, are left to this run) (so nothing
 * but signatures, nonces and the market's own rules protect the mesh), real
 * agents — two in-process, one `fogmesh agent` process — and the gateway.
 * Each attack comes from an outsider with an MQTT client, or from an agent
 * with a key of its own acting against the market; each is ignored, refused
 * or contained, and the next honest job succeeds.
 */
import type { MqttClient } from 'mqtt'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent } from '../agent/agent.ts'
import { LatencyHistogram } from '../cli/latency.ts'
import { startGateway, type Gateway } from '../market/gateway.ts'
import { AgentDirectory } from '../market/directory.ts'
import type { WireAssign } from '../protocol/assignment.ts'
import { checkForwarded, signForwarded } from '../protocol/forwarded-result.ts'
import { ephemeralIdentity, type KeyIdentity } from '../protocol/identity.ts'
import { createSigner, signResult } from '../protocol/signature.ts'
import { topics } from '../protocol/topics.ts'
import { connect } from '../protocol/transport.ts'
import * as fx from './fixtures/engine/modules.ts'
import { spawnAgent, type AgentProcess } from './support/agents.ts'
import { closeClient, collect, plainClient, type Received } from './support/mqtt-clients.ts'
import { RogueAgent } from './support/rogue-agent.ts'
import { sha256 } from './support/sha256.ts'
import { assignment } from './support/signed-assign.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { startMosquitto } from './support/mosquitto.ts'
import { requireProgram } from './support/programs.ts'
import { testBroker } from './support/test-broker.ts'
import { sleep, waitFor } from './support/wait.ts'

const REPLY_TO = 'sensors/s1/results'
const PROBATION_MS = 5000

/** The broker under attack: the embedded one, or Mosquitto when test/control-plane-mosquitto.test.ts sets it. */
let broker: { url: string; close(): Promise<void> }
const ON_MOSQUITTO = process.env.FM_CONTROL_PLANE_BROKER === 'mosquitto'
/** The market's rows (fake agents) do not depend on the broker: they run on the embedded one only. */
const marketTest: typeof test = ON_MOSQUITTO ? (Object.assign(() => {}, test) as unknown as typeof test) : test
let gatewayIdentity: KeyIdentity
let gateway: Gateway
let inProcess: Agent[] = []
let victim: AgentProcess
let sensor: MqttClient
let replies: Received[]
let echoModule: string
let spinModule: string
let seq = 0
const failedAttempts: string[] = []
const open: MqttClient[] = []

test.before(async () => {
  // uvu does not report a failing before hook: say what broke, then fail every test
  await setup().catch((err: unknown) => {
    console.error('control-plane.test.ts: the mesh did not start:', err)
    throw err
  })
})

async function setup(): Promise<void> {
  if (ON_MOSQUITTO) {
    const mosq = await startMosquitto(requireProgram('mosquitto'), 'set_tcp_nodelay true\n')
    broker = { url: mosq.url, close: () => mosq.stop() }
  } else broker = await testBroker()
  gatewayIdentity = ephemeralIdentity()
  for (const name of ['a1', 'a2']) {
    inProcess.push(await startAgent({ broker: broker.url, dataDir: tmpDir(`fm-cp-${name}-`), name, slots: 2, acceptFrom: [gatewayIdentity.id] }))
  }
  victim = await spawnAgent(broker.url, 'victim', ['--accept-from', gatewayIdentity.id, '--slots', '2'])
  // a record after 10 verified results and 5 s (default 20 and 10 min) keeps the warm-up short; attempts time out after the job's 1 s + 1 s
  gateway = await startGateway({ broker: broker.url, identity: gatewayIdentity, attemptSlackMs: 1000, newcomerJobs: 10, newcomerMs: PROBATION_MS })
  gateway.requester.on('attemptFailed', (f) => failedAttempts.push(`${f.agent}: ${f.reason}`))
  await gateway.requester.directory.waitFor(3, 10_000)
  sensor = await plainClient(broker.url)
  replies = collect(sensor)
  await sensor.subscribeAsync(REPLY_TO, { qos: 1 })
  echoModule = await gateway.requester.publishModule(fx.echo().bytes)
  spinModule = await gateway.requester.publishModule(fx.spin().bytes)
  const honest = [...inProcess.map((a) => a.id), victim.id]
  await waitFor(() => honest.every((id) => (gateway.requester.directory.get(id)?.beats ?? 0) > 0), 10_000, 'a heartbeat from every agent')
  // a record for each honest agent, so that newcomers are measured against agents of record
  const since = Date.now()
  for (let i = 0; i < 11; i++) {
    const batch = await Promise.all(honest.map((id) => honestJob(`warm-${i}`, { constraints: { agents: [id] } })))
    for (const r of batch) assert.is(r.status, 'ok', JSON.stringify(r))
  }
  await sleep(Math.max(0, since + PROBATION_MS - Date.now()))
  for (const id of honest) assert.not.ok(gateway.requester.record.isNewcomer(id), `${id} has a record`)
}

test.after(async () => {
  await Promise.all(open.map(closeClient))
  await closeClient(sensor)
  await gateway.close()
  await Promise.all(inProcess.map((a) => a.close({ graceMs: 200 })))
  await victim.stop()
  await broker.close()
})

const track = async (c: Promise<MqttClient>) => {
  const client = await c
  open.push(client)
  return client
}

/** The sensor submits a job (echo by default) and takes the first answer on its replyTo that the gateway signed. */
async function honestJob(input: string, extra: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const { wire, ms, unverified } = await timedJob(input, extra)
  return Object.assign({}, wire, { ms, unverified })
}

/** The verified answer as it came (fit to check again), and how long it took. */
async function timedJob(input: string, extra: Record<string, unknown> = {}): Promise<{ wire: Record<string, any>; ms: number; unverified: number }> {
  const id = `job-${seq++}`
  const started = performance.now()
  await sensor.publishAsync(topics.submit, JSON.stringify({ id, module: echoModule, input: Buffer.from(input).toString('base64'), replyTo: REPLY_TO, limits: { timeoutMs: 1000 }, ...extra }), { qos: 1 })
  let unverified = 0
  const seen = new Set<Received>()
  const m = await waitFor(() => {
    for (const r of replies) {
      if (seen.has(r)) continue
      const w = JSON.parse(r.payload.toString())
      if (w.id !== id) continue
      seen.add(r)
      if (checkForwarded(w, { id, gatewayKey: gateway.publicKey }) === undefined) return w as Record<string, any>
      unverified++
    }
    return undefined
  }, 15_000, `the answer to ${id}`)
  return { wire: m, ms: performance.now() - started, unverified }
}

async function expectHonestJobOk(extra: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const r = await honestJob('still fine', extra)
  assert.is(r.status, 'ok', JSON.stringify(r))
  assert.is(Buffer.from(r.output, 'base64').toString(), 'still fine')
  return r
}

test('attack: an empty retained payload and a forged {"status":"offline"} on the victim\'s presence — ignored; the victim keeps getting jobs', async () => {
  const attacker = await track(plainClient(broker.url))
  const topic = topics.presence(victim.id)
  for (let i = 0; i < 5; i++) {
    await attacker.publishAsync(topic, '', { retain: true, qos: 1 })
    await attacker.publishAsync(topic, JSON.stringify({ status: 'offline', id: victim.id, reason: 'lost' }), { retain: true, qos: 1 })
    await attacker.publishAsync(topic, JSON.stringify({ status: 'offline', id: victim.id, name: 'victim', reason: 'stopped', epoch: Date.now() + 1e9, publicKey: 'ab'.repeat(32), signature: 'A'.repeat(86) + '==' }), { retain: true, qos: 1 })
  }
  await sleep(200)
  assert.is(gateway.requester.directory.get(victim.id)?.state, 'online')
  for (let i = 0; i < 5; i++) {
    const r = await expectHonestJobOk({ constraints: { agents: [victim.id] } })
    assert.is(r.agent, victim.id)
  }
  // and a watcher that starts now finds it online: the agent republished over the clear
  const conn = await connect(broker.url)
  const fresh = new AgentDirectory(conn)
  try {
    await fresh.start()
    await waitFor(() => fresh.get(victim.id)?.state === 'online', 5000, 'a new watcher to see the victim online')
  } finally {
    fresh.stop()
    await conn.close()
  }
})

marketTest('attack: a fake agent with its own key, price 0, 4,096 slots, that never answers — one job held at a time, then the penalty box; p50 stays, no agent_failed', async () => {
  const run = async (n: number, tag: string, into = { lat: new LatencyHistogram(), answers: [] as Array<Awaited<ReturnType<typeof honestJob>>> }) => {
    const answers = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        await sleep(i * 25)
        const r = await honestJob(`${tag} ${i}`)
        into.lat.record(r.ms)
        return r
      }),
    )
    into.answers.push(...answers)
    return into
  }
  const base = await run(40, 'base')
  const rogue = await RogueAgent.start(broker.url, 'silent', { price: 0, slots: 4096 })
  const boxed: string[] = []
  gateway.requester.on('boxed', (b) => b.agent === rogue.id && boxed.push(b.reason))
  try {
    await waitFor(() => gateway.requester.directory.get(rogue.id)?.state === 'online', 5000, 'the fake agent known')
    const failedBefore = failedAttempts.length
    // 40 jobs, and more (up to 15 s) until its bid has won one: on a loaded machine its join is heard late
    const attack = await run(40, 'attack')
    for (let w = 0, until = Date.now() + 15_000; rogue.assigned === 0 && Date.now() < until; w++) await run(10, `attack+${w}`, attack)
    assert.ok(attack.answers.every((r) => r.status === 'ok'), 'every job ok, none agent_failed')
    assert.ok(rogue.bids > 0, 'it bid')
    assert.ok(rogue.assigned >= 1 && rogue.assigned <= 2, `it was given ${rogue.assigned} jobs (a newcomer holds one at a time)`)
    await waitFor(() => boxed.length > 0, 5000, 'the fake agent in the penalty box')
    assert.match(boxed[0]!, /no result from/)
    assert.ok(failedAttempts.slice(failedBefore).every((f) => f.startsWith(rogue.id)), 'only its attempts failed')
    const p50Base = base.lat.percentile(50)
    const p50Attack = attack.lat.percentile(50)
    console.log(`  silent fake: p50 ${p50Base.toFixed(1)} ms before, ${p50Attack.toFixed(1)} ms under attack; p99 ${attack.lat.percentile(99).toFixed(0)} ms (its one job waited out the attempt timeout)`)
    // what it costs is the jobs it held: each waited out one attempt (1 s + slack) and ran again elsewhere; the
    // rest ran once, as before. On a shared 2-core machine latency itself swings with the load (an honest job can
    // take over a second), so the test counts the jobs that needed a second attempt and leaves ratios to bench/
    const held = attack.answers.filter((r) => r.attempts > 1).length
    assert.ok(held <= rogue.assigned, `${held} jobs needed another attempt; it held ${rogue.assigned}`)
    assert.ok(p50Attack < 1000, `p50 ${p50Attack} ms under attack (before: ${p50Base} ms): the median job did not wait for the fake`)
  } finally {
    await rogue.close()
  }
  await expectHonestJobOk()
})

marketTest('attack: a fake agent answering at once with made-up, validly signed outputs — capped as a newcomer (its share reported)', async () => {
  const rogue = await RogueAgent.start(broker.url, 'fake-fast', { price: 0, slots: 4096 })
  try {
    await waitFor(() => gateway.requester.directory.get(rogue.id)?.state === 'online', 5000, 'the fake agent known')
    // its join is heard at the next lease refresh: jobs until it has bid
    const until = Date.now() + 10_000
    while (rogue.bids === 0 && Date.now() < until) await honestJob('probe')
    assert.ok(rogue.bids > 0, 'it was offered work and bid')
    let fake = 0
    let n = 0
    // while it is a newcomer (its probation: 10 verified results and 5 s here; 20 and 10 min by default)
    for (let b = 0; b < 25 && gateway.requester.record.isNewcomer(rogue.id); b++) {
      const batch = await Promise.all([0, 1, 2, 3].map((k) => honestJob(`reading ${b}-${k}`)))
      // a batch during which it earned its record is not newcomer work: not counted
      if (!gateway.requester.record.isNewcomer(rogue.id)) break
      for (const [k, r] of batch.entries()) {
        assert.is(r.status, 'ok')
        n++
        if (Buffer.from(r.output, 'base64').toString() !== `reading ${b}-${k}`) {
          fake++
          assert.is(r.agent, rogue.id)
        }
      }
    }
    console.log(`  fast faker: ${fake}/${n} results made up while a newcomer (${((100 * fake) / n).toFixed(1)} %; newcomers together get at most 10 %; once it has a record it competes on price — catching made-up outputs is verification's job)`)
    assert.ok(n >= 40, `${n} jobs measured`)
    assert.ok(fake >= 1, 'it did get newcomer work')
    assert.ok(fake <= 0.1 * n + 2, `${fake} of ${n}: at most its newcomer share`)
  } finally {
    await rogue.close()
  }
  await waitFor(() => gateway.requester.directory.get(rogue.id)?.state === 'gone', 5000, 'the faker gone')
  await expectHonestJobOk()
})

test('attack: forged results into the gateway\'s inbox naming the assigned agent, ahead of the real one — ignored; the real result wins', async () => {
  const attacker = await track(plainClient(broker.url))
  const forger = createSigner(Buffer.alloc(32, 9)) // a key of its own
  let forged = 0
  attacker.on('message', (_t, p) => {
    const a = JSON.parse(p.toString()) as WireAssign
    const out = Buffer.from('forged!')
    const r = { type: 'result' as const, id: a.id, attempt: a.attempt, agent: a.agent, module: a.module, inputSha256: a.inputSha256, status: 'ok' as const, output: out.toString('base64'), outputSha256: sha256(out), fuel: 1, durationMs: 0.1 }
    attacker.publish(a.replyTo, JSON.stringify({ ...r, signature: signResult(r, forger) }), { qos: 1 })
    attacker.publish(a.replyTo, JSON.stringify({ type: 'result', id: a.id, attempt: a.attempt, agent: a.agent, status: 'ok', output: 'garbage' }), { qos: 1 })
    forged += 2
  })
  await attacker.subscribeAsync('fm/v1/agents/+/jobs', { qos: 0 })
  const seen: string[] = []
  gateway.requester.on('forged', (f) => seen.push(f.reason))
  const failedBefore = failedAttempts.length
  try {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => honestJob(`mine ${i}`)))
    answers.forEach((r, i) => {
      assert.is(r.status, 'ok', JSON.stringify(r))
      assert.is(Buffer.from(r.output, 'base64').toString(), `mine ${i}`)
    })
    assert.ok(forged >= 60, `${forged} forgeries sent`)
    // how many beat the real result there depends on the broker and the load (the rest come after it, for a settled job)
    console.log(`  forged inbox results: ${forged} sent, ${seen.length} arrived while the job was open and were ignored`)
    assert.ok(seen.length >= 1, `${seen.length} forged results seen and ignored`)
    assert.equal(failedAttempts.slice(failedBefore), [], 'no attempt failed')
  } finally {
    await attacker.unsubscribeAsync('fm/v1/agents/+/jobs')
    attacker.removeAllListeners('message')
  }
  await expectHonestJobOk()
})

test('attack: assignments published straight to an agent — unsigned, signed by an unknown key, re-addressed from another agent — none runs, no answer', async () => {
  const attacker = await track(plainClient(broker.url))
  const got = collect(attacker)
  await attacker.subscribeAsync('evil/inbox', { qos: 1 })
  // capture a real assignment for a1
  const spy = await track(plainClient(broker.url))
  const captured = collect(spy)
  await spy.subscribeAsync(topics.agentJobs(inProcess[0]!.id), { qos: 1 })
  await expectHonestJobOk({ constraints: { agents: [inProcess[0]!.id] } })
  const real = JSON.parse((await waitFor(() => captured[0], 3000, 'a captured assignment')).payload.toString()) as WireAssign
  const evil = ephemeralIdentity()
  const now = Date.now()
  const attacks = [
    // the attack of issue 8: the old unsigned format, spin jobs for free
    JSON.stringify({ id: 'free-work', attempt: 1, requester: 'evil', replyTo: 'evil/inbox', module: spinModule, input: '' }),
    // properly signed, by a requester the victim does not accept
    JSON.stringify(assignment(evil, { agent: victim.id, module: spinModule, now, replyTo: 'evil/inbox' }, { input: '', limits: { timeoutMs: 60_000 } })),
    // the gateway's real assignment for a1, re-addressed to the victim (the signature covers `agent`)
    JSON.stringify({ ...real, agent: victim.id, replyTo: 'evil/inbox' }),
    JSON.stringify({ ...real, agent: victim.id }),
    // the real one, as is: addressed to another agent
    JSON.stringify(real),
  ]
  for (let round = 0; round < 3; round++) for (const a of attacks) await attacker.publishAsync(topics.agentJobs(victim.id), a, { qos: 1 })
  await waitFor(() => (victim.output().match(/dropped a bad message/g) ?? []).length >= 15, 5000, 'the victim to drop all 15')
  const out = victim.output()
  for (const code of ['invalid_field', 'not_accepted', 'bad_signature']) assert.match(out, new RegExp(`\\(${code}\\)`), code)
  await sleep(300)
  assert.equal(got, [], 'nothing answered to the attacker')
  // not pinned by spin jobs: two heartbeats after the drops it says nothing runs or waits (a
  // heartbeat carries the agent's load), and its next honest job runs — no clock: how soon it
  // answers is the loaded machine's business
  const beats = gateway.requester.directory.get(victim.id)?.beats ?? 0
  await waitFor(() => (gateway.requester.directory.get(victim.id)?.beats ?? 0) >= beats + 2, 20_000, 'two heartbeats from the victim after the attacks')
  const load = gateway.requester.directory.get(victim.id)!.load
  assert.equal([load.running, load.queued], [0, 0], `the victim runs nothing the attacker sent: ${JSON.stringify(load)}`)
  await expectHonestJobOk({ constraints: { agents: [victim.id] } })
})

test('attack: a captured assignment replayed with attempt 1..100 — runs once', async () => {
  const spy = await track(plainClient(broker.url))
  const captured = collect(spy)
  await spy.subscribeAsync(topics.agentJobs(victim.id), { qos: 1 })
  const inbox = await track(plainClient(broker.url))
  const results = collect(inbox)
  await inbox.subscribeAsync(topics.inbox(gateway.requester.id), { qos: 1 })
  await expectHonestJobOk({ constraints: { agents: [victim.id] } })
  const raw = (await waitFor(() => captured[0], 3000, 'a captured assignment')).payload.toString()
  const real = JSON.parse(raw) as WireAssign
  const dropped = () => (victim.output().match(/dropped a bad message/g) ?? []).length
  const before = dropped()
  await spy.publishAsync(topics.agentJobs(victim.id), raw, { qos: 1 })
  for (let attempt = 2; attempt <= 100; attempt++) await spy.publishAsync(topics.agentJobs(victim.id), JSON.stringify({ ...real, attempt }), { qos: 1 })
  await waitFor(() => dropped() - before >= 100, 10_000, 'the victim to drop 100 replays')
  const lines = victim.output().split('\n').filter((l) => l.includes('dropped a bad message'))
  assert.is(lines.filter((l) => l.includes('(replayed)')).length, 1, 'the exact replay: its nonce was spent')
  assert.ok(lines.filter((l) => l.includes('(bad_signature)')).length >= 99, 'attempts 2..100: the signature covers attempt')
  await sleep(300)
  const forJob = results.filter((m) => {
    const b = JSON.parse(m.payload.toString())
    return b.type === 'result' && b.id === real.id
  })
  assert.is(forJob.length, 1, 'one result for that job, ever')
  await expectHonestJobOk({ constraints: { agents: [victim.id] } })
})

test('attack: fake results on the sensor\'s replyTo, ahead of the real one — the sensor tells them by the gateway\'s signature', async () => {
  const attacker = await track(plainClient(broker.url))
  const rogueGateway = ephemeralIdentity()
  const rogueAgent = ephemeralIdentity()
  attacker.on('message', (_t, p) => {
    const job = JSON.parse(p.toString()) as { id: string; replyTo: string; module: string; input: string }
    const out = Buffer.from('fake!')
    const jobId = `${job.id}@${sha256(job.replyTo).slice(0, 12)}`
    const r = { type: 'result' as const, id: jobId, attempt: 1, agent: rogueAgent.id, module: job.module, inputSha256: sha256(Buffer.from(job.input, 'base64')), status: 'ok' as const, outputSha256: sha256(out), fuel: 1 }
    const base = { id: job.id, jobId, status: 'ok', output: out.toString('base64'), outputSha256: r.outputSha256, fuel: 1, agent: rogueAgent.id, signature: signResult(r, rogueAgent.signer), module: job.module, inputSha256: r.inputSha256, durationMs: 0, attempts: 1 }
    // unsigned, "signed" by another gateway key in this gateway's name, and a real agent signature (the rogue's own)
    attacker.publish(job.replyTo, JSON.stringify(base), { qos: 1 })
    attacker.publish(job.replyTo, JSON.stringify(signForwarded({ ...base }, { id: gateway.id, signer: rogueGateway.signer })), { qos: 1 })
  })
  await attacker.subscribeAsync(topics.submit, { qos: 0 })
  let unverified = 0
  for (let i = 0; i < 20; i++) {
    const { wire: r, unverified: u } = await timedJob(`true ${i}`)
    assert.is(r.status, 'ok')
    assert.is(Buffer.from(r.output, 'base64').toString(), `true ${i}`)
    // end to end: the agent's signature, with the key of its signed presence
    const key = gateway.requester.directory.get(r.agent)!.presence.publicKey
    assert.is(checkForwarded(r, { id: r.id, gatewayKey: gateway.publicKey, agentKey: key }), undefined)
    unverified += u
  }
  assert.ok(unverified >= 20, `${unverified} fakes reached the sensor first and were told apart`)
  await attacker.unsubscribeAsync(topics.submit)
  attacker.removeAllListeners('message')
  await expectHonestJobOk()
})

test.run()

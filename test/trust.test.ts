/**
 * The security test of issue 8, rows of its table that access rules and
 * identities answer, against the embedded broker with auth on (the way
 * `fogmesh up` runs it: anonymous clients allowed from loopback, under the
 * anonymous rules), real in-process agents, the authenticated gateway. Each
 * attack is made by an outsider (anonymous), a sensor, or an admitted agent
 * acting against its role; each is refused, and the next honest job succeeds.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MqttClient } from 'mqtt'
import * as fx from './fixtures/engine/modules.ts'
import { createAgentToken } from '../protocol/agent-token.ts'
import { loadOrCreateIdentity } from '../agent/identity.ts'
import { topics } from '../protocol/topics.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { closedByBroker, startSecureMesh, type SecureMesh } from './support/secure-mesh.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { sleep, waitFor } from './support/wait.ts'

let mesh: SecureMesh
let module: string
let s1: MqttClient
let s1Replies: ReturnType<typeof collect>
let seq = 0
const refused: string[] = []
const open: MqttClient[] = []

test.before(async () => {
  mesh = await startSecureMesh({ agents: 2 })
  mesh.auth.on('denied', (d) => refused.push(`${d.kind}:${d.action}:${d.topic}`))
  module = await mesh.deploy(fx.echo().bytes)
  s1 = await mesh.client('s1')
  s1Replies = collect(s1)
  await s1.subscribeAsync('fm/v1/replies/s1/#', { qos: 1 })
})

test.after(async () => {
  await Promise.all(open.map(closeClient))
  await closeClient(s1)
  await mesh.close()
})

const track = async (c: Promise<MqttClient>) => {
  const client = await c
  open.push(client)
  return client
}

/** s1 submits in its own name and waits for its answer. */
async function honestJob(input = 'honest', extra: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const id = `job-${seq++}`
  await s1.publishAsync(topics.submitAs('s1'), JSON.stringify({ id, module, input: Buffer.from(input).toString('base64'), replyTo: 'fm/v1/replies/s1/results', ...extra }), { qos: 1 })
  const m = await waitFor(() => s1Replies.find((r) => JSON.parse(r.payload.toString()).id === id), 8000, `the answer to ${id}`)
  return JSON.parse(m.payload.toString())
}

async function expectHonestJobOk(): Promise<void> {
  const r = await honestJob('still fine')
  assert.is(r.status, 'ok', JSON.stringify(r))
  assert.is(Buffer.from(r.output, 'base64').toString(), 'still fine')
}

test('honest path: a sensor submits in its own name, gets a verified result on its reply topic, job id scoped to it', async () => {
  const r = await honestJob('hello')
  assert.is(r.status, 'ok', JSON.stringify(r))
  assert.is(Buffer.from(r.output, 'base64').toString(), 'hello')
  assert.match(r.jobId, /^job-\d+@s1$/)
  assert.ok(mesh.agents.some((a) => a.id === r.agent))
})

test('without credentials nothing but the anonymous rules; with anonymous "none" nobody connects at all', async () => {
  const anon = await track(mesh.client())
  await assert.not.throws(() => anon.subscribeAsync('fm/v1/agents/+/presence'))
  const strict = await startSecureMesh({ agents: 0, auth: { anonymous: 'none' } })
  try {
    await plainClient(strict.broker.url).then(() => assert.unreachable('anonymous connect'), (e: Error & { code?: number }) => assert.is(e.code, 5))
    await plainClient(strict.broker.url, { username: 's1', password: 'wrong' }).then(() => assert.unreachable('bad password'), (e: Error & { code?: number }) => assert.is(e.code, 4))
    await plainClient(strict.broker.url, { username: 'nobody', password: 'x' }).then(() => assert.unreachable('unknown user'), (e: Error & { code?: number }) => assert.is(e.code, 4))
  } finally {
    await strict.close()
  }
})

test('attack: subscribe # and $SYS/# as a sensor (and as an outsider) — refused, nothing arrives', async () => {
  for (const who of ['s2', undefined]) {
    const c = await track(mesh.client(who))
    const got = collect(c)
    for (const filter of ['#', '$SYS/#', 'fm/v1/replies/+/#', 'fm/v1/agents/+/jobs']) {
      await c.subscribeAsync(filter).then(() => assert.unreachable(`${who ?? 'anonymous'} subscribed ${filter}`), (e: Error & { packet?: { granted?: number[] } }) => assert.equal(e.packet?.granted, [128], filter))
    }
    await honestJob('secret input')
    await sleep(100)
    assert.is(got.length, 0, `${who ?? 'anonymous'} received ${got.map((g) => g.topic).join(', ')}`)
  }
  const ops = await track(mesh.client('ops'))
  const seen = collect(ops)
  await ops.subscribeAsync(['#', '$SYS/#'])
  await honestJob('watched')
  await waitFor(() => seen.some((m) => m.topic === 'fm/v1/replies/s1/results'), 3000, 'the operator to see the reply')
  await expectHonestJobOk()
})

test('attack: an assignment published straight to fm/v1/agents/<id>/jobs — refused for outsiders, sensors and other agents; never run', async () => {
  const victim = mesh.agents[0]!
  const before = victim.stats().jobsOk + victim.stats().jobsFailed
  const assign = JSON.stringify({ id: 'free-work', attempt: 1, requester: 'evil', replyTo: 'fm/v1/requesters/evil/inbox', module, input: '' })
  for (const who of [undefined, 's2', 'dep', 'ops']) {
    const c = await track(mesh.client(who))
    c.publish(topics.agentJobs(victim.id), assign, { qos: 1 })
    assert.is(await closedByBroker(c), 'closed', `${who ?? 'anonymous'} disconnected`)
  }
  // an admitted agent acting against its role
  const rogueDir = tmpDir('fm-rogue-')
  const rogue = loadOrCreateIdentity(rogueDir)
  await mesh.store.addAgent(rogue.id, { iterations: 1000 })
  const token = createAgentToken(rogue.signer)
  const agentClient = await track(plainClient(mesh.broker.url, { clientId: `fm-agent-${rogue.id}`, ...token }))
  agentClient.publish(topics.agentJobs(victim.id), assign, { qos: 1 })
  assert.is(await closedByBroker(agentClient), 'closed')
  await sleep(200)
  assert.is(victim.stats().jobsOk + victim.stats().jobsFailed, before, 'the victim ran nothing')
  assert.ok(refused.some((r) => r === `anonymous:publish:${topics.agentJobs(victim.id)}`))
  assert.ok(refused.some((r) => r === `agent:publish:${topics.agentJobs(victim.id)}`))
  await expectHonestJobOk()
})

test('attack: forged offline presence and empty retained presence — refused; the victim stays online and keeps getting jobs', async () => {
  const victim = mesh.agents[0]!
  const forged = JSON.stringify({ status: 'offline', id: victim.id, name: victim.name, reason: 'stopped' })
  for (const who of [undefined, 's2', 'gw']) {
    for (const payload of [forged, '']) {
      const c = await track(mesh.client(who))
      c.publish(topics.presence(victim.id), payload, { qos: 1, retain: true })
      assert.is(await closedByBroker(c), 'closed', `${who ?? 'anonymous'} ${payload ? 'forged' : 'empty'} presence`)
    }
  }
  // a forged will is refused at CONNECT
  await plainClient(mesh.broker.url, { username: 's2', password: mesh.passwords.s2!, will: { topic: topics.presence(victim.id), payload: Buffer.from(forged), qos: 1, retain: true } })
    .then(() => assert.unreachable('a will on the victim’s presence'), (e: Error & { code?: number }) => assert.is(e.code, 5))
  // what a fresh watcher reads: the victim's own retained presence, online
  const w = await track(mesh.client('ops'))
  const got = collect(w)
  await w.subscribeAsync(topics.presence(victim.id))
  const p = await waitFor(() => got.find((m) => m.retain), 10_000, 'the retained presence')
  assert.is(JSON.parse(p.payload.toString()).status, 'online')
  assert.is(mesh.gateway.requester.directory.get(victim.id)?.state, 'online')
  const r = await honestJob('for the victim', { constraints: { agents: [victim.id] } })
  assert.is(r.status, 'ok', JSON.stringify(r))
  assert.is(r.agent, victim.id)
})

test('attack: connect as fm-agent-<id> every 50 ms without the key — refused; the victim stays online and keeps getting jobs', async () => {
  const victim = mesh.agents[1]!
  let gone = 0
  const onGone = (a: { presence: { id: string } }) => a.presence.id === victim.id && gone++
  mesh.gateway.requester.directory.on('gone', onGone)
  const codes = new Map<string, number>()
  const stranger = loadOrCreateIdentity(tmpDir('fm-stranger-'))
  const attempts: Array<() => Promise<MqttClient>> = [
    () => plainClient(mesh.broker.url, { clientId: `fm-agent-${victim.id}` }),
    () => plainClient(mesh.broker.url, { clientId: `fm-agent-${victim.id}`, username: 's2', password: mesh.passwords.s2! }),
    // a valid token of another key, under the victim's id or client id
    () => plainClient(mesh.broker.url, { clientId: `fm-agent-${victim.id}`, ...createAgentToken(stranger.signer) }),
    () => plainClient(mesh.broker.url, { clientId: `fm-agent-${victim.id}`, username: victim.id, password: createAgentToken(stranger.signer).password }),
    () => plainClient(mesh.broker.url, { clientId: `fm-agent-${victim.id}`, username: victim.id, password: 'guess' }),
  ]
  const jobs: Array<Promise<Record<string, any>>> = []
  for (let i = 0; i < 25; i++) {
    const attempt = attempts[i % attempts.length]!
    await attempt().then(
      (c) => {
        open.push(c)
        assert.unreachable(`attempt ${i % attempts.length} was let in`)
      },
      (e: Error & { code?: number }) => codes.set(String(i % attempts.length), e.code ?? -1),
    )
    if (i % 5 === 0) jobs.push(honestJob(`during ${i}`, { constraints: { agents: [victim.id] } }))
    await sleep(50)
  }
  const results = await Promise.all(jobs)
  mesh.gateway.requester.directory.off('gone', onGone)
  assert.equal([...codes.entries()].sort(), [['0', 2], ['1', 2], ['2', 2], ['3', 4], ['4', 4]], 'identifier rejected, or bad credentials')
  assert.is(gone, 0, 'the victim never looked gone')
  assert.ok(results.every((r) => r.status === 'ok' && r.agent === victim.id), JSON.stringify(results.map((r) => [r.status, r.agent])))
  assert.is(mesh.gateway.requester.directory.get(victim.id)?.state, 'online')
})

test('an authenticated identity takes over its own session (MQTT’s rule); a client id of someone else’s is scoped away, not taken over', async () => {
  const first = await track(mesh.client('s2', { clientId: 's2:console' }))
  const closed = closedByBroker(first, 3000)
  await track(mesh.client('s2', { clientId: 's2:console' }))
  assert.is(await closed, 'closed', 'the second s2:console took over the first')
  const keep = await track(mesh.client('s2', { clientId: 's2:keep' }))
  // the same client id from an outsider and from another sensor: scoped to them, the session stays
  await track(mesh.client(undefined, { clientId: 's2:keep' }))
  await track(mesh.client('s1', { clientId: 's2:keep' }))
  await sleep(200)
  assert.ok(keep.connected, 's2:keep was not taken over')
})

test('attack: an empty retained publish on a module — refused for everyone but deployers; fresh agents still fetch it', async () => {
  const target = await mesh.deploy(fx.echo().bytes)
  for (const who of [undefined, 's2', 'gw', 'ops']) {
    const c = await track(mesh.client(who))
    c.publish(topics.module(target), '', { qos: 1, retain: true })
    assert.is(await closedByBroker(c), 'closed', `${who ?? 'anonymous'} deleting a module`)
  }
  const fresh = await mesh.addAgent('fresh')
  await mesh.gateway.requester.directory.waitFor(mesh.agents.length, 5000)
  const r = await honestJob('from a fresh agent', { constraints: { agents: [fresh.id] } })
  assert.is(r.status, 'ok', JSON.stringify(r))
  assert.is(r.agent, fresh.id)
})

test('attack: a fake result on a sensor’s reply topic from another sensor — refused; only the real result arrives', async () => {
  const s2 = await track(mesh.client('s2'))
  const fake = JSON.stringify({ id: `job-${seq}`, status: 'ok', output: Buffer.from('fake').toString('base64'), agent: mesh.agents[0]!.id, signature: 'x' })
  s2.publish('fm/v1/replies/s1/results', fake, { qos: 1 })
  assert.is(await closedByBroker(s2), 'closed')
  const r = await honestJob('real')
  assert.is(Buffer.from(r.output, 'base64').toString(), 'real')
  assert.not.ok(s1Replies.some((m) => m.payload.toString().includes(Buffer.from('fake').toString('base64'))), 'no fake reached s1')
})

test('attack: pre-empting a sensor’s job ids — impossible: nobody else submits in its name, ids are scoped per submitter', async () => {
  const next = `job-${seq}`
  const s2 = await track(mesh.client('s2'))
  const s2Replies = collect(s2)
  await s2.subscribeAsync('fm/v1/replies/s2/#')
  const input = Buffer.from('attacker').toString('base64')
  // in s1's name: refused by the broker
  const s2b = await track(mesh.client('s2'))
  s2b.publish(topics.submitAs('s1'), JSON.stringify({ id: next, module, input, replyTo: 'fm/v1/replies/s1/results' }), { qos: 1 })
  assert.is(await closedByBroker(s2b), 'closed')
  // in its own name, aimed at s1's replies: refused by the gateway, answered on s2's own reply root
  await s2.publishAsync(topics.submitAs('s2'), JSON.stringify({ id: next, module, input, replyTo: 'fm/v1/replies/s1/results' }))
  const refusal = await waitFor(() => s2Replies.find((m) => m.topic === 'fm/v1/replies/s2'), 3000, 'the refusal')
  const e = JSON.parse(refusal.payload.toString())
  assert.is(e.error.code, 'invalid_field')
  assert.match(e.error.message, /^replyTo: expected fm\/v1\/replies\/s2 or a topic below it/)
  // the same id in its own name, and on the anonymous path: other jobs (other mesh ids)
  await s2.publishAsync(topics.submitAs('s2'), JSON.stringify({ id: next, module, input, replyTo: 'fm/v1/replies/s2/r' }))
  const anon = await track(mesh.client())
  await anon.publishAsync(topics.submit, JSON.stringify({ id: next, module, input, replyTo: 'anon/r' }))
  const theirs = await waitFor(() => s2Replies.find((m) => m.topic === 'fm/v1/replies/s2/r'), 8000, 'the attacker’s own answer')
  assert.is(JSON.parse(theirs.payload.toString()).jobId, `${next}@s2`)
  const mine = await honestJob('mine')
  assert.is(mine.id, next)
  assert.is(mine.jobId, `${next}@s1`)
  assert.is(Buffer.from(mine.output, 'base64').toString(), 'mine')
})

test('the anonymous path of today keeps working: plain fm/v1/jobs/submit answered on a plain topic; fm/ reply targets refused', async () => {
  const anon = await track(mesh.client())
  const got = collect(anon)
  await anon.subscribeAsync('demo/results')
  await anon.publishAsync(topics.submit, JSON.stringify({ id: 'job-1', module, input: Buffer.from('plain').toString('base64'), replyTo: 'demo/results' }))
  const m = await waitFor(() => got.find((x) => x.topic === 'demo/results'), 8000, 'the anonymous answer')
  const r = JSON.parse(m.payload.toString())
  assert.is(r.status, 'ok')
  assert.match(r.jobId, /^job-1@[0-9a-f]{12}$/)
  const invalid: string[] = []
  mesh.gateway.on('invalid', (i) => invalid.push(i.message))
  await anon.publishAsync(topics.submit, JSON.stringify({ id: 'job-2', module, input: '', replyTo: 'fm/v1/replies/s1/results' }))
  await waitFor(() => invalid.length > 0, 3000, 'the refusal')
  assert.match(invalid[0]!, /replyTo: expected a topic outside fm\//)
  await expectHonestJobOk()
})

test.run()

/**
 * The same access rules on Debian's Mosquitto 2, from the files of
 * `fogmesh auth export --mosquitto`: real agents (logging in with the password
 * `auth add-agent` printed: Mosquitto cannot check keys), the authenticated
 * gateway, a deployer, sensors. Mosquitto drops a publish it does not allow
 * (MQTT 3.1.1 lets a broker ack and discard) instead of disconnecting, so the
 * attacks are judged by their effect: nothing reaches the victim, and the next
 * honest job succeeds. Skipped without Mosquitto unless CI is set.
 *
 *   node --import tsx test/trust-mosquitto.test.ts
 */
import { spawn } from 'node:child_process'
import { chmodSync, chownSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent } from '../agent/agent.ts'
import { loadOrCreateIdentity } from '../agent/identity.ts'
import { CredentialStore } from '../broker/auth/credentials.ts'
import { exportMosquitto } from '../broker/auth/mosquitto-export.ts'
import { startGateway, type Gateway } from '../market/gateway.ts'
import { ephemeralIdentity } from '../protocol/identity.ts'
/** The gateway's signing key: the agents take its assignments. */
const GATEWAY = ephemeralIdentity()
import { topics } from '../protocol/topics.ts'
import { connect } from '../protocol/transport.ts'
import * as fx from './fixtures/engine/modules.ts'
import { trackChild } from './support/child-processes.ts'
import { startMosquitto, type Mosquitto } from './support/mosquitto.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { requireProgram, testNeeding } from './support/programs.ts'
import { sha256 } from './support/sha256.ts'
import { USERS } from './support/secure-mesh.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { sleep, waitFor } from './support/wait.ts'

const mosqTest = testNeeding(test, 'mosquitto')

setTimeout(() => {
  console.error('trust-mosquitto.test.ts: watchdog fired after 120 s')
  process.exit(1)
}, 120_000).unref()

let mosq: Mosquitto | undefined
let gateway: Gateway | undefined
const agents: Agent[] = []
const agentPasswords: string[] = []
const passwords: Record<string, string> = {}
const open: MqttClient[] = []
let store: CredentialStore
let exportDir: string
let module: string
let s1: MqttClient
let s1Replies: ReturnType<typeof collect>
let seq = 0

test.after(async () => {
  await Promise.all(open.map(closeClient))
  await gateway?.close()
  await Promise.all(agents.map((a) => a.close({ graceMs: 200 }).catch(() => {})))
  await mosq?.stop()
})

const as = async (user: string | undefined, opts: Parameters<typeof plainClient>[1] = {}) => {
  const c = await plainClient(mosq!.url, { ...(user ? { username: user, password: passwords[user] ?? 'wrong' } : {}), ...opts })
  open.push(c)
  return c
}

async function honestJob(input: string, extra: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const id = `job-${seq++}`
  await s1.publishAsync(topics.submitAs('s1'), JSON.stringify({ id, module, input: Buffer.from(input).toString('base64'), replyTo: 'fm/v1/replies/s1/results', ...extra }), { qos: 1 })
  const m = await waitFor(() => s1Replies.find((r) => JSON.parse(r.payload.toString()).id === id), 10_000, `the answer to ${id}`)
  return JSON.parse(m.payload.toString())
}

async function expectHonestJobOk(extra: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const r = await honestJob('honest', extra)
  assert.is(r.status, 'ok', JSON.stringify(r))
  assert.is(Buffer.from(r.output, 'base64').toString(), 'honest')
  return r
}

/** As root Mosquitto reads its files as the `mosquitto` user, the way an operator would set it up: chown the exported files to it. */
function handToMosquittoUser(dir: string): void {
  if (process.getuid?.() !== 0) return
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('mosquitto:'))
  if (!line) return
  const [, , uid, gid] = line.split(':').map(Number) as [number, number, number, number]
  chmodSync(dir, 0o755)
  for (const f of readdirSync(dir)) chownSync(join(dir, f), uid, gid)
}

async function startExportedAgent(name: string): Promise<Agent> {
  const dataDir = tmpDir(`fm-agent-${name}-`)
  const password = await store.addAgent(loadOrCreateIdentity(dataDir).id, { iterations: 1000 })
  agentPasswords.push(password)
  // the operator's way: export again, and SIGHUP makes Mosquitto re-read its password and ACL files
  exportMosquitto(store, exportDir)
  handToMosquittoUser(exportDir)
  mosq!.proc.kill('SIGHUP')
  await sleep(300)
  return startAgent({ broker: mosq!.url, dataDir, name, slots: 1, isolation: 'thread', acceptFrom: [GATEWAY.id], credentials: { password } })
}

mosqTest('setup: export the credentials, start Mosquitto with them; agents, gateway and a deployer log in', async () => {
  const bin = requireProgram('mosquitto')
  const dir = tmpDir('fm-trust-mosq-')
  store = CredentialStore.load(join(dir, 'auth.json'), { create: true })
  for (const [name, role] of Object.entries(USERS)) passwords[name] = await store.addUser(name, role, { iterations: 1000 })
  const dataDirs = [tmpDir('fm-agent-m1-'), tmpDir('fm-agent-m2-')]
  for (const d of dataDirs) agentPasswords.push(await store.addAgent(loadOrCreateIdentity(d).id, { iterations: 1000 }))
  store.save()
  exportDir = tmpDir('fm-trust-mosq-export-')
  const out = exportMosquitto(store, exportDir)
  handToMosquittoUser(out.dir)
  mosq = await startMosquitto(bin, readFileSync(join(out.dir, 'mosquitto.conf'), 'utf8'), { anonymous: false })
  for (const [i, d] of dataDirs.entries()) {
    agents.push(await startAgent({ broker: mosq.url, dataDir: d, name: `m${i + 1}`, slots: 1, isolation: 'thread', acceptFrom: [GATEWAY.id], credentials: { password: agentPasswords[i]! } }))
  }
  gateway = await startGateway({ broker: mosq.url, identity: GATEWAY, credentials: { username: 'gw', password: passwords.gw! } })
  await gateway.requester.directory.waitFor(2, 5000)
  const dep = await connect(mosq.url, { reconnect: false, credentials: { username: 'dep', password: passwords.dep! } })
  const bytes = fx.echo().bytes
  module = sha256(bytes)
  await dep.publishAsync(topics.module(module), Buffer.from(bytes), { qos: 1, retain: true })
  await dep.close()
  s1 = await as('s1')
  s1Replies = collect(s1)
  await s1.subscribeAsync('fm/v1/replies/s1/#', { qos: 1 })
  const r = await expectHonestJobOk()
  assert.match(r.jobId, /@s1$/)
})

mosqTest('no anonymous clients; bad passwords refused; an agent id with a wrong password refused', async () => {
  await plainClient(mosq!.url).then(() => assert.unreachable('anonymous'), (e: { code?: number }) => assert.is(e.code, 5))
  await plainClient(mosq!.url, { username: 's1', password: 'nope' }).then(() => assert.unreachable('bad password'), (e: { code?: number }) => assert.ok(e.code === 4 || e.code === 5))
  await plainClient(mosq!.url, { username: agents[0]!.id, password: 'nope' }).then(() => assert.unreachable('agent id, bad password'), (e: { code?: number }) => assert.ok(e.code === 4 || e.code === 5))
})

mosqTest('subscribe # and $SYS/# as a sensor: nothing arrives', async () => {
  const c = await as('s2')
  const got = collect(c)
  // Mosquitto 2.0 grants the subscription (SUBACK 0) and checks read access on every message it would deliver
  await c.subscribeAsync(['#', '$SYS/#', 'fm/v1/replies/+/#'])
  await expectHonestJobOk()
  await sleep(200)
  // but the gateways' signed keys, which sensors read to check what a gateway forwards (and to seal to it)
  const leaked = got.filter((g) => !/^fm\/v1\/gateways\/[0-9a-f]{20}\/presence$/.test(g.topic))
  assert.is(leaked.length, 0, leaked.map((g) => g.topic).join(', '))
})

mosqTest('an assignment to fm/v1/agents/<id>/jobs from a sensor or another agent: dropped, never run', async () => {
  const victim = agents[0]!
  const before = victim.stats().jobsOk + victim.stats().jobsFailed
  const assign = JSON.stringify({ id: 'free-work', attempt: 1, requester: 'evil', replyTo: 'fm/v1/requesters/evil/inbox', module, input: '' })
  const s2 = await as('s2')
  await s2.publishAsync(topics.agentJobs(victim.id), assign, { qos: 1 })
  const other = await plainClient(mosq!.url, { username: agents[1]!.id, password: agentPasswords[1]! }).catch(() => undefined)
  // (the second agent's own session: use_username_as_clientid makes this connection take it over; it reconnects)
  if (other) {
    open.push(other)
    await other.publishAsync(topics.agentJobs(victim.id), assign, { qos: 1 })
  }
  await sleep(300)
  assert.is(victim.stats().jobsOk + victim.stats().jobsFailed, before, 'the victim ran nothing')
  if (other) await closeClient(other)
  await gateway!.requester.directory.waitFor(2, 10_000)
  await expectHonestJobOk()
})

mosqTest('forged offline presence, empty retained presence, and an agent client id without the password: the victim stays online', async () => {
  const victim = agents[0]!
  const s2 = await as('s2', { clientId: `fm-agent-${victim.id}` })
  await s2.publishAsync(topics.presence(victim.id), JSON.stringify({ status: 'offline', id: victim.id, reason: 'stopped' }), { qos: 1, retain: true })
  await s2.publishAsync(topics.presence(victim.id), '', { qos: 1, retain: true })
  for (let i = 0; i < 5; i++) {
    await plainClient(mosq!.url, { clientId: `fm-agent-${victim.id}` }).then((c) => (open.push(c), assert.unreachable('anonymous as the agent')), () => {})
    await sleep(50)
  }
  const w = await as('ops')
  const got = collect(w)
  await w.subscribeAsync(topics.presence(victim.id))
  const p = await waitFor(() => got.find((m) => m.retain), 10_000, 'the retained presence')
  assert.is(JSON.parse(p.payload.toString()).status, 'online')
  assert.is(gateway!.requester.directory.get(victim.id)?.state, 'online')
  const r = await expectHonestJobOk({ constraints: { agents: [victim.id] } })
  assert.is(r.agent, victim.id)
})

mosqTest('an empty retained publish on a module from a non-deployer: dropped; a fresh agent still fetches it', async () => {
  for (const who of ['s2', 'gw']) {
    const c = await as(who)
    await c.publishAsync(topics.module(module), '', { qos: 1, retain: true })
    await closeClient(c)
  }
  await gateway!.requester.directory.waitFor(2, 10_000) // the gateway's session was taken over above; it reconnected
  const fresh = await startExportedAgent('fresh')
  agents.push(fresh)
  await gateway!.requester.directory.waitFor(3, 10_000)
  const r = await expectHonestJobOk({ constraints: { agents: [fresh.id] } })
  assert.is(r.agent, fresh.id)
})

mosqTest('a fake result on another sensor’s replies, and a submit in its name: dropped; ids stay its own', async () => {
  const s2 = await as('s2')
  const fake = Buffer.from('fake').toString('base64')
  await s2.publishAsync('fm/v1/replies/s1/results', JSON.stringify({ id: `job-${seq}`, status: 'ok', output: fake }), { qos: 1 })
  await s2.publishAsync(topics.submitAs('s1'), JSON.stringify({ id: `job-${seq}`, module, input: fake, replyTo: 'fm/v1/replies/s1/results' }), { qos: 1 })
  const r = await expectHonestJobOk()
  assert.is(r.jobId, `job-${seq - 1}@s1`)
  assert.not.ok(s1Replies.some((m) => m.payload.toString().includes(fake)), 'nothing fake reached s1')
})

const shellTest = testNeeding(test, 'mosquitto', 'mosquitto_rr')
shellTest('a dumb sensor with one connection: mosquitto_rr -u -P publishes the job and reads its answer', async () => {
  const rr = requireProgram('mosquitto_rr')
  const job = JSON.stringify({ id: 'shell-1', module, input: Buffer.from('from a shell').toString('base64'), replyTo: 'fm/v1/replies/s2/results' })
  const args = ['-V', '311', '-h', '127.0.0.1', '-p', String(mosq!.port), '-u', 's2', '-P', passwords.s2!, '-t', 'fm/v1/jobs/submit/s2', '-e', 'fm/v1/replies/s2/results', '-m', job, '-W', '15']
  const proc = trackChild(spawn(rr, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
  let out = ''
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const code = await new Promise<number | null>((r) => proc.once('exit', r))
  assert.is(code, 0, out)
  const r = JSON.parse(out)
  assert.is(r.status, 'ok', out)
  assert.is(r.jobId, 'shell-1@s2')
  assert.is(Buffer.from(r.output, 'base64').toString(), 'from a shell')
})

test.run()

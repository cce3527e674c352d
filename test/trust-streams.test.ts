/**
 * Stream jobs with identities on: a sensor places a standing job in its own
 * name, its bridge topic as the source, its own replies as the target; the
 * agents the gateway started it on answer each window themselves — the broker
 * grants them that stream's `replyTo` (broker/auth/stream-grants.ts) and no
 * other agent. Against the embedded broker with auth, real agents, the
 * authenticated gateway.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MqttClient } from 'mqtt'
import * as fx from './fixtures/engine/modules.ts'
import { createAgentToken } from '../protocol/agent-token.ts'
import { loadOrCreateIdentity } from '../agent/identity.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { closedByBroker, startSecureMesh, type SecureMesh } from './support/secure-mesh.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { waitFor } from './support/wait.ts'
import { Bridge } from '../firmware-bridge/bridge.ts'
import { parseConfig } from '../firmware-bridge/config.ts'
import { MemoryChip } from '../firmware-bridge/gpio/memory-chip.ts'

let mesh: SecureMesh
let module: string
let s1: MqttClient
let got: ReturnType<typeof collect>
const refused: string[] = []
const SOURCE = 'fm/v1/bridge/s1/readings/t'
const REPLY = 'fm/v1/replies/s1/stream'

test.before(async () => {
  mesh = await startSecureMesh({ agents: 2 })
  mesh.auth.on('denied', (d) => refused.push(`${d.kind}:${d.action}:${d.topic}`))
  module = await mesh.deploy(fx.echo().bytes)
  s1 = await mesh.client('s1')
  got = collect(s1)
  await s1.subscribeAsync('fm/v1/replies/s1/#', { qos: 1 })
})

test.after(async () => {
  await closeClient(s1)
  await mesh.close()
})

const windows = () => got.filter((m) => m.topic === REPLY).map((m) => JSON.parse(m.payload.toString()))

test('a sensor’s stream in its own name: readings on its bridge topic, signed windows on its replies from the granted agent', async () => {
  await s1.publishAsync('fm/v1/streams/submit/s1', JSON.stringify({ id: 'temp', module, source: SOURCE, window: { count: 2 }, replyTo: REPLY }), { qos: 1 })
  await waitFor(() => mesh.auth.streamGrants.size > 0, 5000, 'the stream to be started (and its reply granted)')
  await waitFor(() => mesh.gateway.streams.list()[0]?.primary !== undefined, 5000, 'a primary')
  const primary = mesh.gateway.streams.list()[0]!.primary!
  // the primary subscribes to the source once started; keep publishing until windows come back
  for (let i = 0; windows().length < 2 && i < 80; i++) {
    await s1.publishAsync(SOURCE, JSON.stringify({ value: i, ts: Date.now() }), { qos: 1 })
    await new Promise((r) => setTimeout(r, 50))
  }
  const ws = await waitFor(() => (windows().length >= 2 ? windows() : undefined), 8000, 'two windows')
  for (const w of ws) {
    assert.is(w.type, 'window')
    assert.is(w.status, 'ok', JSON.stringify(w))
    assert.is(w.agent, primary)
    assert.is(w.window.count, 2)
  }
  assert.not.ok(refused.some((r) => r.startsWith('agent:')), `no agent refused: ${refused.join(', ')}`)
})

test('attack: an admitted agent not on the stream publishes a fake window on its replyTo, or wipes its state — refused, disconnected; nothing arrives, the state stands', async () => {
  const rogue = loadOrCreateIdentity(tmpDir('fm-rogue-stream-'))
  await mesh.store.addAgent(rogue.id, { iterations: 1000 })
  const asRogue = () => plainClient(mesh.broker.url, { clientId: `fm-agent-${rogue.id}`, ...createAgentToken(rogue.signer) })
  const c = await asRogue()
  c.publish(REPLY, JSON.stringify({ type: 'window', id: 'temp', status: 'ok', output: Buffer.from('fake').toString('base64') }), { qos: 1 })
  assert.is(await closedByBroker(c), 'closed')
  await closeClient(c)
  assert.ok(refused.includes(`agent:publish:${REPLY}`))
  assert.not.ok(windows().some((w) => w.output === Buffer.from('fake').toString('base64')), 'no fake window reached s1')
  const state = `fm/v1/streams/${mesh.gateway.streams.list()[0]!.key}/state`
  const c2 = await asRogue()
  c2.publish(state, '', { qos: 1, retain: true })
  assert.is(await closedByBroker(c2), 'closed')
  await closeClient(c2)
  assert.ok(refused.includes(`agent:publish:${state}`))
  const ops = await mesh.client('ops')
  const kept = collect(ops)
  await ops.subscribeAsync(state, { qos: 1 })
  const m = await waitFor(() => kept.find((x) => x.topic === state), 3000, 'the retained state')
  assert.ok(JSON.parse(m.payload.toString()).seq >= 2, 'the primary’s state is still there')
  await closeClient(ops)
})

test('a stream aimed at another sensor’s replies is refused, answered on the submitter’s own reply root', async () => {
  await s1.publishAsync('fm/v1/streams/submit/s1', JSON.stringify({ id: 'aimed', module, source: SOURCE, window: { count: 2 }, replyTo: 'fm/v1/replies/s2/x' }), { qos: 1 })
  const m = await waitFor(() => got.find((x) => x.topic === 'fm/v1/replies/s1' && x.payload.toString().includes('"aimed"')), 5000, 'the refusal')
  const e = JSON.parse(m.payload.toString())
  assert.is(e.status, 'error')
  assert.is(e.error.code, 'invalid_field')
  assert.match(e.error.message, /fm\/v1\/replies\/s1 or fm\/v1\/bridge\/s1/)
  assert.is(mesh.gateway.streams.list().length, 1, 'not placed')
})

test('a stream the gateway cannot place is answered on its target, a bridge’s command topic too: the gateway is allowed there, stays connected', async () => {
  const gwRefusals = () => refused.filter((r) => r.startsWith('gateway:'))
  const anon = await mesh.client()
  const ops = await mesh.client('ops')
  const seen = collect(ops)
  await ops.subscribeAsync('fm/v1/bridge/s1/commands/#', { qos: 1 })
  await anon.publishAsync('fm/v1/streams/submit', JSON.stringify({ id: 'nowhere-2', module, source: 'sensors/x', window: { count: 2 }, replyTo: 'fm/v1/bridge/s1/commands/alarm', constraints: { labels: { site: 'mars' } } }), { qos: 1 })
  const answer = await waitFor(() => seen.find((x) => x.payload.toString().includes('nowhere-2')), 5000, 'the answer on the bridge topic')
  assert.is(JSON.parse(answer.payload.toString()).error.code, 'no_agents')
  assert.equal(gwRefusals(), [])
  await anon.publishAsync('fm/v1/streams/submit', JSON.stringify({ id: 'nowhere-2', cancel: true }), { qos: 1 })
  await waitFor(() => !mesh.gateway.streams.list().some((p) => p.submit.id === 'nowhere-2'), 5000, 'the cancels')
  await closeClient(ops)
  await closeClient(anon)
})

test('cancelling the stream takes the grant back: the agent may no longer publish there', async () => {
  const before = mesh.auth.streamGrants.size
  assert.ok(before > 0)
  await s1.publishAsync('fm/v1/streams/submit/s1', JSON.stringify({ id: 'temp', cancel: true }), { qos: 1 })
  await waitFor(() => mesh.auth.streamGrants.size === 0, 5000, 'the grants to go')
  for (const a of mesh.agents) assert.not.ok(mesh.auth.streamGrants.allows(a.id, REPLY))
})

test('a firmware bridge logs in as the sensor it is named after: its status, topics and Sparkplug node are its own; nobody else commands its actuators', async () => {
  const ops = await mesh.client('ops')
  const seen = collect(ops)
  await ops.subscribeAsync(['fm/v1/bridge/#', 'spBv1.0/#'], { qos: 1 })
  const config = parseConfig({
    name: 's1', limits: { statsIntervalMs: 0 }, serial: [],
    gpio: { driver: 'memory', outputs: [{ name: 'alarm', line: 2 }] },
    actuators: [{ name: 'alarm', gpio: 'alarm', allowed: [0, 1], safe: 0 }],
    sparkplug: { group: 'g1', node: 's1' }, // its Sparkplug node id is its name
  })
  const bridge = await Bridge.start({ broker: mesh.broker.url, config, gpioChip: new MemoryChip(), credentials: { username: 's1', password: mesh.passwords.s1! } })
  try {
    const status = await waitFor(() => seen.find((m) => m.topic === 'fm/v1/bridge/s1/status'), 5000, 'the bridge status')
    assert.is(JSON.parse(status.payload.toString()).online, true)
    await waitFor(() => seen.find((m) => m.topic === 'spBv1.0/g1/NBIRTH/s1'), 5000, 'the Sparkplug NBIRTH')
    assert.not.ok(refused.some((r) => r.startsWith('sensor:') && (r.includes('bridge/s1/') || r.includes('spBv1.0'))), `the bridge was refused nothing: ${refused.join(', ')}`)
    const s2 = await mesh.client('s2')
    s2.publish('fm/v1/bridge/s1/commands/alarm', '1', { qos: 1 })
    assert.is(await closedByBroker(s2), 'closed')
    await closeClient(s2)
    assert.ok(refused.includes('sensor:publish:fm/v1/bridge/s1/commands/alarm'))
    assert.is(bridge.actuators.get('alarm')!.value ?? 0, 0, 'the actuator never moved')
  } finally {
    await bridge.close()
    await closeClient(ops)
  }
})

test.run()

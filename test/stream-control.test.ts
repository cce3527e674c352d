/**
 * Stream starts and stops are orders to run work for as long as they stand,
 * so agents admit them as they admit assignments (agent/admission.ts,
 * protocol/stream-control.ts). Against the embedded broker with no
 * authentication, a gateway and two real agents (one in-process, one
 * `fogmesh agent` process), an outsider with a plain MQTT client who can read
 * everything (`#`) tries: an unsigned start (the format before issue 8), a
 * start signed by a key of its own, a forged stop, the gateway's own start
 * captured and replayed, and re-addressed to the other agent. None of it
 * starts, stops or moves a stream; the honest stream's windows keep coming.
 */
import type { MqttClient } from 'mqtt'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent } from '../agent/agent.ts'
import { startGateway } from '../market/gateway.ts'
import { ephemeralIdentity } from '../protocol/identity.ts'
import { signStreamControl } from '../protocol/stream-control.ts'
import { topics } from '../protocol/topics.ts'
import { echo } from './fixtures/engine/modules.ts'
import { spawnAgent } from './support/agents.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { sleep, waitFor } from './support/wait.ts'

test('stream control: unsigned, foreign-signed, forged stops, replays and re-addressed starts change nothing; the honest stream runs on', async () => {
  const broker = await testBroker()
  const gatewayIdentity = ephemeralIdentity()
  const clients: MqttClient[] = []
  const rejected: Array<{ code: string; message: string }> = []
  let agent: Agent | undefined
  const proc = await spawnAgent(broker.url, 'sc-proc', ['--accept-from', gatewayIdentity.id, '--labels', 'site=x'])
  try {
    agent = await startAgent({ broker: broker.url, dataDir: tmpDir('fm-sc-'), name: 'sc-victim', slots: 1, acceptFrom: [gatewayIdentity.id], labels: { site: 'v' } })
    agent.on('rejected', (e) => rejected.push(e))
    const gateway = await startGateway({ broker: broker.url, identity: gatewayIdentity })
    try {
      await gateway.requester.directory.waitFor(2, 10_000)
      const module = await gateway.requester.publishModule(echo().bytes)
      const outsider = await plainClient(broker.url)
      clients.push(outsider)
      const seen = collect(outsider)
      await outsider.subscribeAsync(['#'], { qos: 1 })
      const windows = () => seen.filter((m) => m.topic === 'out/sc').map((m) => JSON.parse(String(m.payload)) as { seq: number; status: string; agent: string })
      const spec = { stream: 'sattack', id: 'attack', module, source: 'sensors/v/t', window: { count: 1 }, replyTo: 'out/attacker', epoch: 0 }
      const order = { type: 'start' as const, role: 'primary' as const, spec, requester: 'attacker', inbox: 'in/attacker' }

      // 1. the unsigned start of before: refused by the schema (no signature, no key)
      await outsider.publishAsync(topics.agentStreams(agent.id), JSON.stringify(order), { qos: 1 })
      // 2. a start signed by the outsider's own key: not a requester this agent accepts
      const mallory = ephemeralIdentity()
      await outsider.publishAsync(topics.agentStreams(agent.id), JSON.stringify(signStreamControl(order, agent.id, mallory, Date.now() + 60_000)), { qos: 1 })
      // 3. the gateway's key claimed, a signature of another's: fails the signature
      const claimed = { ...signStreamControl(order, agent.id, mallory, Date.now() + 60_000), requesterKey: gatewayIdentity.publicKeyHex }
      await outsider.publishAsync(topics.agentStreams(agent.id), JSON.stringify(claimed), { qos: 1 })
      await waitFor(() => rejected.length >= 3, 5000, 'three refusals')
      assert.equal(rejected.slice(0, 3).map((r) => r.code), ['invalid_field', 'not_accepted', 'bad_signature'], JSON.stringify(rejected))
      assert.is(agent.streams.size, 0, 'no stream started')

      // the honest stream, placed by the gateway on the victim (site v)
      await outsider.publishAsync(topics.streamSubmit, JSON.stringify({ id: 'sc', module, source: 'sensors/v/t', window: { count: 1 }, replyTo: 'out/sc', constraints: { labels: { site: 'v' } } }), { qos: 1 })
      await waitFor(() => agent!.streams.size === 1, 10_000, 'the honest stream on the victim')
      const placed = seen.find((m) => m.topic === topics.agentStreams(agent!.id) && (JSON.parse(String(m.payload)) as { spec?: { id?: string } }).spec?.id === 'sc')
      assert.ok(placed, 'the outsider read the gateway start')
      await sleep(700) // the primary's cold start waits for a retained state
      await outsider.publishAsync('sensors/v/t', '1', { qos: 1 })
      await waitFor(() => windows().length >= 1, 10_000, 'window 1')
      const before = rejected.length

      // 4. a forged stop: unsigned, then signed by the outsider
      await outsider.publishAsync(topics.agentStreams(agent.id), JSON.stringify({ type: 'stop', stream: gateway.streams.list()[0]!.key }), { qos: 1 })
      await outsider.publishAsync(topics.agentStreams(agent.id), JSON.stringify(signStreamControl({ type: 'stop', stream: gateway.streams.list()[0]!.key }, agent.id, mallory, Date.now() + 60_000)), { qos: 1 })
      // 5. the gateway's own start, replayed as captured: its nonce was taken
      await outsider.publishAsync(topics.agentStreams(agent.id), placed.payload, { qos: 1 })
      // 6. re-addressed to the other agent, on its topic: the signature covers `agent`
      const readdressed = { ...JSON.parse(String(placed.payload)), agent: proc.id }
      await outsider.publishAsync(topics.agentStreams(proc.id), JSON.stringify(readdressed), { qos: 1 })
      await outsider.publishAsync(topics.agentStreams(proc.id), placed.payload, { qos: 1 })
      await waitFor(() => rejected.length >= before + 3, 5000, 'the victim refused three more')
      assert.equal(rejected.slice(before, before + 3).map((r) => r.code), ['invalid_field', 'not_accepted', 'replayed'], JSON.stringify(rejected.slice(before)))
      await sleep(300)
      assert.is(agent.streams.size, 1, 'the honest stream still runs on the victim')
      const procStreams = seen.filter((m) => m.topic === topics.streamState(gateway.streams.list()[0]!.key) && String(m.payload).includes(proc.id))
      assert.is(procStreams.length, 0, 'the other agent runs nothing of it')
      await waitFor(() => (proc.output().match(/streams \((bad_signature|replayed|not_accepted)\)/g) ?? []).length >= 2, 5000, 'the process agent refused both')
      assert.match(proc.output(), /streams \(bad_signature\): stream \S+ start: signature does not verify/)
      assert.match(proc.output(), /streams \(not_accepted\): stream \S+ start: addressed to agent /)

      // the next honest windows arrive, from the victim, in order
      await outsider.publishAsync('sensors/v/t', '2', { qos: 1 })
      await outsider.publishAsync('sensors/v/t', '3', { qos: 1 })
      await waitFor(() => windows().length >= 3, 10_000, 'windows 2 and 3')
      assert.equal(windows().map((w) => [w.seq, w.status, w.agent]), [[1, 'ok', agent.id], [2, 'ok', agent.id], [3, 'ok', agent.id]])
      assert.is(seen.filter((m) => m.topic === 'out/attacker').length, 0, 'the attacker got no window')
    } finally {
      await gateway.close()
    }
  } finally {
    for (const c of clients) await closeClient(c)
    await agent?.close({ graceMs: 100 })
    await proc.stop()
    await broker.close()
  }
})

test('a requester that admits only its own agents places streams only on them (an intruder at price 0 gets neither the stream nor the standby)', async () => {
  const broker = await testBroker()
  const gatewayIdentity = ephemeralIdentity()
  const agents: Agent[] = []
  try {
    for (const [name, price] of [['own', 5], ['intruder', 0]] as const) {
      agents.push(await startAgent({ broker: broker.url, dataDir: tmpDir('fm-sc-admit-'), name, slots: 1, pricePerJob: price, acceptFrom: 'any', labels: { site: 'a' } }))
    }
    const [own, intruder] = agents as [Agent, Agent]
    const gateway = await startGateway({ broker: broker.url, identity: gatewayIdentity, admit: [own.id] })
    try {
      await gateway.requester.directory.waitFor(2, 10_000)
      const module = await gateway.requester.publishModule(echo().bytes)
      const c = await plainClient(broker.url)
      for (const id of ['s1', 's2', 's3']) await c.publishAsync(topics.streamSubmit, JSON.stringify({ id, module, source: `sensors/a/${id}`, window: { count: 1 }, replyTo: `out/${id}` }), { qos: 1 })
      await closeClient(c)
      await waitFor(() => gateway.streams.list().length === 3 && own.streams.size === 3, 10_000, 'three streams on the admitted agent')
      await sleep(300)
      assert.ok(gateway.streams.list().every((p) => p.primary === own.id && p.standby === undefined), JSON.stringify(gateway.streams.list().map((p) => [p.primary, p.standby])))
      assert.is(intruder.streams.size, 0, 'the intruder runs none')
    } finally {
      await gateway.close()
    }
  } finally {
    for (const a of agents) await a.close({ graceMs: 100 })
    await broker.close()
  }
})

test.run()

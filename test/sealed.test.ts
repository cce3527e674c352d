/**
 * Sealed jobs through a real (anonymous) broker, real agents and the
 * gateway, watched by a `#` subscriber that keeps every message: no input
 * and no output of a sealed job appears in the clear — not as text, not in
 * base64 — on any leg that is sealed; the answers still verify end to end
 * (the agent's sealed-result signature over salted hashes, the gateway's
 * signature over what it forwards).
 */
import { createHash } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent } from '../agent/agent.ts'
import type { Broker } from '../broker/broker.ts'
import { startGateway, type Gateway } from '../market/gateway.ts'
import { checkForwarded } from '../protocol/forwarded-result.ts'
import { ephemeralIdentity, type KeyIdentity } from '../protocol/identity.ts'
import { gatewayPresenceSchema } from '../protocol/messages.ts'
import { generateBoxKeyPair, Sealer, sensorSealContext, unframeSalted } from '../protocol/seal.ts'
import { verifyStatement } from '../protocol/signed-statement.ts'
import { verifyResult } from '../protocol/signature.ts'
import { topics } from '../protocol/topics.ts'
import { decodeJson } from '../protocol/validate.ts'
import * as fx from './fixtures/engine/modules.ts'
import { closeClient, collect, plainClient, type Received } from './support/mqtt-clients.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

let broker: Broker
let identity: KeyIdentity
let agents: Agent[] = []
let gateway: Gateway
let spy: MqttClient
let seen: Received[]
let sensor: MqttClient
let replies: Received[]
let echo: string
let n = 0

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

test.before(async () => {
  broker = await testBroker()
  identity = ephemeralIdentity()
  for (const name of ['s1', 's2']) agents.push(await startAgent({ broker: broker.url, dataDir: tmpDir(`fm-sealed-${name}-`), name, slots: 2, acceptFrom: [identity.id] }))
  gateway = await startGateway({ broker: broker.url, identity })
  await gateway.requester.directory.waitFor(2, 5000)
  echo = await gateway.requester.publishModule(fx.echo().bytes)
  spy = await plainClient(broker.url)
  seen = collect(spy)
  await spy.subscribeAsync('#', { qos: 0 })
  sensor = await plainClient(broker.url)
  replies = collect(sensor)
  await sensor.subscribeAsync('sensors/sealed/#', { qos: 1 })
})

test.after(async () => {
  await closeClient(spy)
  await closeClient(sensor)
  await gateway.close()
  await Promise.all(agents.map((a) => a.close({ graceMs: 200 })))
  await broker.close()
})

/** A marker no other message contains. */
const secret = () => `TOP-SECRET-${process.pid}-${n++}-${Math.random().toString(36).slice(2)}`

/** Topics where `marker` appears in the clear: as text, or inside any JSON string that decodes from base64. */
function leaks(marker: string, since = 0): string[] {
  const found = new Set<string>()
  const look = (v: unknown, topic: string): void => {
    if (typeof v === 'string') {
      if (v.includes(marker) || (v.length % 4 === 0 && Buffer.from(v, 'base64').toString('latin1').includes(marker))) found.add(topic)
    } else if (v && typeof v === 'object') for (const x of Object.values(v)) look(x, topic)
  }
  for (const m of seen.slice(since)) {
    const text = m.payload.toString('latin1')
    if (text.includes(marker)) found.add(m.topic)
    try {
      look(JSON.parse(m.payload.toString()), m.topic)
    } catch {
      // a module's bytes, not JSON
    }
  }
  return [...found]
}

test('the library path: a sealed job runs, verifies, and the broker carries only ciphertext of its input and output', async () => {
  const s = secret()
  const before = seen.length
  const r = await gateway.requester.submit({ module: echo, input: Buffer.from(s), sealed: true })
  assert.is(r.status, 'ok', JSON.stringify(r.error))
  assert.is(r.output!.toString(), s, 'the requester opened the output')
  assert.ok(r.sealed && r.salt)
  // the agent's signature is a sealed-result statement over sha256(salt ‖ input) and sha256(salt ‖ output)
  assert.is(r.inputSha256, sha256(Buffer.concat([r.salt!, Buffer.from(s)])))
  assert.is(r.outputSha256, sha256(Buffer.concat([r.salt!, r.output!])))
  const key = gateway.requester.directory.get(r.agent!)!.presence.publicKey
  assert.ok(verifyResult({ ...r, agent: r.agent!, outputSha256: r.outputSha256, signature: r.signature!, sealed: true }, key))
  assert.not.ok(verifyResult({ ...r, agent: r.agent!, outputSha256: r.outputSha256, signature: r.signature!, sealed: false }, key), 'not a plain statement')
  await waitFor(() => seen.slice(before).some((m) => m.topic.startsWith('fm/v1/requesters/')), 10_000, 'the spy to see the result')
  assert.ok(seen.slice(before).some((m) => m.topic.endsWith('/jobs') && JSON.parse(m.payload.toString()).sealedInput), 'the spy saw the sealed assignment')
  assert.equal(leaks(s, before), [], 'no plaintext anywhere')
  // the same job unsealed shows what the spy would have read
  const plain = secret()
  await gateway.requester.submit({ module: echo, input: Buffer.from(plain) })
  await waitFor(() => leaks(plain, before).length >= 2, 10_000, 'the plain job to show in the clear')
})

test('a plain-MQTT sensor with "sealed": true: the gateway→agent leg is sealed; only the sensor\'s own legs are in the clear', async () => {
  const s = secret()
  const before = seen.length
  const id = `plain-${n}`
  await sensor.publishAsync(topics.submit, JSON.stringify({ id, module: echo, input: Buffer.from(s).toString('base64'), replyTo: 'sensors/sealed/plain', sealed: true }), { qos: 1 })
  const m = await waitFor(() => replies.find((x) => JSON.parse(x.payload.toString()).id === id), 5000, 'the answer')
  const w = JSON.parse(m.payload.toString())
  assert.is(w.status, 'ok')
  assert.is(Buffer.from(w.output, 'base64').toString(), s)
  assert.is(w.sealed, true)
  assert.is(checkForwarded(w, { id, gatewayKey: gateway.publicKey, agentKey: agents.find((a) => a.id === w.agent)!.publicKey }), undefined, 'salted hashes and both signatures check out with the salt it was given')
  assert.equal(leaks(s, before).sort(), [topics.submit, 'sensors/sealed/plain'].sort(), 'in the clear only where the sensor sent and read it')
})

test('a sensor that seals to the gateway: nothing in the clear on any topic; it opens the reply and checks both signatures', async () => {
  // the sensor reads the gateway's keys from its signed, retained presence
  const watcher = await plainClient(broker.url)
  const got = collect(watcher)
  await watcher.subscribeAsync(topics.gatewayPresenceWildcard, { qos: 1 })
  const pm = await waitFor(() => got.find((x) => x.payload.length > 0), 3000, "the gateway's presence")
  await closeClient(watcher)
  const d = decodeJson(pm.payload, gatewayPresenceSchema)
  assert.ok(d.ok)
  if (!d.ok) return
  const gp = d.value
  assert.ok(verifyStatement('gateway-presence', d.raw as Record<string, unknown>, gp.publicKey), 'signed by its key')
  assert.is(gp.id, gateway.id)

  const box = generateBoxKeyPair()
  const sealer = new Sealer(box)
  const s = secret()
  const id = `sealed-${n}`
  const replyTo = 'sensors/sealed/private'
  const before = seen.length
  const sealedInput = sealer.seal(Buffer.from(s), gp.boxKey, sensorSealContext('submit', id, replyTo))
  await sensor.publishAsync(topics.submit, JSON.stringify({ id, module: echo, sealedInput, sealedTo: gp.id, replyKey: box.publicKeyHex, replyTo }), { qos: 1 })
  const m = await waitFor(() => replies.find((x) => JSON.parse(x.payload.toString()).id === id), 5000, 'the answer')
  const w = JSON.parse(m.payload.toString())
  assert.is(w.status, 'ok', JSON.stringify(w))
  assert.is(w.output, undefined)
  assert.is(w.salt, undefined, 'the salt travels inside the seal')
  const opened = sealer.open(w.sealedOutput, gp.boxKey, sensorSealContext('reply', id, replyTo))
  const { data } = unframeSalted(opened)
  assert.is(data.toString(), s)
  const agentKey = agents.find((a) => a.id === w.agent)!.publicKey
  assert.is(checkForwarded(w, { id, gatewayKey: gp.publicKey, agentKey, output: opened }), undefined)
  await waitFor(() => seen.slice(before).some((x) => x.topic === replyTo), 10_000, 'the spy to see the reply')
  assert.equal(leaks(s, before), [], 'no plaintext on any topic')

  // sealed to another gateway: not ours, left alone; tampered: refused with a stable code
  await sensor.publishAsync(topics.submit, JSON.stringify({ id: `${id}-x`, module: echo, sealedInput, sealedTo: 'e'.repeat(20), replyKey: box.publicKeyHex, replyTo }), { qos: 1 })
  await sensor.publishAsync(topics.submit, JSON.stringify({ id: `${id}-t`, module: echo, sealedInput, sealedTo: gp.id, replyKey: box.publicKeyHex, replyTo }), { qos: 1 })
  const t = await waitFor(() => replies.find((x) => JSON.parse(x.payload.toString()).id === `${id}-t`), 5000, 'the refusal')
  assert.is(JSON.parse(t.payload.toString()).error.code, 'seal_broken', 'sealed for another id: it does not open')
  assert.not.ok(replies.some((x) => JSON.parse(x.payload.toString()).id === `${id}-x`))
})

test.run()

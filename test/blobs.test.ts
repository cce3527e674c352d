// Content-addressed data end to end, all real: the embedded broker (aedes) on a loopback port, real
// agents with their data dirs, the gateway, a plain mqtt.js sensor. A job whose input is 4× the
// packet cap runs and its module (sha256.wasm) proves it saw the right bytes; pieces whose publisher
// is gone and whose retained copy is cleared come from another agent's cache; the cache survives a
// restart; bad and missing pieces end the job with a typed error, answered once.
//   node --import tsx test/blobs.test.ts
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { MqttClient } from 'mqtt'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent, type AgentOptions } from '../agent/agent.ts'
import type { Broker } from '../broker/broker.ts'
import { BROKER_LIMIT_DEFAULTS } from '../broker/limits/broker-limits.ts'
import { startGateway, type Gateway } from '../market/gateway.ts'
import { chunkBlob, type ChunkedBlob } from '../protocol/blobs/chunk-blob.ts'
import { BLOB_MANIFEST_TYPE, encodeManifest, sha256Of } from '../protocol/blobs/manifest.ts'
import { ErrorCode } from '../protocol/errors.ts'
import { ephemeralIdentity } from '../protocol/identity.ts'
import { topics } from '../protocol/topics.ts'
import { modulePath } from '../wasm-modules/index.ts'
import { closeClient, collect, plainClient, type Received } from './support/mqtt-clients.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const CAP = BROKER_LIMIT_DEFAULTS.maxPacketBytes
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const identity = ephemeralIdentity()
const moduleBytes = readFileSync(modulePath('sha256'))
const MODULE = sha(moduleBytes)
const dirA = tmpDir('fm-agent-a-')

let broker: Broker
let gateway: Gateway
let sensor: MqttClient
let inbox: Received[]
const agents: Agent[] = []

const agentOpts = (name: string, dataDir: string): AgentOptions => ({
  broker: broker.url, dataDir, name, slots: 1, acceptFrom: [identity.id], blobFetchTimeoutMs: 6000, maxTimeoutMs: 60_000,
})

async function agent(name: string, dataDir = tmpDir(`fm-agent-${name}-`)): Promise<Agent> {
  const a = await startAgent(agentOpts(name, dataDir))
  agents.push(a)
  await gateway.requester.directory.waitFor(1, 5000)
  await waitFor(() => gateway.requester.directory.get(a.id), 5000, `agent ${name} in the directory`)
  return a
}

async function stop(a: Agent): Promise<void> {
  agents.splice(agents.indexOf(a), 1)
  await a.close({ graceMs: 200 })
  await waitFor(() => !gateway.requester.directory.get(a.id) || gateway.requester.directory.get(a.id)?.presence.status !== 'online', 5000, 'agent gone').catch(() => {})
}

/** Publishes every piece retained, QoS 1, as a sensor would (chunks first, the manifest last). */
async function publishPieces(b: ChunkedBlob): Promise<void> {
  for (const [name, bytes] of b.pieces) await sensor.publishAsync(topics.blob(name), bytes, { qos: 1, retain: true })
}

/** Clears retained copies: the publisher is gone and so is the broker's copy. */
async function clear(names: Iterable<string>, topicOf = topics.blob): Promise<void> {
  for (const n of names) await sensor.publishAsync(topicOf(n), Buffer.alloc(0), { qos: 1, retain: true })
}

let n = 0
/** A plain-MQTT job on `fm/v1/jobs/submit` naming its input by sha256; resolves with every answer that came within `settleMs` after the first. */
async function mqttJob(input: Record<string, unknown>, agentId: string, settleMs = 300): Promise<Record<string, unknown>[]> {
  const id = `blob-${++n}`
  const replyTo = `test/blobs/${id}`
  await sensor.subscribeAsync(replyTo, { qos: 1 })
  await sensor.publishAsync(topics.submit, JSON.stringify({ id, module: MODULE, input, replyTo, constraints: { agents: [agentId] }, limits: { timeoutMs: 20_000 } }), { qos: 1 })
  await waitFor(() => inbox.some((m) => m.topic === replyTo), 40_000, `an answer to ${id}`)
  await new Promise((r) => setTimeout(r, settleMs))
  return inbox.filter((m) => m.topic === replyTo).map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>)
}

test.before(async () => {
  broker = await testBroker()
  gateway = await startGateway({ broker: broker.url, identity, blobFetchTimeoutMs: 3000 })
  sensor = await plainClient(broker.url)
  inbox = collect(sensor)
  await gateway.requester.publishModule(moduleBytes)
})

test.after(async () => {
  await closeClient(sensor)
  await gateway.close()
  for (const a of [...agents]) await a.close({ graceMs: 200 })
  await broker.close()
})

const big = randomBytes(4 * CAP) // 4× the packet cap: 8 MiB by default
let a: Agent

test('library: submit with a 4×-packet-cap input publishes a blob, then the job; the module saw the right bytes', async () => {
  a = await agent('a', dirA)
  const published: number[] = []
  gateway.requester.on('blobPublished', (e) => published.push(e.chunks))
  const r = await gateway.requester.submit({ module: MODULE, input: big, constraints: { agents: [a.id] }, limits: { timeoutMs: 20_000 } })
  assert.is(r.status, 'ok', JSON.stringify(r.error))
  assert.is(r.output?.toString(), `${sha(big)}\n`)
  assert.is(r.inputSha256, sha(big))
  assert.equal(published, [Math.ceil(big.length / (512 * 1024))])
  assert.ok(a.blobs.store.size >= 17, `agent cached the chunks and the manifest (${a.blobs.store.size})`)
})

const second = randomBytes(4 * CAP)
const blob2 = chunkBlob(second)

test('plain MQTT: the sensor publishes the blob itself and names it {"sha256": ...}', async () => {
  await publishPieces(blob2)
  const answers = await mqttJob({ sha256: blob2.root }, a.id)
  assert.is(answers.length, 1)
  const r = answers[0]!
  assert.is(r.status, 'ok', JSON.stringify(r.error))
  assert.is(Buffer.from(r.output as string, 'base64').toString(), `${sha(second)}\n`)
  assert.is(r.inputSha256, sha(second))
})

test('availability: publisher gone, retained copies cleared (one chunk replaced by garbage) — a new agent gets module and blob from the first one\'s cache', async () => {
  const names = [...blob2.pieces.keys()]
  const bad = names[3]!
  await clear(names.filter((x) => x !== bad))
  await sensor.publishAsync(topics.blob(bad), Buffer.alloc(100, 1), { qos: 1, retain: true }) // a wrong copy on the broker
  await clear([MODULE], topics.module)
  const served: string[] = []
  a.on('blobServed', (e) => served.push(e.kind))
  const b = await agent('b')
  const badCopies: string[] = []
  b.blobs.mqtt.on('badCopy', (e) => badCopies.push(e.sha256))
  const answers = await mqttJob({ sha256: blob2.root }, b.id)
  assert.is(answers.length, 1)
  assert.is(answers[0]!.status, 'ok', JSON.stringify(answers[0]!.error))
  assert.is(Buffer.from(answers[0]!.output as string, 'base64').toString(), `${sha(second)}\n`)
  assert.is(answers[0]!.agent, b.id)
  assert.ok(served.includes('module'), 'the module came from agent a')
  assert.ok(served.filter((k) => k === 'blob').length >= names.length, `every piece came from agent a (${served.length})`)
  assert.equal(badCopies, [bad], 'the wrong copy was refused')
  await stop(b)
})

test('restart: the agent\'s cache is on disk; with every retained copy gone it still runs the job', async () => {
  await stop(a)
  await clear(blob2.pieces.keys())
  await clear([MODULE], topics.module)
  a = await agent('a', dirA)
  assert.ok(a.blobs.store.size >= 17, `cache reloaded (${a.blobs.store.size} pieces)`)
  const wants: string[] = []
  a.blobs.mqtt.on('want', (e) => wants.push(e.sha256))
  const answers = await mqttJob({ sha256: blob2.root }, a.id)
  assert.is(answers[0]!.status, 'ok', JSON.stringify(answers[0]!.error))
  assert.is(Buffer.from(answers[0]!.output as string, 'base64').toString(), `${sha(second)}\n`)
  assert.equal(wants, [], 'nothing fetched')
})

test('library: a job named by its blob\'s sha256 alone, nothing retained: the requester gets the manifest from agent a\'s cache', async () => {
  await clear(blob2.pieces.keys())
  const served: string[] = []
  const onServed = (e: { sha256: string }) => served.push(e.sha256)
  a.on('blobServed', onServed)
  const ok = await gateway.requester.submit({ module: MODULE, input: Buffer.alloc(0), inputBlob: { sha256: blob2.root }, constraints: { agents: [a.id] }, limits: { timeoutMs: 20_000 } })
  a.off('blobServed', onServed)
  assert.is(ok.status, 'ok', JSON.stringify(ok.error))
  assert.is(ok.output?.toString(), `${sha(second)}\n`)
  assert.is(ok.inputSha256, sha(second))
  assert.equal(served, [blob2.root], 'only the manifest was asked for (the agent had the rest)')
})

test('bad input on the wire: a missing chunk times out, a bad chunk with no good copy, a blob over the budget — each a typed error, answered once', async () => {
  // a chunk nobody holds
  const lost = chunkBlob(randomBytes(CAP), { chunkBytes: 256 * 1024 })
  await publishPieces(lost)
  await clear([[...lost.pieces.keys()][1]!])
  // a chunk whose only copy is wrong
  const tampered = chunkBlob(randomBytes(CAP), { chunkBytes: 256 * 1024 })
  await publishPieces(tampered)
  await sensor.publishAsync(topics.blob([...tampered.pieces.keys()][0]!), Buffer.alloc(1000, 2), { qos: 1, retain: true })
  // a manifest declaring 1 GiB (over the agent's 64 MiB budget): refused before a chunk is asked for
  const fake = sha256Of(Buffer.from('never published'))
  const huge = encodeManifest({ type: BLOB_MANIFEST_TYPE, size: 1024 ** 3, sha256: fake, chunks: Array.from({ length: 1024 }, () => ({ sha256: fake, size: 1024 ** 2 })) })
  await sensor.publishAsync(topics.blob(sha256Of(huge)), huge, { qos: 1, retain: true })
  const wants: string[] = []
  a.blobs.mqtt.on('want', (e) => wants.push(e.sha256))
  const started = Date.now()
  const [l, t, h] = await Promise.all([mqttJob({ sha256: lost.root }, a.id), mqttJob({ sha256: tampered.root }, a.id), mqttJob({ sha256: sha256Of(huge) }, a.id)])
  for (const answers of [l, t, h]) assert.is(answers.length, 1, 'answered once')
  assert.is((l[0]!.error as { code: string }).code, ErrorCode.blobNotFound)
  assert.is((t[0]!.error as { code: string }).code, ErrorCode.blobHashMismatch)
  assert.is((h[0]!.error as { code: string }).code, ErrorCode.blobTooLarge)
  assert.not.ok(wants.includes(fake), 'no chunk of the huge blob was asked for')
  assert.ok(Date.now() - started < 30_000)
  assert.not.ok(a.blobs.store.has([...tampered.pieces.keys()][0]!), 'the wrong copy was not cached')
})

test('a sensor naming a blob that does not exist gets blob_not_found from the gateway', async () => {
  const answers = await mqttJob({ sha256: 'ab'.repeat(32) }, a.id)
  assert.is(answers.length, 1)
  assert.is((answers[0]!.error as { code: string }).code, ErrorCode.blobNotFound)
})

test('a malformed blob input is refused at the boundary with invalid_field, naming the field', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ input: { sha256: 'not-a-sha' } }, /^inputBlob\.sha256: expected a sha256/],
    [{ input: { sha256: blob2.root }, sealed: true }, /^input: expected a base64 string for a sealed job/],
  ]
  for (const [fields, message] of cases) {
    const id = `bad-${++n}`
    const replyTo = `test/blobs/${id}`
    await sensor.subscribeAsync(replyTo, { qos: 1 })
    await sensor.publishAsync(topics.submit, JSON.stringify({ id, module: MODULE, replyTo, ...fields }), { qos: 1 })
    await waitFor(() => inbox.some((m) => m.topic === replyTo), 10_000, `an answer to ${id}`)
    const r = JSON.parse(inbox.find((m) => m.topic === replyTo)!.payload.toString()) as { status: string; error: { code: string; message: string } }
    assert.is(r.status, 'error')
    assert.is(r.error.code, ErrorCode.invalidField)
    assert.match(r.error.message, message)
  }
})

test.run()

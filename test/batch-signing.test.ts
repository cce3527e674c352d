/**
 * Batch signatures on the job path, real broker and a real agent: a requester's assignments of
 * one turn go out under one signature (the agent says `batchAssign`) and every one runs; every
 * result verifies with the agent's advertised key in whichever form it came; an assignment
 * that does not say `batchResults` (an older requester) is answered in the single form — and so is
 * every answer the gateway forwards to a sensor, which checks the agent's signature by the single-form rule.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent } from '../agent/agent.ts'
import { startGateway } from '../market/gateway.ts'
import { startRequester, type Requester } from '../market/requester.ts'
import { ephemeralIdentity } from '../protocol/identity.ts'
import type { Result } from '../protocol/messages.ts'
import { resultStatement, signatureBytes, verifyResult, verifySignature } from '../protocol/signature.ts'
import { topics } from '../protocol/topics.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { assignment } from './support/signed-assign.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const broker = await testBroker()
const agent: Agent = await startAgent({ broker: broker.url, name: 'batcher', dataDir: tmpDir('fm-batch-'), acceptFrom: 'any', slots: 2 })
const requester: Requester = await startRequester({ broker: broker.url })
await requester.directory.waitFor(1, 10_000)
const module = await requester.publishModule(await loadModule('echo'))
const key = () => requester.directory.get(agent.id)!.presence.publicKey

test('a turn of assignments shares one signature, each runs once, and every result verifies with the agent key', async () => {
  assert.ok(requester.directory.get(agent.id)?.presence.batchAssign, 'the agent says batchAssign in its signed presence')
  assert.is((await requester.submit({ module, input: Buffer.from('warm') })).status, 'ok') // the lease
  const before = { ...requester.assignBatches!.stats }
  const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => requester.submit({ module, input: Buffer.from(`job ${i}`) })))
  answers.forEach((a, i) => {
    assert.is(a.status, 'ok', `job ${i}: ${JSON.stringify(a.error)}`)
    assert.equal(a.output, Buffer.from(`job ${i}`))
    const r = a.result!
    assert.ok(verifyResult({ ...r, id: r.id }, key()), `result ${i} verifies (${r.batch ? `batch of ${r.batch.size}` : 'single'})`)
  })
  const batches = requester.assignBatches!.stats.batches - before.batches
  const statements = requester.assignBatches!.stats.statements - before.statements
  assert.is(statements, 16)
  assert.ok(batches < statements, `16 assignments in ${batches} signatures`)
})

test('an assignment without batchResults (an older requester) is answered in the single form', async () => {
  const old = ephemeralIdentity()
  const inbox = await plainClient(broker.url)
  try {
    const got = collect(inbox)
    await inbox.subscribeAsync('bt/old-inbox', { qos: 1 })
    const now = Date.now()
    for (let i = 0; i < 8; i++) {
      const a = assignment(old, { agent: agent.id, module, now, replyTo: 'bt/old-inbox' }, { input: Buffer.from(`old ${i}`).toString('base64') })
      await inbox.publishAsync(topics.agentJobs(agent.id), JSON.stringify(a), { qos: 1 })
    }
    await waitFor(() => got.length >= 8, 10_000, '8 results')
    for (const m of got) {
      const r = JSON.parse(m.payload.toString()) as Result
      assert.is(r.status, 'ok')
      assert.is(r.batch, undefined, 'no batch form for a requester that did not ask for it')
      assert.ok(verifyResult(r, key()))
    }
  } finally {
    await closeClient(inbox)
  }
})

test("the gateway's answers to a sensor carry single-signed agent results, under load too (docs/contract.md step 3)", async () => {
  const gateway = await startGateway({ broker: broker.url, jobsPerSecondPerSensor: 1_000_000 })
  const sensor = await plainClient(broker.url)
  try {
    await gateway.requester.directory.waitFor(1, 10_000)
    const got = collect(sensor)
    await sensor.subscribeAsync('bt/sensor', { qos: 1 })
    const send = (id: string) => sensor.publishAsync(topics.submit, JSON.stringify({ id, module, input: Buffer.from(id).toString('base64'), replyTo: 'bt/sensor' }), { qos: 1 })
    await send('warm')
    await waitFor(() => got.length >= 1, 10_000, 'the warm-up answer')
    await Promise.all(Array.from({ length: 16 }, (_, i) => send(`s${i}`)))
    await waitFor(() => got.length >= 17, 15_000, '16 answers')
    for (const m of got) {
      const a = JSON.parse(m.payload.toString()) as Record<string, any>
      assert.is(a.status, 'ok', JSON.stringify(a.error))
      assert.is(a.batch, undefined, `answer ${a.id}: no batch form towards sensors`)
      // the single-form rule, as a sensor written against the contract checks it
      const lines = { id: a.jobId ?? a.id, agent: a.agent, module: a.module, inputSha256: a.inputSha256, status: a.status, outputSha256: a.outputSha256, fuel: a.fuel }
      assert.ok(verifySignature(resultStatement(lines), signatureBytes(a.signature)!, key()), `answer ${a.id}: the agent's signature verifies by the single-form rule`)
    }
  } finally {
    await closeClient(sensor)
    await gateway.close()
  }
})

test.after(async () => {
  await requester.close()
  await agent.close({ graceMs: 1000 })
  await broker.close()
})

test.run()

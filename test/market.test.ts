import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { verifyResult } from '../protocol/signature.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { echo } from './fixtures/engine/modules.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { sleep, waitFor } from './support/wait.ts'
import { startMesh } from './support/mesh.ts'
import { sha256 } from './support/sha256.ts'
import { RogueAgent, type RogueBehaviour } from './support/rogue-agent.ts'

test('a job end to end through the requester library: signed, verified, correct', async () => {
  const mesh = await startMesh({ agents: 2 })
  try {
    const module = await mesh.publish(await loadModule('rolling-stats'))
    const r = await mesh.requester.submit({ id: 'lib-1', module, input: Buffer.from('1\n2\n3\n4\n') })
    assert.is(r.status, 'ok', JSON.stringify(r.error))
    const out = JSON.parse(r.output!.toString())
    assert.equal([out.count, out.mean, out.min, out.max], [4, 2.5, 1, 4])
    assert.is(r.outputSha256, sha256(r.output!))
    assert.is(r.inputSha256, sha256(Buffer.from('1\n2\n3\n4\n')))
    assert.is(r.attempts, 1)
    const agent = mesh.agents.find((a) => a.id === r.agent)
    assert.ok(agent, 'answered by one of our agents')
    assert.ok(verifyResult({ ...r, agent: r.agent!, signature: r.signature! }, agent!.publicKey))
  } finally {
    await mesh.close()
  }
})

test('a plain MQTT client publishing the docs/contract.md JSON gets a verifiable result on its replyTo', async () => {
  const mesh = await startMesh({ agents: 2, gateway: true })
  try {
    const module = await mesh.publish(await loadModule('rolling-stats'))
    const sensor = await plainClient(mesh.broker.url)
    const got = collect(sensor)
    await sensor.subscribeAsync('sensors/s1/results', { qos: 1 })
    const input = Buffer.from('window=2\n10\n20\n30')
    await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: 'plain-1', module, input: input.toString('base64'), replyTo: 'sensors/s1/results' }))
    await waitFor(() => got.length > 0, 5000, 'result')
    const r = JSON.parse(got[0]!.payload.toString())
    assert.is(r.id, 'plain-1')
    assert.is(r.status, 'ok')
    const output = Buffer.from(r.output, 'base64')
    assert.equal(JSON.parse(output.toString()).mean, 25)
    assert.is(r.outputSha256, sha256(output))
    assert.is(r.inputSha256, sha256(input))
    assert.type(r.fuel, 'number')
    // anyone can check it: the agent's key is in its retained presence
    const watcher = await plainClient(mesh.broker.url)
    const presence = collect(watcher)
    await watcher.subscribeAsync(`fm/v1/agents/${r.agent}/presence`)
    await waitFor(() => presence.length > 0, 10_000, 'presence')
    const key = JSON.parse(presence[0]!.payload.toString()).publicKey
    // the agent signed the mesh's job id: the sensor's id plus @<12 hex of sha256(replyTo)>
    assert.is(r.jobId, `plain-1@${sha256(Buffer.from('sensors/s1/results')).slice(0, 12)}`)
    assert.ok(verifyResult({ ...r, id: r.jobId }, key))
    assert.not.ok(verifyResult({ ...r, id: r.jobId, outputSha256: sha256(Buffer.from('x')) }, key))
    await sensor.endAsync()
    await watcher.endAsync()
  } finally {
    await mesh.close()
  }
})

test('the same job id submitted twice is run and answered once', async () => {
  const mesh = await startMesh({ agents: 2, gateway: true })
  try {
    const module = await mesh.publish(echo().bytes)
    const sensor = await plainClient(mesh.broker.url)
    const got = collect(sensor)
    await sensor.subscribeAsync('dup/replies', { qos: 1 })
    const job = JSON.stringify({ id: 'dup-1', module, input: Buffer.from('x').toString('base64'), replyTo: 'dup/replies' })
    await sensor.publishAsync('fm/v1/jobs/submit', job)
    await sensor.publishAsync('fm/v1/jobs/submit', job)
    await waitFor(() => got.length > 0, 10_000, 'result')
    // the second copy counted as a duplicate (waited for: a loaded gateway may not have read it
    // yet), and then no second answer
    await waitFor(() => mesh.gateway!.stats().duplicates >= 1, 10_000, 'the copy counted as a duplicate')
    await sleep(300)
    assert.is(got.length, 1)
    assert.is(mesh.gateway!.stats().duplicates, 1)
    const ran = mesh.agents.reduce((n, a) => n + a.stats().jobsOk, 0)
    assert.is(ran, 1)
    // the library, too: the same id gives the same answer without a second run
    const a = mesh.requester.submit({ id: 'dup-2', module, input: Buffer.from('y') })
    const b = mesh.requester.submit({ id: 'dup-2', module, input: Buffer.from('y') })
    assert.is(a, b)
    assert.is((await a).status, 'ok')
    await sensor.endAsync()
  } finally {
    await mesh.close()
  }
})

test('two sensors using the same job id each get their own result', async () => {
  const mesh = await startMesh({ agents: 2, gateway: true })
  try {
    const module = await mesh.publish(echo().bytes)
    const a = await plainClient(mesh.broker.url)
    const b = await plainClient(mesh.broker.url)
    const gotA = collect(a)
    const gotB = collect(b)
    await a.subscribeAsync('sensor-a/out', { qos: 1 })
    await b.subscribeAsync('sensor-b/out', { qos: 1 })
    const job = (replyTo: string, input: string) => JSON.stringify({ id: '1', module, input: Buffer.from(input).toString('base64'), replyTo })
    await a.publishAsync('fm/v1/jobs/submit', job('sensor-a/out', 'reading from A'))
    await b.publishAsync('fm/v1/jobs/submit', job('sensor-b/out', 'reading from B'))
    await waitFor(() => gotA.length > 0 && gotB.length > 0, 5000, 'both answers')
    const ra = JSON.parse(gotA[0]!.payload.toString())
    const rb = JSON.parse(gotB[0]!.payload.toString())
    assert.is(ra.id, '1')
    assert.is(rb.id, '1')
    assert.is(Buffer.from(ra.output, 'base64').toString(), 'reading from A')
    assert.is(Buffer.from(rb.output, 'base64').toString(), 'reading from B')
    assert.is.not(ra.jobId, rb.jobId)
    await a.endAsync()
    await b.endAsync()
  } finally {
    await mesh.close()
  }
})

for (const behaviour of ['tamper-output', 'wrong-key', 'wrong-input', 'garbage', 'silent'] as const satisfies readonly RogueBehaviour[]) {
  test(`a rogue agent answering "${behaviour}" is refused or ignored, boxed, and the job is retried on an honest agent`, async () => {
    const mesh = await startMesh({ agents: 1, requester: { attemptSlackMs: 300 } })
    const rogue = await RogueAgent.start(mesh.broker.url, behaviour)
    const failures: string[] = []
    const boxed: string[] = []
    mesh.requester.on('attemptFailed', (f) => failures.push(f.reason))
    mesh.requester.on('boxed', (b) => boxed.push(b.agent))
    try {
      await mesh.requester.directory.waitFor(2, 3000)
      const module = await mesh.publish(echo().bytes)
      const r = await mesh.requester.submit({ module, input: Buffer.from('honest work'), limits: { timeoutMs: 500 } })
      assert.is(rogue.assigned, 1, 'the cheapest bidder got it first')
      assert.is(r.status, 'ok')
      assert.is(r.output!.toString(), 'honest work')
      assert.is(r.agent, mesh.agents[0]!.id)
      assert.is(r.attempts, 2)
      assert.is(failures.length, 1)
      // what anyone could have forged in its name is ignored: its attempt times out; what it signed wrong fails at once
      const expected = { 'tamper-output': /no result/, 'wrong-key': /no result/, 'wrong-input': /another input/, garbage: /no result/, silent: /no result/ }[behaviour]
      assert.match(failures[0]!, expected)
      assert.equal(boxed, [rogue.id], 'into the penalty box')
    } finally {
      await rogue.close()
      await mesh.close()
    }
  })
}

test('no eligible agent: no_agents, at once', async () => {
  const mesh = await startMesh({ agents: 1 })
  try {
    const module = await mesh.publish(echo().bytes)
    const started = Date.now()
    const r = await mesh.requester.submit({ module, input: Buffer.from('x'), constraints: { labels: { site: 'mars' } } })
    assert.is(r.status, 'error')
    assert.is(r.error!.code, 'no_agents')
    assert.ok(Date.now() - started < 1000)
    const cheap = await mesh.requester.submit({ module, input: Buffer.from('x'), maxPrice: 0 })
    assert.is(cheap.error!.code, 'no_agents', 'agents ask 1 per job; max price 0 finds none')
  } finally {
    await mesh.close()
  }
})

test('labels steer jobs: constraints pick the agent that has them', async () => {
  const mesh = await startMesh({ agents: 0 })
  const { startAgent } = await import('../agent/agent.ts')
  const a = await startAgent({ broker: mesh.broker.url, dataDir: tmpDir(), name: 'north', labels: { site: 'north' }, slots: 1, acceptFrom: [mesh.requesterId] })
  const b = await startAgent({ broker: mesh.broker.url, dataDir: tmpDir(), name: 'south', labels: { site: 'south' }, slots: 1, acceptFrom: [mesh.requesterId] })
  try {
    await mesh.requester.directory.waitFor(2, 3000)
    const module = await mesh.publish(echo().bytes)
    for (let i = 0; i < 5; i++) {
      const r = await mesh.requester.submit({ module, input: Buffer.from('x'), constraints: { labels: { site: 'south' } } })
      assert.is(r.agent, b.id)
    }
    assert.is(a.stats().jobsOk, 0)
  } finally {
    await a.close({ graceMs: 100 })
    await b.close({ graceMs: 100 })
    await mesh.close()
  }
})

test.run()

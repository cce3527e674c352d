/**
 * Issue 9's gateway rows against a real `fogmesh broker` process: one client
 * sending jobs as fast as it can, and one sending 1 MB inputs, while an
 * honest sensor keeps submitting — the honest sensor's jobs are all answered
 * ok (its p99 reported), the flooder is refused `overloaded` at a bounded
 * rate, and the broker's RSS is back within 20 MiB once it stops. Bounded
 * in count and time, on loopback.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startHostileMesh, type HostileMesh } from './support/hostile-mesh.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { waitFor } from './support/wait.ts'

const MiB = 1024 * 1024
let mesh: HostileMesh

test.before(async () => {
  // the per-client byte rate set below what the gateway digests on this machine: a broker's
  // answer to a client that would otherwise push JSON faster than the gateway can read it
  mesh = await startHostileMesh(['--jobs-per-second-per-sensor', '100', '--max-input-bytes-in-flight', String(16 * MiB), '--publish-bytes-per-client', String(4 * MiB)])
})

test.after(async () => {
  await mesh?.close()
})

async function survive(name: string, attack: () => Promise<void>): Promise<void> {
  const before = mesh.rssMiB()
  const honest = await mesh.during(attack, 5)
  assert.is(honest.failed, 0, `${name}: every honest job answered ok: ${honest.errors.join('; ')}`)
  await mesh.honestJob()
  let after = mesh.rssMiB()
  // honest traffic goes on while we wait: the collector runs as it would in service (idle, V8 may keep garbage for long)
  const settled = await waitFor(() => mesh.honestJob().then(() => (after = mesh.rssMiB()) < before + 20), 30_000, 'RSS back').catch(() => false)
  console.log(`  ${name}: RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB; honest p99 ${honest.p99.toFixed(1)} ms over ${honest.latencies.length} jobs`)
  assert.ok(settled, `${name}: RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB`)
}

test('20,000 jobs from one client as fast as it can: the honest sensor is served, the flood is refused overloaded at a bounded rate', async () => {
  // the flooder names a module nobody published: what it gets in costs the agents a failed fetch
  const flooder = await plainClient(mesh.url, { clientId: 'job-flooder' })
  const answers = collect(flooder)
  await flooder.subscribeAsync('flood/replies', { qos: 0 })
  await survive('20k jobs', async () => {
    const job = (i: number) => JSON.stringify({ id: `f${i}`, module: 'ab'.repeat(32), input: 'aGk=', replyTo: 'flood/replies' })
    const t0 = Date.now()
    for (let i = 0; i < 20_000 && Date.now() - t0 < 20_000; i++) {
      flooder.publish('fm/v1/jobs/submit', job(i), { qos: 0 })
      if (i % 500 === 0) await new Promise((r) => setImmediate(r))
    }
    await new Promise((r) => flooder.publish('fm/v1/jobs/submit', job(-1), { qos: 1 }, r))
  })
  const overloaded = answers.filter((a) => a.payload.includes('"overloaded"')).length
  console.log(`  20k jobs: ${answers.length} answers to the flooder, ${overloaded} of them overloaded`)
  assert.ok(overloaded > 0, 'the flooder was told it is over its rate')
  assert.ok(answers.length < 20_000 / 2, 'refusals are answered at a bounded rate')
  await flooder.endAsync()
})

test('120 jobs with 1 MB inputs, as fast as the broker lets the client send: the input bytes held are capped; the honest sensor is served', async () => {
  const big = await plainClient(mesh.url, { clientId: 'big-inputs' })
  const answers = collect(big)
  await big.subscribeAsync('big/replies', { qos: 0 })
  const input = Buffer.alloc(1000 * 1000, 3).toString('base64')
  await survive('120 x 1 MB', async () => {
    for (let i = 0; i < 120; i++) {
      await big.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: `b${i}`, module: 'ab'.repeat(32), input, replyTo: `big/replies` }), { qos: 1 })
    }
    await waitFor(() => answers.length >= 20, 60_000, 'answers to the big jobs')
  })
  await big.endAsync()
})

test.run()

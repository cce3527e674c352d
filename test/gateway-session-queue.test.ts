/**
 * Submits the broker queued for a journaled gateway while it was down are
 * all answered when it starts again. The broker sends a persistent session's
 * queue right after its CONNACK — before the gateway had routed the submit
 * topics, so mqtt.js acknowledged those submits and nobody took them
 * (test/durability.test.ts's broker+gateway SIGKILL case lost the job sent
 * just before the kill this way, about one run in two on a loaded machine).
 * Now the gateway's routes are there before CONNECT, and what comes before it
 * is up is journaled before its PUBACK. Bounded waits; nothing timed.
 */
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent } from '../agent/agent.ts'
import { startGateway } from '../market/gateway.ts'
import * as fx from './fixtures/engine/modules.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const N = 6

test(`${N} submits queued for a journaled gateway while it was down: all answered after it starts, once`, async () => {
  const broker = await testBroker({ data: tmpDir('fm-gw-queue-'), wsPort: false })
  const agent = await startAgent({ broker: broker.url, dataDir: tmpDir('fm-gw-queue-a-'), name: 'q1', slots: 2, acceptFrom: 'any' })
  const journal = join(tmpDir('fm-gw-queue-j-'), 'gateway.journal')
  let gateway = await startGateway({ broker: broker.url, journal })
  const sensor = await plainClient(broker.url, { clientId: 'sensor-queue', clean: false })
  try {
    const echo = fx.echo().bytes
    const module = sha256(echo)
    await sensor.publishAsync(`fm/v1/modules/${module}`, Buffer.from(echo), { qos: 1, retain: true })
    const got = collect(sensor)
    await sensor.subscribeAsync('sensor-queue/replies', { qos: 1 })
    await gateway.requester.directory.waitFor(1, 10_000)
    await gateway.close() // its session stays: the broker queues what comes for it
    for (let i = 0; i < N; i++) {
      await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: `q${i}`, module, input: Buffer.from(`q${i}`).toString('base64'), replyTo: 'sensor-queue/replies' }), { qos: 1 })
    }
    gateway = await startGateway({ broker: broker.url, journal })
    const ids = () => new Set(got.map((m) => (JSON.parse(m.payload.toString()) as { id: string }).id))
    await waitFor(() => ids().size === N || undefined, 60_000, 'every queued submit answered').catch(() => {})
    const answers = got.map((m) => JSON.parse(m.payload.toString()) as { id: string; status: string })
    assert.equal([...ids()].sort(), Array.from({ length: N }, (_, i) => `q${i}`), `answered: ${JSON.stringify(answers.map((a) => [a.id, a.status]))}; gateway ${JSON.stringify(gateway.stats())}`)
    assert.ok(answers.every((a) => a.status === 'ok'), JSON.stringify(answers))
    assert.is(answers.length, N, 'each once')
  } finally {
    await closeClient(sensor)
    await gateway.close()
    await agent.close({ graceMs: 200 })
    await broker.close()
  }
})

test.run()

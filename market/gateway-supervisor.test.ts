/**
 * The gateway contained: an uncaught exception, process.exit and a heap
 * blown past its cap in gateway code end the gateway's thread (or process)
 * only — the broker in this process goes on serving throughout, the
 * supervisor starts the gateway again, and the next job is answered.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { startAgent, type Agent } from '../agent/agent.ts'
import { loadOrCreateIdentityFile } from '../protocol/identity.ts'
import type { Broker } from '../broker/broker.ts'
import * as fx from '../test/fixtures/engine/modules.ts'
import { collect, plainClient } from '../test/support/mqtt-clients.ts'
import { sha256 } from '../test/support/sha256.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { waitFor } from '../test/support/wait.ts'
import { GatewaySupervisor, type GatewayIsolation } from './gateway-supervisor.ts'

const ENTRY = new URL('../test/fixtures/crashing-gateway.main.ts', import.meta.url)
const KEY_FILE = join(tmpDir('fm-sup-key-'), 'gateway.json')

let broker: Broker
let agent: Agent
let module: string

test.before(async () => {
  broker = await testBroker({ wsPort: false })
  // the contained gateway signs with a key file of its own, the same across restarts: the agent accepts that id
  agent = await startAgent({ broker: broker.url, dataDir: tmpDir('fm-sup-'), name: 'sup', slots: 1, isolation: 'thread', acceptFrom: [loadOrCreateIdentityFile(KEY_FILE, 'fogmesh-requester-identity').id] })
  const echo = fx.echo().bytes
  module = sha256(echo)
  const c = await plainClient(broker.url)
  await c.publishAsync(`fm/v1/modules/${module}`, Buffer.from(echo), { qos: 1, retain: true })
  await c.endAsync()
})

test.after(async () => {
  await agent?.close({ graceMs: 100 })
  await broker?.close()
})

async function job(n: string): Promise<Record<string, unknown>> {
  const s = await plainClient(broker.url)
  const got = collect(s)
  await s.subscribeAsync(`sup/${n}`, { qos: 1 })
  const deadline = Date.now() + 60_000
  // the restarted gateway may still be starting: send again until it answers
  while (got.length === 0 && Date.now() < deadline) {
    await s.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: n, module, input: 'aGk=', replyTo: `sup/${n}` }), { qos: 1 })
    await waitFor(() => got.length > 0, 3000, 'an answer').catch(() => {})
  }
  await s.endAsync()
  assert.ok(got.length > 0, `job ${n} answered`)
  return JSON.parse(got[0]!.payload.toString())
}

async function brokerServes(): Promise<void> {
  const a = await plainClient(broker.url)
  const got = collect(a)
  await a.subscribeAsync('sup/echo')
  await a.publishAsync('sup/echo', 'x', { qos: 0 })
  await waitFor(() => got.length > 0, 5000, 'the broker serving')
  await a.endAsync()
}

for (const [isolation, link] of [['worker', false], ['worker', true], ['process', false]] as Array<[GatewayIsolation, boolean]>) {
  test(`${isolation}${link ? ' (in-process link, no loopback client)' : ''}: an uncaught exception, process.exit and (worker) a blown heap end the gateway only; it comes back`, async () => {
    const links = { opened: 0, closed: 0 }
    const sup = await GatewaySupervisor.start({
      gateway: { broker: broker.url, identityFile: KEY_FILE }, isolation, entry: ENTRY, maxHeapMiB: 64, restartDelayMs: 50,
      ...(link ? { link: (conn: Duplex) => {
        links.opened++
        conn.once('close', () => links.closed++)
        broker.handleLocal(conn)
      } } : {}),
    })
    const name = `${isolation}${link ? '-link' : ''}`
    const exits: Array<{ code: number | null; error: string | undefined }> = []
    sup.on('exit', (e) => exits.push(e))
    try {
      assert.is((await job(`${name}-0`)).status, 'ok')
      if (link) assert.is(links.opened, 1, 'the gateway\'s one connection came over the link')
      const c = await plainClient(broker.url)
      for (const [topic, n] of [['test/crash', 1], ['test/exit', 2], ...(isolation === 'worker' ? [['test/oom', 3]] : [])] as Array<[string, number]>) {
        await c.publishAsync(topic, 'now', { qos: 1 })
        await waitFor(() => exits.length >= n, 60_000, `the gateway to die of ${topic}`)
        await brokerServes()
        assert.is((await job(`${name}-${n}`)).status, 'ok', `a job after ${topic}`)
        // the dead worker's link ended in the broker like a reset socket; the new one linked anew
        if (link) assert.equal(links, { opened: n + 1, closed: n })
      }
      await c.endAsync()
      assert.ok(exits[0]!.error?.includes('boom') || exits[0]!.code !== 0, JSON.stringify(exits))
    } finally {
      await sup.close()
    }
  })
}

test.run()

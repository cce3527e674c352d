/**
 * The outbox on a real broker and a real file: results published while the link
 * is cut wait on disk, survive the client's restart, and are delivered once the
 * link returns; the outbox's cap refuses a publish with a typed error.
 */
import { join } from 'node:path'
import mqtt from 'mqtt'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { closeClient, collect, plainClient } from '../test/support/mqtt-clients.ts'
import { startTcpProxy } from '../test/support/tcp-proxy.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { waitFor } from '../test/support/wait.ts'
import { FogmeshError } from '../protocol/errors.ts'
import { Outbox } from './outbox.ts'

test('published while cut off, the client restarted, delivered when the link returns: every message once', async () => {
  const broker = await testBroker({ wsPort: false })
  const proxy = await startTcpProxy(broker.port)
  const path = join(tmpDir('fm-outbox-'), 'outbox.journal')
  const sub = await plainClient(broker.url)
  const got = collect(sub)
  await sub.subscribeAsync('results/#', { qos: 1 })
  try {
    const first = await mqtt.connectAsync(proxy.url, { clientId: 'agent-x', protocolVersion: 4, reconnectPeriod: 100, outgoingStore: new Outbox(path) })
    await first.publishAsync('results/0', 'zero', { qos: 1 })
    proxy.cut()
    await waitFor(() => !first.connected || undefined, 5000, 'the cut noticed')
    for (let i = 1; i <= 5; i++) first.publish(`results/${i}`, `r${i}`, { qos: 1 })
    await new Promise((r) => setTimeout(r, 100))
    await first.endAsync(true) // the agent stops (or crashes) while offline
    const outbox = new Outbox(path)
    assert.is(outbox.restored, 5, 'the five unacknowledged results were on disk')
    proxy.restore()
    const second = await mqtt.connectAsync(proxy.url, { clientId: 'agent-x', protocolVersion: 4, reconnectPeriod: 100, outgoingStore: outbox })
    await waitFor(() => got.length === 6 || undefined, 10_000, `six results (${got.map((m) => m.topic)})`)
    await waitFor(() => outbox.stats().waiting === 0 || undefined, 5000, 'the outbox emptied by the PUBACKs')
    await new Promise((r) => setTimeout(r, 200))
    assert.equal(got.map((m) => m.topic).sort(), ['results/0', 'results/1', 'results/2', 'results/3', 'results/4', 'results/5'])
    await second.endAsync()
    assert.is(new Outbox(path).restored, 0, 'nothing left after delivery')
  } finally {
    await closeClient(sub)
    await proxy.close()
    await broker.close()
  }
})

test('the outbox cap: a publish beyond maxBytes is refused with limit_exceeded and onFull is told', async () => {
  const full: number[] = []
  const outbox = new Outbox(join(tmpDir('fm-outbox-'), 'outbox.journal'), { maxBytes: 1024, onFull: (i) => full.push(i.bytes) })
  const proxy = await startTcpProxy(1) // nothing listens behind it: offline from the start
  proxy.cut()
  const c = mqtt.connect(proxy.url, { protocolVersion: 4, reconnectPeriod: 1000, outgoingStore: outbox })
  c.on('error', () => {})
  try {
    c.publish('r/a', Buffer.alloc(800), { qos: 1 })
    const refused = await new Promise<Error | undefined>((resolve) => c.publish('r/b', Buffer.alloc(800), { qos: 1 }, (err) => resolve(err)))
    assert.ok(refused instanceof FogmeshError, String(refused))
    assert.is((refused as FogmeshError).code, 'limit_exceeded')
    assert.equal(full, [1600])
    assert.is(outbox.stats().waiting, 1)
  } finally {
    c.end(true)
    await proxy.close()
  }
})

test.run()

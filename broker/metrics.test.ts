// The broker's limit events as Prometheus counts: a real broker with small caps, real MQTT clients
// on loopback pushing past them, and the registry's series by limit and action.
//   node --import tsx broker/metrics.test.ts
import { Registry } from 'prom-client'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { closeClient, plainClient } from '../test/support/mqtt-clients.ts'
import { connectPacket, rawClient, subscribePacket } from '../test/support/mqtt-wire.ts'
import { startBroker } from './broker.ts'
import { registerBrokerMetrics } from './metrics.ts'

async function series(registry: Registry, name: string): Promise<Map<string, number>> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name)
  const out = new Map<string, number>()
  for (const v of (metric?.values ?? []) as Array<{ labels: Record<string, string | number>; value: number }>) {
    out.set(`${v.labels.limit}/${v.labels.action}`, v.value)
  }
  return out
}

test('fogmesh_broker_limit_events_total counts each limit that bites, by limit and action', async () => {
  const broker = await startBroker({ port: 0, wsPort: false, limits: { maxConnectionsPerIp: 2, maxSubscriptionsPerClient: 2 } })
  const registry = new Registry()
  const metrics = registerBrokerMetrics(broker, registry)
  const seen: string[] = []
  broker.on('limit', (e) => seen.push(`${e.limit}/${e.action}`))
  const a = await rawClient(broker.port)
  const b = await plainClient(broker.url)
  try {
    a.write(connectPacket({ clientId: 'metrics-a' }))
    assert.is(await a.connack(), 0)
    // a third connection from 127.0.0.1: closed before its CONNECT is read
    const third = await rawClient(broker.port)
    const closed = await Promise.race([third.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))])
    third.destroy()
    assert.ok(closed, 'the third connection is closed by the broker')
    // a third subscription: SUBACK 0x80 for it
    a.write(subscribePacket(7, [{ topic: 't/1' }, { topic: 't/2' }, { topic: 't/3' }]))
    const suback = await until(() => {
      const r = a.received()
      const i = r.indexOf(0x90, 4)
      return i >= 0 && r.length >= i + 7 ? r.subarray(i, i + 7) : undefined
    })
    assert.equal([...suback], [0x90, 5, 0, 7, 0, 0, 0x80])
    const counts = await series(registry, 'fogmesh_broker_limit_events_total')
    assert.is(counts.get('maxConnectionsPerIp/refused'), 1, `counted: ${[...counts].join(', ')}; events: ${seen.join(', ')}`)
    assert.is(counts.get('maxSubscriptionsPerClient/denied'), 1, `counted: ${[...counts].join(', ')}; events: ${seen.join(', ')}`)
    // detached: no more counting, the broker still emits its events
    metrics.detach()
    const fourth = await rawClient(broker.port)
    await fourth.closed
    await until(() => (seen.length >= 3 ? true : undefined))
    assert.is((await series(registry, 'fogmesh_broker_limit_events_total')).get('maxConnectionsPerIp/refused'), 1)
  } finally {
    a.destroy()
    await closeClient(b)
    await broker.close()
  }
})

async function until<T>(f: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

test.run()

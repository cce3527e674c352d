/**
 * The in-memory bus against the real thing: the same sequence of operations
 * through mqtt.js to aedes (on a real loopback socket) and through the
 * MemoryBus must give the same deliveries, in the same order, with the same
 * retain flags.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startBroker } from '../../broker/broker.ts'
import { FogmeshError } from '../errors.ts'
import type { Connection, Connector } from '../transport.ts'
import { connectorFor } from '../transport.ts'
import { MemoryBus } from './memory-bus.ts'
import type { MqttConnection } from './mqtt-connection.ts'

/** Deliveries per client, as `<client> <topic> "<payload>" [retained]`: order is promised per client, not across them. */
type Log = string[]

/** Waits until `ready()` (when given) and every message in flight has arrived. */
type Settle = (ready?: () => boolean) => Promise<void>

function observe(conn: Connection, name: string, log: Log): void {
  conn.route('#', (topic, payload, d) => log.push(`${name} ${topic} "${payload.toString()}"${d.retain ? ' retained' : ''}`))
}

const of = (log: Log, name: string) => log.filter((l) => l.startsWith(`${name} `))
const byClient = (log: Log) => Object.fromEntries(['b', 'c', 'd'].map((n) => [n, of(log, n)]))

/** The scenario: wildcards, per-publisher order, retained set/clear, late subscribers, unsubscribe, wills. */
async function scenario(c: Connector, settle: Settle): Promise<Log> {
  const log: Log = []
  const a = await c.connect({ clientId: 'twin-a', will: { topic: 'will/a', payload: 'a is gone', retain: true, qos: 1 }, reconnect: false })
  const b = await c.connect({ clientId: 'twin-b', reconnect: false })
  observe(b, 'b', log)
  await b.subscribe(['s/+/x', 'r/#', 'will/+'], 1)

  a.publish('s/1/x', 'one level', { qos: 0 })
  a.publish('s/2/x', 'qos 1', { qos: 1 })
  a.publish('s/1/y', 'not matched')
  a.publish('s/1/x/z', 'too deep')
  a.publish('r', 'parent of r/#')
  for (let i = 0; i < 20; i++) a.publish('r/seq', `m${i}`, { qos: i % 3 === 0 ? 1 : 0 })
  await a.publishAsync('r/keep', 'kept', { retain: true })
  await a.publishAsync('r/gone', 'soon cleared', { retain: true })
  await a.publishAsync('r/gone', '', { retain: true })
  await a.publishAsync('r/keep2', 'first', { retain: true })
  await a.publishAsync('r/keep2', 'second', { retain: true })
  await settle(() => log.some((l) => l.includes('second')))

  // a late subscriber gets the retained messages (flagged), then live ones
  const c1 = await c.connect({ clientId: 'twin-c', reconnect: false })
  observe(c1, 'c', log)
  await c1.subscribe('r/+', 0)
  await settle(() => log.some((l) => l.startsWith('c r/keep2')))
  a.publish('r/live', 'live after subscribe', { qos: 1 })
  await settle(() => log.some((l) => l.startsWith('c r/live')))

  // unsubscribe stops deliveries for that filter only
  await b.unsubscribe('s/+/x')
  a.publish('s/1/x', 'after unsubscribe', { qos: 1 })
  a.publish('r/after', 'still subscribed', { qos: 1 })
  await settle(() => log.some((l) => l.startsWith('b r/after')))

  // a clean close leaves no will; a dropped link does
  const e = await c.connect({ clientId: 'twin-e', will: { topic: 'will/e', payload: 'e is gone', retain: false, qos: 1 }, reconnect: false })
  await e.close()
  await a.close(true)
  await settle(() => log.some((l) => l.startsWith('b will/a')))

  // the will was retained: a newcomer sees it
  const d = await c.connect({ clientId: 'twin-d', reconnect: false })
  observe(d, 'd', log)
  await d.subscribe('will/#', 1)
  await settle(() => log.some((l) => l.startsWith('d will/a')))

  for (const conn of [b, c1, d]) await conn.close()
  return log
}

test('the MemoryBus delivers what aedes delivers, in the same order', async () => {
  const broker = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
  let real: Log
  try {
    real = await scenario(connectorFor(broker.url), async (ready) => {
      const until = Date.now() + 5000
      while (ready && !ready() && Date.now() < until) await new Promise((r) => setTimeout(r, 2))
      await new Promise((r) => setTimeout(r, 30)) // anything unexpected would arrive now
    })
  } finally {
    await broker.close()
  }
  const bus = new MemoryBus()
  const twin = await scenario(bus, () => bus.flush())
  assert.equal(byClient(twin), byClient(real))
  // the scenario really exercised what it claims
  assert.ok(real.includes('b s/1/x "one level"'))
  assert.not.ok(real.some((l) => l.includes('not matched') || l.includes('too deep') || l.includes('after unsubscribe') || l.includes('e is gone')))
  // order holds per publisher within a QoS level (aedes forwards a QoS 1 message after its PUBACK: QoS 0 may overtake it)
  const seq = real.filter((l) => l.startsWith('b r/seq')).map((l) => Number(/m(\d+)/.exec(l)![1]))
  assert.equal(seq.filter((i) => i % 3 === 0), [0, 3, 6, 9, 12, 15, 18])
  assert.equal(seq.filter((i) => i % 3 !== 0), Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 3 !== 0))
  assert.ok(real.includes('b r/gone ""'), 'the clearing publish is delivered live')
  assert.equal(real.filter((l) => l.startsWith('c ')).slice(0, 2).sort(), ['c r/keep "kept" retained', 'c r/keep2 "second" retained'])
  assert.ok(real.includes('b will/a "a is gone"'))
  assert.ok(real.includes('d will/a "a is gone" retained'))
})

/** How a link dies and comes back: for real, the socket is destroyed and mqtt.js reconnects on its own. */
interface LinkControl {
  drop(conn: Connection): Promise<void>
  reconnect(conn: Connection): Promise<void>
}

/** A dropped link: the will goes out, what was sent to it meanwhile is lost, its queued QoS 1 goes out on reconnect, retained comes again. */
async function reconnectScenario(c: Connector, link: LinkControl, settle: Settle): Promise<Log> {
  const log: Log = []
  const a = await c.connect({ clientId: 'twin-ra', will: { topic: 'p/a', payload: 'offline', retain: true, qos: 1 } })
  const w = await c.connect({ clientId: 'twin-rw', reconnect: false })
  observe(w, 'w', log)
  observe(a, 'a', log)
  await w.subscribe('p/#')
  await a.subscribe('p/#')
  await a.publishAsync('p/a', 'online', { retain: true })
  await settle(() => log.includes('a p/a "online"') && log.includes('w p/a "online"'))
  const states: string[] = []
  a.on('offline', () => states.push('offline'))
  a.on('connect', () => states.push('connect'))
  await link.drop(a)
  await settle(() => log.includes('w p/a "offline"'))
  a.publish('p/x', 'qos0 while offline', { qos: 0 })
  a.publish('p/x', 'qos1 while offline', { qos: 1 })
  await w.publishAsync('p/y', 'missed while offline', { qos: 1 })
  await settle(() => log.includes('w p/y "missed while offline"'))
  await link.reconnect(a)
  await settle(() => log.includes('a p/a "offline" retained') && log.includes('w p/x "qos1 while offline"'))
  log.push(`states ${states.join(' ')}`)
  await a.close()
  await w.close()
  return log
}

test('the MemoryBus drops and reconnects a client as mqtt.js on aedes does', async () => {
  const broker = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
  let real: Log
  const when = (conn: Connection, event: 'offline' | 'connect') => new Promise<void>((resolve) => conn.on(event, () => resolve()))
  try {
    real = await reconnectScenario(
      connectorFor(broker.url),
      {
        async drop(conn) {
          const offline = when(conn, 'offline')
          ;(conn as MqttConnection).client.stream.destroy()
          await offline
        },
        reconnect: (conn) => when(conn, 'connect'), // mqtt.js comes back by itself after 500 ms
      },
      async (ready) => {
        const until = Date.now() + 5000
        while (ready && !ready() && Date.now() < until) await new Promise((r) => setTimeout(r, 2))
        await new Promise((r) => setTimeout(r, 30))
      },
    )
  } finally {
    await broker.close()
  }
  const bus = new MemoryBus()
  const twin = await reconnectScenario(bus, {
    drop: async (conn) => bus.drop(conn.clientId),
    reconnect: async (conn) => bus.reconnect(conn.clientId),
  }, () => bus.flush())
  assert.equal(of(twin, 'a'), of(real, 'a'))
  assert.equal(of(twin, 'w'), of(real, 'w'))
  assert.equal(of(twin, 'states'), of(real, 'states'))
  assert.ok(real.includes('w p/x "qos1 while offline"'))
  assert.not.ok(real.some((l) => l.includes('qos0 while offline')))
  assert.not.ok(real.some((l) => l.startsWith('a ') && l.includes('missed while offline')))
})

test('MemoryBus: a dropped client loses its session, sends its queued QoS 1 on reconnect, gets retained again', async () => {
  const bus = new MemoryBus()
  const log: Log = []
  const a = await bus.connect({ clientId: 'a', will: { topic: 'p/a', payload: 'offline', retain: true, qos: 1 } })
  const w = await bus.connect({ clientId: 'w' })
  observe(w, 'w', log)
  await w.subscribe('p/#')
  const states: string[] = []
  a.on('offline', () => states.push('offline'))
  a.on('connect', () => states.push('connect'))
  observe(a, 'a', log)
  await a.subscribe('p/#')
  await a.publishAsync('p/a', 'online', { retain: true })
  await bus.flush()
  bus.drop('a')
  assert.not.ok(a.connected)
  a.publish('p/x', 'qos0 while offline', { qos: 0 })
  a.publish('p/x', 'qos1 while offline', { qos: 1 })
  w.publish('p/y', 'missed while offline', { qos: 1 })
  await bus.flush()
  bus.reconnect('a')
  await bus.flush()
  assert.ok(a.connected)
  assert.equal(states, ['offline', 'connect'])
  assert.equal(of(log, 'w'), ['w p/a "online"', 'w p/a "offline"', 'w p/y "missed while offline"', 'w p/x "qos1 while offline"'])
  assert.equal(of(log, 'a'), ['a p/a "online"', 'a p/a "offline" retained'])
  assert.equal(bus.retainedOn('p/a')?.toString(), 'offline')
  await a.close()
  await w.close()
  assert.equal(bus.clientIds(), [])
  const refused = await a.publishAsync('p/z', 'closed').then(() => undefined, (err: unknown) => err)
  assert.instance(refused, FogmeshError)
})

test('MemoryBus: wildcard-first filters do not match $ topics; one delivery per client however many filters match', async () => {
  const bus = new MemoryBus()
  const log: Log = []
  const a = await bus.connect()
  observe(a, 'a', log)
  await a.subscribe(['#', '+/y', 'x/#', '$SYS/#'])
  a.publish('$SYS/y', 'sys')
  a.publish('x/y', 'once')
  await bus.flush()
  assert.equal(log, ['a $SYS/y "sys"', 'a x/y "once"'])
  await a.close()
})

test.run()

import { appendFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Broker } from '../broker.ts'
import { closeClient, collect, plainClient } from '../../test/support/mqtt-clients.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { waitFor } from '../../test/support/wait.ts'

const restart = async (b: Broker, dir: string, extra = {}) => {
  await b.close()
  return testBroker({ data: dir, port: b.port, wsPort: false, ...extra })
}

test('retained messages (and their clearing) survive a restart', async () => {
  const dir = tmpDir('fm-bstate-')
  let broker = await testBroker({ data: dir, wsPort: false })
  const pub = await plainClient(broker.url)
  await pub.publishAsync('fm/v1/agents/a1/presence', '{"status":"online"}', { qos: 1, retain: true })
  await pub.publishAsync('fm/v1/releases/stable', 'r1', { qos: 1, retain: true })
  await pub.publishAsync('fm/v1/releases/stable', 'r2', { qos: 1, retain: true })
  await pub.publishAsync('gone/soon', 'x', { qos: 0, retain: true })
  await pub.publishAsync('gone/soon', '', { qos: 1, retain: true })
  await closeClient(pub)
  broker = await restart(broker, dir)
  try {
    const sub = await plainClient(broker.url)
    const got = collect(sub)
    await sub.subscribeAsync('#', { qos: 1 })
    await waitFor(() => got.length >= 2, 5000, 'retained copies')
    const byTopic = Object.fromEntries(got.map((m) => [m.topic, m.payload.toString()]))
    assert.equal(byTopic, { 'fm/v1/agents/a1/presence': '{"status":"online"}', 'fm/v1/releases/stable': 'r2' })
    assert.ok(got.every((m) => m.retain))
    assert.is(broker.state.stats().retainedTopics, 2, 'the caps\' books were restored too')
    await closeClient(sub)
  } finally {
    await broker.close()
  }
})

test('a persistent session keeps its subscriptions and its queued QoS 1 messages across a restart', async () => {
  const dir = tmpDir('fm-bstate-')
  let broker = await testBroker({ data: dir, wsPort: false })
  const sub = await plainClient(broker.url, { clientId: 'durable-sub', clean: false })
  await sub.subscribeAsync('jobs/#', { qos: 1 })
  await sub.endAsync()
  const pub = await plainClient(broker.url)
  for (let i = 0; i < 20; i++) await pub.publishAsync(`jobs/${i}`, String(i), { qos: 1 })
  await closeClient(pub)
  broker = await restart(broker, dir)
  try {
    const again = await plainClient(broker.url, { clientId: 'durable-sub', clean: false })
    const got = collect(again)
    await waitFor(() => got.length >= 20, 10_000, 'the queued messages')
    assert.equal(got.map((m) => m.payload.toString()), Array.from({ length: 20 }, (_, i) => String(i)), 'all, in order')
    // the session's subscription came back with it: a new message arrives without subscribing again
    const pub2 = await plainClient(broker.url)
    await pub2.publishAsync('jobs/late', 'late', { qos: 1 })
    await waitFor(() => got.some((m) => m.topic === 'jobs/late'), 5000, 'a live message on the restored subscription')
    await closeClient(pub2)
    await closeClient(again)
  } finally {
    await broker.close()
  }
})

test('a clean session forgets; what the persistent one acknowledged is not sent again', async () => {
  const dir = tmpDir('fm-bstate-')
  let broker = await testBroker({ data: dir, wsPort: false })
  const sub = await plainClient(broker.url, { clientId: 'acker', clean: false })
  const got = collect(sub)
  await sub.subscribeAsync('t/#', { qos: 1 })
  const pub = await plainClient(broker.url)
  for (let i = 0; i < 5; i++) await pub.publishAsync(`t/${i}`, String(i), { qos: 1 })
  await waitFor(() => got.length === 5, 5000, 'live delivery')
  await closeClient(pub)
  await sub.endAsync()
  broker = await restart(broker, dir)
  try {
    const again = await plainClient(broker.url, { clientId: 'acker', clean: false })
    const redelivered = collect(again)
    const pub2 = await plainClient(broker.url)
    await pub2.publishAsync('t/after', 'after', { qos: 1 })
    await waitFor(() => redelivered.some((m) => m.topic === 't/after'), 5000, 'the message after the restart')
    assert.equal(redelivered.map((m) => m.topic), ['t/after'], 'acknowledged messages are gone from the queue')
    await closeClient(pub2)
    await closeClient(again)
  } finally {
    await broker.close()
  }
})

test('retained caps: per client and in total refuse the publish (the publisher is disconnected), emit retainedRejected, keep the rest', async () => {
  const broker = await testBroker({ wsPort: false, maxRetainedBytesPerClient: 4096, maxRetainedBytes: 6144 })
  const refused: Array<{ cap: string; clientId: string }> = []
  broker.on('retainedRejected', (r) => refused.push(r))
  // a refused publish is never acknowledged: aedes closes the connection (MQTT 3.1.1 has no negative PUBACK)
  const refusedOnce = async (clientId: string, topic: string, bytes: number) => {
    const c = await plainClient(broker.url, { clientId, reconnectPeriod: 0 })
    const closed = new Promise<void>((r) => c.on('close', () => r()))
    c.publish(topic, Buffer.alloc(bytes), { qos: 1, retain: true })
    await closed
    c.end(true)
  }
  try {
    const a = await plainClient(broker.url, { clientId: 'flooder' })
    await a.publishAsync('r/1', Buffer.alloc(3000), { qos: 1, retain: true })
    await a.publishAsync('r/1', Buffer.alloc(3500), { qos: 1, retain: true }) // a replacement frees the old bytes
    await closeClient(a)
    await refusedOnce('flooder', 'r/2', 1000)
    assert.is(refused.length, 1)
    assert.is(refused[0]!.cap, 'maxRetainedBytesPerClient')
    assert.is(refused[0]!.clientId, 'flooder')
    await refusedOnce('other', 'r/3', 3000)
    assert.is(refused.length, 2)
    assert.is(refused[1]!.cap, 'maxRetainedBytes')
    const b = await plainClient(broker.url, { clientId: 'other' })
    await b.publishAsync('r/3', Buffer.alloc(2000), { qos: 1, retain: true }) // within both caps
    await closeClient(b)
    assert.is(broker.state.stats().retainedBytes, 5500)
  } finally {
    await broker.close()
  }
})

test('a torn last write is cut off at start; the journal compacts once it outgrows its live state', async () => {
  const dir = tmpDir('fm-bstate-')
  let broker = await testBroker({ data: dir, wsPort: false })
  const pub = await plainClient(broker.url)
  await pub.publishAsync('keep', 'kept', { qos: 1, retain: true })
  await closeClient(pub)
  await broker.close()
  appendFileSync(join(dir, 'broker.journal'), Buffer.from([200, 0, 0, 0, 1, 2])) // a frame head with no body
  broker = await testBroker({ data: dir, wsPort: false })
  try {
    assert.ok(broker.state.stats().disk!.tornBytes > 0, 'the torn frame was found')
    const sub = await plainClient(broker.url)
    const got = collect(sub)
    await sub.subscribeAsync('keep', { qos: 1 })
    await waitFor(() => got.length === 1, 5000, 'the retained message')
    assert.is(got[0]!.payload.toString(), 'kept')
    await closeClient(sub)
  } finally {
    await broker.close()
  }
  // many replacements of one retained topic: the file stays near its live size
  broker = await testBroker({ data: dir, wsPort: false })
  try {
    const p = await plainClient(broker.url)
    const big = Buffer.alloc(64 * 1024, 7)
    for (let i = 0; i < 120; i++) await p.publishAsync('big', big, { qos: 1, retain: true })
    await closeClient(p)
    const s = broker.state.stats().disk!
    assert.ok(s.compactions >= 1, `compacted (${JSON.stringify(s)})`)
    assert.ok(statSync(join(dir, 'broker.journal')).size < 6 * 1024 * 1024, 'the file did not keep every replacement')
  } finally {
    await broker.close()
  }
})

test.run()

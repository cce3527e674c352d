// Per-client publish rates on a real broker: a client over its messages/s or bytes/s is slowed to
// its rate (nothing it sent is lost, one `throttled` event per episode), and another client
// publishing at the same time is not slowed at all.
//   node --import tsx broker/limits/publish-throttle.test.ts
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { closeClient, plainClient } from '../../test/support/mqtt-clients.ts'
import { startBroker } from '../broker.ts'
import type { LimitEvent } from './broker-limits.ts'

async function collect(url: string, topic: string, want: number, timeoutMs: number): Promise<{ at: number[]; first: number[]; close(): Promise<void> }> {
  const sub = await plainClient(url)
  await sub.subscribeAsync(topic, { qos: 0 })
  const at: number[] = []
  const first: number[] = []
  sub.on('message', (_t, payload) => {
    at.push(performance.now())
    first.push(payload[0] ?? -1)
  })
  return {
    at,
    first,
    async close() {
      const end = performance.now() + timeoutMs
      while (at.length < want && performance.now() < end) await new Promise((r) => setTimeout(r, 20))
      await closeClient(sub)
    },
  }
}

test('messages/s: a burst over the rate is delivered at the rate; a second client is not held up', async () => {
  const broker = await startBroker({ port: 0, wsPort: false, limits: { publishRatePerClient: 100 } })
  const events: LimitEvent[] = []
  broker.on('limit', (e) => events.push(e))
  const noisy = await plainClient(broker.url)
  const quiet = await plainClient(broker.url)
  const loud = await collect(broker.url, 'noisy', 300, 30_000)
  const calm = await collect(broker.url, 'quiet', 5, 30_000)
  try {
    const t0 = performance.now()
    for (let i = 0; i < 300; i++) noisy.publish('noisy', String(i), { qos: 0 })
    await new Promise((r) => setTimeout(r, 300)) // the noisy client is being held now
    for (let i = 0; i < 5; i++) quiet.publish('quiet', String(i), { qos: 0 })
    await calm.close()
    await loud.close()
    assert.is(calm.at.length, 5)
    // not held up: all 5 are through while the noisy client is still being paced (no clock on
    // how soon: a loaded machine is slow, the order is the property)
    const noisyBefore = loud.at.filter((t) => t < calm.at[4]!).length
    assert.ok(noisyBefore < 300, `the quiet client's 5 messages came after all 300 of the noisy one`)
    assert.is(loud.at.length, 300, 'nothing the noisy client sent is lost')
    const took = loud.at[299]! - t0
    // 100 at once (the burst), then 200 at 100/s: at least 2 s (load only makes it later; that
    // all 300 come within the generous wait says it is not held for good)
    assert.ok(took > 1500, `300 messages at 100/s (burst 100) took only ${took.toFixed(0)} ms`)
    const throttled = events.filter((e) => e.limit === 'publishRatePerClient' && e.action === 'throttled')
    assert.ok(throttled.length >= 1 && throttled.length <= 3, `${throttled.length} throttled events (one per episode)`)
    assert.is(throttled[0]!.cap, 100)
  } finally {
    await closeClient(noisy)
    await closeClient(quiet)
    await broker.close()
  }
})

test('bytes/s: large publishes over the byte rate wait for it, in order', async () => {
  const broker = await startBroker({ port: 0, wsPort: false, limits: { publishBytesPerClient: 16 * 1024 } })
  const events: LimitEvent[] = []
  broker.on('limit', (e) => events.push(e))
  const pub = await plainClient(broker.url)
  const got = await collect(broker.url, 'big', 4, 30_000)
  try {
    const t0 = performance.now()
    for (let i = 0; i < 4; i++) pub.publish('big', Buffer.alloc(12 * 1024, i), { qos: 1 })
    await got.close()
    assert.equal(got.first, [0, 1, 2, 3], 'in the order sent')
    const took = got.at[3]! - t0
    // 16 KiB saved up lets the first through; each next 12 KiB needs 0.75 s: at least 2.2 s
    assert.ok(took > 1500, `4 x 12 KiB at 16 KiB/s took only ${took.toFixed(0)} ms`)
    assert.ok(events.some((e) => e.limit === 'publishBytesPerClient' && e.action === 'throttled'), `events: ${events.map((e) => e.limit).join(', ')}`)
  } finally {
    await closeClient(pub)
    await broker.close()
  }
})

test.run()

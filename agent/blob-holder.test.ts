// The holder's bounds: it answers only what it holds, once per piece per repeat window, within its byte rate
// (a `throttled` event when the rate bites), and a wanter asks again until a holder answers.
//   node --import tsx agent/blob-holder.test.ts
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { MqttBlobSource } from '../protocol/blobs/mqtt-blob-source.ts'
import { sha256Of } from '../protocol/blobs/manifest.ts'
import { ManualClock } from '../protocol/manual-clock.ts'
import { topics } from '../protocol/topics.ts'
import { MemoryBus } from '../protocol/transport/memory-bus.ts'
import { BlobHolder } from './blob-holder.ts'
import { BlobStore } from './blob-store.ts'

async function setup(serveBytesPerSec: number, repeatMs = 1000) {
  const bus = new MemoryBus()
  const clock = new ManualClock()
  const holderConn = await bus.connect()
  const other = await bus.connect()
  const store = new BlobStore({ maxBytes: 1 << 20 })
  const piece = Buffer.alloc(1000, 1)
  const sha = sha256Of(piece)
  store.put(sha, piece)
  const holder = new BlobHolder(holderConn, store, () => undefined, { serveBytesPerSec, repeatMs, clock })
  const served: string[] = []
  const throttled: string[] = []
  holder.on('served', (e) => served.push(e.sha256))
  holder.on('throttled', (e) => throttled.push(e.sha256))
  await holder.start()
  const copies: number[] = []
  other.route(topics.blob(sha), (_t, p) => copies.push(p.length))
  await other.subscribe(topics.blob(sha), 1)
  return { bus, clock, other, sha, served, throttled, copies }
}

test('answers what it holds once per repeat window; ignores what it does not hold', async () => {
  const t = await setup(1 << 20)
  for (let i = 0; i < 5; i++) t.other.publish(topics.blobWant(t.sha), '')
  t.other.publish(topics.blobWant('00'.repeat(32)), '')
  t.other.publish('fm/v1/blobs/want/not-a-sha', '')
  await t.bus.flush()
  assert.equal(t.served, [t.sha])
  assert.equal(t.copies, [1000])
  await t.clock.advance(1000)
  t.other.publish(topics.blobWant(t.sha), '')
  await t.bus.flush()
  assert.is(t.served.length, 2, 'answered again after the window')
})

test('within its byte rate: over it, a throttled event and no answer until the bucket refills', async () => {
  const t = await setup(1500, 0) // 1.5 pieces a second, no repeat window
  t.other.publish(topics.blobWant(t.sha), '')
  await t.bus.flush()
  t.other.publish(topics.blobWant(t.sha), '')
  await t.bus.flush()
  assert.is(t.served.length, 1)
  assert.equal(t.throttled, [t.sha])
  await t.clock.advance(1000)
  t.other.publish(topics.blobWant(t.sha), '')
  await t.bus.flush()
  assert.is(t.served.length, 2)
})

test('a wanter asks again until a holder answers; nothing within its deadline is blob_not_found', async () => {
  const bus = new MemoryBus()
  const clock = new ManualClock()
  const wanter = await bus.connect()
  const watcher = await bus.connect()
  const wants: number[] = []
  watcher.route(topics.blobWantWildcard, () => wants.push(clock.now()))
  await watcher.subscribe(topics.blobWantWildcard, 0)
  const src = new MqttBlobSource(wanter, { timeoutMs: 5000, wantAfterMs: 500, rewantMs: 2000, clock })
  const sha = 'ab'.repeat(32)
  const p = src.get(sha, 100).then(() => 'ok', (e: { code: string }) => e.code)
  await bus.flush()
  await clock.advance(500)
  await bus.flush()
  await clock.advance(2000)
  await bus.flush()
  await clock.advance(2000)
  await bus.flush()
  await clock.advance(500)
  await bus.flush()
  assert.is(await p, 'blob_not_found')
  assert.is(wants.length, 3, 'at 0.5 s, 2.5 s and 4.5 s')
})

test.run()

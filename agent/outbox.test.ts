/**
 * The outbox on a real broker and a real file: results published while the link
 * is cut wait on disk, survive the client's restart, and are delivered once the
 * link returns; the outbox's cap refuses a publish with a typed error.
 */
import { copyFileSync } from 'node:fs'
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

const pub = (messageId: number, payload = `r${messageId}`) =>
  ({ cmd: 'publish', messageId, topic: `results/${messageId}`, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }) as never

/** How many publishes a fresh open of a copy of the file finds (what a crash right now would replay). */
function onDisk(path: string): number {
  const copy = join(tmpDir('fm-outbox-copy-'), 'outbox.journal')
  copyFileSync(path, copy)
  const o = new Outbox(copy)
  const n = o.restored
  o.close(() => {})
  return n
}

test('group commit: the publishes of one turn share one write and one fdatasync; held, each callback only once its record is on disk', async () => {
  const path = join(tmpDir('fm-outbox-'), 'outbox.journal')
  const outbox = new Outbox(path, { holdUntilDurable: true })
  const seen: number[] = []
  const done = Array.from(
    { length: 20 },
    (_, i) =>
      new Promise<void>((resolve, reject) =>
        outbox.put(pub(i + 1), (err) => {
          if (err) return reject(err)
          seen.push(onDisk(path))
          resolve()
        }),
      ),
  )
  assert.is(outbox.stats().syncs, 0, 'nothing is written inside the turn')
  await Promise.all(done)
  assert.equal(seen, Array(20).fill(20), 'every callback found all twenty on disk')
  assert.is(outbox.stats().groups, 1)
  assert.is(outbox.stats().syncs, 1)
  // a reconnect replays only what is durable: the stream waits for a pending group
  outbox.put(pub(21), () => {})
  const replayed: number[] = []
  await new Promise<void>((resolve) => {
    const s = outbox.createStream()
    s.on('data', (p: { messageId: number }) => replayed.push(p.messageId))
    s.on('end', () => resolve())
  })
  assert.is(replayed.length, 21)
  assert.is(onDisk(path), 21)
  await new Promise<void>((r) => outbox.close(() => r()))
})

test('a reconnect while a publish waits for its group: the replay sends it once it is on disk, its own (held) callback is not called', async () => {
  const path = join(tmpDir('fm-outbox-'), 'outbox.journal')
  const outbox = new Outbox(path, { holdUntilDurable: true })
  let called = false
  outbox.put(pub(7), () => (called = true))
  const replayed: number[] = []
  await new Promise<void>((resolve) => {
    const s = outbox.createStream() // mqtt.js's connect handler, with the put still on its way
    s.on('data', (p: { messageId: number }) => {
      assert.is(onDisk(path), 1, 'on disk before the replay hands it over')
      replayed.push(p.messageId)
    })
    s.on('end', () => resolve())
  })
  assert.equal(replayed, [7])
  assert.not.ok(called, 'the held callback would write it a second time')
  // a publish after the reconnect began is the new connection's own: its callback comes
  await new Promise<void>((r) => outbox.put(pub(8), () => r()))
  await new Promise<void>((r) => outbox.close(() => r()))
})

test('by default a publish is sent at once, its record written alongside: one group, durable soon after; a PUBACK before that deletes it', async () => {
  const path = join(tmpDir('fm-outbox-'), 'outbox.journal')
  const outbox = new Outbox(path)
  const called: number[] = []
  for (let m = 1; m <= 5; m++) outbox.put(pub(m), (err) => (err ? assert.unreachable(String(err)) : called.push(m)))
  assert.equal(called, [1, 2, 3, 4, 5], 'each callback at once (mqtt.js writes it to the socket)')
  assert.is(onDisk(path), 0, 'nothing written inside the turn')
  // a PUBACK for message 2 while its record is on its way
  outbox.del({ messageId: 2 }, () => {})
  // a reconnect's replay still hands over only what is durable
  const replayed: number[] = []
  await new Promise<void>((resolve) => {
    const s = outbox.createStream()
    s.on('data', (p: { messageId: number }) => {
      assert.is(onDisk(path), 4, 'the group (five publishes and the delete of this turn) is on disk before the replay hands anything over')
      replayed.push(p.messageId)
    })
    s.on('end', () => resolve())
  })
  assert.equal(replayed, [1, 3, 4, 5])
  assert.is(outbox.stats().groups, 1)
  assert.is(outbox.stats().syncs, 1)
  assert.is(outbox.stats().unsynced, 0)
  await new Promise<void>((r) => outbox.close(() => r()))
  const again = new Outbox(path)
  assert.is(again.restored, 4, 'after a restart: the four not acknowledged, not the one whose PUBACK came before its record landed')
  again.close(() => {})
})

test('deletes ride along without a sync of their own: written with the next group or after deleteDelayMs; close writes what is pending', async () => {
  const path = join(tmpDir('fm-outbox-'), 'outbox.journal')
  const outbox = new Outbox(path, { deleteDelayMs: 30, holdUntilDurable: true }) // held: an awaited put is on disk
  await Promise.all([1, 2, 3].map((m) => new Promise<void>((r) => outbox.put(pub(m), () => r()))))
  const syncs = outbox.stats().syncs
  outbox.del({ messageId: 1 }, () => {})
  assert.is(onDisk(path), 3, 'the delete is not written at once')
  await new Promise((r) => setTimeout(r, 100))
  assert.is(onDisk(path), 2, 'the delete was written after its delay')
  assert.is(outbox.stats().syncs, syncs, 'with no fdatasync of its own')
  // a delete and a publish in one turn: one group
  outbox.del({ messageId: 2 }, () => {})
  await new Promise<void>((r) => outbox.put(pub(4), () => r()))
  assert.is(onDisk(path), 2, 'messages 3 and 4')
  assert.is(outbox.stats().syncs, syncs + 1)
  // close writes a pending delete and a pending publish before it returns
  outbox.del({ messageId: 3 }, () => {})
  let cbErr: Error | undefined | null = null
  outbox.put(pub(5), (err) => (cbErr = err))
  await new Promise<void>((r) => outbox.close(() => r()))
  assert.is(cbErr, undefined, 'the pending publish was settled by close')
  const again = new Outbox(path)
  assert.is(again.restored, 2, 'messages 4 and 5')
  again.close(() => {})
})

test('compaction with a group pending: the snapshot holds the pending publishes, nothing lost', async () => {
  const path = join(tmpDir('fm-outbox-'), 'outbox.journal')
  const outbox = new Outbox(path, { compactMinBytes: 4096 })
  const big = 'x'.repeat(600)
  for (let round = 0; round < 20; round++) {
    const m = (round % 50) + 1
    await new Promise<void>((r) => outbox.put(pub(m, big), () => r()))
    outbox.del({ messageId: m }, () => {})
  }
  const pending = [100, 101, 102].map((m) => new Promise<void>((r) => outbox.put(pub(m, big), () => r())))
  await Promise.all(pending)
  assert.ok(outbox.stats().fileBytes < 20 * 600, `compacted (${outbox.stats().fileBytes} bytes)`)
  await new Promise<void>((r) => outbox.close(() => r()))
  assert.is(new Outbox(path).restored, 3)
})

test.run()

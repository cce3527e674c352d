/**
 * Issue 9's attacks, each against a real `fogmesh broker` process (the
 * gateway contained inside it) on port 0: the broker survives, the limit
 * that should bite bites (its line in the broker's output), an honest
 * sensor's job is answered during and after the attack, and the broker's RSS
 * is back within 20 MiB of what it was before once the attack stops.
 *
 * The limits are set small by flags so that each attack bites within seconds;
 * every attack is bounded in count and time, on loopback.
 */
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startHostileMesh, type HostileMesh } from './support/hostile-mesh.ts'
import { plainClient } from './support/mqtt-clients.ts'
import { connectPacket, publishPacket, rawClient, subscribePacket, varint, type RawClient } from './support/mqtt-wire.ts'
import { sleep, waitFor } from './support/wait.ts'

const MiB = 1024 * 1024
const GROWTH_MIB = 20

let mesh: HostileMesh

test.before(async () => {
  mesh = await startHostileMesh([
    '--max-pending-connections', '100',
    '--connect-timeout-ms', '3000',
    '--max-retained-bytes-per-client', String(4 * MiB),
    '--max-retained-bytes', String(12 * MiB),
    '--max-queued-bytes-per-session', String(1 * MiB),
    '--max-queued-bytes', String(8 * MiB),
    '--session-expiry-ms', '3000',
    '--slow-subscriber-bytes', String(256 * 1024),
    '--max-buffered-bytes-per-client', String(2 * MiB),
    '--frozen-subscriber-ms', '2000',
  ])
})

test.after(async () => {
  await mesh?.close()
})

/** Runs `attack` with honest jobs alongside; then checks the honest path and the RSS. */
async function survive(name: string, attack: () => Promise<void>): Promise<void> {
  const before = mesh.rssMiB()
  const honest = await mesh.during(attack)
  assert.is(honest.failed, 0, `${name}: every honest job during the attack answered: ${honest.errors.join('; ')}`)
  assert.ok(honest.latencies.length > 0, `${name}: honest jobs ran during the attack`)
  await mesh.honestJob()
  let after = mesh.rssMiB()
  // honest traffic goes on while we wait: the collector runs as it would in service (idle, V8 may keep garbage for long)
  const settled = await waitFor(() => mesh.honestJob().then(() => (after = mesh.rssMiB()) < before + GROWTH_MIB), 30_000, `${name}: RSS back within ${GROWTH_MIB} MiB`).catch(() => false)
  console.log(`  ${name}: RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB; honest p99 ${honest.p99.toFixed(1)} ms over ${honest.latencies.length} jobs`)
  assert.ok(settled, `${name}: RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB`)
}

const expectLimit = (limit: string) => waitFor(() => mesh.output().includes(`limit ${limit}`), 10_000, `the ${limit} line in the broker's output`)

async function connected(id: string, opts: { clean?: boolean } = {}): Promise<RawClient> {
  const c = await rawClient(mesh.port)
  c.write(connectPacket({ clientId: id, ...opts }))
  assert.is(await c.connack(), 0, `${id} connected`)
  return c
}

test('null and {"id":{"toString":1}} on the gateway\'s inbox (and on the submit topic): nothing crashes, nothing restarts', async () => {
  // the gateway's inbox is named in every assignment it sends
  const spy = await plainClient(mesh.url)
  const inboxes: string[] = []
  spy.on('message', (_t, p) => inboxes.push(JSON.parse(p.toString()).replyTo))
  await spy.subscribeAsync('fm/v1/agents/+/jobs')
  await mesh.honestJob()
  await waitFor(() => inboxes.length > 0, 10_000, 'an assignment naming the gateway inbox')
  await survive('inbox garbage', async () => {
    for (let i = 0; i < 50; i++) {
      for (const p of ['null', '{"id":{"toString":1}}', '{"id":"x","attempt":{"valueOf":2},"agent":"a"}', '[]', '7', '"s"']) {
        spy.publish(inboxes[0]!, p, { qos: 1 })
        spy.publish('fm/v1/jobs/submit', p, { qos: 1 })
      }
    }
    await sleep(300)
  })
  await spy.endAsync()
  assert.not.match(mesh.output(), /gateway exited/, 'the gateway did not even need a restart')
})

test('CONNECT with an empty client id and clean session 0: CONNACK 0x02 (MQTT-3.1.3-8); with clean 1 it is accepted', async () => {
  const a = await rawClient(mesh.port)
  a.write(connectPacket({ clientId: '', clean: false }))
  assert.is(await a.connack(), 2)
  await a.closed
  const b = await rawClient(mesh.port)
  b.write(connectPacket({ clientId: '', clean: true }))
  assert.is(await b.connack(), 0)
  b.destroy()
})

test('500 connections each declaring a CONNECT just under 2 MiB, then idle: refused at the header, RSS flat', async () => {
  await survive('500 big CONNECTs', async () => {
    const socks = await Promise.all(Array.from({ length: 500 }, () => rawClient(mesh.port).catch(() => undefined)))
    for (const s of socks) s?.write(Buffer.concat([Buffer.from([0x10]), varint(2 * MiB - 1), Buffer.alloc(1024, 0x41)]))
    await Promise.all(socks.map((s) => s && Promise.race([s.closed, sleep(15_000)])))
    assert.ok(socks.every((s) => !s || s.socket.destroyed || s.socket.readyState === 'closed'), 'all closed by the broker')
  })
  assert.match(mesh.output(), /packet cap: .* declared 2097151 bytes \(cap 65536\)/)
})

test('100 connections sending 60 KiB of a CONNECT and then nothing: closed at the connect timeout; the pending cap holds the rest', async () => {
  await survive('slow CONNECTs', async () => {
    const socks = await Promise.all(Array.from({ length: 150 }, () => rawClient(mesh.port).catch(() => undefined)))
    for (const s of socks) s?.write(Buffer.concat([Buffer.from([0x10]), varint(62 * 1024), Buffer.alloc(60 * 1024, 0x41)]))
    await Promise.all(socks.map((s) => s && Promise.race([s.closed, sleep(15_000)])))
    assert.ok(socks.every((s) => !s || s.socket.destroyed), 'all closed by the broker')
  })
  await expectLimit('maxPendingConnections')
})

test('200 x 1 MiB retained modules (valid hashes): the retained caps refuse what is over them', async () => {
  await survive('retained modules', async () => {
    for (let i = 0, id = 0; i < 200; id++) {
      const c = await connected(`hoarder-${id}`)
      while (i < 200 && !c.socket.destroyed) {
        const bytes = Buffer.alloc(MiB, i)
        bytes.writeUInt32BE(i++, 0)
        c.write(publishPacket(`fm/v1/modules/${createHash('sha256').update(bytes).digest('hex')}`, bytes, { qos: 1, retain: true, id: 1 }))
        await new Promise((r) => setImmediate(r))
      }
      c.destroy()
      if (id > 60) break // the total cap stops every new id too
    }
  })
  await expectLimit('maxRetainedBytesPerClient')
  await expectLimit('maxRetainedBytes')
})

test('100,000 subscriptions from one client: granted up to the per-client cap, 0x80 after, then cut off; new CONNECTs are not stalled', async () => {
  await survive('100k subscriptions', async () => {
    const c = await connected('subscriber-hog')
    for (let p = 0; p < 100; p++) {
      c.write(subscribePacket(p + 1, Array.from({ length: 1000 }, (_, i) => ({ topic: `hog/${p}/${i}` }))))
      if (p % 10 === 0) {
        const t0 = performance.now()
        const probe = await connected(`probe-${p}`)
        probe.destroy()
        assert.ok(performance.now() - t0 < 10_000, `a new CONNECT is answered (${(performance.now() - t0).toFixed(0)} ms)`)
      }
      await new Promise((r) => setImmediate(r))
    }
    await waitFor(() => c.received().includes(0x80), 20_000, 'SUBACK 0x80')
    await Promise.race([c.closed, sleep(20_000)])
    assert.ok(c.socket.destroyed, 'the hog was disconnected')
  })
  await expectLimit('maxSubscriptionsPerClient')
})

test('20 offline clean-session-0 sessions and 24 MiB of QoS 1 for each: queues bounded, then expired', async () => {
  await survive('offline sessions', async () => {
    for (let i = 0; i < 20; i++) {
      const c = await connected(`offline-${i}`, { clean: false })
      c.write(subscribePacket(1, [{ topic: 'offline/#', qos: 1 }]))
      await waitFor(() => c.received().includes(0x90), 5000, 'SUBACK')
      c.destroy()
    }
    const pub = await plainClient(mesh.url)
    const payload = Buffer.alloc(256 * 1024, 1)
    for (let i = 0; i < 96; i++) await pub.publishAsync('offline/x', payload, { qos: 1 })
    await pub.endAsync()
    await waitFor(() => /limit maxQueuedBytes(PerSession)? /.test(mesh.output()), 10_000, 'a queue limit line')
    await waitFor(() => mesh.output().includes('limit sessionExpiryMs'), 15_000, 'the sessions expired')
  })
  // a session that comes back after its expiry starts empty
  const back = await rawClient(mesh.port)
  back.write(connectPacket({ clientId: 'offline-0', clean: false }))
  assert.is(await back.connack(), 0)
  assert.is(back.received()[2], 0, 'session present 0: it expired')
  back.destroy()
})

test('a subscriber that never reads, fed at 3 MiB/s: it is cut off, everyone else is served', async () => {
  await survive('frozen subscriber', async () => {
    const frozen = await connected('frozen')
    frozen.write(subscribePacket(1, [{ topic: 'feed/#', qos: 1 }]))
    await waitFor(() => frozen.received().includes(0x90), 5000, 'SUBACK')
    frozen.socket.pause()
    const pub = await connected('feeder')
    const chunk = publishPacket('feed/x', Buffer.alloc(30 * 1024, 7))
    const until = Date.now() + 8000
    while (Date.now() < until && !frozen.socket.destroyed) {
      for (let i = 0; i < 10; i++) pub.write(chunk) // ~300 KiB every 100 ms: 3 MiB/s
      await sleep(100)
      if (frozen.closed && (await Promise.race([frozen.closed.then(() => true), sleep(0).then(() => false)]))) break
    }
    pub.destroy()
    frozen.destroy()
  })
  assert.match(mesh.output(), /limit (frozenSubscriberMs|maxBufferedBytesPerClient)/)
})

test('a QoS 0 flood (as fast as loopback takes it, 6 s) with a normal subscriber: the broker stands', async () => {
  await survive('QoS 0 flood', async () => {
    const watcher = await plainClient(mesh.url)
    let got = 0
    watcher.on('message', () => got++)
    await watcher.subscribeAsync('flood/#')
    const flooder = await connected('flooder')
    const pkt = publishPacket('flood/x', Buffer.alloc(1000, 65))
    const chunk = Buffer.concat(Array(64).fill(pkt))
    const until = Date.now() + 6000
    let sent = 0
    while (Date.now() < until && sent < 400 * MiB) {
      if (!flooder.write(chunk)) await new Promise((r) => flooder.socket.once('drain', r))
      sent += chunk.length
    }
    flooder.destroy()
    console.log(`  flood: ${(sent / MiB).toFixed(0)} MiB sent in 6 s, the normal subscriber got ${got} messages`)
    assert.ok(got > 0, 'the normal subscriber was served')
    await watcher.endAsync()
  })
})

test.run()

// MQTT 3.1.1 behaviour that the broker's limits sit in the way of, checked against a real
// `fogmesh broker` process (every limit on at its defaults) with raw packets and mqtt.js clients.
// Written for fogmesh (the Eclipse Paho interoperability suite is run by hand; see README):
// retained set/replace/clear, QoS 1 queued for an offline persistent session, unacknowledged
// QoS 1 sent again with DUP on reconnect, `$` topics kept from wildcards, overlapping
// subscriptions, unsubscribe, the keepalive, the empty client id.
//   node --import tsx test/broker-conformance.test.ts
import mqtt from 'mqtt'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { stopChild } from './support/child-processes.ts'
import { fogmeshDaemon, type Daemon } from './support/fogmesh-cli.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { connectPacket, pingreqPacket, publishPacket, rawClient, subscribePacket } from './support/mqtt-wire.ts'
import { sleep, waitFor } from './support/wait.ts'

let broker: Daemon | undefined
let url = ''
let port = 0

test.before(async () => {
  broker = await fogmeshDaemon(['broker', '--port', '0', '--ws-port', '0', '--host', '127.0.0.1', '--no-gateway', '--no-console'], /^broker\s+mqtt:\/\/127\.0\.0\.1:(\d+)/m)
  port = Number(broker.match[1])
  url = `mqtt://127.0.0.1:${port}`
})

test.after(async () => {
  await stopChild(broker?.proc)
})

const tag = () => Math.random().toString(36).slice(2, 8)

test('retained: the last one is kept and sent on subscribe with the retain flag; an empty payload clears it (MQTT-3.3.1-5, -10)', async () => {
  const t = `conf/retained/${tag()}`
  const pub = await plainClient(url)
  await pub.publishAsync(t, 'one', { qos: 1, retain: true })
  await pub.publishAsync(t, 'two', { qos: 1, retain: true })
  const a = await plainClient(url)
  const got = collect(a)
  await a.subscribeAsync(t, { qos: 1 })
  await waitFor(() => got.length >= 1, 5000, 'the retained message')
  await sleep(100)
  assert.equal(got.map((m) => [m.payload.toString(), m.retain]), [['two', true]])
  await pub.publishAsync(t, '', { qos: 1, retain: true })
  const b = await plainClient(url)
  const none = collect(b)
  await b.subscribeAsync(t, { qos: 1 })
  await sleep(300)
  assert.is(none.length, 0, 'a cleared retained message is not sent')
  await Promise.all([closeClient(pub), closeClient(a), closeClient(b)])
})

test('QoS 1 to an offline persistent session is queued and delivered when it comes back (MQTT-3.1.2-5)', async () => {
  const id = `conf-offline-${tag()}`
  const t = `conf/offline/${tag()}`
  const s1 = await plainClient(url, { clientId: id, clean: false })
  await s1.subscribeAsync(t, { qos: 1 })
  await s1.endAsync()
  const pub = await plainClient(url)
  for (let i = 0; i < 3; i++) await pub.publishAsync(t, `m${i}`, { qos: 1 })
  await pub.publishAsync(t, 'q0', { qos: 0 }) // QoS 0 may be dropped for an offline client; we do
  const got: string[] = []
  // listening before the CONNECT goes out: the queue may come in the CONNACK's read
  const s2 = mqtt.connect(url, { clientId: id, clean: false, protocolVersion: 4, reconnectPeriod: 0 })
  s2.on('message', (_t, p) => got.push(p.toString()))
  await waitFor(() => got.length >= 3, 5000, 'the queued messages')
  await sleep(200)
  assert.equal(got, ['m0', 'm1', 'm2'])
  await Promise.all([closeClient(pub), closeClient(s2)])
})

test('an unacknowledged QoS 1 message is sent again with DUP when the persistent session reconnects (MQTT-4.4.0-1)', async () => {
  const id = `conf-redeliver-${tag()}`
  const t = `conf/redeliver/${tag()}`
  const raw = await rawClient(port)
  raw.write(connectPacket({ clientId: id, clean: false }))
  assert.is(await raw.connack(), 0)
  raw.write(subscribePacket(1, [{ topic: t, qos: 1 }]))
  await waitFor(() => raw.received().includes(0x90), 5000, 'SUBACK')
  const pub = await plainClient(url)
  await pub.publishAsync(t, 'again', { qos: 1 })
  // the raw client receives it and never acknowledges
  await waitFor(() => raw.received().indexOf(Buffer.from('again')) >= 0, 5000, 'the first delivery')
  const first = raw.received()
  const at = first.indexOf(0x32) // PUBLISH, QoS 1, no DUP
  assert.ok(at >= 0, 'delivered at QoS 1 without DUP')
  raw.destroy()
  await raw.closed
  await sleep(100)
  const back = await rawClient(port)
  back.write(connectPacket({ clientId: id, clean: false }))
  assert.is(await back.connack(), 0)
  await waitFor(() => back.received().indexOf(Buffer.from('again')) >= 0, 5000, 'the redelivery')
  const r = back.received()
  assert.is(r[1], 2) // CONNACK remaining length
  assert.is(r[2], 1, 'session present')
  assert.is(r[4], 0x3a, 'PUBLISH with DUP and QoS 1')
  back.destroy()
  await closeClient(pub)
})

test('topics starting with $ are not matched by # or +, only by filters naming them (MQTT-4.7.2-1)', async () => {
  const s = await plainClient(url)
  const got = collect(s)
  await s.subscribeAsync(['#', '+/conf'], { qos: 0 })
  const d = await plainClient(url)
  const dollar = collect(d)
  await d.subscribeAsync('$conf/x', { qos: 0 })
  const pub = await plainClient(url)
  await pub.publishAsync('$conf/x', 'dollar', { qos: 1 })
  await waitFor(() => dollar.length >= 1, 5000, 'the $ message to its own filter')
  await sleep(200)
  assert.not.ok(got.some((m) => m.topic.startsWith('$')), `# got ${got.map((m) => m.topic).join(', ')}`)
  await Promise.all([closeClient(s), closeClient(d), closeClient(pub)])
})

test('overlapping subscriptions: one copy, at the highest granted QoS (MQTT-3.3.5-1); unsubscribe stops delivery (MQTT-3.10.4-6)', async () => {
  const base = `conf/overlap/${tag()}`
  const s = await plainClient(url)
  const got: Array<{ qos: number }> = []
  s.on('message', (_t, _p, packet) => got.push({ qos: packet.qos }))
  await s.subscribeAsync(`${base}/#`, { qos: 1 })
  await s.subscribeAsync(`${base}/+`, { qos: 0 })
  const pub = await plainClient(url)
  await pub.publishAsync(`${base}/a`, 'x', { qos: 1 })
  await waitFor(() => got.length >= 1, 5000, 'the message')
  await sleep(200)
  // the spec allows one copy per subscription too; when there is one, it is at the maximum QoS
  assert.ok(got.length >= 1 && got.length <= 2)
  assert.ok(got.some((m) => m.qos === 1), 'delivered at QoS 1')
  await s.unsubscribeAsync([`${base}/#`, `${base}/+`])
  const n = got.length
  await pub.publishAsync(`${base}/a`, 'y', { qos: 1 })
  await sleep(300)
  assert.is(got.length, n, 'nothing after unsubscribe')
  await Promise.all([closeClient(s), closeClient(pub)])
})

test('keepalive: a client silent for 1.5 x its keepalive is disconnected; one that pings is not (MQTT-3.1.2-24)', async () => {
  const silent = await rawClient(port)
  silent.write(connectPacket({ clientId: `conf-ka-${tag()}`, keepalive: 1 }))
  assert.is(await silent.connack(), 0)
  const pinging = await rawClient(port)
  pinging.write(connectPacket({ clientId: `conf-ka-${tag()}`, keepalive: 1 }))
  assert.is(await pinging.connack(), 0)
  const t0 = Date.now()
  const ping = setInterval(() => pinging.write(pingreqPacket()), 500)
  try {
    await Promise.race([silent.closed, sleep(5000).then(() => assert.unreachable('the silent client was not disconnected within 5 s'))])
    const after = Date.now() - t0
    assert.ok(after >= 1000, `closed after ${after} ms, before its keepalive`)
    assert.not.ok(pinging.socket.destroyed, 'the client that pings is still connected')
    assert.ok(pinging.received().includes(0xd0), 'PINGRESP')
  } finally {
    clearInterval(ping)
    pinging.destroy()
  }
})

test('an empty client id: with clean session 1 it is given one; with clean session 0, CONNACK 0x02 and closed (MQTT-3.1.3-6, -8)', async () => {
  const ok = await rawClient(port)
  ok.write(connectPacket({ clientId: '', clean: true }))
  assert.is(await ok.connack(), 0)
  ok.write(publishPacket('conf/anon', 'hi'))
  ok.destroy()
  const bad = await rawClient(port)
  bad.write(connectPacket({ clientId: '', clean: false }))
  assert.is(await bad.connack(), 2)
  await Promise.race([bad.closed, sleep(3000).then(() => assert.unreachable('not closed after CONNACK 0x02'))])
})

test.run()

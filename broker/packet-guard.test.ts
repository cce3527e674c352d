import { test } from 'uvu'
import * as assert from 'uvu/assert'
import mqttPacket from 'mqtt-packet'
import { PacketScanner } from './packet-guard.ts'

const caps = { maxPacketBytes: 1000, maxLargePacketBytes: 100_000, largeTopicPrefix: 'fm/v1/modules/' }
const publish = (topic: string, size: number) =>
  mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.alloc(size), qos: 0, dup: false, retain: false })

function scanAll(bytes: Buffer, chunk: number) {
  const s = new PacketScanner(caps)
  for (let i = 0; i < bytes.length; i += chunk) {
    const v = s.scan(bytes.subarray(i, i + chunk))
    if (v) return v
  }
  return undefined
}

for (const chunk of [1, 3, 7, 64, 100_000]) {
  test(`chunks of ${chunk}: small packets pass, in any split`, () => {
    const stream = Buffer.concat([
      mqttPacket.generate({ cmd: 'pingreq' }),
      publish('a/b', 10),
      publish('a/b', 990),
      publish('fm/v1/modules/x', 50_000),
      mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'x/#', qos: 1 }] }),
      publish('c', 0),
    ])
    assert.is(scanAll(stream, chunk), undefined)
  })

  test(`chunks of ${chunk}: an oversize publish is caught from its header`, () => {
    const big = publish('a/b', 5000)
    const v = scanAll(Buffer.concat([publish('ok', 5), big]), chunk)
    assert.ok(v)
    assert.is(v!.capBytes, 1000)
    // refused at the first byte that rules out the module prefix: the topic as far as read
    assert.ok(v!.topic !== undefined && 'a/b'.startsWith(v!.topic), v!.topic)
  })

  test(`chunks of ${chunk}: a look-alike topic does not get the module cap`, () => {
    const v = scanAll(publish('fm/v1/modulesX', 5000), chunk)
    assert.ok(v)
    assert.ok(v!.topic !== undefined && 'fm/v1/modulesX'.startsWith(v!.topic) && v!.topic.length >= 14, v!.topic)
  })
}

test('the declared length is enough: no body bytes needed to refuse', () => {
  const s = new PacketScanner(caps)
  // PUBLISH header declaring 200,000 bytes, nothing else sent
  const v = s.scan(Buffer.from([0x30, 0xc0, 0x9a, 0x0c]))
  assert.ok(v)
  assert.is(v!.declaredBytes, 200_000)
  assert.is(v!.capBytes, 100_000)
})

test('a remaining length over four bytes is malformed', () => {
  const s = new PacketScanner(caps)
  const v = s.scan(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))
  assert.ok(v)
  assert.is(v!.declaredBytes, -1)
})

test('an oversize non-publish packet is refused', () => {
  const sub = mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: Array.from({ length: 200 }, (_, i) => ({ topic: `t/${i}/xxxxxx`, qos: 0 as const })) })
  const v = new PacketScanner(caps).scan(sub)
  assert.ok(v)
  assert.is(v!.packetType, 8)
})

test.run()

/**
 * Random and mutated MQTT 3.1.1 packets for fuzzing a broker (seeded: a
 * failure reproduces from its seed), and one fuzzing connection: a CONNECT
 * (valid, or not), then packets written in random splits, then a close — or
 * an idle socket left for the broker's timeouts to deal with.
 */
import type { SeededRandom } from './rng.ts'
import { connectPacket, packet, publishPacket, rawClient, subscribePacket, varint } from './mqtt-wire.ts'

const TOPICS = ['a', 'a/b', 'fm/v1/jobs/submit', 'fm/v1/modules/' + 'ab'.repeat(32), '$SYS/x', '#', '+/+', 'a/#/b', '', '\u0000', 'x'.repeat(300), 'a/'.repeat(120)]

/** A well-formed packet of a random kind. */
export function validPacket(rng: SeededRandom): Buffer {
  const topic = rng.pick(TOPICS)
  switch (rng.int(0, 9)) {
    case 0: return publishPacket(topic, Buffer.alloc(rng.int(0, 2000), rng.int(0, 255)), { qos: rng.pick([0, 1] as const), retain: rng.chance(0.2), id: rng.int(0, 65535) })
    case 1: return subscribePacket(rng.int(0, 65535), Array.from({ length: rng.int(0, 5) }, () => ({ topic: rng.pick(TOPICS), qos: rng.pick([0, 1] as const) })))
    case 2: return packet(0xa2, Buffer.concat([Buffer.from([0, rng.int(1, 255)]), Buffer.from([0, topic.length]), Buffer.from(topic)])) // UNSUBSCRIBE
    case 3: return Buffer.from([0xc0, 0]) // PINGREQ
    case 4: return Buffer.from([0x40, 2, rng.int(0, 255), rng.int(0, 255)]) // PUBACK
    case 5: return Buffer.from([0x62, 2, rng.int(0, 255), rng.int(0, 255)]) // PUBREL
    case 6: return Buffer.from([0x50, 2, 0, 1]) // PUBREC
    case 7: return connectPacket({ clientId: `again-${rng.int(0, 9)}` }) // a second CONNECT
    case 8: return publishPacket(topic, Buffer.alloc(0), { qos: 2 as 1, id: rng.int(0, 65535) }) // QoS 2 (qos bits 2)
    default: return Buffer.from([0xe0, 0]) // DISCONNECT
  }
}

/** A packet broken in one of the ways parsers trip on. */
export function mutate(rng: SeededRandom, p: Buffer): Buffer {
  const b = Buffer.from(p)
  switch (rng.int(0, 7)) {
    case 0: // flip bytes
      for (let i = rng.int(1, 4); i > 0 && b.length > 0; i--) b[rng.int(0, b.length - 1)] = rng.int(0, 255)
      return b
    case 1: return b.subarray(0, rng.int(0, Math.max(0, b.length - 1))) // truncated
    case 2: return Buffer.concat([b, Buffer.alloc(rng.int(1, 64), rng.int(0, 255))]) // trailing garbage
    case 3: return Buffer.concat([Buffer.from([b[0] ?? 0x30]), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]), b.subarray(2)]) // 5-byte length
    case 4: return Buffer.concat([Buffer.from([b[0] ?? 0x30]), varint(rng.int(0, 300 * 1024 * 1024)), b.subarray(2)]) // a lie about the length
    case 5: b[0] = (rng.int(0, 15) << 4) | rng.int(0, 15) // another type or flags
      return b
    case 6: return Buffer.from(Array.from({ length: rng.int(1, 200) }, () => rng.int(0, 255))) // noise
    default: return Buffer.concat([Buffer.from([0x30]), varint(65535), Buffer.from([0xff, 0xff])]) // topic longer than the packet
  }
}

/** One fuzzing connection to `port`; resolves when it is done (closed by either side, or after `idleMs`). */
export async function fuzzConnection(rng: SeededRandom, port: number, idleMs: number): Promise<void> {
  const c = await rawClient(port).catch(() => undefined)
  if (!c) return
  const id = `fz-${rng.int(0, 999)}`
  const connect = rng.chance(0.8) ? connectPacket({ clientId: rng.chance(0.1) ? '' : id, clean: rng.chance(0.7), keepalive: rng.int(0, 5) }) : mutate(rng, connectPacket({ clientId: id }))
  const parts: Buffer[] = [connect]
  for (let i = rng.int(0, 30); i > 0; i--) parts.push(rng.chance(0.5) ? validPacket(rng) : mutate(rng, validPacket(rng)))
  const bytes = Buffer.concat(parts)
  for (let at = 0; at < bytes.length && !c.socket.destroyed; ) {
    const n = rng.int(1, 512)
    c.write(bytes.subarray(at, at + n))
    at += n
    if (rng.chance(0.2)) await new Promise((r) => setImmediate(r))
  }
  if (rng.chance(0.7)) c.destroy()
  await Promise.race([c.closed, new Promise((r) => setTimeout(r, idleMs))])
  c.destroy()
}

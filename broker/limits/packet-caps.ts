/**
 * Packet caps enforced on the fixed header as aedes' own parser reads it: no
 * stream in between, no second framing in JS. The parser's `_parseLength`
 * step (mqtt-packet) is wrapped per connection: once a packet's remaining
 * length is known, and before its body is waited for, it is checked against
 *
 * - `preConnectMaxBytes` for the CONNECT and anything before it,
 * - `maxPacketBytes` after,
 * - `maxModuleBytes` for a PUBLISH whose topic starts with `fm/v1/modules/`
 *   (the topic follows the header; when it has not arrived yet the packet is
 *   checked again as soon as it has, still long before its body is in).
 *
 * A packet over its cap ends the connection at once: the broker never holds
 * more than what one read brought of it.
 */
import type { Client } from 'aedes'
import { internals, type PacketParser } from './aedes-internals.ts'

export interface PacketCaps {
  preConnectMaxBytes: number
  maxPacketBytes: number
  maxModuleBytes: number
  /** `fm/v1/modules/` */
  largeTopicPrefix: string
}

export interface PacketViolation {
  /** The MQTT packet type (3 = PUBLISH). */
  packetType: number
  declaredBytes: number
  capBytes: number
  /** For a large PUBLISH: its topic as far as it was read. */
  topic?: string
  /** The cap that applied. */
  cap: 'preConnectMaxBytes' | 'maxPacketBytes' | 'maxModuleBytes'
}

const TYPES: Record<string, number> = {
  connect: 1, connack: 2, publish: 3, puback: 4, pubrec: 5, pubrel: 6, pubcomp: 7, subscribe: 8, suback: 9,
  unsubscribe: 10, unsuback: 11, pingreq: 12, pingresp: 13, disconnect: 14, auth: 15,
}

type TopicVerdict = 'large' | 'not' | 'unknown'

/** Reads the topic at the start of `list` (2-byte length, then UTF-8) far enough to tell whether it starts with `prefix`. */
function topicVerdict(list: PacketParser['_list'], prefix: Buffer): { verdict: TopicVerdict; topic: string } {
  const have = list.length
  if (have < 2) return { verdict: 'unknown', topic: '' }
  const len = ((list.get(0) ?? 0) << 8) | (list.get(1) ?? 0)
  const n = Math.min(have - 2, len, prefix.length)
  const bytes: number[] = []
  for (let i = 0; i < n; i++) {
    const b = list.get(2 + i) ?? 0
    bytes.push(b)
    if (b !== prefix[i]) return { verdict: 'not', topic: Buffer.from(bytes).toString('utf8') }
  }
  const topic = Buffer.from(bytes).toString('utf8')
  if (n === prefix.length) return { verdict: 'large', topic }
  if (n === len) return { verdict: 'not', topic } // the whole topic, shorter than the prefix
  return { verdict: 'unknown', topic }
}

/**
 * Puts the caps on one aedes client's parser. `onViolation` is called once, and the
 * connection is destroyed, when a packet declares more than its cap.
 */
export function capPackets(
  client: Client,
  caps: PacketCaps,
  onViolation: (v: PacketViolation) => void,
  /** A check on a whole header of a connected client (e.g. a retained PUBLISH from a client whose quota is full): true refuses it. */
  refuseHeader: (packet: PacketParser['packet']) => boolean = () => false,
): void {
  const c = internals(client)
  const parser = c._parser
  const prefix = Buffer.from(caps.largeTopicPrefix)
  const parseLength = parser._parseLength
  const parse = parser.parse
  /** A large PUBLISH whose topic has not arrived yet (the parser makes a new packet object for each packet). */
  let pendingLarge: object | undefined

  const refuse = (v: PacketViolation) => {
    pendingLarge = undefined
    parser.parse = () => 0 // nothing more from this connection is parsed
    onViolation(v)
    c.conn.destroy()
    return false
  }

  const checkTopic = (declared: number): boolean => {
    const { verdict, topic } = topicVerdict(parser._list, prefix)
    if (verdict === 'large') {
      pendingLarge = undefined
      return true
    }
    if (verdict === 'unknown') {
      pendingLarge = parser.packet
      return true
    }
    return refuse({ packetType: 3, declaredBytes: declared, capBytes: caps.maxPacketBytes, topic, cap: 'maxPacketBytes' })
  }

  parser._parseLength = function cappedParseLength(this: PacketParser): boolean {
    if (!parseLength.call(this)) return false
    const declared = this.packet.length
    // before a CONNECT is in, and the CONNECT itself: the small cap. Packets pipelined behind a
    // CONNECT being handled (mqtt.js resends its queue at once on a reconnect) get the caps of a
    // connected client; aedes queues at most `queueLimit` of them until the CONNACK.
    if (!c.connected && !(c.connecting && this.packet.cmd !== 'connect')) {
      if (declared <= caps.preConnectMaxBytes) return true
      return refuse({ packetType: TYPES[this.packet.cmd] ?? 0, declaredBytes: declared, capBytes: caps.preConnectMaxBytes, cap: 'preConnectMaxBytes' })
    }
    if (refuseHeader(this.packet)) {
      pendingLarge = undefined
      parser.parse = () => 0
      c.conn.destroy()
      return false
    }
    if (declared <= caps.maxPacketBytes) return true
    if (this.packet.cmd !== 'publish' || declared > caps.maxModuleBytes) {
      const isPublish = this.packet.cmd === 'publish'
      return refuse({
        packetType: TYPES[this.packet.cmd] ?? 0, declaredBytes: declared,
        capBytes: isPublish ? caps.maxModuleBytes : caps.maxPacketBytes, cap: isPublish ? 'maxModuleBytes' : 'maxPacketBytes',
      })
    }
    return checkTopic(declared)
  }

  parser.parse = function cappedParse(this: PacketParser, buf: Buffer): number {
    const left = parse.call(this, buf)
    // a large PUBLISH waiting for its body: decide as soon as its topic is in
    if (pendingLarge !== undefined) {
      if (pendingLarge === this.packet) checkTopic(this.packet.length)
      else pendingLarge = undefined // it completed within this read
    }
    return left
  }
}

/**
 * Enforces MQTT packet size caps *before* the bytes pile up.
 *
 * Sits between a connection (TCP socket or WebSocket stream) and aedes. It
 * reads each packet's fixed header as the bytes stream past — the remaining
 * length is declared up front — and, for PUBLISH packets larger than the
 * general cap, the topic that follows it. A packet over its cap ends the
 * connection at once, so the broker never buffers more than one chunk of it.
 * `fm/v1/modules/#` gets its own, larger cap.
 */
import { Duplex } from 'node:stream'

export interface PacketCaps {
  /** Cap for any packet, in bytes of remaining length. */
  maxPacketBytes: number
  /** Cap for PUBLISH packets on topics that start with `largeTopicPrefix`. */
  maxLargePacketBytes: number
  largeTopicPrefix: string
}

export interface PacketViolation {
  packetType: number
  declaredBytes: number
  capBytes: number
  /** For a PUBLISH: its topic as far as it was read when the packet was refused. */
  topic?: string
}

const PUBLISH = 3

const enum State {
  Header,
  Topic,
  Body,
}

/** The byte-level scanner, separate from the stream so that it can be tested alone. */
export class PacketScanner {
  private state = State.Header
  private header: number[] = []
  private remaining = 0
  private packetType = 0
  private declared = 0
  private topicBytes: number[] = []
  private readonly prefix: Buffer

  constructor(private readonly caps: PacketCaps) {
    this.prefix = Buffer.from(caps.largeTopicPrefix)
  }

  /** Scans a chunk; returns the first violation found, or undefined. */
  scan(chunk: Uint8Array): PacketViolation | undefined {
    let i = 0
    while (i < chunk.length) {
      if (this.state === State.Body) {
        const take = Math.min(this.remaining, chunk.length - i)
        this.remaining -= take
        i += take
        if (this.remaining === 0) this.state = State.Header
        continue
      }
      if (this.state === State.Header) {
        this.header.push(chunk[i++] as number)
        const v = this.headerDone()
        if (v === 'more') continue
        if (v === 'bad') return { packetType: this.packetType, declaredBytes: -1, capBytes: this.caps.maxPacketBytes }
        this.begin()
        const violation = this.checkWithoutTopic()
        if (violation) return violation
        continue
      }
      // State.Topic: collect the 2-byte topic length and the topic of a large PUBLISH
      this.topicBytes.push(chunk[i++] as number)
      this.remaining--
      const violation = this.checkTopic()
      if (violation) return violation
    }
    return undefined
  }

  private headerDone(): 'more' | 'bad' | 'done' {
    const h = this.header
    if (h.length < 2) return 'more'
    const last = h[h.length - 1] as number
    if (last & 0x80) return h.length >= 5 ? 'bad' : 'more'
    return 'done'
  }

  private begin(): void {
    const h = this.header
    this.packetType = (h[0] as number) >> 4
    let len = 0
    let mult = 1
    for (let k = 1; k < h.length; k++) {
      len += ((h[k] as number) & 0x7f) * mult
      mult *= 128
    }
    this.declared = len
    this.remaining = len
    this.header = []
    this.state = len === 0 ? State.Header : State.Body
  }

  private checkWithoutTopic(): PacketViolation | undefined {
    const { maxPacketBytes, maxLargePacketBytes } = this.caps
    if (this.declared <= maxPacketBytes) return undefined
    if (this.packetType !== PUBLISH || this.declared > maxLargePacketBytes) {
      return { packetType: this.packetType, declaredBytes: this.declared, capBytes: this.packetType === PUBLISH ? maxLargePacketBytes : maxPacketBytes }
    }
    this.topicBytes = []
    this.state = State.Topic
    return undefined
  }

  private checkTopic(): PacketViolation | undefined {
    const t = this.topicBytes
    if (t.length < 2) return undefined
    const topicLen = ((t[0] as number) << 8) | (t[1] as number)
    const have = t.length - 2
    // decide as soon as the prefix is seen or ruled out, or the topic is complete
    const n = Math.min(have, this.prefix.length)
    for (let k = 0; k < n; k++) {
      if (t[2 + k] !== this.prefix[k]) return this.violation(t)
    }
    if (have >= this.prefix.length) {
      this.state = this.remaining === 0 ? State.Header : State.Body
      return undefined
    }
    if (have >= topicLen) return this.violation(t)
    return undefined
  }

  private violation(t: number[]): PacketViolation {
    return {
      packetType: PUBLISH,
      declaredBytes: this.declared,
      capBytes: this.caps.maxPacketBytes,
      topic: Buffer.from(t.slice(2)).toString('utf8'),
    }
  }
}

/**
 * Wraps a connection so that what reaches aedes has passed the scanner.
 * Writes go straight through.
 */
export class GuardedConnection extends Duplex {
  private readonly scanner: PacketScanner

  constructor(
    private readonly inner: Duplex,
    caps: PacketCaps,
    private readonly onViolation: (v: PacketViolation) => void,
  ) {
    super({ allowHalfOpen: false })
    this.scanner = new PacketScanner(caps)
    inner.on('data', (chunk: Buffer) => {
      const v = this.scanner.scan(chunk)
      if (v) {
        this.onViolation(v)
        inner.destroy()
        this.destroy()
        return
      }
      if (!this.push(chunk)) inner.pause()
    })
    inner.once('end', () => this.push(null))
    inner.once('error', (err) => this.destroy(err))
    inner.once('close', () => this.destroy())
  }

  override _read(): void {
    this.inner.resume()
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.inner.destroyed) return cb()
    this.inner.write(chunk, cb)
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end()
    cb()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner.destroy()
    cb(err)
  }
}

/**
 * The agent's on-disk outbox: mqtt.js's outgoing store (every QoS 1 PUBLISH
 * from `publish` until its PUBACK) kept in a file as well as in memory. A
 * result finished while the broker is unreachable waits here — through an
 * agent restart too — and mqtt.js sends what the store holds when the link
 * returns (its connect handler replays the store, registering the message ids).
 *
 * Storage: the voucher journal's JournalFile (CRC-32 frames, fdatasync per
 * append, atomic rewrite); compacted to the live records once the file is
 * twice their size. Bound: `maxBytes` of payload waiting (a named limit): a
 * publish beyond it is refused with a `limit_exceeded` error and `onFull` is told.
 */
import { Store } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { JournalFile } from './settlement/journal-file.ts'
import { ErrorCode, FogmeshError } from '../protocol/errors.ts'

export interface OutboxOptions {
  /** Payload bytes waiting at most (default 64 MiB). */
  maxBytes?: number
  /** Told when a publish is refused because the outbox is full. */
  onFull?: (info: { bytes: number; maxBytes: number; topic: string }) => void
  /** Rewrite once the file is twice its live bytes and at least this large (default 1 MiB). */
  compactMinBytes?: number
}

type Rec = { k: 'p'; m: number; t: string; p: string; q: number; r: boolean } | { k: 'd'; m: number }

interface Pub {
  cmd: 'publish'
  messageId: number
  topic: string
  payload: Buffer
  qos: 0 | 1 | 2
  retain: boolean
  dup: boolean
}

export const DEFAULT_OUTBOX_BYTES = 64 * 1024 * 1024

export class Outbox extends Store {
  private readonly file: JournalFile
  private readonly live = new Map<number, Rec & { k: 'p' }>()
  private bytes = 0
  private readonly maxBytes: number
  /** Publishes found on disk at open (waiting from before a restart). */
  readonly restored: number

  constructor(readonly path: string, private readonly o: OutboxOptions = {}) {
    super()
    this.maxBytes = o.maxBytes ?? DEFAULT_OUTBOX_BYTES
    const { file, replayed } = JournalFile.open(path)
    this.file = file
    for (const r of replayed.records as Rec[]) {
      if (r.k === 'p') this.track(r)
      else this.untrack(r.m)
    }
    for (const r of this.live.values()) super.put(toPacket(r) as unknown as Packet, () => {})
    this.restored = this.live.size
  }

  override put(packet: Packet, cb: (error?: Error) => void): this {
    if (packet.cmd !== 'publish' || !packet.messageId) return super.put(packet, cb)
    const payload = Buffer.from(packet.payload as Buffer | string)
    const old = this.live.get(packet.messageId)
    const after = this.bytes - (old ? Buffer.byteLength(old.p, 'base64') : 0) + payload.length
    if (after > this.maxBytes) {
      this.o.onFull?.({ bytes: after, maxBytes: this.maxBytes, topic: packet.topic })
      cb(new FogmeshError(ErrorCode.limitExceeded, `outbox full: ${after} bytes waiting; the cap is ${this.maxBytes} (maxOutboxBytes)`))
      return this
    }
    const rec: Rec & { k: 'p' } = { k: 'p', m: packet.messageId, t: packet.topic, p: payload.toString('base64'), q: packet.qos, r: packet.retain }
    try {
      this.file.append(rec)
    } catch (err) {
      cb(err as Error)
      return this
    }
    this.track(rec)
    return super.put(packet, cb)
  }

  override del(packet: Pick<Packet, 'messageId'>, cb: (error?: Error, packet?: Packet) => void): this {
    const m = packet.messageId
    if (m !== undefined && this.live.has(m)) {
      try {
        this.file.append({ k: 'd', m } satisfies Rec)
      } catch {
        // the delivery happened; at worst the message is sent again after a restart (QoS 1: at least once)
      }
      this.untrack(m)
      this.maybeCompact()
    }
    return super.del(packet, cb)
  }

  override close(cb: (error?: Error) => void): void {
    // mqtt.js closes its stores on `end()`; the file stays for the next start
    try {
      this.file.close()
    } catch {
      // already closed
    }
    super.close(cb)
  }

  /** Publishes waiting and their payload bytes. */
  stats(): { waiting: number; bytes: number; fileBytes: number } {
    return { waiting: this.live.size, bytes: this.bytes, fileBytes: this.file.bytes }
  }

  private track(r: Rec & { k: 'p' }): void {
    this.untrack(r.m)
    this.live.set(r.m, r)
    this.bytes += Buffer.byteLength(r.p, 'base64')
  }

  private untrack(m: number): void {
    const old = this.live.get(m)
    if (!old) return
    this.live.delete(m)
    this.bytes -= Buffer.byteLength(old.p, 'base64')
  }

  private maybeCompact(): void {
    const min = this.o.compactMinBytes ?? 1024 * 1024
    if (this.file.bytes < min || this.file.bytes < 2 * (this.bytes * 1.4 + this.live.size * 64)) return
    this.file.rewrite([...this.live.values()])
  }
}

function toPacket(r: Rec & { k: 'p' }): Pub {
  return { cmd: 'publish', messageId: r.m, topic: r.t, payload: Buffer.from(r.p, 'base64'), qos: r.q as 0 | 1 | 2, retain: r.r, dup: true }
}

/**
 * The agent's on-disk outbox: mqtt.js's outgoing store (every QoS 1 PUBLISH
 * from `publish` until its PUBACK) kept in a file as well as in memory. A
 * result finished while the broker is unreachable waits here — through an
 * agent restart too — and mqtt.js sends what the store holds when the link
 * returns (its connect handler replays the store, registering the message ids).
 *
 * Storage: the voucher journal's JournalFile (CRC-32 frames, atomic rewrite);
 * compacted to the live records once the file is twice their size. Bound:
 * `maxBytes` of payload waiting (a named limit): a publish beyond it is refused
 * with a `limit_exceeded` error and `onFull` is told.
 *
 * Group commit: the records of one event-loop turn go to the file with one
 * synced write (O_DSYNC; or a write and an fdatasync), off the main thread (JournalFile.appendBatch);
 * records that arrive while a group is on its way form the next group.
 *
 * Sending and the sync overlap: a publish's `put` callback — which mqtt.js waits for before it
 * writes the PUBLISH to the socket (client.js _storeAndSend) — is called at once, so a result
 * goes to the broker while its record is on its way to the disk (one job in flight: the ~1 ms
 * O_DSYNC write is no longer on its round trip). That loses nothing the held form would keep:
 * the window in which a crash loses a result is the same (from the result to its record being
 * durable) — held, the result is then neither on disk nor on the wire; sent at once, it is at
 * least on its way to the broker, whose PUBACK is what ends the message's life here. A PUBACK
 * that comes before the record is durable deletes it as usual (the delete follows the publish
 * in the file). `holdUntilDurable: true` restores the held form (nothing on the wire before it is
 * on disk). Either way a reconnect's replay of the store (createStream) is handed over only
 * once the groups pending when it began are on disk, and a publish made while offline (mqtt.js
 * only stores it) goes out with that replay. A delete (PUBACK)
 * needs no sync of its own: it rides along with the next group, or is written
 * on its own after `deleteDelayMs` (no fdatasync waited for); one lost in a crash only means the
 * message is sent again after the restart (QoS 1: at least once; the requester
 * answers duplicates 0 times).
 */
import { Readable } from 'node:stream'
import { Store } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { frame, JournalFile } from './settlement/journal-file.ts'
import { ErrorCode, FogmeshError } from '../protocol/errors.ts'

export interface OutboxOptions {
  /** Payload bytes waiting at most (default 64 MiB). */
  maxBytes?: number
  /** Told when a publish is refused because the outbox is full. */
  onFull?: (info: { bytes: number; maxBytes: number; topic: string }) => void
  /** Rewrite once the file is twice its live bytes and at least this large (default 1 MiB). */
  compactMinBytes?: number
  /** Deletes with no publish to ride along with are written after this long (default 50 ms). */
  deleteDelayMs?: number
  /** Open the file O_DSYNC: a group is one synced write, not a write and an fdatasync (default true). */
  dsync?: boolean
  /** Hold each publish's `put` callback (mqtt.js's go to write it) until its record is on disk (default false: at once, the sync overlapping the send). */
  holdUntilDurable?: boolean
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

/** A publish whose record is written but not yet known to be on disk. */
interface Waiter {
  seq: number
  /** createStream calls before this put: a later one replays it, and the replay sends it. */
  replays: number
  rec: Rec & { k: 'p' }
  packet: Packet
  /** Held until the record is durable; undefined: called at `put` already. */
  cb: ((error?: Error) => void) | undefined
}

export const DEFAULT_OUTBOX_BYTES = 64 * 1024 * 1024
export const DEFAULT_DELETE_DELAY_MS = 50

export class Outbox extends Store {
  private readonly file: JournalFile
  private readonly live = new Map<number, Rec & { k: 'p' }>()
  private bytes = 0
  private readonly maxBytes: number
  /** Publishes found on disk at open (waiting from before a restart). */
  readonly restored: number
  /** Frames not yet handed to the file, in order, and the publishes among them. */
  private frames: Buffer[] = []
  private waiting: Waiter[] = []
  private seq = 0
  private replays = 0
  private durableSeq = 0
  private readonly whenDurable: Array<{ seq: number; fn: () => void }> = []
  private immediate: NodeJS.Immediate | undefined
  private timer: NodeJS.Timeout | undefined
  private closing: (() => void) | undefined
  private closed = false
  private groups = 0
  private syncs = 0
  /** Records of publishes sent at once whose write failed: they live in memory only (until their PUBACK). */
  private unsynced = 0

  constructor(
    readonly path: string,
    private readonly o: OutboxOptions = {},
  ) {
    super()
    this.maxBytes = o.maxBytes ?? DEFAULT_OUTBOX_BYTES
    const { file, replayed } = JournalFile.open(path, { dsync: o.dsync ?? true })
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
    if (this.closed || this.closing) {
      cb(new FogmeshError(ErrorCode.internal, `outbox ${this.path} is closed`))
      return this
    }
    const payload = Buffer.from(packet.payload as Buffer | string)
    const old = this.live.get(packet.messageId)
    const after = this.bytes - (old ? Buffer.byteLength(old.p, 'base64') : 0) + payload.length
    if (after > this.maxBytes) {
      this.o.onFull?.({ bytes: after, maxBytes: this.maxBytes, topic: packet.topic })
      cb(new FogmeshError(ErrorCode.limitExceeded, `outbox full: ${after} bytes waiting; the cap is ${this.maxBytes} (maxOutboxBytes)`))
      return this
    }
    const rec: Rec & { k: 'p' } = { k: 'p', m: packet.messageId, t: packet.topic, p: payload.toString('base64'), q: packet.qos, r: packet.retain }
    let f: Buffer
    try {
      f = frame(rec)
    } catch (err) {
      cb(err as Error)
      return this
    }
    this.track(rec)
    super.put(packet, () => {}) // in the replayable store now; createStream hands it over only once it is on disk
    this.frames.push(f)
    const hold = this.o.holdUntilDurable ?? false
    this.waiting.push({ seq: ++this.seq, replays: this.replays, rec, packet, cb: hold ? cb : undefined })
    this.schedule()
    if (!hold) cb()
    return this
  }

  override del(packet: Pick<Packet, 'messageId'>, cb: (error?: Error, packet?: Packet) => void): this {
    const m = packet.messageId
    if (m !== undefined && this.live.has(m) && !this.closed) {
      this.frames.push(frame({ k: 'd', m } satisfies Rec))
      this.untrack(m)
      this.schedule()
    }
    return super.del(packet, cb)
  }

  /**
   * What a reconnect replays: the store as it is now (as mqtt.js's own store
   * does), handed over once the publishes put so far are on disk — none of them
   * goes out before.
   */
  override createStream(): ReturnType<Store['createStream']> {
    const inner = super.createStream()
    this.replays++
    const target = this.seq
    if (this.durableSeq >= target) return inner
    const out = new Readable({ objectMode: true, read() {} })
    out.once('close', () => inner.destroy())
    this.whenDurable.push({
      seq: target,
      fn: () => {
        if (out.destroyed) return
        inner.on('data', (p: unknown) => out.push(p))
        inner.on('end', () => out.push(null))
      },
    })
    return out as unknown as ReturnType<Store['createStream']>
  }

  override close(cb: (error?: Error) => void): void {
    // mqtt.js closes its stores on `end()`; what is pending is written first, the file stays for the next start
    if (this.closed || this.closing) return void cb()
    this.closing = () => {
      this.closing = undefined
      this.closed = true
      this.clearSchedule()
      if (this.frames.length > 0) {
        const frames = this.frames
        const waiting = this.waiting
        this.frames = []
        this.waiting = []
        let err: Error | undefined
        try {
          this.file.appendFrame(Buffer.concat(frames))
        } catch (e) {
          err = e as Error
        }
        this.settle(waiting, err)
      }
      try {
        this.file.close()
      } catch {
        // already closed
      }
      super.close(cb)
    }
    if (!this.file.busy) this.closing()
  }

  /** Publishes waiting and their payload bytes; groups written and fdatasyncs done since open; publishes sent whose record failed to write. */
  stats(): { waiting: number; bytes: number; fileBytes: number; groups: number; syncs: number; unsynced: number } {
    return { waiting: this.live.size, bytes: this.bytes, fileBytes: this.file.bytes, groups: this.groups, syncs: this.syncs, unsynced: this.unsynced }
  }

  private schedule(): void {
    if (this.file.busy || this.immediate) return // the group on its way starts the next one when it lands
    if (this.waiting.length > 0) {
      if (this.timer) clearTimeout(this.timer)
      this.timer = undefined
      this.immediate = setImmediate(() => this.flush())
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.o.deleteDelayMs ?? DEFAULT_DELETE_DELAY_MS)
      this.timer.unref()
    }
  }

  private clearSchedule(): void {
    if (this.immediate) clearImmediate(this.immediate)
    if (this.timer) clearTimeout(this.timer)
    this.immediate = undefined
    this.timer = undefined
  }

  /** Hands the pending frames to the file as one group: synced when a publish is among them. */
  private flush(): void {
    this.clearSchedule()
    if (this.frames.length === 0 || this.file.busy || this.closed) return
    const frames = this.frames
    const waiting = this.waiting
    this.frames = []
    this.waiting = []
    this.groups++
    if (waiting.length > 0) this.syncs++
    this.file.appendBatch(frames, waiting.length > 0, (err) => {
      // a failed group of deletes only: at worst those messages are sent again after a restart
      this.settle(waiting, err)
      if (this.closing) return this.closing()
      if (this.maybeCompact()) return
      if (this.frames.length > 0) {
        if (this.waiting.length > 0) this.flush()
        else this.schedule()
      }
    })
  }

  /** A group landed (or failed): its publishes enter the replayable store and mqtt.js may send them. */
  private settle(waiting: Waiter[], err: Error | undefined): void {
    for (const w of waiting) {
      const current = this.live.get(w.rec.m) === w.rec
      if (!w.cb) {
        // sent at once: already on the wire; a failed write leaves it in memory (as mqtt.js's own store) until its PUBACK
        if (err && current) this.unsynced++
        continue
      }
      if (err) {
        if (current) {
          this.untrack(w.rec.m)
          super.del(w.packet, () => {})
        }
        w.cb(err)
      } else if (!current) {
        // removed (or replaced under the same id) while its record was on its way
        w.cb(new FogmeshError(ErrorCode.internal, `outbox: message ${w.rec.m} was removed before it was stored`))
      } else if (w.replays === this.replays) w.cb()
      // else: a reconnect's replay (createStream) began since, with this packet in it: the replay sends it, on
      // the new connection; calling back now would write it a second time (or into the old, dead stream).
      // mqtt.js waits for nothing else from this callback: the publish's own callback comes with its PUBACK
    }
    const last = waiting[waiting.length - 1]
    if (last) this.durableSeq = last.seq
    for (let i = 0; i < this.whenDurable.length; ) {
      const d = this.whenDurable[i] as { seq: number; fn: () => void }
      if (d.seq <= this.durableSeq) {
        this.whenDurable.splice(i, 1)
        d.fn()
      } else i++
    }
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

  /**
   * Rewrites the file to the live records once it is twice their size; the
   * snapshot holds the publishes still pending too, so they are settled with it.
   */
  private maybeCompact(): boolean {
    const min = this.o.compactMinBytes ?? 1024 * 1024
    if (this.file.busy || this.file.bytes < min || this.file.bytes < 2 * (this.bytes * 1.4 + this.live.size * 64)) return false
    const waiting = this.waiting
    let err: Error | undefined
    try {
      this.file.rewrite([...this.live.values()])
    } catch (e) {
      err = e as Error
    }
    if (err) return false // the old file stays; the pending frames go out with the next group
    this.frames = []
    this.waiting = []
    this.settle(waiting, undefined)
    return true
  }
}

function toPacket(r: Rec & { k: 'p' }): Pub {
  return { cmd: 'publish', messageId: r.m, topic: r.t, payload: Buffer.from(r.p, 'base64'), qos: r.q as 0 | 1 | 2, retain: r.r, dup: true }
}

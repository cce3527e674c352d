/**
 * The cluster's message bus on a Redis Stream, in place of mqemitter-redis's
 * pub/sub: every broker appends what its clients publish (XADD, capped by
 * MAXLEN) and reads the stream from its own cursor (XREAD BLOCK from the last
 * id it delivered). Pub/sub is fire-and-forget: a message published while a
 * broker's subscriber connection is down (a Redis restart, a broken link) is
 * gone for that broker. A stream is read from where this broker stopped, so
 * the same outage costs a delay, not the message. The append resolves once
 * Redis has the entry, so aedes's PUBACK still waits for Redis.
 *
 * Bound: the stream keeps about `maxLen` entries (`--cluster-stream-len`); a
 * broker whose cursor fell behind the oldest kept entry has missed messages,
 * and `gap` says so (with the count of entries it may have missed unknown,
 * the ids on both sides).
 *
 * Local matching (MQTT wildcards, listener concurrency) is mqemitter's, in memory.
 */
import { EventEmitter } from 'node:events'
import mqemitter from 'mqemitter'
import { Redis } from 'ioredis'
import { mergeOptions } from '../protocol/options.ts'

export interface StreamEmitterOptions {
  /** The Redis stream's key (one per cluster). */
  stream?: string | undefined
  /** About how many entries the stream keeps (XADD MAXLEN ~): the replay window after a broker's outage. */
  maxLen?: number | undefined
  /** How many entries one XREAD takes. */
  batch?: number | undefined
  /** How long one XREAD blocks waiting for entries (ms). */
  blockMs?: number | undefined
}

export const STREAM_EMITTER_DEFAULTS = { stream: 'fm:cluster:bus', maxLen: 50_000, batch: 256, blockMs: 2000 }
const RANGES = { maxLen: { min: 100, max: 10_000_000, integer: true }, batch: { min: 1, max: 10_000, integer: true }, blockMs: { min: 10, max: 60_000, integer: true } }

/**
 * Where a cluster broker sends the PUBLISH aedes is about to route once it has routed it itself
 * (broker-state.ts: before the PUBACK): dropped here, never appended, never delivered.
 */
export const ROUTED_SINK = '$SYS/fogmesh/routed'

type Message = mqemitter.Message
type Listener = (message: Message, done: () => void) => void

export interface StreamEmitterEvents {
  /** The stream was trimmed past this broker's cursor: entries after `after` up to `firstKept` were not read here. */
  gap: [{ after: string; firstKept: string }]
  /** A Redis error (a reconnect follows; commands are held meanwhile). */
  error: [Error]
}

/** `-1` / `0` / `1` as Redis stream ids `a` and `b` compare. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint]
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint]
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1
}

export class StreamEmitter {
  /** `gap` when the cap bites, `error` for Redis errors (reconnects follow). */
  readonly events = new EventEmitter<StreamEmitterEvents>()
  private readonly local = mqemitter({ concurrency: 1000 })
  private readonly writer: Redis
  private readonly reader: Redis
  private readonly o: { stream: string; maxLen: number; batch: number; blockMs: number }
  private cursor = '0-0'
  private closed = false
  private reading: Promise<void> = Promise.resolve()
  private readonly counts = { appended: 0, delivered: 0, gaps: 0 }

  private constructor(url: string, options: StreamEmitterOptions) {
    this.o = mergeOptions(options, STREAM_EMITTER_DEFAULTS, RANGES, 'cluster bus')
    // an outage is a retry: commands are held (and resent) until Redis is back
    this.writer = new Redis(url, { maxRetriesPerRequest: null, enableAutoPipelining: true })
    this.reader = new Redis(url, { maxRetriesPerRequest: null })
    for (const c of [this.writer, this.reader]) c.on('error', (err: Error) => this.events.listenerCount('error') > 0 && this.events.emit('error', err))
  }

  /** Opens the bus; reading starts after the stream's current last entry (what came before is not ours). */
  static async open(url: string, options: StreamEmitterOptions = {}): Promise<StreamEmitter> {
    const e = new StreamEmitter(url, options)
    const last = (await e.writer.xrevrange(e.o.stream, '+', '-', 'COUNT', 1)) as [string, string[]][]
    e.cursor = last[0]?.[0] ?? '0-0'
    e.reading = e.readLoop()
    return e
  }

  /** The connection that appends (its `status` is `ready` while Redis is up). */
  get connection(): Redis {
    return this.writer
  }

  get current(): number {
    return this.local.current
  }

  get concurrent(): number {
    return this.local.concurrent
  }

  stats() {
    return { ...this.counts, cursor: this.cursor }
  }

  on(topic: string, listener: Listener, callback?: () => void): this {
    this.local.on(topic, listener, callback)
    return this
  }

  removeListener(topic: string, listener: Listener, callback?: () => void): void {
    this.local.removeListener(topic, listener, callback)
  }

  /** Appends `message` to the stream; `callback` once Redis has it (it reaches local listeners through the stream too). */
  emit(message: Message, callback?: (error?: Error) => void): void {
    const done = callback ?? (() => {})
    if (this.closed) return done(new Error('the cluster bus is closed'))
    if (message.topic === ROUTED_SINK) return done()
    const { payload, ...head } = message
    const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload === undefined ? '' : String(payload))
    this.writer
      .xadd(this.o.stream, 'MAXLEN', '~', String(this.o.maxLen), '*', 'h', JSON.stringify(head), 'p', body)
      .then(() => {
        this.counts.appended++
        done()
      }, (err: Error) => done(err))
  }

  private async readLoop(): Promise<void> {
    while (!this.closed) {
      let got: [Buffer, [Buffer, Buffer[]][]][] | null
      try {
        got = (await this.reader.xreadBuffer('COUNT', this.o.batch, 'BLOCK', this.o.blockMs, 'STREAMS', this.o.stream, this.cursor)) as typeof got
      } catch {
        if (this.closed) return
        await new Promise((r) => setTimeout(r, 100)) // Redis away: ioredis reconnects; read on from the same cursor
        await this.checkGap()
        continue
      }
      if (!got) continue
      const entries = got[0]?.[1] ?? []
      const delivered: Promise<void>[] = []
      for (const [id, fields] of entries) {
        this.cursor = id.toString()
        let head: Record<string, unknown> | undefined
        let payload: Buffer = Buffer.alloc(0)
        for (let i = 0; i + 1 < fields.length; i += 2) {
          const k = fields[i]!.toString()
          if (k === 'h') head = JSON.parse(fields[i + 1]!.toString()) as Record<string, unknown>
          else if (k === 'p') payload = fields[i + 1]!
        }
        if (!head || typeof head.topic !== 'string') continue
        const packet = { ...head, topic: head.topic, payload } as Message
        delivered.push(new Promise<void>((r) => this.local.emit(packet, () => r())))
      }
      this.counts.delivered += entries.length
      await Promise.all(delivered) // back-pressure: the next batch once local listeners took this one
    }
  }

  /** After an outage: was the stream trimmed past our cursor? */
  private async checkGap(): Promise<void> {
    if (this.cursor === '0-0') return
    const first = (await this.writer.xrange(this.o.stream, '-', '+', 'COUNT', 1).catch(() => [])) as [string, string[]][]
    const firstKept = first[0]?.[0]
    if (firstKept === undefined || compareIds(firstKept, this.cursor) <= 0) return
    // a Redis that restarted empty starts new ids after ours (time-based): not a trim unless we hold older ones
    const len = await this.writer.xlen(this.o.stream).catch(() => 0)
    if (len < this.o.maxLen) return
    this.counts.gaps++
    this.events.emit('gap', { after: this.cursor, firstKept })
  }

  close(callback?: () => void): void {
    if (this.closed) return void callback?.()
    this.closed = true
    this.reader.disconnect() // ends the blocked XREAD
    void this.reading.finally(() => {
      // QUIT once what was appended went out; a Redis that is away then does not hold the close up
      const bye = setTimeout(() => this.writer.disconnect(), 1000)
      this.writer.quit().catch(() => {}).finally(() => {
        clearTimeout(bye)
        this.local.close(() => callback?.())
      })
    })
  }
}

/**
 * Keeps content-addressed pieces available after their publisher is gone:
 * on `fm/v1/blobs/want/<sha256>` an agent that holds the piece — a blob chunk
 * or manifest in its BlobStore, or a module in its module cache — publishes
 * it again, retained, where it belongs (`fm/v1/blobs/<sha256>`,
 * `fm/v1/modules/<sha256>`). Bounded: at most `serveBytesPerSec` bytes a
 * second (a token bucket), one answer per piece per `repeatMs`, and wants
 * for pieces it does not hold cost a map lookup. `served` and `throttled`
 * events say what it did.
 */
import { EventEmitter } from 'node:events'
import { systemClock, type Clock } from '../protocol/clock.ts'
import { mergeOptions } from '../protocol/options.ts'
import { RecentMap } from '../protocol/recent-set.ts'
import { TokenBucket } from '../protocol/token-bucket.ts'
import { topics } from '../protocol/topics.ts'
import type { Connection } from '../protocol/transport.ts'
import type { BlobStore } from './blob-store.ts'

export interface BlobHolderOptions {
  /** Bytes a second this agent re-publishes for others. */
  serveBytesPerSec?: number
  /** A piece is answered at most once in this window (ms). */
  repeatMs?: number
  /** Pieces remembered as recently answered (the bound of that window). */
  maxRecent?: number
  clock?: Clock
}

export const BLOB_HOLDER_DEFAULTS = { serveBytesPerSec: 16 * 1024 * 1024, repeatMs: 1000, maxRecent: 1024 }

export interface BlobHolderEvents {
  served: [{ sha256: string; kind: 'blob' | 'module'; bytes: number }]
  /** A want it could answer, not answered now: over the byte rate. */
  throttled: [{ sha256: string; bytes: number }]
}

export class BlobHolder extends EventEmitter<BlobHolderEvents> {
  private readonly opts
  private readonly bucket: TokenBucket
  private readonly recent: RecentMap<number>
  private readonly clock: Clock
  private started = false

  constructor(
    private readonly conn: Connection,
    private readonly store: BlobStore,
    /** A cached module's bytes (hash-checked), or undefined. */
    private readonly module: (sha256: string) => Buffer | undefined,
    options: BlobHolderOptions = {},
  ) {
    super()
    this.opts = mergeOptions(options, BLOB_HOLDER_DEFAULTS, { serveBytesPerSec: { min: 1, integer: true }, repeatMs: { min: 0, integer: true }, maxRecent: { min: 1, integer: true } }, 'blobHolder')
    this.clock = this.opts.clock ?? systemClock
    this.bucket = new TokenBucket(this.opts.serveBytesPerSec, this.opts.serveBytesPerSec, this.clock.now())
    this.recent = new RecentMap(this.opts.maxRecent)
  }

  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    this.conn.route(topics.blobWantWildcard, (topic) => this.onWant(topic))
    await this.conn.subscribe(topics.blobWantWildcard, 0)
  }

  private onWant(topic: string): void {
    const sha = topic.slice(topic.lastIndexOf('/') + 1)
    if (!/^[0-9a-f]{64}$/.test(sha)) return
    const now = this.clock.now()
    const last = this.recent.get(sha)
    if (last !== undefined && now - last < this.opts.repeatMs) return
    const inStore = this.store.has(sha)
    const bytes = inStore ? this.store.get(sha) : this.module(sha)
    if (!bytes) return
    if (!this.bucket.take(now, bytes.length)) return void this.emit('throttled', { sha256: sha, bytes: bytes.length })
    this.recent.set(sha, now)
    const kind = inStore ? 'blob' : 'module'
    this.conn.publish(kind === 'blob' ? topics.blob(sha) : topics.module(sha), bytes, { qos: 1, retain: true })
    this.emit('served', { sha256: sha, kind, bytes: bytes.length })
  }

  stop(): void {
    if (!this.started) return
    this.started = false
    this.conn.unroute(topics.blobWantWildcard)
    this.conn.unsubscribe(topics.blobWantWildcard).catch(() => {})
  }
}

/**
 * A `BlobSource` over MQTT: a piece is read from its retained topic
 * (`fm/v1/blobs/<sha256>`, or for a module `fm/v1/modules/<sha256>`). When
 * nothing usable is retained within `wantAfterMs` — the publisher is gone and
 * the copy cleared, or the copy there is bad — it asks holders on
 * `fm/v1/blobs/want/<sha256>` (agent/blob-holder.ts re-publishes from its
 * cache) and waits up to `timeoutMs` in all. Only bytes that hash to the name
 * are taken; a bad copy is counted (`badCopy` event) and, if no good one
 * comes, is what the error says (`blob_hash_mismatch`, else `blob_not_found`).
 */
import { EventEmitter } from 'node:events'
import { systemClock, type Clock, type Timer } from '../clock.ts'
import { ErrorCode, FogmeshError } from '../errors.ts'
import { mergeOptions } from '../options.ts'
import { topics } from '../topics.ts'
import type { Connection } from '../transport.ts'
import { BlobError } from './blob-error.ts'
import { sha256Of } from './manifest.ts'
import type { BlobSource } from './resolve-blob.ts'

export interface MqttBlobSourceOptions {
  /** Whole wait for one piece (ms). */
  timeoutMs?: number
  /** Ask holders when nothing usable came within this (ms). */
  wantAfterMs?: number
  /** Ask again after this (ms), until `timeoutMs`. */
  rewantMs?: number
  /** Pieces waited for at once (a bound on subscriptions held). */
  maxPending?: number
  clock?: Clock
  /** The topic a piece is retained on (default `fm/v1/blobs/<sha256>`). */
  topicOf?: (sha256: string) => string
}

const DEFAULTS = { timeoutMs: 10_000, wantAfterMs: 500, rewantMs: 2000, maxPending: 64 }

export interface MqttBlobSourceEvents {
  /** A copy whose bytes do not hash to its name (refused, never cached). */
  badCopy: [{ sha256: string; actual: string; bytes: number }]
  /** Holders were asked for a piece. */
  want: [{ sha256: string }]
}

export class MqttBlobSource extends EventEmitter<MqttBlobSourceEvents> implements BlobSource {
  private readonly opts
  private readonly pending = new Map<string, Promise<Buffer>>()
  /** When holders were last asked: pieces of a blob whose publisher is gone are asked for at once after the first. */
  private lastWantAt = -Infinity

  constructor(
    private readonly conn: Connection,
    options: MqttBlobSourceOptions = {},
  ) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, { timeoutMs: { min: 1, integer: true }, wantAfterMs: { min: 0, integer: true }, maxPending: { min: 1, integer: true }, rewantMs: { min: 100, integer: true } }, 'blobs')
  }

  get(sha256: string, maxBytes: number): Promise<Buffer> {
    let p = this.pending.get(sha256)
    if (p) return p
    if (this.pending.size >= this.opts.maxPending) {
      return Promise.reject(new FogmeshError(ErrorCode.overloaded, `${this.pending.size} blob pieces are being fetched already (maxPending)`))
    }
    p = this.fetch(sha256, maxBytes).finally(() => this.pending.delete(sha256))
    this.pending.set(sha256, p)
    return p
  }

  private fetch(sha256: string, maxBytes: number): Promise<Buffer> {
    const topic = (this.opts.topicOf ?? topics.blob)(sha256)
    const clock = this.opts.clock ?? systemClock
    return new Promise<Buffer>((resolve, reject) => {
      let settled = false
      let fault: BlobError | undefined
      let wanted = false
      const timers: Timer[] = []
      let rewant: Timer | undefined
      const done = (err: Error | undefined, bytes?: Buffer) => {
        if (settled) return
        settled = true
        rewant?.cancel()
        for (const t of timers) t.cancel()
        this.conn.unroute(topic)
        this.conn.unsubscribe(topic).catch(() => {})
        if (err) reject(err)
        else resolve(bytes as Buffer)
      }
      // asked again every `rewantMs` until the deadline: a holder answers a piece once per its repeat window
      // (a burst of bad copies sends one want, not one each)
      const want = () => {
        if (settled || rewant) return
        if (!wanted) this.emit('want', { sha256 })
        wanted = true
        this.lastWantAt = clock.now()
        this.conn.publish(topics.blobWant(sha256), '', { qos: 0 })
        rewant = clock.setTimeout(() => {
          rewant = undefined
          want()
        }, this.opts.rewantMs)
      }
      this.conn.route(topic, (_t, payload) => {
        if (payload.length === 0) return // a cleared retained copy
        const actual = sha256Of(payload)
        if (actual !== sha256) {
          fault = new BlobError(ErrorCode.blobHashMismatch, sha256, `blob piece bytes hash to ${actual}, not ${sha256}`)
          this.emit('badCopy', { sha256, actual, bytes: payload.length })
          return want() // another holder may have a good copy
        }
        // the right bytes, more of them than declared: the manifest lied, no copy will do
        if (payload.length > maxBytes) {
          return done(new BlobError(ErrorCode.blobSizeMismatch, sha256, `blob piece ${sha256} is ${payload.length} bytes; its manifest says ${maxBytes}`))
        }
        done(undefined, payload)
      })
      this.conn
        .subscribe(topic, 1)
        .then(() => {
          if (settled) return
          const recently = clock.now() - this.lastWantAt < this.opts.timeoutMs
          timers.push(clock.setTimeout(want, recently ? Math.min(100, this.opts.wantAfterMs) : this.opts.wantAfterMs))
          timers.push(
            clock.setTimeout(
              () => done(fault ?? new BlobError(ErrorCode.blobNotFound, sha256, `blob piece ${sha256} is not on ${topic} and no holder answered within ${this.opts.timeoutMs} ms`)),
              this.opts.timeoutMs,
            ),
          )
        })
        .catch((err: unknown) => done(new FogmeshError(ErrorCode.closed, `cannot subscribe to ${topic}`, { cause: err })))
    })
  }
}

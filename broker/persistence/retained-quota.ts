/**
 * Caps on retained messages, Mosquitto-style (every limit a name, a default
 * and a flag): bytes retained per client and in total. A flood of retained
 * modules or presences from one client must not exhaust the device's memory
 * (nor, with `--data`, its disk).
 *
 * The broker asks `admit` for every retained PUBLISH before it is stored: a
 * refusal names the cap that bit (the broker refuses the publish and emits
 * `retainedRejected`). Replacing a retained message frees what the old one
 * took, whoever published it; an empty payload clears the topic.
 */
import { mergeOptions, type Merged, type Ranges } from '../../protocol/options.ts'

export interface RetainedQuotaOptions {
  /** Bytes of retained payload one client may hold across all topics. Default 64 MiB (four 16 MiB modules). */
  maxRetainedBytesPerClient?: number | undefined
  /** Bytes of retained payload the broker holds in total. Default 256 MiB. */
  maxRetainedBytes?: number | undefined
}

const DEFAULTS = { maxRetainedBytesPerClient: 64 * 1024 * 1024, maxRetainedBytes: 256 * 1024 * 1024 }
export const RETAINED_QUOTA_RANGES: Ranges<RetainedQuotaOptions> = {
  maxRetainedBytesPerClient: { min: 1024, max: Number.MAX_SAFE_INTEGER, integer: true },
  maxRetainedBytes: { min: 1024, max: Number.MAX_SAFE_INTEGER, integer: true },
}

export interface RetainedRefusal {
  cap: 'maxRetainedBytesPerClient' | 'maxRetainedBytes'
  reason: string
}

interface Entry {
  owner: string
  bytes: number
}

export class RetainedQuota {
  private readonly opts: Merged<RetainedQuotaOptions, typeof DEFAULTS>
  private readonly byTopic = new Map<string, Entry>()
  private readonly byOwner = new Map<string, number>()
  private total = 0

  constructor(options: RetainedQuotaOptions = {}) {
    this.opts = mergeOptions(options, DEFAULTS, RETAINED_QUOTA_RANGES, 'broker')
  }

  /** Checks and books a retained publish of `bytes` to `topic` by `owner`; a refusal books nothing. */
  admit(owner: string, topic: string, bytes: number): RetainedRefusal | undefined {
    const old = this.byTopic.get(topic)
    if (bytes === 0) {
      if (old) this.release(topic, old)
      return undefined
    }
    const ownerNow = (this.byOwner.get(owner) ?? 0) - (old?.owner === owner ? old.bytes : 0)
    const totalNow = this.total - (old?.bytes ?? 0)
    if (ownerNow + bytes > this.opts.maxRetainedBytesPerClient) {
      return { cap: 'maxRetainedBytesPerClient', reason: `client ${owner} would retain ${ownerNow + bytes} bytes; the cap is ${this.opts.maxRetainedBytesPerClient} (maxRetainedBytesPerClient)` }
    }
    if (totalNow + bytes > this.opts.maxRetainedBytes) {
      return { cap: 'maxRetainedBytes', reason: `the broker would retain ${totalNow + bytes} bytes; the cap is ${this.opts.maxRetainedBytes} (maxRetainedBytes)` }
    }
    if (old) this.release(topic, old)
    this.book(owner, topic, bytes)
    return undefined
  }

  /** Books what a restart found on disk (owner as recorded then). */
  restore(owner: string, topic: string, bytes: number): void {
    const old = this.byTopic.get(topic)
    if (old) this.release(topic, old)
    if (bytes > 0) this.book(owner, topic, bytes)
  }

  /** Who holds the retained message on `topic` (as booked by `admit`). */
  ownerOf(topic: string): string | undefined {
    return this.byTopic.get(topic)?.owner
  }

  stats(): { retainedBytes: number; retainedTopics: number; owners: number } {
    return { retainedBytes: this.total, retainedTopics: this.byTopic.size, owners: this.byOwner.size }
  }

  /** Bytes retained by `owner`. */
  bytesOf(owner: string): number {
    return this.byOwner.get(owner) ?? 0
  }

  private book(owner: string, topic: string, bytes: number): void {
    this.byTopic.set(topic, { owner, bytes })
    this.byOwner.set(owner, (this.byOwner.get(owner) ?? 0) + bytes)
    this.total += bytes
  }

  private release(topic: string, e: Entry): void {
    this.byTopic.delete(topic)
    const left = (this.byOwner.get(e.owner) ?? 0) - e.bytes
    if (left <= 0) this.byOwner.delete(e.owner)
    else this.byOwner.set(e.owner, left)
    this.total -= e.bytes
  }
}

/**
 * Retained messages and bytes, per client id and in total. A retained
 * PUBLISH that would go over a quota is refused (MQTT 3.1.1 has no negative
 * PUBACK: the publisher is disconnected) and nothing is stored. Clearing a
 * retained message (empty payload) frees what it held, whoever set it.
 */
import type { BrokerLimits, LimitEvent } from './broker-limits.ts'

interface Held {
  owner: string
  bytes: number
}

interface Usage {
  count: number
  bytes: number
}

export type RetainedLimits = Pick<BrokerLimits, 'maxRetainedPerClient' | 'maxRetainedBytesPerClient' | 'maxRetained' | 'maxRetainedBytes'>

export class RetainedQuota {
  private readonly byTopic = new Map<string, Held>()
  private readonly byOwner = new Map<string, Usage>()
  private readonly all: Usage = { count: 0, bytes: 0 }

  constructor(private readonly limits: RetainedLimits) {}

  /**
   * Books a retained publish by `owner` of `payloadBytes` on `topic`; returns the
   * limit event that refuses it, or undefined (booked).
   */
  book(owner: string, topic: string, payloadBytes: number): LimitEvent | undefined {
    const held = this.byTopic.get(topic)
    if (payloadBytes === 0) {
      if (held) this.free(topic, held)
      return undefined
    }
    const bytes = payloadBytes + topic.length
    const mine = this.byOwner.get(owner) ?? { count: 0, bytes: 0 }
    const same = held?.owner === owner
    const addCount = same ? 0 : 1
    const addBytes = bytes - (same ? held.bytes : 0)
    const allBytes = this.all.bytes + bytes - (held?.bytes ?? 0)
    const allCount = this.all.count + (held ? 0 : 1)
    const l = this.limits
    const refuse = (limit: LimitEvent['limit'], value: number, cap: number): LimitEvent => ({ limit, action: 'refused', clientId: owner, value, cap })
    if (mine.count + addCount > l.maxRetainedPerClient) return refuse('maxRetainedPerClient', mine.count + addCount, l.maxRetainedPerClient)
    if (mine.bytes + addBytes > l.maxRetainedBytesPerClient) return refuse('maxRetainedBytesPerClient', mine.bytes + addBytes, l.maxRetainedBytesPerClient)
    if (allCount > l.maxRetained) return refuse('maxRetained', allCount, l.maxRetained)
    if (allBytes > l.maxRetainedBytes) return refuse('maxRetainedBytes', allBytes, l.maxRetainedBytes)
    if (held) this.free(topic, held)
    const usage = this.byOwner.get(owner) ?? { count: 0, bytes: 0 }
    usage.count++
    usage.bytes += bytes
    this.byOwner.set(owner, usage)
    this.byTopic.set(topic, { owner, bytes })
    this.all.count++
    this.all.bytes += bytes
    return undefined
  }

  /**
   * Whether a retained PUBLISH of `declaredBytes` from `owner` must fail whatever its
   * topic: it is larger than the per-client cap, or the owner's or the broker's bytes
   * are full already. (A clear or a small publish is always looked at whole.)
   */
  full(owner: string, declaredBytes: number): LimitEvent | undefined {
    const l = this.limits
    const mine = this.byOwner.get(owner)?.bytes ?? 0
    const refuse = (limit: LimitEvent['limit'], value: number, cap: number): LimitEvent => ({ limit, action: 'refused', clientId: owner, value, cap })
    if (declaredBytes > l.maxRetainedBytesPerClient) return refuse('maxRetainedBytesPerClient', declaredBytes, l.maxRetainedBytesPerClient)
    if (mine >= l.maxRetainedBytesPerClient) return refuse('maxRetainedBytesPerClient', mine + declaredBytes, l.maxRetainedBytesPerClient)
    if (this.all.bytes >= l.maxRetainedBytes) return refuse('maxRetainedBytes', this.all.bytes + declaredBytes, l.maxRetainedBytes)
    return undefined
  }

  private free(topic: string, held: Held): void {
    this.byTopic.delete(topic)
    this.all.count--
    this.all.bytes -= held.bytes
    const u = this.byOwner.get(held.owner)
    if (!u) return
    u.count--
    u.bytes -= held.bytes
    if (u.count <= 0) this.byOwner.delete(held.owner)
  }

  stats(): { retained: number; retainedBytes: number } {
    return { retained: this.all.count, retainedBytes: this.all.bytes }
  }
}

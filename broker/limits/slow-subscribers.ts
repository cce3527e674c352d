/**
 * A slow or frozen subscriber costs itself, never everyone.
 *
 * aedes waits for a subscriber's socket to drain before it calls a delivery
 * done, and a publish is done only when every delivery is: one subscriber that
 * stops reading stalls every publisher to its topics (for `drainTimeout`,
 * 60 s). Here a connection never tells aedes to wait (`write` reports room);
 * instead the bytes waiting in its socket are bounded per subscriber:
 *
 * - above `slowSubscriberBytes`, QoS 0 to it is dropped (and counted);
 * - at `maxBufferedBytesPerClient` it is disconnected (so QoS 1 is bounded;
 *   a persistent session keeps it queued, within the session limits);
 * - above `slowSubscriberBytes` for `frozenSubscriberMs` without getting
 *   below it, it is disconnected.
 */
import type { Duplex } from 'node:stream'
import type { Client } from 'aedes'
import { internals } from './aedes-internals.ts'
import type { BrokerLimits, LimitEvent } from './broker-limits.ts'

export type SlowLimits = Pick<BrokerLimits, 'slowSubscriberBytes' | 'maxBufferedBytesPerClient' | 'frozenSubscriberMs'>

export interface SlowStats {
  /** QoS 0 messages dropped for slow subscribers. */
  dropped: number
  /** Subscribers disconnected as too slow or frozen. */
  disconnected: number
}

export class SlowSubscribers {
  /** Connections above the soft bound, with the time they went above it. */
  private readonly slow = new Map<Client, number>()
  /** Drops since the last `limit` event per client (events are per episode, not per message). */
  private readonly stats_: SlowStats = { dropped: 0, disconnected: 0 }
  private readonly sweep: NodeJS.Timeout

  constructor(private readonly limits: SlowLimits, private readonly onLimit: (e: LimitEvent) => void) {
    this.sweep = setInterval(() => this.sweepFrozen(), Math.max(50, Math.min(1000, limits.frozenSubscriberMs / 4)))
    this.sweep.unref()
  }

  /** Makes `conn` report room on every write: aedes never waits for it to drain. */
  neverWait(conn: Duplex): void {
    const write = conn.write
    conn.write = function writeNoWait(this: Duplex, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
      write.call(this, chunk, encoding as BufferEncoding, cb as (err?: Error | null) => void)
      return true
    } as Duplex['write']
  }

  /** aedes' `authorizeForward`: the packet to send to `client`, or null to drop it. */
  forward<P extends { qos: number }>(client: Client, packet: P): P | null {
    const conn = internals(client).conn
    const waiting = conn.writableLength
    if (waiting < this.limits.slowSubscriberBytes) {
      if (this.slow.size > 0) this.slow.delete(client)
      return packet
    }
    if (!this.slow.has(client)) {
      this.slow.set(client, performance.now())
      this.onLimit({ limit: 'slowSubscriberBytes', action: 'dropped', clientId: client.id ?? '', value: waiting, cap: this.limits.slowSubscriberBytes })
    }
    if (waiting >= this.limits.maxBufferedBytesPerClient) {
      this.disconnect(client, 'maxBufferedBytesPerClient', waiting, this.limits.maxBufferedBytesPerClient)
      return null
    }
    if (packet.qos === 0) {
      this.stats_.dropped++
      return null
    }
    return packet
  }

  private sweepFrozen(): void {
    if (this.slow.size === 0) return
    const now = performance.now()
    for (const [client, since] of this.slow) {
      const c = internals(client)
      if (c.closed || c.conn.destroyed) {
        this.slow.delete(client)
        continue
      }
      if (c.conn.writableLength < this.limits.slowSubscriberBytes) {
        this.slow.delete(client)
        continue
      }
      if (now - since >= this.limits.frozenSubscriberMs) this.disconnect(client, 'frozenSubscriberMs', Math.round(now - since), this.limits.frozenSubscriberMs)
    }
  }

  private disconnect(client: Client, limit: 'maxBufferedBytesPerClient' | 'frozenSubscriberMs', value: number, cap: number): void {
    this.slow.delete(client)
    this.stats_.disconnected++
    this.onLimit({ limit, action: 'closed', clientId: client.id ?? '', value, cap })
    internals(client).conn.destroy()
  }

  /** The client went away. */
  release(client: Client): void {
    this.slow.delete(client)
  }

  stats(): SlowStats {
    return { ...this.stats_ }
  }

  close(): void {
    clearInterval(this.sweep)
  }
}

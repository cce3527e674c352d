/**
 * What comes for the agent before it can run it. The agent connects with a
 * persistent session (`clean: false`): the broker sends the session's queued
 * QoS 1 messages — assignments, direct offers, vouchers, stream control queued
 * while the agent was down or between brokers — right after its CONNACK, long
 * before the agent has its handlers (the executor may still be starting).
 * mqtt.js acknowledges each message once its handler returns, so without a
 * route there they were acknowledged and dropped. The agent routes its topics
 * here before CONNECT (ConnectOptions.routes); each topic's held messages go
 * to its real handler, in arrival order, when the agent routes it (`release`).
 *
 * Bounded by count and bytes (EARLY_LIMITS): past either bound a message is
 * counted, not held, and reported once the agent is up (`overflowed`).
 */
import type { Handler } from '../protocol/transport.ts'

export const EARLY_LIMITS = {
  /** Messages held in all before the agent is up (its queue limit is slots × 64 by default). */
  maxMessages: 4096,
  /** Their payload bytes in all. */
  maxBytes: 64 * 1024 * 1024,
  /**
   * Of a topic routed with `capped` (offers: a queued one's bid window is likely gone), at most
   * this many: a flood of broadcast offers does not crowd out the assignments.
   */
  maxCapped: 256,
}

export type EarlyLimits = typeof EARLY_LIMITS

export class EarlyInbox {
  private held: Array<{ topic: string; payload: Buffer }> = []
  private bytes = 0
  private readonly dropped = new Map<string, number>()
  private readonly limits: EarlyLimits
  /** Held per capped topic. */
  private readonly capped = new Map<string, number>()

  constructor(limits: Partial<EarlyLimits> = {}) {
    this.limits = { ...EARLY_LIMITS, ...limits }
  }

  /** The route for each of `topics`, in place before CONNECT. */
  routes(topics: readonly string[], capped: readonly string[] = []): Array<readonly [string, Handler]> {
    for (const t of capped) this.capped.set(t, 0)
    return [...topics, ...capped].map((t) => [t, (topic: string, payload: Buffer) => this.take(topic, payload)] as const)
  }

  take(topic: string, payload: Buffer): void {
    const n = this.capped.get(topic)
    if (this.held.length >= this.limits.maxMessages || this.bytes + payload.length > this.limits.maxBytes || (n !== undefined && n >= this.limits.maxCapped)) {
      this.dropped.set(topic, (this.dropped.get(topic) ?? 0) + 1)
      return
    }
    if (n !== undefined) this.capped.set(topic, n + 1)
    this.held.push({ topic, payload })
    this.bytes += payload.length
  }

  /** How many are held now. */
  get size(): number {
    return this.held.length
  }

  /**
   * Removes the messages held for `topic` and hands them to `handler`, oldest first.
   * Call it in the same turn as the `route(topic, handler)` that replaces this one's
   * route: then no live message overtakes a held one.
   */
  release(topic: string, handler: (topic: string, payload: Buffer) => void, onError: (topic: string, error: unknown) => void = () => {}): void {
    const mine = this.held.filter((m) => m.topic === topic)
    if (mine.length === 0) return
    this.held = this.held.filter((m) => m.topic !== topic)
    if (this.capped.has(topic)) this.capped.set(topic, 0)
    for (const m of mine) {
      this.bytes -= m.payload.length
      // as the connection's router does: a handler that throws (a bug) does not stop the next one
      try {
        handler(m.topic, m.payload)
      } catch (err) {
        onError(m.topic, err)
      }
    }
  }

  /** Per topic: how many came past the bounds (not held, lost to the requester's timeout); then forgets them. */
  overflowed(): Array<{ topic: string; count: number }> {
    const out = [...this.dropped].map(([topic, count]) => ({ topic, count }))
    this.dropped.clear()
    return out
  }

  /** Drops what is still held (a topic the agent never routed). */
  clear(): void {
    this.held = []
    this.bytes = 0
  }
}

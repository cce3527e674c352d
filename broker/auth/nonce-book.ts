/**
 * The nonces of the agent tokens the broker accepted, kept while their token
 * could still be inside the window: a token presented a second time is a
 * replay. Bounded: when `maxEntries` is reached the oldest entry goes, and the
 * book raises its `floor` to that entry's issue time — from then on every token
 * issued at or before the floor is refused, so an evicted nonce can never be
 * replayed (it costs agents with slow clocks a retry, and `onLimit` says so).
 */
export interface NonceBookOptions {
  /** How long a token is valid either side of the broker's clock, ms. */
  windowMs: number
  /** Most nonces remembered (default 100,000). */
  maxEntries: number
  /** Called when the bound bites (an entry still inside the window was evicted). */
  onLimit?: (info: { maxEntries: number; floor: number }) => void
}

export class NonceBook {
  private readonly seen = new Map<string, { issuedAt: number; expires: number }>()
  /** Tokens issued at or before this time are refused (0: no eviction yet). */
  floor = 0

  constructor(private readonly opts: NonceBookOptions) {}

  /** Records `nonce` of `id`; false when it was seen before or falls below the floor. */
  accept(id: string, nonce: string, issuedAt: number, now: number): boolean {
    this.purge(now)
    if (issuedAt <= this.floor) return false
    const key = `${id}.${nonce}`
    if (this.seen.has(key)) return false
    this.seen.set(key, { issuedAt, expires: issuedAt + this.opts.windowMs })
    if (this.seen.size > this.opts.maxEntries) {
      const [oldestKey, oldest] = this.seen.entries().next().value as [string, { issuedAt: number; expires: number }]
      this.seen.delete(oldestKey)
      if (oldest.expires >= now) {
        this.floor = Math.max(this.floor, oldest.issuedAt)
        this.opts.onLimit?.({ maxEntries: this.opts.maxEntries, floor: this.floor })
      }
    }
    return true
  }

  get size(): number {
    return this.seen.size
  }

  /** Drops entries from the front whose token has left the window (insertion order is close to time order). */
  private purge(now: number): void {
    for (const [key, e] of this.seen) {
      if (e.expires >= now) break
      this.seen.delete(key)
    }
  }
}

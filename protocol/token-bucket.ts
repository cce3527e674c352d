/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. The one
 * rate limiter of the mesh (broker publish rates, gateway per-sensor rates,
 * agent voucher rates). Time comes from the caller (`now`, in ms), so the
 * bucket is pure and testable with a manual clock.
 *
 * `take` may drive the balance below zero once (a packet larger than the
 * burst still passes when the bucket is full); the debt is repaid before the
 * next take succeeds.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst
    this.last = now
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000)
      this.last = now
    }
  }

  /** Takes `n` tokens if the balance is positive (it may go negative); false when in debt or empty. */
  take(now: number, n = 1): boolean {
    this.refill(now)
    if (this.tokens <= 0 || (n <= this.burst && this.tokens < n)) return false
    this.tokens -= n
    return true
  }

  /** Gives back `n` tokens taken by a `take` that turned out not to be needed. */
  give(n = 1): void {
    this.tokens = Math.min(this.burst, this.tokens + n)
  }

  /** Milliseconds until `take(n)` can succeed (0: now). */
  waitMs(now: number, n = 1): number {
    this.refill(now)
    // what take() needs: n tokens, or (for a take larger than the burst) a positive balance
    const missing = (n <= this.burst ? n : 1e-9) - this.tokens
    return missing <= 0 ? 0 : Math.max(1, Math.ceil((missing * 1000) / this.rate))
  }

  /** The balance now (for tests and stats). */
  balance(now: number): number {
    this.refill(now)
    return this.tokens
  }
}

/**
 * A clock that moves only when told to: `advance(ms)` fires every timer that
 * falls due, in due order (ties in the order they were set), with `now()` at
 * each timer's due time, and lets the event loop run between timers so that
 * promise chains and in-memory deliveries a timer starts can finish before
 * the next one fires.
 */
import type { Clock, Timer } from './clock.ts'

interface Entry {
  seq: number
  due: number
  every: number | undefined
  fn: () => void
}

/** Lets pending promise callbacks and `setImmediate` work (e.g. in-memory deliveries) run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

export class ManualClock implements Clock {
  private current: number
  private seq = 0
  private readonly timers = new Set<Entry>()

  constructor(start = 1_000_000) {
    this.current = start
  }

  now(): number {
    return this.current
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, undefined)
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, Math.max(1, ms))
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.add(resolve, ms, undefined))
  }

  /** Timers set and not yet fired or cancelled. */
  get pending(): number {
    return this.timers.size
  }

  /** Moves time forward by `ms`, firing what falls due on the way. */
  async advance(ms: number): Promise<void> {
    const until = this.current + ms
    await settle()
    for (;;) {
      const next = this.nextDue(until)
      if (!next) break
      this.current = next.due
      if (next.every === undefined) {
        this.timers.delete(next)
      } else {
        next.due += next.every
        next.seq = this.seq++
      }
      next.fn()
      await settle()
    }
    this.current = until
  }

  private nextDue(until: number): Entry | undefined {
    let best: Entry | undefined
    for (const t of this.timers) {
      if (t.due > until) continue
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t
    }
    return best
  }

  private add(fn: () => void, ms: number, every: number | undefined): Timer {
    const entry: Entry = { seq: this.seq++, due: this.current + Math.max(0, ms), every, fn }
    this.timers.add(entry)
    return {
      cancel: () => {
        this.timers.delete(entry)
      },
    }
  }
}

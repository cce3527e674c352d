/**
 * Time as a port: the system clock in production, a manual one in tests, so that what runs on
 * intervals (settlement every T seconds, the watch for channels being closed) and what depends on
 * the time (a channel's challenge window on the in-memory chain) can be tested without waiting.
 *
 *   const clock = new ManualClock()
 *   const settler = new Settler(channels, journal, { everyMs: 30_000 }, clock)
 *   settler.start()
 *   await clock.advance(30_000)          // the 30-second settlement runs now
 */
import { ValidationError } from './errors.ts'

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Calls `fn` every `ms` until the returned function is called. Never keeps the process alive. */
  every(ms: number, fn: () => void): () => void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  every(ms, fn) {
    const timer = setInterval(fn, ms)
    timer.unref()
    return () => clearInterval(timer)
  },
}

interface Timer {
  due: number
  ms: number
  fn: () => void
}

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  #now: number
  readonly #timers = new Set<Timer>()

  /** Starts at `start` ms since the epoch (default: the real time now, so chain timestamps look real). */
  constructor(start = Date.now()) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  every(ms: number, fn: () => void): () => void {
    if (!(ms > 0)) throw new ValidationError('ms', `an interval above 0 ms (got ${ms})`)
    const timer = { due: this.#now + ms, ms, fn }
    this.#timers.add(timer)
    return () => {
      this.#timers.delete(timer)
    }
  }

  /** How many timers are running. */
  get timers(): number {
    return this.#timers.size
  }

  /**
   * Moves the time forward by `ms`, running every timer that comes due on the way, in time
   * order, each as often as it falls due. After each timer, and at the end, it lets what is
   * pending settle (one turn of the event loop), so `await clock.advance(0)` also flushes.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms
    for (;;) {
      let next: Timer | undefined
      for (const t of this.#timers) if (t.due <= until && (!next || t.due < next.due)) next = t
      if (!next) break
      this.#now = next.due
      next.due += next.ms
      next.fn()
      await turn()
    }
    this.#now = until
    await turn()
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

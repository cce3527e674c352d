/**
 * The clock port, for the timing the mesh's logic depends on: auction
 * windows, lease expiry and refresh, heartbeats and the unreachable sweep,
 * attempt and fetch timeouts, shutdown grace. Two implementations:
 * `systemClock` (Date.now and the Node timers) and `ManualClock`
 * (manual-clock.ts), which tests advance by hand.
 *
 * Durations measured for reporting (a job's latency) stay on
 * `performance.now()`: they change no decision.
 */

export interface Timer {
  /** Stops the timer; a no-op once it fired (one-shot) or was cancelled. */
  cancel(): void
}

export interface TimerOptions {
  /** Does not keep the process alive on its own (background beats and sweeps). Default false. */
  unref?: boolean
}

export interface Clock {
  /** Milliseconds since the epoch (or since the manual clock's start). */
  now(): number
  setTimeout(fn: () => void, ms: number, options?: TimerOptions): Timer
  setInterval(fn: () => void, ms: number, options?: TimerOptions): Timer
  sleep(ms: number): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms, options = {}) {
    const t = setTimeout(fn, ms)
    if (options.unref) t.unref()
    return { cancel: () => clearTimeout(t) }
  },
  setInterval(fn, ms, options = {}) {
    const t = setInterval(fn, ms)
    if (options.unref) t.unref()
    return { cancel: () => clearInterval(t) }
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

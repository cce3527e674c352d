/**
 * Debounce: a mechanical contact bounces for a few milliseconds; the level is
 * reported once it has held for `periodMs`. Every edge restarts the wait;
 * edges absorbed this way are counted (`bounces`). A level that settles back
 * to the last reported one reports nothing.
 */
export interface Settled {
  value: 0 | 1
  /** Time of the first edge of the burst that ended in this level (the press, not its end). */
  firstEdgeMs: number
  /** Edges absorbed before the level settled. */
  bounces: number
}

export interface Timers {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
}

export class Debouncer {
  private stable: 0 | 1 | undefined
  private candidate: 0 | 1 | undefined
  private firstEdgeMs = 0
  private edges = 0
  private timer: unknown
  /** Edges absorbed in total. */
  bounces = 0

  constructor(
    private readonly periodMs: number,
    private readonly onSettled: (s: Settled) => void,
    initial: 0 | 1 | undefined = undefined,
    private readonly timers: Timers = realTimers,
  ) {
    this.stable = initial
  }

  get value(): 0 | 1 | undefined {
    return this.stable
  }

  edge(value: 0 | 1, timeMs: number): void {
    if (this.periodMs === 0) {
      if (value !== this.stable) {
        this.stable = value
        this.onSettled({ value, firstEdgeMs: timeMs, bounces: 0 })
      }
      return
    }
    if (this.edges === 0) this.firstEdgeMs = timeMs
    this.edges++
    this.candidate = value
    if (this.timer !== undefined) this.timers.clear(this.timer)
    this.timer = this.timers.set(() => this.settle(), this.periodMs)
  }

  private settle(): void {
    this.timer = undefined
    const value = this.candidate as 0 | 1
    const absorbed = value === this.stable ? this.edges : this.edges - 1
    this.bounces += absorbed
    const first = this.firstEdgeMs
    this.edges = 0
    if (value === this.stable) return
    this.stable = value
    this.onSettled({ value, firstEdgeMs: first, bounces: absorbed })
  }

  stop(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer)
    this.timer = undefined
  }
}

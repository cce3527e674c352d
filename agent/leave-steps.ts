/**
 * The steps of an agent leaving the mesh, each with a bound. Leaving must end: a supervisor waits
 * for the exit code (75 starts a staged release), a service manager for the stop. A step that
 * does not settle in its time is left behind (reported with its name, so the operator sees which
 * one) and the next step runs; the agent still leaves.
 */
import type { Clock } from '../protocol/clock.ts'

/** What a step that overran reports. */
export interface StalledStep {
  step: string
  /** The bound it overran, ms. */
  ms: number
}

export class LeaveSteps {
  /** The step running now ('' before the first and after the last). */
  current = ''

  constructor(
    private readonly clock: Clock,
    private readonly onStalled: (s: StalledStep) => void,
  ) {}

  /** Runs one step; resolves when it settles (its error ignored: leaving goes on) or after `ms`. */
  async run(step: string, ms: number, work: () => Promise<unknown> | unknown): Promise<void> {
    this.current = step
    let timer: { cancel(): void } | undefined
    const bound = new Promise<'stalled'>((resolve) => (timer = this.clock.setTimeout(() => resolve('stalled'), ms, { unref: true })))
    try {
      const settled = Promise.resolve()
        .then(work)
        .then(
          () => 'done' as const,
          () => 'done' as const,
        )
      if ((await Promise.race([settled, bound])) === 'stalled') this.onStalled({ step, ms })
    } finally {
      timer?.cancel()
      this.current = ''
    }
  }
}

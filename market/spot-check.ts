/**
 * Spot checks: a requester policy that re-runs a random fraction `rate` of the results it
 * accepted from a single agent, on another agent, after answering. A lying agent that lies on a
 * fraction q of its jobs is caught on a given job with probability q·rate, so within n jobs with
 * probability 1 − (1 − q·rate)^n (bench/verification.bench.ts measures it). A mismatch brings in
 * referees (market/verification.ts); the outcome is evidence.
 *
 * Spot checks in flight are bounded (`maxInFlight`): past it a sampled check is skipped and
 * counted (`skipped`), so a burst of jobs cannot queue unbounded re-runs.
 */
import { ValidationError } from '../protocol/errors.ts'

export class SpotCheckPolicy {
  private inFlight_ = 0
  skipped = 0
  sampled = 0

  constructor(
    readonly rate: number,
    private readonly random: () => number,
    readonly maxInFlight: number,
  ) {
    if (!(rate >= 0 && rate <= 1)) throw new ValidationError('verification.spotCheck', `a fraction from 0 to 1 (got ${rate})`)
  }

  get inFlight(): number {
    return this.inFlight_
  }

  /** Whether to check this result; true takes a place in flight (give it back with `done`). */
  take(): boolean {
    if (this.rate === 0 || this.random() >= this.rate) return false
    this.sampled++
    if (this.inFlight_ >= this.maxInFlight) {
      this.skipped++
      return false
    }
    this.inFlight_++
    return true
  }

  done(): void {
    this.inFlight_--
  }
}

/** P(a liar lying on fraction q of its jobs is caught within n jobs) under spot-check rate p. */
export function detectionProbability(p: number, q: number, n: number): number {
  return 1 - Math.pow(1 - p * q, n)
}

/** Jobs within which such a liar is caught with probability `confidence`. */
export function jobsToDetect(p: number, q: number, confidence: number): number {
  return Math.ceil(Math.log(1 - confidence) / Math.log(1 - p * q))
}

/**
 * The clock and random a runner's host reads, switched per run: the real ones (or the
 * runner's own), or, for a deterministic job, those derived from its id
 * (./deterministic-sources.ts). The host keeps `clock` and `random`, built once; which
 * source they read is chosen by `begin` and reset by `end`.
 */
import { deterministicSources } from './deterministic-sources.ts'
import type { ClockSource, RandomSource } from './sources.ts'

export class RunSources {
  /** What the host calls; reads the current run's clock. */
  readonly clock: ClockSource = (id, runStartNs) => this.currentClock(id, runStartNs)
  /** What the host calls; reads the current run's random. */
  readonly random: RandomSource = (dest) => this.currentRandom(dest)
  private currentClock: ClockSource
  private currentRandom: RandomSource

  constructor(
    private readonly realClock: ClockSource,
    private readonly realRandom: RandomSource,
  ) {
    this.currentClock = realClock
    this.currentRandom = realRandom
  }

  /** Picks the sources of a run: derived from `jobId` when `deterministic`, else the real ones. */
  begin(run: { deterministic?: boolean | undefined; jobId?: string | undefined }): void {
    if (run.deterministic !== true) return
    const sources = deterministicSources(run.jobId ?? '')
    this.currentClock = sources.clock
    this.currentRandom = sources.random
  }

  end(): void {
    this.currentClock = this.realClock
    this.currentRandom = this.realRandom
  }
}

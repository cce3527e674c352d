/**
 * Newcomers: an agent this requester has no record of yet — fewer than
 * `jobs` verified results — gets a capped share of the work while agents
 * with a record are there to take it:
 *   - at most `inFlight` of its jobs at once (a never-answering newcomer
 *     holds that many jobs hostage until they time out, not hundreds);
 *   - all newcomers together at most `share` of the last `window` assignments
 *     (a fresh key per fake agent buys no more).
 * With no agent of record usable, newcomers take jobs as anyone would (a
 * fresh mesh has only newcomers). Bounded (`maxAgents`). This caps what an
 * agent that answers fast with made-up but validly signed outputs can take
 * before it has a record; telling its outputs wrong is verification's job
 * (re-execution), not this file's.
 */
export interface NewcomerOptions {
  /** Verified results after which an agent has a record. */
  jobs: number
  /** Newcomers' share of the last `window` assignments, together. */
  share: number
  window: number
  /** Jobs a newcomer has in flight at once. */
  inFlight: number
  maxAgents: number
}

export class TrackRecord {
  private readonly verified = new Map<string, number>()
  private readonly recent: boolean[] = []
  private recentNewcomers = 0

  constructor(private readonly o: NewcomerOptions) {}

  isNewcomer(agent: string): boolean {
    return (this.verified.get(agent) ?? 0) < this.o.jobs
  }

  verifiedOf(agent: string): number {
    return this.verified.get(agent) ?? 0
  }

  /** A verified result of `agent`. */
  recordVerified(agent: string): void {
    const n = (this.verified.get(agent) ?? 0) + 1
    this.verified.delete(agent)
    this.verified.set(agent, n)
    if (this.verified.size > this.o.maxAgents) this.verified.delete(this.verified.keys().next().value as string)
  }

  /** An assignment went to `agent`. */
  recordAssigned(agent: string): void {
    const newcomer = this.isNewcomer(agent)
    this.recent.push(newcomer)
    if (newcomer) this.recentNewcomers++
    if (this.recent.length > this.o.window && this.recent.shift()) this.recentNewcomers--
  }

  /** Whether `agent` may take one more job now, with agents of record usable besides it. */
  withinCap(agent: string, inFlight: number): boolean {
    if (!this.isNewcomer(agent)) return true
    if (inFlight >= this.o.inFlight) return false
    return this.recentNewcomers + 1 <= this.o.share * Math.max(this.recent.length + 1, this.o.window)
  }
}

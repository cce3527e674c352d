/**
 * Newcomers: an agent this requester has no record of yet — fewer than
 * `jobs` verified results, or known for less than `ms` — gets a capped share
 * of the work while agents with a record are there to take it:
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
  /** Verified results after which an agent has a record... */
  jobs: number
  /** ...and time since this requester first heard of it (a fresh key cannot earn a record in a burst). */
  ms: number
  /** Newcomers' share of the last `window` assignments, together. */
  share: number
  window: number
  /** Jobs a newcomer has in flight at once. */
  inFlight: number
  maxAgents: number
}

interface Record_ {
  verified: number
  firstSeen: number
}

export class TrackRecord {
  private readonly records = new Map<string, Record_>()
  /** The agents of the last `window` assignments, oldest first. */
  private readonly recent: string[] = []

  constructor(private readonly o: NewcomerOptions, private readonly now: () => number) {}

  /** This requester heard of `agent` (its probation starts). */
  seen(agent: string): void {
    this.recordOf(agent)
  }

  isNewcomer(agent: string): boolean {
    const r = this.records.get(agent)
    return !r || r.verified < this.o.jobs || this.now() - r.firstSeen < this.o.ms
  }

  verifiedOf(agent: string): number {
    return this.records.get(agent)?.verified ?? 0
  }

  /** A verified result of `agent`. */
  recordVerified(agent: string): void {
    this.recordOf(agent).verified++
  }

  /** An assignment went to `agent`. */
  recordAssigned(agent: string): void {
    this.recent.push(agent)
    if (this.recent.length > this.o.window) this.recent.shift()
  }

  /** Whether `agent` may take one more job now, with agents of record usable besides it. */
  withinCap(agent: string, inFlight: number): boolean {
    if (!this.isNewcomer(agent)) return true
    if (inFlight >= this.o.inFlight) return false
    // the share of those still newcomers now (an agent that earned its record no longer counts)
    let newcomers = 0
    for (const a of this.recent) if (this.isNewcomer(a)) newcomers++
    return newcomers + 1 <= this.o.share * Math.max(this.recent.length + 1, this.o.window)
  }

  private recordOf(agent: string): Record_ {
    let r = this.records.get(agent)
    if (!r) {
      r = { verified: 0, firstSeen: this.now() }
      this.records.set(agent, r)
      if (this.records.size > this.o.maxAgents) this.records.delete(this.records.keys().next().value as string)
    }
    return r
  }
}

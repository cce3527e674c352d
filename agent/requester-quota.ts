/**
 * Per-requester slot quotas: while other requesters have jobs here, one
 * requester may hold at most `maxPerRequester` of an agent's jobs (running and
 * queued). Over it, the agent does not bid for that requester, and an
 * assignment sent anyway is answered `overloaded` (retryable: the requester
 * tries another agent). A requester alone on the agent may use it all (the
 * agent's queue limit still holds): the quota shares, it does not idle slots.
 * The map is bounded by the jobs in flight: a requester with none is forgotten.
 */
export class RequesterQuota {
  private readonly held = new Map<string, number>()
  private refused_ = 0

  constructor(readonly maxPerRequester: number) {}

  /** Whether `requester` is at its quota (and shares the agent with another requester). */
  full(requester: string): boolean {
    const n = this.held.get(requester) ?? 0
    return n >= this.maxPerRequester && this.held.size > (n > 0 ? 1 : 0)
  }

  /** Takes a slot for `requester`: a release function, or undefined (at its quota; counted). */
  enter(requester: string): (() => void) | undefined {
    const n = this.held.get(requester) ?? 0
    if (this.full(requester)) {
      this.refused_++
      return undefined
    }
    this.held.set(requester, n + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.held.get(requester) ?? 1) - 1
      if (left <= 0) this.held.delete(requester)
      else this.held.set(requester, left)
    }
  }

  stats(): { requesters: number; refused: number } {
    return { requesters: this.held.size, refused: this.refused_ }
  }
}

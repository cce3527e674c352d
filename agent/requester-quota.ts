/**
 * Per-requester slot quotas: one requester may hold at most `maxPerRequester`
 * of an agent's jobs (running and queued) at once. Over it, the agent does not
 * bid for that requester, and an assignment sent anyway is answered
 * `overloaded` (retryable: the requester tries another agent). The map is
 * bounded by the jobs in flight: a requester with none is forgotten.
 */
export class RequesterQuota {
  private readonly held = new Map<string, number>()
  private refused_ = 0

  constructor(readonly maxPerRequester: number) {}

  /** Whether `requester` is at its quota. */
  full(requester: string): boolean {
    return (this.held.get(requester) ?? 0) >= this.maxPerRequester
  }

  /** Takes a slot for `requester`: a release function, or undefined (at its quota; counted). */
  enter(requester: string): (() => void) | undefined {
    const n = this.held.get(requester) ?? 0
    if (n >= this.maxPerRequester) {
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

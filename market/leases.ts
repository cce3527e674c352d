/**
 * Leases: what an auction leaves behind. A bid is an agent's promise to take
 * jobs of one module, from this requester, at its price, for `leaseMs`. While
 * bids hold, jobs go straight to a leased agent — no auction per job — which
 * is how repeated sensor work runs at thousands of jobs per second.
 *
 * The pick rule (lowest score wins):
 *   score = price × (1 + in-flight / slots) × (0.5 if the agent is on the requester's site)
 * so price decides between idle agents, load spreads work between equals, and
 * locality is worth halving the price. Equal scores go to the agent idle longest.
 */
export interface Lease {
  agent: string
  publicKey: string
  price: number
  slots: number
  site: string | undefined
  until: number
  /** The pick (a counter, not a time: many picks share a millisecond) that last assigned to it; ties go to the one idle longest. */
  lastUsed?: number
}

/** Hooks on the pick rule: a score multiplier (lower wins) and the slots to count an agent with. */
export interface PickAdjust {
  weight?: (lease: Lease) => number
  slots?: (lease: Lease) => number
}

interface Group {
  leases: Map<string, Lease>
  refreshAt: number
}

export class LeaseBook {
  private readonly groups = new Map<string, Group>()
  private picks = 0
  /** Bumped by `refreshAll`: an auction that started before a bump is stale the moment it is granted. */
  private generation_ = 0

  constructor(private readonly site: string | undefined) {}

  /** The current generation, for an auction to pass back to `grant`. */
  get generation(): number {
    return this.generation_
  }

  /**
   * Records the bids of one auction for `key`; keeps leases of agents that did not bid again until they expire.
   * `since`: the generation when the auction started — if `refreshAll` came after, the group is due again at once
   * (an agent that joined while the offer was out did not hear it).
   */
  grant(key: string, leases: Lease[], refreshAt: number, since = this.generation_): void {
    if (since !== this.generation_) refreshAt = 0
    let g = this.groups.get(key)
    if (!g) {
      g = { leases: new Map(), refreshAt }
      this.groups.set(key, g)
    }
    g.refreshAt = refreshAt
    for (const l of leases) g.leases.set(l.agent, { ...l, lastUsed: g.leases.get(l.agent)?.lastUsed ?? 0 })
  }

  /**
   * Picks the best usable lease, dropping expired ones. `adjust` (market/pick-policy.ts) may scale
   * a lease's score (reputation, distinct owners) and discount the slots it advertised (capacity).
   */
  pick(
    key: string,
    now: number,
    usable: (agent: string) => boolean,
    inflight: (agent: string) => number,
    adjust?: PickAdjust,
  ): Lease | undefined {
    const g = this.groups.get(key)
    if (!g) return undefined
    let best: Lease | undefined
    let bestScore = Infinity
    for (const l of g.leases.values()) {
      if (l.until <= now) {
        g.leases.delete(l.agent)
        continue
      }
      if (!usable(l.agent)) continue
      // a free agent costs its price; +1 so that price-0 agents still spread load
      let score = (l.price + 1) * (1 + inflight(l.agent) / (adjust?.slots?.(l) ?? l.slots))
      if (adjust?.weight) score *= adjust.weight(l)
      if (this.site !== undefined && l.site === this.site) score *= 0.5
      if (score < bestScore || (score === bestScore && (l.lastUsed ?? 0) < (best?.lastUsed ?? 0))) {
        best = l
        bestScore = score
      }
    }
    if (best) best.lastUsed = ++this.picks
    return best
  }

  /** True when the group is due for a fresh auction (bids about to lapse, or new agents to hear from). */
  dueForRefresh(key: string, now: number): boolean {
    const g = this.groups.get(key)
    return !g || now >= g.refreshAt
  }

  /** Makes every group hold a fresh auction at its next use (a new agent came online). */
  refreshAll(): void {
    this.generation_++
    for (const g of this.groups.values()) g.refreshAt = 0
  }

  /** Forgets an agent everywhere (it went away). */
  drop(agent: string): void {
    for (const g of this.groups.values()) g.leases.delete(agent)
  }
}

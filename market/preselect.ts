/**
 * Requester-side pre-selection: which agents an auction's offer goes to.
 *
 * Offering every job to every agent costs O(agents) messages and bids per
 * auction; at a thousand agents that is the whole budget. Instead the
 * requester ranks the eligible agents it knows from their signed presence and
 * heartbeats (price, load, site) and from its own track record of them
 * (verified results), takes the best `k - explore`, and adds `explore` drawn
 * at random from the rest (so a new agent gets work and a record) — `k`
 * candidates in all. The offer goes to each on `fm/v1/agents/<id>/offers`
 * when every candidate says `directOffers` in its presence; a candidate that
 * does not (an older agent) hears it on the broadcast topic as before.
 *
 * Nothing unsigned counts more than it did: price, site, slots and
 * `directOffers` come from the presence the agent signed, load from its
 * signed heartbeats; a claim that is a lie earns an agent an offer, never work
 * (the auction still takes only bids signed by the agent, within `maxPrice`).
 *
 * When no chosen agent bids within the auction's window, the offer widens:
 * the next `widenBy × k` by rank, then `widenBy² × k`, one step per window,
 * at last everyone left on the broadcast topic (`widen`).
 *
 * The rank (lowest first):
 *   score = (price + 1) × (1 + load / slots) × (0.5 on the requester's site) / (1 + log2(1 + verified))
 * so price decides between idle agents, load spreads offers between equals,
 * locality halves the price and a record of verified results is worth up to a
 * few times the price. Equal scores: the agent offered to longest ago first.
 */
import { mergeOptions, type Ranges } from '../protocol/options.ts'

export interface PreselectOptions {
  /** Candidates an offer goes to (0: every eligible agent, the broadcast of old). Default 8. */
  k?: number
  /** Of those, drawn at random from outside the best ranked (newcomers get work). Default 2. */
  explore?: number
  /** When none of the chosen bid within the window, the next `widenBy × k` by rank are asked, then `widenBy² × k`, … one step per window; the last step is a broadcast. Default 4. */
  widenBy?: number
  /** A number in [0, 1) (default Math.random; tests pass a seeded one). */
  random?: () => number
}

export const PRESELECT_DEFAULTS = { k: 8, explore: 2, widenBy: 4 }
const RANGES: Ranges<PreselectOptions> = {
  k: { min: 0, max: 10_000, integer: true },
  explore: { min: 0, max: 10_000, integer: true },
  widenBy: { min: 1, max: 10_000, integer: true },
}

/** What the requester knows of one eligible agent. */
export interface Candidate {
  id: string
  price: number
  slots: number
  /** running + queued, from its last signed heartbeat. */
  load: number
  site: string | undefined
  /** Results of its this requester verified. */
  verified: number
  /** Its presence says it hears `fm/v1/agents/<id>/offers`. */
  direct: boolean
}

export interface Selection {
  /** The agents the offer goes to (all of them when there are at most `k`). */
  chosen: Candidate[]
  /** True when every eligible agent is chosen (nothing left to widen to). */
  all: boolean
  /** True when a chosen agent hears offers only on the broadcast topic. */
  broadcast: boolean
  /** The eligible agents not chosen, best ranked first (what widening takes from). */
  rest: Candidate[]
  /** Widening steps taken so far. */
  steps: number
}

export class Preselector {
  readonly k: number
  readonly explore: number
  readonly widenBy: number
  private readonly random: () => number
  /** When each agent was last offered to (a counter): ties go to the one offered to longest ago. Bounded by the candidates seen. */
  private readonly lastOffered = new Map<string, number>()
  private offers = 0

  constructor(options: PreselectOptions = {}, private readonly site?: string, private readonly maxTracked = 10_000) {
    const o = mergeOptions(options, PRESELECT_DEFAULTS, RANGES, 'preselect')
    this.k = o.k
    this.explore = Math.min(o.explore, o.k)
    this.widenBy = o.widenBy
    this.random = o.random ?? Math.random
  }

  score(c: Candidate): number {
    let s = (c.price + 1) * (1 + c.load / Math.max(1, c.slots))
    if (this.site !== undefined && c.site === this.site) s *= 0.5
    return s / (1 + Math.log2(1 + c.verified))
  }

  /** The candidates of one offer, from the eligible agents. */
  select(eligible: readonly Candidate[]): Selection {
    let chosen: Candidate[]
    let rest: Candidate[] = []
    if (this.k === 0 || eligible.length <= this.k) chosen = [...eligible]
    else {
      const ranked = eligible
        .map((c) => ({ c, s: this.score(c), last: this.lastOffered.get(c.id) ?? 0 }))
        .sort((a, b) => a.s - b.s || a.last - b.last)
      const best = this.k - this.explore
      chosen = ranked.slice(0, best).map((r) => r.c)
      // explore: a uniform draw without replacement from the rest (a partial Fisher–Yates)
      const pool = ranked.slice(best).map((r) => r.c)
      const drawn = new Set<Candidate>()
      for (let i = 0; i < this.explore && i < pool.length; i++) {
        const j = i + Math.floor(this.random() * (pool.length - i))
        ;[pool[i], pool[j]] = [pool[j]!, pool[i]!]
        drawn.add(pool[i]!)
        chosen.push(pool[i]!)
      }
      rest = ranked.slice(best).map((r) => r.c).filter((c) => !drawn.has(c))
    }
    const stamp = ++this.offers
    for (const c of chosen) {
      this.lastOffered.delete(c.id)
      this.lastOffered.set(c.id, stamp)
    }
    while (this.lastOffered.size > this.maxTracked) this.lastOffered.delete(this.lastOffered.keys().next().value as string)
    return { chosen, all: chosen.length === eligible.length, broadcast: chosen.some((c) => !c.direct), rest, steps: 0 }
  }

  /**
   * Those asked stayed silent: the next `widenBy^step × k` of the selection's rest by rank (taken out
   * of it), on their own topics — or, when that would leave few behind or one of them hears only
   * broadcasts, all the rest on the broadcast topic (one message instead of hundreds). Geometric, so
   * a thousand agents are all asked within a few windows (k 8, widenBy 4: 32, 128, then everyone).
   */
  widen(selection: Selection): { next: Candidate[]; broadcast: boolean } {
    const rest = selection.rest
    selection.steps++
    const n = Math.max(1, Math.min(rest.length, this.k * this.widenBy ** selection.steps))
    if (rest.length <= 2 * n || rest.slice(0, n).some((c) => !c.direct)) return { next: rest.splice(0), broadcast: true }
    return { next: rest.splice(0, n), broadcast: false }
  }
}

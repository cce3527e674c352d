/**
 * The penalty box: where an agent that failed a job it took — no result in
 * time, or a wrong result it signed itself — sits out, instead of winning the
 * next auction on its price. The first strike costs `baseMs`, each further
 * one doubles it, up to `maxMs`; a verified result clears the strikes.
 * While boxed an agent is neither assigned (its leases are skipped) nor
 * waited for in auctions. Bounded (`maxAgents`, the oldest strike record is
 * forgotten first); `boxed` events say who went in and for how long.
 */
import { EventEmitter } from 'node:events'

export interface PenaltyBoxOptions {
  /** Time out after the first strike. */
  baseMs: number
  /** Longest time out. */
  maxMs: number
  /** Agents with strikes kept. */
  maxAgents: number
}

interface Strikes {
  count: number
  until: number
}

export interface PenaltyBoxEvents {
  boxed: [{ agent: string; strikes: number; forMs: number; reason: string }]
}

export class PenaltyBox extends EventEmitter<PenaltyBoxEvents> {
  private readonly strikes = new Map<string, Strikes>()

  constructor(private readonly o: PenaltyBoxOptions) {
    super()
  }

  /** One more strike for `agent`: it sits out base × 2^(strikes−1), at most maxMs. */
  strike(agent: string, now: number, reason: string): void {
    const s = this.strikes.get(agent) ?? { count: 0, until: 0 }
    s.count++
    const forMs = Math.min(this.o.maxMs, this.o.baseMs * 2 ** Math.min(s.count - 1, 30))
    s.until = now + forMs
    this.strikes.delete(agent)
    this.strikes.set(agent, s)
    if (this.strikes.size > this.o.maxAgents) this.strikes.delete(this.strikes.keys().next().value as string)
    this.emit('boxed', { agent, strikes: s.count, forMs, reason })
  }

  /** A verified result: the agent's record is clean again. */
  clear(agent: string): void {
    this.strikes.delete(agent)
  }

  isBoxed(agent: string, now: number): boolean {
    const s = this.strikes.get(agent)
    return s !== undefined && s.until > now
  }

  strikesOf(agent: string): number {
    return this.strikes.get(agent)?.count ?? 0
  }
}

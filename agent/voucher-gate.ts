/**
 * The door in front of voucher intake: forged or flooded vouchers are refused
 * before they cost a chain look-up each.
 *
 * - vouchers waiting for intake are bounded (`maxPending`);
 * - every channel has a rate (token bucket, `perChannelPerSecond`);
 * - a channel the agent has not seen yet costs one chain look-up, and those
 *   are rate limited (`lookupsPerSecond`) — the rest are refused at once;
 * - a channel the chain said is not ours (or does not exist) is remembered
 *   (`badChannelsKept`, for `badChannelTtlMs`) and refused without a look-up.
 *
 * Known channels are checked against the settler's cached channel state; a
 * voucher passes here only when it may be worth that check.
 */
import { RecentMap, RecentSet } from '../protocol/recent-set.ts'
import { TokenBucket } from '../protocol/token-bucket.ts'

export interface VoucherGateLimits {
  maxPending: number
  perChannelPerSecond: number
  lookupsPerSecond: number
  badChannelsKept: number
  badChannelTtlMs: number
}

export const VOUCHER_GATE_DEFAULTS: VoucherGateLimits = {
  maxPending: 1000,
  perChannelPerSecond: 100,
  lookupsPerSecond: 20,
  badChannelsKept: 10_000,
  badChannelTtlMs: 60_000,
}

export type GateVerdict = { ok: true; release: () => void } | { ok: false; reason: 'Busy' | 'RateLimited' | 'NotPayee' }

export class VoucherGate {
  private pending = 0
  private readonly known: RecentSet
  private readonly bad: RecentMap<number>
  private readonly rates: RecentMap<TokenBucket>
  private readonly lookups: TokenBucket
  private readonly refused: Record<string, number> = {}

  constructor(private readonly limits: VoucherGateLimits = VOUCHER_GATE_DEFAULTS, private readonly now: () => number = () => performance.now()) {
    this.known = new RecentSet(limits.badChannelsKept)
    this.bad = new RecentMap(limits.badChannelsKept)
    this.rates = new RecentMap(limits.badChannelsKept)
    this.lookups = new TokenBucket(limits.lookupsPerSecond, limits.lookupsPerSecond, now())
  }

  /** Whether a voucher on `channel` may go on to intake; `release` when its intake is done. */
  admit(channel: string): GateVerdict {
    const now = this.now()
    const refuse = (reason: 'Busy' | 'RateLimited' | 'NotPayee'): GateVerdict => {
      this.refused[reason] = (this.refused[reason] ?? 0) + 1
      return { ok: false, reason }
    }
    const badUntil = this.bad.get(channel)
    if (badUntil !== undefined && badUntil > now) return refuse('NotPayee')
    if (this.pending >= this.limits.maxPending) return refuse('Busy')
    let rate = this.rates.get(channel)
    if (!rate) {
      rate = new TokenBucket(this.limits.perChannelPerSecond, this.limits.perChannelPerSecond, now)
      this.rates.set(channel, rate)
    }
    if (!rate.take(now)) return refuse('RateLimited')
    if (!this.known.has(channel) && !this.lookups.take(now)) return refuse('RateLimited')
    this.pending++
    let done = false
    return {
      ok: true,
      release: () => {
        if (done) return
        done = true
        this.pending--
      },
    }
  }

  /** What intake said of a channel: known good, or not ours (then refused without a look-up for a while). */
  learned(channel: string, ours: boolean): void {
    if (ours) this.known.add(channel)
    else this.bad.set(channel, this.now() + this.limits.badChannelTtlMs)
  }

  stats(): { pending: number; refused: Record<string, number> } {
    return { pending: this.pending, refused: { ...this.refused } }
  }
}

/**
 * Choosing an agent for a job: a lease first (what an earlier auction left
 * behind, leases.ts), an auction when there is none.
 *
 * An auction offers the job on `fm/v1/market/offers` and closes when every
 * eligible online agent has bid, or when the window ends, whichever is first.
 * A window that ends with no bid at all stays open for the first one, up to
 * `noBidWaitMs` (a busy device answers late; one late bid beats `no_agents`).
 * A bid counts only from an agent that is still online and eligible and
 * within the job's `maxPrice`. One auction per lease key runs at a time;
 * concurrent jobs wait on the same one. A lease group is auctioned again when
 * 70% of its shortest lease has passed (or a new agent joined).
 *
 * With pre-selection (market/preselect.ts) the offer goes to the `k` best
 * candidates only, on their own offer topics, and the auction waits for
 * their bids; when the window ends with none of them bidding, it widens, one
 * step per window, each step waiting twice as long as the one before: the next `widenBy × k`
 * by rank, then `widenBy² × k`, at last every eligible agent on the broadcast topic; the first
 * bid then closes it (as a late bid does).
 *
 * Agents the requester does not take (`takes`: not admitted, in the penalty
 * box) are neither offered to nor picked; a newcomer over its cap
 * (`withinCap`) is picked only when no other agent is usable.
 */
import { randomBytes } from 'node:crypto'
import type { Clock, Timer } from '../protocol/clock.ts'
import { ineligibility } from '../protocol/eligibility.ts'
import type { Bid, Offer } from '../protocol/messages.ts'
import { topics } from '../protocol/topics.ts'
import type { Connection } from '../protocol/transport.ts'
import type { AgentDirectory } from './directory.ts'
import type { JobRequest } from './job.ts'
import type { Lease, LeaseBook, PickAdjust } from './leases.ts'
import type { AgentRecord } from './directory.ts'
import type { Candidate, Preselector } from './preselect.ts'

export interface AuctionReport {
  module: string
  bids: number
  eligible: number
  ms: number
  /** Agents the offer went to first, when pre-selection chose fewer than all eligible. */
  offered?: number
  /** Times the offer widened because no one asked bid within a window. */
  widened?: number
}

export interface AuctioneerOptions {
  conn: Connection
  requesterId: string
  /** Where bids come back (the requester's inbox). */
  replyTo: string
  directory: AgentDirectory
  leases: LeaseBook
  clock: Clock
  /** Longest an auction waits for bids once it has one. */
  windowMs: number
  /** Longest an auction that has no bid yet waits for the first (at least `windowMs`). Default 2,000 ms. */
  noBidWaitMs?: number
  /** Told of every auction held. */
  onAuction: (report: AuctionReport) => void
  /** The requester's ed25519 key, in offers (agents bid for requesters they accept). */
  requesterKey: string
  /** The requester's paying address, in offers, when it pays through channels. */
  payer?: string
  /** Whether the requester gives work to this agent at all right now. */
  takes: (agent: string) => boolean
  /** Whether the agent may take one more job now (a newcomer's cap); preferred over those that may not. */
  withinCap: (agent: string) => boolean
  /** Offers to the best candidates only (market/preselect.ts); without it every offer is broadcast. */
  preselect?: Preselector
  /** Results of `agent` this requester verified (its track record, for pre-selection). */
  verified?: (agent: string) => number
}

interface OpenAuction {
  expected: Set<string>
  bids: Bid[]
  /** The window has ended: the first bid to arrive closes the auction. */
  overdue: boolean
  done: () => void
}

const NO_BID_WAIT_MS = 2000

/** The fraction of the shortest lease after which a group is auctioned again. */
const REFRESH_AT = 0.7

export class Auctioneer {
  private readonly open = new Map<string, OpenAuction>()
  private readonly byKey = new Map<string, Promise<void>>()

  constructor(private readonly o: AuctioneerOptions) {}

  /**
   * The lease to assign `job` to, skipping `exclude` and agents not online; undefined when no agent will take it.
   * `policy.claim` is told of the pick at once, before any other waiting pick decides (so loads and caps are never stale).
   * A lease at hand is returned as it is (no promise: the leased path takes no extra turn); an auction, as a promise.
   */
  pick(
    job: JobRequest,
    exclude: ReadonlySet<string>,
    inflight: (agent: string) => number,
    policy?: { admit?: ((agent: string) => boolean) | undefined; claim?: (agent: string) => void } & PickAdjust,
  ): Lease | Promise<Lease | undefined> {
    const key = leaseKey(job)
    const usable = (a: string) => !exclude.has(a) && this.o.directory.get(a)?.state === 'online' && this.o.takes(a) && (policy?.admit?.(a) ?? true)
    const preferred = (a: string) => usable(a) && this.o.withinCap(a)
    const pick = (now: number) => {
      const l = this.o.leases.pick(key, now, preferred, inflight, policy) ?? this.o.leases.pick(key, now, usable, inflight, policy)
      if (l) policy?.claim?.(l.agent)
      return l
    }
    const now = this.o.clock.now()
    const lease = pick(now)
    if (lease) {
      if (this.o.leases.dueForRefresh(key, now)) this.auction(key, job).catch(() => {})
      return lease
    }
    return this.auction(key, job).then(() => pick(this.o.clock.now()))
  }

  /** Whether a bid would count: it answers an open auction and names an agent that auction waits for (checked before its signature, which costs more). */
  awaits(bid: Pick<Bid, 'offerId' | 'agent'>): boolean {
    return this.open.get(bid.offerId)?.expected.has(bid.agent) === true
  }

  /** A bid from the inbox: counted when it answers an open auction and comes from an agent it waits for. */
  onBid(bid: Bid): void {
    const open = this.open.get(bid.offerId)
    if (!open || !open.expected.has(bid.agent)) return
    open.expected.delete(bid.agent)
    open.bids.push(bid)
    if (open.expected.size === 0 || open.overdue) open.done()
  }

  private auction(key: string, job: JobRequest): Promise<void> {
    let p = this.byKey.get(key)
    if (!p) {
      p = this.run(key, job).finally(() => this.byKey.delete(key))
      this.byKey.set(key, p)
    }
    return p
  }

  private async run(key: string, job: JobRequest): Promise<void> {
    const { directory, clock } = this.o
    const started = clock.now()
    const generation = this.o.leases.generation
    const eligible = directory.list('online').filter((a) => this.o.takes(a.presence.id) && (!job.sealed || a.presence.boxKey !== undefined) && ineligibility(a.presence, job) === undefined)
    if (eligible.length === 0) {
      this.o.onAuction({ module: job.module, bids: 0, eligible: 0, ms: 0 })
      return
    }
    const offerId = randomBytes(8).toString('hex')
    const selection = this.o.preselect?.select(eligible.map((a) => this.candidate(a)))
    const first = selection ? selection.chosen.map((c) => c.id) : eligible.map((a) => a.presence.id)
    const open: OpenAuction = { expected: new Set(first), bids: [], overdue: false, done: () => {} }
    const closed = new Promise<void>((resolve) => (open.done = resolve))
    let widened = 0
    let payload = ''
    let widenTimer: Timer | undefined
    const widen = () => {
      if (open.bids.length > 0) return open.done()
      open.overdue = true
      if (!selection || selection.rest.length === 0) return
      // no one asked bid: the next by rank hear it, one step per window (the last step a broadcast)
      const { next, broadcast } = this.o.preselect!.widen(selection)
      widened++
      for (const c of next) open.expected.add(c.id)
      if (broadcast) this.o.conn.publish(topics.offers, payload, { qos: 0 })
      else for (const c of next) this.o.conn.publish(topics.agentOffers(c.id), payload, { qos: 0 })
      // each step waits twice as long as the one before (100, 200, 400 ms…): an agent slow under load is given time before hundreds are asked
      if (selection.rest.length > 0) widenTimer = clock.setTimeout(widen, this.o.windowMs * 2 ** selection.steps)
    }
    const timer = clock.setTimeout(widen, this.o.windowMs)
    const giveUp = clock.setTimeout(() => open.done(), Math.max(this.o.windowMs, this.o.noBidWaitMs ?? NO_BID_WAIT_MS))
    this.open.set(offerId, open)
    const offer: Offer = {
      offerId, requester: this.o.requesterId, replyTo: this.o.replyTo, module: job.module,
      ...(job.limits ? { limits: job.limits } : {}),
      ...(job.constraints ? { constraints: job.constraints } : {}),
      ...(job.maxPrice !== undefined ? { maxPrice: job.maxPrice } : {}),
      requesterKey: this.o.requesterKey,
      ...(job.sealed ? { sealed: true } : {}),
      ...(this.o.payer ? { payer: this.o.payer } : {}),
    }
    payload = JSON.stringify(offer)
    if (!selection || selection.broadcast) this.o.conn.publish(topics.offers, payload, { qos: 0 })
    else for (const id of first) this.o.conn.publish(topics.agentOffers(id), payload, { qos: 0 })
    await closed
    timer.cancel()
    widenTimer?.cancel()
    giveUp.cancel()
    this.open.delete(offerId)
    const now = clock.now()
    const leases: Lease[] = []
    for (const b of open.bids) {
      const a = directory.get(b.agent)
      if (!a || a.state !== 'online' || !this.o.takes(b.agent) || ineligibility(a.presence, job) !== undefined) continue
      if (job.maxPrice !== undefined && b.price > job.maxPrice) continue
      leases.push({ agent: b.agent, publicKey: a.presence.publicKey, price: b.price, slots: b.slots, site: a.presence.labels.site, until: now + b.leaseMs })
    }
    const shortest = leases.reduce((m, l) => Math.min(m, l.until - now), Infinity)
    this.o.leases.grant(key, leases, now + (Number.isFinite(shortest) ? shortest * REFRESH_AT : 0), generation)
    this.o.onAuction({ module: job.module, bids: leases.length, eligible: eligible.length, ms: now - started, ...(first.length < eligible.length ? { offered: first.length } : {}), ...(widened ? { widened } : {}) })
  }

  private candidate(a: AgentRecord): Candidate {
    const p = a.presence
    return {
      id: p.id, price: p.price.perJob, slots: p.capacity.slots, load: a.load.running + a.load.queued, site: p.labels.site,
      verified: this.o.verified?.(p.id) ?? 0, direct: p.directOffers === true,
    }
  }
}

/** Jobs share leases when they ask for the same module under the same terms. */
export function leaseKey(job: JobRequest): string {
  return `${job.module}|${JSON.stringify(job.limits ?? null)}|${JSON.stringify(job.constraints ?? null)}|${job.maxPrice ?? ''}|${job.sealed ? 'sealed' : ''}`
}

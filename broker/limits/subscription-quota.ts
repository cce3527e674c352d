/**
 * Subscriptions per client and in total. A SUBSCRIBE over a quota is granted
 * 0x80 (failure) for the filters over it; a client that has been refused
 * twice `maxSubscriptionsPerClient` filters in a row is disconnected (it was
 * told; its requests would otherwise cost the broker without end).
 *
 * Counting is incremental (a subscribe adds one when its filter is new to the
 * client); at the cap the client's real subscriptions are counted once, so
 * unsubscribes free room without being tracked one by one.
 */
import type { Client } from 'aedes'
import { internals } from './aedes-internals.ts'
import type { BrokerLimits, LimitEvent } from './broker-limits.ts'

/** How long a client that went on subscribing past its cap has before it is disconnected. */
const CLOSE_DELAY_MS = 250

export class SubscriptionQuota {
  private readonly counts = new WeakMap<Client, number>()
  /** Filters refused per client since it last had room (one `limit` event per episode). */
  private readonly refused = new WeakMap<Client, number>()
  private total = 0

  constructor(
    private readonly limits: Pick<BrokerLimits, 'maxSubscriptionsPerClient' | 'maxSubscriptions'>,
    private readonly onLimit: (e: LimitEvent) => void,
  ) {}

  /** Whether `client` may subscribe to `filter`; counts it when yes. */
  allow(client: Client, filter: string): boolean {
    const c = internals(client)
    if (c.closed) return false // it went away while its SUBSCRIBE was on its way here: nothing to count
    const subs = c.subscriptions
    if (Object.hasOwn(subs, filter)) return true // a new QoS for a filter it holds
    let n = this.counts.get(client) ?? 0
    if (n >= this.limits.maxSubscriptionsPerClient) n = this.recount(client)
    if (n >= this.limits.maxSubscriptionsPerClient) return this.deny(client, 'maxSubscriptionsPerClient', n + 1, this.limits.maxSubscriptionsPerClient)
    if (this.total >= this.limits.maxSubscriptions) return this.deny(client, 'maxSubscriptions', this.total + 1, this.limits.maxSubscriptions)
    this.refused.delete(client)
    this.counts.set(client, n + 1)
    this.total++
    return true
  }

  private deny(client: Client, limit: 'maxSubscriptionsPerClient' | 'maxSubscriptions', value: number, cap: number): false {
    const refused = (this.refused.get(client) ?? 0) + 1
    this.refused.set(client, refused)
    if (refused === 1) this.onLimit({ limit, action: 'denied', clientId: client.id ?? '', value, cap })
    if (refused === 2 * this.limits.maxSubscriptionsPerClient) {
      this.onLimit({ limit, action: 'closed', clientId: client.id ?? '', value: refused, cap })
      // a moment for the SUBACKs (0x80) being written to reach it; what it sends meanwhile is refused as above
      setTimeout(() => internals(client).conn.destroy(), CLOSE_DELAY_MS).unref()
    }
    return false
  }

  /** A client is gone: its subscriptions no longer count towards the total (a persistent session's stay in the session store). */
  release(client: Client): void {
    this.refused.delete(client)
    const n = this.counts.get(client)
    if (n === undefined) return
    this.total -= n
    this.counts.delete(client)
  }

  private recount(client: Client): number {
    const real = Object.keys(internals(client).subscriptions).length
    const was = this.counts.get(client) ?? 0
    this.total += real - was
    this.counts.set(client, real)
    return real
  }

  stats(): { subscriptions: number } {
    return { subscriptions: this.total }
  }
}

/**
 * Subscriptions per client and in total. A SUBSCRIBE over a quota is granted
 * 0x80 (failure) for the filters over it; the client stays connected.
 *
 * Counting is incremental (a subscribe adds one when its filter is new to the
 * client); at the cap the client's real subscriptions are counted once, so
 * unsubscribes free room without being tracked one by one.
 */
import type { Client } from 'aedes'
import { internals } from './aedes-internals.ts'
import type { BrokerLimits, LimitEvent } from './broker-limits.ts'

export class SubscriptionQuota {
  private readonly counts = new WeakMap<Client, number>()
  private total = 0

  constructor(
    private readonly limits: Pick<BrokerLimits, 'maxSubscriptionsPerClient' | 'maxSubscriptions'>,
    private readonly onLimit: (e: LimitEvent) => void,
  ) {}

  /** Whether `client` may subscribe to `filter`; counts it when yes. */
  allow(client: Client, filter: string): boolean {
    const subs = internals(client).subscriptions
    if (Object.hasOwn(subs, filter)) return true // a new QoS for a filter it holds
    let n = this.counts.get(client) ?? 0
    if (n >= this.limits.maxSubscriptionsPerClient) n = this.recount(client)
    if (n >= this.limits.maxSubscriptionsPerClient) {
      this.onLimit({ limit: 'maxSubscriptionsPerClient', action: 'denied', clientId: client.id ?? '', value: n + 1, cap: this.limits.maxSubscriptionsPerClient })
      return false
    }
    if (this.total >= this.limits.maxSubscriptions) {
      this.onLimit({ limit: 'maxSubscriptions', action: 'denied', clientId: client.id ?? '', value: this.total + 1, cap: this.limits.maxSubscriptions })
      return false
    }
    this.counts.set(client, n + 1)
    this.total++
    return true
  }

  /** A client is gone: its subscriptions no longer count towards the total (a persistent session's stay in the session store). */
  release(client: Client): void {
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

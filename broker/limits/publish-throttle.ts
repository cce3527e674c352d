/**
 * Per-client publish rates (messages/s and bytes/s, token buckets). A client
 * over its rate is slowed down, not dropped: its PUBLISH is held until the
 * bucket refills, and aedes reads nothing more from that client until the
 * packets it is handling are done — TCP pushes back on the noisy client only.
 */
import type { Client } from 'aedes'
import { TokenBucket } from '../../protocol/token-bucket.ts'
import type { BrokerLimits, LimitEvent } from './broker-limits.ts'

interface ClientRate {
  msgs: TokenBucket
  bytes: TokenBucket
  waiting: Array<{ bytes: number; go: () => void }>
  timer: NodeJS.Timeout | undefined
}

export class PublishThrottle {
  private readonly rates = new WeakMap<Client, ClientRate>()

  constructor(
    private readonly limits: Pick<BrokerLimits, 'publishRatePerClient' | 'publishBytesPerClient'>,
    private readonly onLimit: (e: LimitEvent) => void,
  ) {}

  /** Calls `go` now when `client` is within its rates, else once it is. */
  take(client: Client, bytes: number, go: () => void): void {
    if (this.tryTake(client, bytes)) return go()
    this.wait(client, bytes, go)
  }

  private rate(client: Client, now: number): ClientRate {
    let r = this.rates.get(client)
    if (!r) {
      const { publishRatePerClient: m, publishBytesPerClient: b } = this.limits
      r = { msgs: new TokenBucket(m, m, now), bytes: new TokenBucket(b, b, now), waiting: [], timer: undefined }
      this.rates.set(client, r)
    }
    return r
  }

  /** Takes a message and `bytes` from `client`'s buckets when it is within its rates and nothing of it waits. */
  tryTake(client: Client, bytes: number): boolean {
    const now = performance.now()
    const r = this.rate(client, now)
    if (r.waiting.length > 0 || !r.msgs.take(now, 1)) return false
    if (r.bytes.take(now, bytes)) return true
    r.msgs.give(1) // the message waits for bytes: its token goes back
    return false
  }

  /** Calls `go` once `client` is within its rates again (after a `tryTake` that failed). */
  wait(client: Client, bytes: number, go: () => void): void {
    const now = performance.now()
    const r = this.rate(client, now)
    // which bucket held it: messages when there are none left, else bytes
    const byBytes = r.msgs.balance(now) >= 1
    if (r.waiting.length === 0) {
      this.onLimit({
        limit: byBytes ? 'publishBytesPerClient' : 'publishRatePerClient', action: 'throttled', clientId: client.id ?? '',
        value: byBytes ? bytes : 1, cap: byBytes ? this.limits.publishBytesPerClient : this.limits.publishRatePerClient,
      })
    }
    r.waiting.push({ bytes, go })
    this.schedule(client, r)
  }

  private schedule(client: Client, r: ClientRate): void {
    if (r.timer || r.waiting.length === 0) return
    const now = performance.now()
    const head = r.waiting[0]!
    const ms = Math.max(r.msgs.waitMs(now, 1), r.bytes.waitMs(now, head.bytes), 1)
    r.timer = setTimeout(() => {
      r.timer = undefined
      this.release(client, r)
    }, ms)
  }

  private release(client: Client, r: ClientRate): void {
    const now = performance.now()
    while (r.waiting.length > 0) {
      const head = r.waiting[0]!
      if (!r.msgs.take(now, 1)) break
      if (!r.bytes.take(now, head.bytes)) {
        r.msgs.give(1)
        break
      }
      r.waiting.shift()
      head.go()
    }
    this.schedule(client, r)
  }
}

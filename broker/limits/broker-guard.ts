/**
 * The broker's limits wired into aedes: its policy hooks (preConnect,
 * authenticate, authorizePublish, authorizeSubscribe, authorizeForward,
 * published) wrap the embedder's own, and `accept` puts each new connection
 * under the connection gate, the packet caps and the slow-subscriber bound
 * before aedes reads a byte of it. No stream sits between a socket and aedes.
 *
 * Stack safety: mqemitter (aedes' message bus) with a concurrency limit
 * queues messages past it, and `released` then runs the next queued message
 * from inside the completion of the previous one; a message with no
 * subscriber completes synchronously, so a queue of them recurses once per
 * message (mqemitter.js `released` → `_do` → fastparallel → `released`: the
 * "Maximum call stack size exceeded" of a QoS 0 flood). Here mqemitter runs
 * without a concurrency limit (it never queues: memory is bounded by the
 * per-client read loop and the slow-subscriber bound instead), and the
 * `published` hook hands a publish completion that nests too deeply to
 * `setImmediate`, so no synchronous chain of completions outgrows the stack.
 */
import type { AedesOptions, Client, PublishPacket, Subscription } from 'aedes'
import type { Duplex } from 'node:stream'
import { PREFIX } from '../../protocol/topics.ts'
import type { BrokerLimits, LimitEvent } from './broker-limits.ts'
import { ConnectionGate, isLimitEvent, type Admission } from './connection-gate.ts'
import { capPackets, type PacketViolation } from './packet-caps.ts'
import { PublishThrottle } from './publish-throttle.ts'
import { RetainedQuota } from './retained-quota.ts'
import { SessionStore } from './session-store.ts'
import { SlowSubscribers } from './slow-subscribers.ts'
import { SubscriptionQuota } from './subscription-quota.ts'

/** Retained PUBLISH packets larger than this are checked against the retained quotas at their header. */
const RETAINED_HEADER_CHECK_BYTES = 4096

/** Nested synchronous publish completions allowed before one is deferred. */
const MAX_SYNC_DEPTH = 32

type Callback = (err?: Error | null) => void
type AuthError = Error & { returnCode: number }

export interface GuardEvents {
  limit(e: LimitEvent): void
  violation(v: PacketViolation & { remote: string }): void
}

export interface GuardStats {
  connections: number
  pending: number
  subscriptions: number
  retained: number
  retainedBytes: number
  queuedBytes: number
  droppedQueued: number
  droppedSlow: number
  disconnectedSlow: number
}

export class BrokerGuard {
  readonly gate: ConnectionGate
  private readonly throttle: PublishThrottle
  private readonly subs: SubscriptionQuota
  private readonly retained: RetainedQuota
  private readonly slow: SlowSubscribers
  readonly sessions: SessionStore
  private readonly admissions = new WeakMap<object, Admission>()
  private readonly rejectId = new WeakSet<Client>()
  private depth = 0

  constructor(readonly limits: BrokerLimits, private readonly on: GuardEvents) {
    const emit = (e: LimitEvent) => on.limit(e)
    this.gate = new ConnectionGate(limits)
    this.throttle = new PublishThrottle(limits, emit)
    this.subs = new SubscriptionQuota(limits, emit)
    this.retained = new RetainedQuota(limits)
    this.slow = new SlowSubscribers(limits, emit)
    this.sessions = new SessionStore(limits, emit)
  }

  /** aedes options with the limits' hooks around `user`'s hooks. */
  aedesOptions(user: AedesOptions = {}): AedesOptions {
    const { preConnect, authenticate, authorizePublish, authorizeSubscribe, authorizeForward, published } = user
    return {
      ...user,
      // never queue in mqemitter (see the header); aedes also sizes conn.setMaxListeners from it (0: no limit)
      concurrency: 0,
      connectTimeout: this.limits.connectTimeoutMs,
      // slow subscribers are bounded by bytes (slow-subscribers.ts), never waited for
      drainTimeout: 0,
      preConnect: (client, packet, callback) => {
        // MQTT-3.1.3-8: an empty client id with clean session 0 gets CONNACK 0x02 (identifier rejected)
        if (!packet.clientId && packet.clean === false) this.rejectId.add(client)
        if (preConnect) return preConnect(client, packet, callback)
        callback(null, true)
      },
      authenticate: (client, username, password, callback) => {
        if (this.rejectId.has(client)) {
          const err = new Error('identifier rejected: an empty client id needs clean session 1') as AuthError
          err.returnCode = 2
          return callback(err as never, false)
        }
        if (authenticate) return authenticate(client, username, password, callback)
        callback(null, true)
      },
      authorizePublish: (client, packet, callback) => {
        // per message: no closure on the way through unless the client is over its rate
        if (client) {
          const bytes = (packet.payload as Buffer | string).length + packet.topic.length
          if (!this.throttle.tryTake(client, bytes)) return this.throttle.wait(client, bytes, () => this.authorizePublish(client, packet, callback, authorizePublish))
        }
        this.authorizePublish(client, packet, callback, authorizePublish)
      },
      authorizeSubscribe: (client, sub, callback) => {
        if (!this.subs.allow(client, sub.topic)) return callback(null, null)
        if (authorizeSubscribe) return authorizeSubscribe(client, sub, callback)
        callback(null, sub as Subscription)
      },
      authorizeForward: (client, packet) => {
        const p = this.slow.forward(client, packet)
        if (!p) return null
        return authorizeForward ? authorizeForward(client, p) : p
      },
      published: (packet, client, callback) => {
        if (published) return published(packet, client, (err) => this.complete(callback, err))
        this.complete(callback, null)
      },
    }
  }

  /** A publish is done: its callback runs now, or from a fresh stack when completions nest too deeply. */
  private complete(callback: Callback, err: Error | null | undefined): void {
    if (this.depth >= MAX_SYNC_DEPTH) {
      setImmediate(callback, err ?? null)
      return
    }
    this.depth++
    try {
      callback(err ?? null)
    } finally {
      this.depth--
    }
  }

  /** Past the rate limits: the retained quotas, then the embedder's hook. */
  private authorizePublish(client: Client | null, packet: PublishPacket, callback: Callback, user: AedesOptions['authorizePublish']): void {
    if (packet.retain && client) {
      const refused = this.retained.book(client.id ?? '', packet.topic, (packet.payload as Buffer | string).length)
      if (refused) {
        this.on.limit(refused)
        return callback(new Error(`retained limit ${refused.limit} (${refused.cap}) reached`))
      }
    }
    if (user) return user(client, packet, callback)
    callback(null)
  }

  /** Watches aedes' client life cycle (after `Aedes.createBroker`). */
  attach(aedes: import('aedes').Aedes): void {
    this.sessions.attach(aedes)
    aedes.on('clientReady', (client: Client) => this.admissions.get(client.conn)?.connected())
    aedes.on('clientDisconnect', (client: Client) => this.forget(client))
    aedes.on('clientError', (client: Client) => this.forget(client))
  }

  private forget(client: Client): void {
    this.subs.release(client)
    this.slow.release(client)
  }

  /**
   * Admits a new connection (`ip` for the per-IP limit, `remote` for events), or closes it
   * when a connection limit bites. `handle` hands it to aedes and returns the client.
   */
  accept(conn: Duplex, ip: string, remote: string, handle: (conn: Duplex) => Client): boolean {
    const admission = this.gate.admit(ip, remote)
    if (isLimitEvent(admission)) {
      this.on.limit(admission)
      conn.destroy()
      return false
    }
    this.admissions.set(conn, admission)
    this.slow.neverWait(conn)
    const client = handle(conn)
    // the connection's end, not aedes' events: aedes sends none for a client taken over or gone before its CONNACK
    conn.once('close', () => {
      admission.closed()
      this.forget(client)
    })
    capPackets(client, { ...this.limits, largeTopicPrefix: `${PREFIX}/modules/` }, (v) => this.on.violation({ ...v, remote }), (p) => {
      // a large retained PUBLISH that cannot fit is refused at its header, before its body is read
      if (p.cmd !== 'publish' || !p.retain || p.length <= RETAINED_HEADER_CHECK_BYTES) return false
      const full = this.retained.full(client.id ?? '', p.length)
      if (full) this.on.limit(full)
      return full !== undefined
    })
    return true
  }

  stats(): GuardStats {
    const g = this.gate.stats()
    const s = this.sessions.stats()
    const slow = this.slow.stats()
    return {
      connections: g.connections, pending: g.pending, ...this.subs.stats(), ...this.retained.stats(),
      queuedBytes: s.queuedBytes, droppedQueued: s.droppedQueued, droppedSlow: slow.dropped, disconnectedSlow: slow.disconnected,
    }
  }

  close(): void {
    this.slow.close()
    this.sessions.close()
  }
}

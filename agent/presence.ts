/**
 * The agent's advertisement, signed (protocol/presence-signature.ts): a
 * retained presence (republished on every reconnect, under the new
 * connection's epoch), a last will signed at connect for that epoch that
 * marks it offline when the connection dies, and a signed non-retained
 * heartbeat that carries the live load. Watchers tell "unreachable for a
 * moment" (heartbeats stop, presence still online) from "gone" (the will, or
 * a clean stop, marks it offline).
 *
 * The agent also watches its own presence topic: whatever appears there that
 * is not its latest presence — an empty retained clear, a forged offline, its
 * own will arriving late from a connection the broker noticed dead after the
 * reconnect — makes it publish its presence again (at most once per
 * `healMs`), so the retained copy new watchers read stays its own. Watchers
 * ignore such clears anyway; this keeps newcomers from missing the agent.
 */
import { systemClock, type Clock, type Timer } from '../protocol/clock.ts'
import type { KeyIdentity } from '../protocol/identity.ts'
import type { Load, PresenceOffline, PresenceOnline } from '../protocol/messages.ts'
import { signHeartbeat, signOffline, signOnline } from '../protocol/presence-signature.ts'
import { topics } from '../protocol/topics.ts'
import type { Connection, Will } from '../protocol/transport.ts'
import type { EpochCounter } from './epoch.ts'

/** The presence without what the advertiser adds: epoch, seq, signature. */
export type PresenceBody = Omit<PresenceOnline, 'epoch' | 'seq' | 'signature'>

/** Signs the agent's statements for its current epoch; `will()` opens the next epoch (called by the transport before every connect). */
export class PresenceStatements {
  private epoch_ = 0
  private presenceSeq = 0
  private beatSeq = 0

  constructor(
    private readonly identity: KeyIdentity,
    private readonly name: string,
    private readonly epochs: EpochCounter,
  ) {}

  get epoch(): number {
    return this.epoch_
  }

  /** A new epoch, and its last will: a signed `lost` for exactly this epoch. */
  will(): Will {
    this.epoch_ = this.epochs.next()
    return { topic: topics.presence(this.identity.id), payload: JSON.stringify(this.offline('lost')), retain: true, qos: 1 }
  }

  online(body: PresenceBody): PresenceOnline {
    return signOnline({ ...body, epoch: this.epoch_, seq: this.presenceSeq++ }, this.identity.signer)
  }

  offline(reason: PresenceOffline['reason']): PresenceOffline {
    const { id, publicKeyHex } = this.identity
    return signOffline({ status: 'offline', id, name: this.name, reason, epoch: this.epoch_, publicKey: publicKeyHex }, this.identity.signer)
  }

  heartbeat(load: Load): string {
    return JSON.stringify(signHeartbeat({ id: this.identity.id, epoch: this.epoch_, seq: this.beatSeq++, load }, this.identity.signer))
  }
}

export class Advertiser {
  private timer: Timer | undefined
  private healTimer: Timer | undefined
  private lastPublished: string | undefined
  private lastHeal = -Infinity
  private stopped = false
  private readonly topic: string
  private readonly onConnect = () => this.publishPresence()

  constructor(
    private readonly conn: Connection,
    private readonly statements: PresenceStatements,
    private readonly presence: () => PresenceBody,
    private readonly load: () => Load,
    private readonly clock: Clock = systemClock,
    /** Least time between two republishes caused by foreign payloads on our presence topic. */
    private readonly healMs = 1000,
  ) {
    this.topic = topics.presence(presence().id)
  }

  async start(): Promise<void> {
    this.conn.route(this.topic, (_t, p) => this.onOwnTopic(p))
    this.publishPresence()
    this.conn.on('connect', this.onConnect)
    await this.conn.subscribe(this.topic, 1)
    this.timer = this.clock.setInterval(() => this.beat(), this.presence().heartbeatMs, { unref: true })
  }

  /** Publishes the retained presence again (e.g. after labels or price changed). */
  publishPresence(): void {
    this.conn.publish(this.topic, this.nextPresence(), { qos: 1, retain: true })
  }

  /** The same, resolved once the broker acknowledged it (online, as watchers see it). */
  async announce(): Promise<void> {
    await this.conn.publishAsync(this.topic, this.nextPresence(), { qos: 1, retain: true })
  }

  private nextPresence(): string {
    const payload = JSON.stringify(this.statements.online({ ...this.presence(), load: this.load() }))
    this.lastPublished = payload
    return payload
  }

  /** The epoch of the presence published last. */
  get epoch(): number {
    return this.statements.epoch
  }

  private onOwnTopic(payload: Buffer): void {
    if (this.stopped || payload.toString('utf8') === this.lastPublished) return
    if (this.healTimer) return // a republish is already due
    const wait = Math.max(0, this.lastHeal + this.healMs - this.clock.now())
    this.healTimer = this.clock.setTimeout(() => {
      this.healTimer = undefined
      if (this.stopped) return
      this.lastHeal = this.clock.now()
      this.publishPresence()
    }, wait, { unref: true })
  }

  private beat(): void {
    this.conn.publish(topics.heartbeat(this.presence().id), this.statements.heartbeat(this.load()), { qos: 0 })
  }

  /** Stops beating and leaves a retained, signed "stopped" presence behind. */
  async stop(): Promise<void> {
    this.stopped = true
    this.timer?.cancel()
    this.healTimer?.cancel()
    this.conn.off('connect', this.onConnect)
    this.conn.unroute(this.topic)
    if (this.conn.connected) {
      await this.conn.unsubscribe(this.topic).catch(() => {})
      await this.conn.publishAsync(this.topic, JSON.stringify(this.statements.offline('stopped')), { qos: 1, retain: true })
    }
  }
}

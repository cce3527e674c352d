/**
 * The agent's advertisement: a retained presence (republished on every
 * reconnect), a last will that marks it offline when the connection dies, and
 * a non-retained heartbeat that carries the live load. Watchers tell
 * "unreachable for a moment" (heartbeats stop, presence still online) from
 * "gone" (the will, or a clean stop, marks it offline).
 */
import { systemClock, type Clock, type Timer } from '../protocol/clock.ts'
import type { Load, PresenceOffline, PresenceOnline } from '../protocol/messages.ts'
import { topics } from '../protocol/topics.ts'
import type { Connection } from '../protocol/transport.ts'

export function offlinePresence(id: string, name: string, reason: PresenceOffline['reason']): Buffer {
  const p: PresenceOffline = { status: 'offline', id, name, reason }
  return Buffer.from(JSON.stringify(p))
}

export class Advertiser {
  private timer: Timer | undefined
  private seq = 0
  private readonly onConnect = () => this.publishPresence()

  constructor(
    private readonly conn: Connection,
    private readonly presence: () => PresenceOnline,
    private readonly load: () => Load,
    private readonly clock: Clock = systemClock,
  ) {}

  start(): void {
    this.publishPresence()
    this.conn.on('connect', this.onConnect)
    const p = this.presence()
    this.timer = this.clock.setInterval(() => this.beat(), p.heartbeatMs, { unref: true })
  }

  /** Publishes the retained presence again (e.g. after labels or price changed). */
  publishPresence(): void {
    const p = this.presence()
    this.conn.publish(topics.presence(p.id), JSON.stringify({ ...p, load: this.load() }), { qos: 1, retain: true })
  }

  private beat(): void {
    const id = this.presence().id
    this.conn.publish(topics.heartbeat(id), JSON.stringify({ id, seq: this.seq++, load: this.load() }), { qos: 0 })
  }

  /** Stops beating and leaves a retained "stopped" presence behind. */
  async stop(): Promise<void> {
    this.timer?.cancel()
    this.conn.off('connect', this.onConnect)
    const { id, name } = this.presence()
    if (this.conn.connected) {
      await this.conn.publishAsync(topics.presence(id), offlinePresence(id, name, 'stopped'), { qos: 1, retain: true })
    }
  }
}

/**
 * aedes' persistence (its in-memory store by default) with bounds: QoS 1/2 messages and bytes queued
 * per persistent session (clean session 0) and in total, and an expiry for
 * sessions whose client went away. A message over a bound is dropped for
 * that session (Mosquitto's `max_queued_messages` behaviour) and counted.
 *
 * The queue of a persistent session holds what it has not acknowledged yet,
 * online or offline, so these bounds also cap QoS 1 to a frozen subscriber.
 *
 * Redelivery: a queued message that was sent before (it has its packet id)
 * goes out again with DUP set (MQTT-3.3.1-1), which aedes' reconnect path
 * leaves out.
 */
import type { Readable } from 'node:stream'
import type { Aedes, Client } from 'aedes'
import type { BrokerLimits, LimitEvent } from './broker-limits.ts'

export type SessionLimits = Pick<BrokerLimits, 'maxQueuedPerSession' | 'maxQueuedBytesPerSession' | 'maxQueuedBytes' | 'sessionExpiryMs'>

interface Usage {
  count: number
  bytes: number
  /** A limit event was sent for this session since it last had room. */
  told: boolean
}

interface QueuedPacket {
  topic?: string
  payload?: Buffer | string
  messageId?: number
  dup?: boolean
}

/** A queued packet as it is sent again: DUP when it went out before. */
const asResent = (p: QueuedPacket): QueuedPacket => (p.messageId ? { ...p, dup: true } : p)

type Sub = { clientId: string }
type Persistence = Record<string, (...args: any[]) => any>

const sizeOf = (p: QueuedPacket) => (p.payload?.length ?? 0) + (p.topic?.length ?? 0)

export class SessionStore {
  private persistence: Persistence = {}
  private readonly usage = new Map<string, Usage>()
  private total = 0
  private readonly expiries = new Map<string, NodeJS.Timeout>()
  private dropped = 0

  constructor(private readonly limits: SessionLimits, private readonly onLimit: (e: LimitEvent) => void) {}

  /** Bounds the queues of `aedes.persistence` (wrapped in place: aedes looks its methods up on every call) and expires sessions. */
  attach(aedes: Aedes): void {
    const p = (aedes as unknown as { persistence: Persistence }).persistence
    this.persistence = p
    const enqueue = p.outgoingEnqueue!.bind(p)
    const enqueueCombi = p.outgoingEnqueueCombi!.bind(p)
    const clear = p.outgoingClearMessageId!.bind(p)
    const stream = p.outgoingStream!.bind(p)
    p.outgoingStream = (client: { id: string }) => (stream(client) as Readable).map(asResent)
    p.outgoingEnqueue = (sub: Sub, packet: QueuedPacket, cb?: (err?: Error | null) => void) => {
      if (!this.admit(sub.clientId, packet)) return cb ? process.nextTick(cb, null) : Promise.resolve()
      return enqueue(sub, packet, cb)
    }
    p.outgoingEnqueueCombi = (subs: Sub[], packet: QueuedPacket, cb?: (err?: Error | null) => void) => {
      const admitted = subs.filter((s) => this.admit(s.clientId, packet))
      return enqueueCombi(admitted, packet, cb)
    }
    p.outgoingClearMessageId = (client: { id: string }, packet: unknown, cb?: (err: Error | null, p?: QueuedPacket) => void) => {
      // every QoS 1 acknowledgement passes here: a session with nothing queued costs one look-up
      if (!this.usage.has(client.id)) return clear(client, packet, cb)
      const release = (removed: QueuedPacket | undefined) => {
        if (removed) this.release(client.id, removed)
        return removed
      }
      if (cb) return clear(client, packet, (err: Error | null, removed?: QueuedPacket) => cb(err, release(removed)))
      return (clear(client, packet) as Promise<QueuedPacket | undefined>).then(release)
    }
    aedes.on('clientDisconnect', (client: Client) => {
      if (client.clean || !client.id) return
      const id = client.id
      clearTimeout(this.expiries.get(id))
      const t = setTimeout(() => {
        this.expiries.delete(id)
        if ((aedes as unknown as { clients: Record<string, unknown> }).clients[id]) return // back again
        void this.expire(id)
      }, this.limits.sessionExpiryMs)
      t.unref()
      this.expiries.set(id, t)
    })
    aedes.on('client', (client: Client) => {
      const t = this.expiries.get(client.id)
      if (t) clearTimeout(t)
      this.expiries.delete(client.id)
    })
  }

  private async expire(id: string): Promise<void> {
    const p = this.persistence
    const who = { id }
    const u = this.usage.get(id)
    this.onLimit({ limit: 'sessionExpiryMs', action: 'expired', clientId: id, value: u?.count ?? 0, cap: this.limits.sessionExpiryMs })
    try {
      await p.cleanSubscriptions!(who)
      const queued: unknown[] = []
      for await (const packet of p.outgoingStream!(who) as AsyncIterable<unknown>) queued.push(packet)
      for (const packet of queued) await p.outgoingClearMessageId!(who, packet)
    } catch {
      // the memory store does not fail; a store that does keeps the session until the next expiry
    }
    const left = this.usage.get(id)
    if (left) {
      this.total -= left.bytes
      this.usage.delete(id)
    }
  }

  private admit(clientId: string, packet: QueuedPacket): boolean {
    const bytes = sizeOf(packet)
    const u = this.usage.get(clientId) ?? { count: 0, bytes: 0, told: false }
    const l = this.limits
    const over: [LimitEvent['limit'], number, number] | undefined =
      u.count + 1 > l.maxQueuedPerSession ? ['maxQueuedPerSession', u.count + 1, l.maxQueuedPerSession]
      : u.bytes + bytes > l.maxQueuedBytesPerSession ? ['maxQueuedBytesPerSession', u.bytes + bytes, l.maxQueuedBytesPerSession]
      : this.total + bytes > l.maxQueuedBytes ? ['maxQueuedBytes', this.total + bytes, l.maxQueuedBytes]
      : undefined
    if (over) {
      this.dropped++
      if (!u.told) {
        u.told = true
        this.usage.set(clientId, u)
        this.onLimit({ limit: over[0], action: 'dropped', clientId, value: over[1], cap: over[2] })
      }
      return false
    }
    u.count++
    u.bytes += bytes
    u.told = false
    this.total += bytes
    this.usage.set(clientId, u)
    return true
  }

  private release(clientId: string, packet: QueuedPacket): void {
    const u = this.usage.get(clientId)
    if (!u) return
    const bytes = sizeOf(packet)
    u.count--
    u.bytes -= bytes
    this.total -= bytes
    if (u.count <= 0) {
      this.total -= u.bytes // rounding left-overs
      this.usage.delete(clientId)
    }
  }

  stats(): { sessionsQueued: number; queuedBytes: number; droppedQueued: number } {
    return { sessionsQueued: this.usage.size, queuedBytes: this.total, droppedQueued: this.dropped }
  }

  close(): void {
    for (const t of this.expiries.values()) clearTimeout(t)
    this.expiries.clear()
  }
}

/**
 * An aedes persistence whose state survives a crash: aedes-persistence's own
 * in-memory implementation (its topic tries, its matching) with every change
 * journaled to one append-only file of CRC-32 frames (group-commit.ts over the
 * voucher journal's JournalFile) before aedes is told it is stored. aedes
 * acknowledges a QoS 1 PUBLISH only after `storeRetained` and the offline
 * enqueue resolve, and a SUBSCRIBE only after `addSubscriptions`: so what a
 * client was acknowledged is on disk.
 *
 * Kept: retained messages (with the client that published them, for the
 * retained caps), persistent sessions' subscriptions, queued and in-flight
 * QoS 1/2 messages, wills. A restart replays the file; wills keep the id of
 * the broker that took them, so aedes publishes those of clients that never
 * come back (their last will) once it notices that broker is gone.
 *
 * Why not aedes-persistence-level: it needs a LevelDB binding (classic-level,
 * a native addon) on the device; this needs nothing but node:fs, and shares
 * its file format and fsync discipline with the voucher journal (whose bench,
 * bench/journal.bench.ts, measured it against SQLite). No broker-level bench
 * against aedes-persistence-level yet.
 */
import type { Client, Subscription } from 'aedes'
import type { AedesPacket } from 'aedes-packet'
import MemoryPersistence from 'aedes-persistence/asyncPersistence.js'
import { join } from 'node:path'
import { GroupCommitLog, type GroupCommitStats } from './group-commit.ts'

export interface JournalPersistenceOptions {
  /** Directory of the broker's state (`fogmesh broker --data DIR`). */
  dir: string
  /** Who published the retained message on a topic (the retained caps book it); recorded with it. */
  ownerOf?: (topic: string) => string | undefined
  /** Told of every retained message found on disk at start (to restore the caps' books). */
  onRestoredRetained?: (owner: string, topic: string, bytes: number) => void
  /** Rewrite the journal once it is this many times its live bytes. Default 2. */
  compactFactor?: number
  /** ... and at least this many bytes. Default 4 MiB. */
  compactMinBytes?: number
}

/** A packet as journaled: the payload in base64. */
interface WirePacket {
  cmd: string
  topic: string
  payload: string
  qos: number
  retain: boolean
  dup: boolean
  messageId?: number | undefined
  brokerId?: string | undefined
  brokerCounter?: number | undefined
}

type Rec =
  | { k: 'r'; t: string; p: string; q: number; o: string }
  | { k: 'r-'; t: string }
  | { k: 's'; c: string; s: Subscription[] }
  | { k: 's-'; c: string; t: string[] }
  | { k: 'o'; c: string; p: WirePacket }
  | { k: 'ou'; c: string; p: WirePacket }
  | { k: 'o-'; c: string; b: string; n: number }
  | { k: 'i'; c: string; p: WirePacket }
  | { k: 'i-'; c: string; m: number }
  | { k: 'w'; c: string; p: WirePacket }
  | { k: 'w-'; c: string }
  | { k: 'in'; n: number; c: string; p: WirePacket }
  | { k: 'in-'; n: number }

export interface PersistenceStats extends GroupCommitStats {
  liveRecords: number
  liveBytes: number
  /** Records replayed at start. */
  replayed: number
  /** Bytes of a torn last write cut off at start. */
  tornBytes: number
}

/** The PUBLISH side of aedes's packet union: what this file reads. */
interface Pub {
  cmd: string
  topic: string
  payload: Buffer | string
  qos: number
  retain: boolean
  dup: boolean
  messageId?: number | undefined
  brokerId: string
  brokerCounter: number
}
const pub = (p: AedesPacket) => p as unknown as Pub

const toWire = (a: AedesPacket): WirePacket => {
  const p = pub(a)
  return {
  cmd: p.cmd, topic: p.topic, payload: Buffer.from(p.payload as Buffer | string).toString('base64'), qos: p.qos, retain: p.retain, dup: p.dup,
  messageId: p.messageId, brokerId: p.brokerId, brokerCounter: p.brokerCounter,
  }
}
const fromWire = (w: WirePacket): AedesPacket => ({ ...w, payload: Buffer.from(w.payload, 'base64') }) as unknown as AedesPacket
const clientOf = (id: string) => ({ id }) as Client

export class JournalPersistence extends MemoryPersistence {
  /** The live state as records, by slot (insertion order = the order to replay them in). */
  private readonly live = new Map<string, { rec: Rec; bytes: number }>()
  /** Slots by client id, to clear a client's subscriptions or incoming packets at once. */
  private readonly slotsByClient = new Map<string, Set<string>>()
  private liveBytes = 0
  private log: GroupCommitLog | undefined
  private replaying = false
  private replayStats = { replayed: 0, tornBytes: 0 }
  /** QoS>0 publishes held on disk from before their PUBACK until aedes has stored and routed them. */
  private readonly intake = new WeakMap<object, number>()
  private intakeSeq = 0

  constructor(private readonly o: JournalPersistenceOptions) {
    super()
  }

  override async setup(broker: unknown): Promise<void> {
    await super.setup(broker)
    const { log, replayed } = GroupCommitLog.open(
      join(this.o.dir, 'broker.journal'),
      { compactFactor: this.o.compactFactor ?? 2, compactMinBytes: this.o.compactMinBytes ?? 4 * 1024 * 1024 },
      () => ({ records: [...this.live.values()].map((v) => v.rec), liveBytes: this.liveBytes }),
    )
    this.replaying = true
    try {
      for (const r of replayed.records) await this.apply(r as Rec)
    } finally {
      this.replaying = false
    }
    this.replayStats = { replayed: replayed.records.length, tornBytes: replayed.tornBytes }
    this.log = log
  }

  /**
   * aedes sends a QoS 1 PUBACK before it stores the message (retained copy,
   * offline queues): so the broker journals each QoS>0 PUBLISH here, from its
   * authorizePublish hook, before letting aedes go on. `published` (aedes's
   * hook, called once the message is stored and routed) releases it.
   */
  holdIncoming(clientId: string, packet: AedesPacket): Promise<void> {
    const n = ++this.intakeSeq
    this.intake.set(packet, n)
    return this.write(`n\0${n}`, { k: 'in', n, c: clientId, p: toWire(packet) }, undefined)
  }

  /** The message held by `holdIncoming` has been stored and routed. */
  releaseIncoming(packet: AedesPacket): void {
    const n = this.intake.get(packet)
    if (n === undefined) return
    this.intake.delete(packet)
    this.write(`n\0${n}`, { k: 'in-', n }, undefined).catch(() => {})
  }

  /**
   * Publishes acknowledged before a crash but not yet stored and routed then:
   * the broker publishes them again once it is up (each released as it completes).
   */
  unfinishedIncoming(): Array<{ clientId: string; packet: AedesPacket }> {
    const out: Array<{ clientId: string; packet: AedesPacket }> = []
    for (const { rec } of this.live.values()) {
      if (rec.k !== 'in') continue
      const packet = fromWire(rec.p)
      this.intake.set(packet, rec.n)
      out.push({ clientId: rec.c, packet })
    }
    return out
  }

  stats(): PersistenceStats {
    const g = this.log?.stats() ?? { bytes: 0, records: 0, syncs: 0, compactions: 0 }
    return { ...g, liveRecords: this.live.size, liveBytes: this.liveBytes, ...this.replayStats }
  }

  // ---- what aedes calls: the in-memory change, then the journal ------------

  override async storeRetained(a: AedesPacket): Promise<void> {
    await super.storeRetained(a)
    const packet = pub(a)
    const payload = Buffer.from(packet.payload as Buffer | string)
    if (payload.length === 0) return this.write(`r\0${packet.topic}`, { k: 'r-', t: packet.topic }, undefined)
    const owner = this.o.ownerOf?.(packet.topic) ?? ''
    return this.write(`r\0${packet.topic}`, { k: 'r', t: packet.topic, p: payload.toString('base64'), q: packet.qos, o: owner }, undefined)
  }

  override async addSubscriptions(client: Client, subs: Subscription[]): Promise<void> {
    await super.addSubscriptions(client, subs)
    const writes: Promise<void>[] = []
    for (const s of subs) {
      const sub = { topic: s.topic, qos: s.qos, ...pick(s, 'rh', 'rap', 'nl') } as Subscription
      writes.push(this.write(`s\0${client.id}\0${s.topic}`, { k: 's', c: client.id, s: [sub] }, client.id))
    }
    await Promise.all(writes)
  }

  override async removeSubscriptions(client: Client, topics: string[]): Promise<void> {
    await super.removeSubscriptions(client, topics)
    await this.write(topics.map((t) => `s\0${client.id}\0${t}`), { k: 's-', c: client.id, t: topics }, client.id)
  }

  override async cleanSubscriptions(client: Client): Promise<void> {
    await super.cleanSubscriptions(client)
    const slots = [...(this.slotsByClient.get(client.id) ?? [])].filter((s) => s.startsWith('s\0'))
    if (slots.length === 0) return
    await this.write(slots, { k: 's-', c: client.id, t: slots.map((s) => s.slice(s.indexOf('\0', 2) + 1)) }, client.id)
  }

  override async outgoingEnqueue(sub: { clientId: string }, packet: AedesPacket): Promise<void> {
    await super.outgoingEnqueue(sub, packet)
    await this.write(outSlot(sub.clientId, packet), { k: 'o', c: sub.clientId, p: toWire(packet) }, sub.clientId)
  }

  override async outgoingEnqueueCombi(subs: { clientId: string }[], packet: AedesPacket): Promise<void> {
    await super.outgoingEnqueueCombi(subs, packet)
    const wire = toWire(packet)
    await Promise.all(subs.map((s) => this.write(outSlot(s.clientId, packet), { k: 'o', c: s.clientId, p: wire }, s.clientId)))
  }

  override async outgoingUpdate(client: Client, packet: AedesPacket): Promise<void> {
    await super.outgoingUpdate(client, packet)
    await this.write(outSlot(client.id, packet), { k: 'ou', c: client.id, p: toWire(packet) }, client.id)
  }

  override async outgoingClearMessageId(client: Client, packet: AedesPacket): Promise<AedesPacket> {
    const removed = await super.outgoingClearMessageId(client, packet)
    if (removed) await this.write(outSlot(client.id, removed), { k: 'o-', c: client.id, b: pub(removed).brokerId, n: pub(removed).brokerCounter }, client.id)
    return removed
  }

  override async incomingStorePacket(client: Client, packet: AedesPacket): Promise<void> {
    await super.incomingStorePacket(client, packet)
    const m = pub(packet).messageId
    await this.write(`i\0${client.id}\0${m}`, { k: 'i', c: client.id, p: toWire(packet) }, client.id)
  }

  override async incomingDelPacket(client: Client, packet: AedesPacket): Promise<void> {
    await super.incomingDelPacket(client, packet)
    const m = pub(packet).messageId as number
    await this.write(`i\0${client.id}\0${m}`, { k: 'i-', c: client.id, m }, client.id)
  }

  override async cleanIncoming(client: Client): Promise<void> {
    await super.cleanIncoming(client)
    const slots = [...(this.slotsByClient.get(client.id) ?? [])].filter((s) => s.startsWith('i\0'))
    await Promise.all(slots.map((s) => this.write(s, { k: 'i-', c: client.id, m: Number(s.slice(s.lastIndexOf('\0') + 1)) }, client.id)))
  }

  override async putWill(client: Client, packet: AedesPacket): Promise<void> {
    await super.putWill(client, packet)
    await this.write(`w\0${client.id}`, { k: 'w', c: client.id, p: toWire(packet) }, client.id)
  }

  override async delWill(client: Client) {
    const will = await super.delWill(client)
    if (will) await this.write(`w\0${client.id}`, { k: 'w-', c: client.id }, client.id)
    return will
  }

  override async destroy(): Promise<void> {
    this.log?.close()
    await super.destroy()
  }

  // ---- the journal ----------------------------------------------------------

  /**
   * Records a change: `slots` the live record(s) it replaces or (for a removal)
   * deletes; resolves once the record is on disk (at once while replaying).
   */
  private write(slots: string | string[], rec: Rec, clientId: string | undefined): Promise<void> {
    const removal = rec.k.endsWith('-')
    if (this.replaying || !this.log) {
      this.track(slots, rec, removal ? 0 : approxBytes(rec), removal, clientId)
      return Promise.resolve()
    }
    const { bytes, durable } = this.log.append(rec)
    this.track(slots, rec, bytes, removal, clientId)
    if (!ORDERED_ONLY.has(rec.k)) return durable
    // aedes drops a message whose broker counter is below one it already delivered to that client
    // (client.js dedupe): a retained or queued message must not wait for its fsync while a later one
    // overtakes it. These records go to the log in order without being awaited; the publish they belong
    // to is held on disk by its 'in' record until `published`, whose release is logged after them.
    durable.catch(() => {})
    return Promise.resolve()
  }

  private track(slots: string | string[], rec: Rec, bytes: number, removal: boolean, clientId: string | undefined): void {
    for (const slot of typeof slots === 'string' ? [slots] : slots) {
      const old = this.live.get(slot)
      if (old) {
        this.liveBytes -= old.bytes
        this.live.delete(slot)
        if (clientId !== undefined) this.slotsByClient.get(clientId)?.delete(slot)
      }
      if (removal) continue
      // an update keeps the slot's place (an in-flight message keeps its order in the queue)
      this.live.set(slot, { rec: rec.k === 'ou' ? { ...rec, k: 'o' } : rec, bytes })
      this.liveBytes += bytes
      if (clientId !== undefined) {
        let s = this.slotsByClient.get(clientId)
        if (!s) this.slotsByClient.set(clientId, (s = new Set()))
        s.add(slot)
      }
    }
    if (clientId !== undefined && this.slotsByClient.get(clientId)?.size === 0) this.slotsByClient.delete(clientId)
  }

  /** Replays one record into the in-memory state (and the live map, through `write`). */
  private async apply(r: Rec): Promise<void> {
    switch (r.k) {
      case 'r': {
        const bytes = Buffer.byteLength(r.p, 'base64')
        this.o.onRestoredRetained?.(r.o, r.t, bytes)
        await super.storeRetained({ cmd: 'publish', topic: r.t, payload: Buffer.from(r.p, 'base64'), qos: r.q, retain: true, dup: false } as unknown as AedesPacket)
        return this.write(`r\0${r.t}`, r, undefined)
      }
      case 'r-':
        this.o.onRestoredRetained?.('', r.t, 0)
        await super.storeRetained({ cmd: 'publish', topic: r.t, payload: Buffer.alloc(0), qos: 0, retain: true, dup: false } as unknown as AedesPacket)
        return this.write(`r\0${r.t}`, r, undefined)
      case 's':
        return this.addSubscriptions(clientOf(r.c), r.s)
      case 's-':
        return this.removeSubscriptions(clientOf(r.c), r.t)
      case 'o':
        return this.outgoingEnqueue({ clientId: r.c }, fromWire(r.p))
      case 'ou':
        return this.outgoingUpdate(clientOf(r.c), fromWire(r.p)).catch(() => {})
      case 'o-': {
        // find the queued packet by its broker id and counter; clear it by the message id it has now
        const packet = await findOutgoing(this, r.c, r.b, r.n)
        if (!packet) return
        // replayed packets may all lack a message id: give this one its own before clearing by id
        pub(packet).messageId = -1 - r.n
        await this.outgoingClearMessageId(clientOf(r.c), packet)
        return
      }
      case 'i':
        return this.incomingStorePacket(clientOf(r.c), fromWire(r.p))
      case 'i-':
        return this.incomingDelPacket(clientOf(r.c), { messageId: r.m } as AedesPacket).catch(() => {})
      case 'w': {
        await this.putWill(clientOf(r.c), fromWire(r.p))
        // putWill stamps the running broker's id; the will belongs to the broker that took it
        const stored = await super.getWill(clientOf(r.c))
        if (stored && r.p.brokerId) (stored as { brokerId: string }).brokerId = r.p.brokerId
        return
      }
      case 'w-':
        await this.delWill(clientOf(r.c))
        return
      case 'in':
        this.intakeSeq = Math.max(this.intakeSeq, r.n)
        return this.write(`n\0${r.n}`, r, undefined)
      case 'in-':
        return this.write(`n\0${r.n}`, r, undefined)
    }
  }
}

/** Records appended in order but not awaited (see `write`). */
const ORDERED_ONLY = new Set<Rec['k']>(['r', 'r-', 'o', 'ou', 'o-'])

const outSlot = (clientId: string, p: AedesPacket) => `o\0${clientId}\0${pub(p).brokerId}\0${pub(p).brokerCounter}`
const approxBytes = (rec: Rec) => JSON.stringify(rec).length + 8

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {}
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k]
  return out
}

async function findOutgoing(p: MemoryPersistence, clientId: string, brokerId: string, counter: number): Promise<AedesPacket | undefined> {
  for await (const pkt of p.outgoingStream(clientOf(clientId)) as AsyncIterable<AedesPacket>) {
    if (pub(pkt).brokerId === brokerId && pub(pkt).brokerCounter === counter) return pkt
  }
  return undefined
}

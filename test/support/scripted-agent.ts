/**
 * A scripted agent for unit tests of the market: a peer on any broker
 * connection (an in-memory bus, usually) with its own ed25519 key and a
 * valid signed presence (epoch 1, its will signed for it), signed bids and
 * heartbeats, that answers the way the test says — an honest signed echo by
 * default, or whatever `answer` returns (a tampered result, garbage, an
 * error, nothing). It records the offers and assignments it saw.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { WireAssign } from '../../protocol/assignment.ts'
import { signBid } from '../../protocol/bid-signature.ts'
import type { Clock, Timer } from '../../protocol/clock.ts'
import { identityFromSeed, type KeyIdentity } from '../../protocol/identity.ts'
import type { Offer, PresenceOnline, Result } from '../../protocol/messages.ts'
import { signHeartbeat, signOffline, signOnline } from '../../protocol/presence-signature.ts'
import { signResult, type Signer } from '../../protocol/signature.ts'
import { topics } from '../../protocol/topics.ts'
import type { Connection, Connector } from '../../protocol/transport.ts'

export interface ScriptedAgentOptions {
  name?: string
  price?: number
  /** The price it bids (default: `price`; a bid above the advertised price tests the requester's checks). */
  bidPrice?: number
  labels?: Record<string, string>
  slots?: number
  leaseMs?: number
  heartbeatMs?: number
  limits?: Partial<PresenceOnline['limits']>
  arch?: string
  /** Bids on an offer when this says so (default: always). */
  bids?: (offer: Offer) => boolean
  /** Bids this long after the offer, on its clock (a busy device answering late). */
  bidAfterMs?: number
  /** What it publishes on the assignment's replyTo: an object (sent as JSON), a string (sent raw), or undefined (silence). Default: `honest`. */
  answer?: (job: WireAssign, agent: ScriptedAgent) => object | string | undefined
  /** Hears offers addressed to it (`fm/v1/agents/<id>/offers`) and says so in its presence (`directOffers`), as agents do. Default false (an older agent). */
  direct?: boolean
  /** Beats on this clock every `heartbeatMs` (default: only when `beat()` is called). */
  clock?: Clock
}

export type { WireAssign } from '../../protocol/assignment.ts'

export const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

export class ScriptedAgent {
  readonly id: string
  readonly publicKey: string
  readonly offers: Offer[] = []
  readonly assignments: WireAssign[] = []
  private seq = 0
  private presenceSeq = 0
  /** The epoch of its connection (a will for it is signed at connect); `newEpoch()` moves on as a reconnect would. */
  epoch = 1
  private timer: Timer | undefined
  readonly signer: Signer

  private constructor(
    readonly conn: Connection,
    readonly identity: KeyIdentity,
    readonly options: ScriptedAgentOptions,
  ) {
    this.publicKey = identity.publicKeyHex
    this.id = identity.id
    this.signer = identity.signer
  }

  static async start(broker: Connector, options: ScriptedAgentOptions = {}): Promise<ScriptedAgent> {
    const identity = identityFromSeed(randomBytes(32))
    const id = identity.id
    const lost = signOffline({ status: 'offline', id, name: options.name ?? 'scripted', reason: 'lost', epoch: 1, publicKey: identity.publicKeyHex }, identity.signer)
    const will = { topic: topics.presence(id), payload: JSON.stringify(lost), retain: true, qos: 1 as const }
    const conn = await broker.connect({ clientId: `fm-agent-${id}`, will })
    const agent = new ScriptedAgent(conn, identity, options)
    conn.route(topics.offers, (_t, p) => agent.onOffer(JSON.parse(p.toString()) as Offer))
    conn.route(topics.agentJobs(id), (_t, p) => agent.onAssign(JSON.parse(p.toString()) as WireAssign))
    if (options.direct) conn.route(topics.agentOffers(id), (_t, p) => agent.onOffer(JSON.parse(p.toString()) as Offer))
    await conn.subscribe([topics.offers, topics.agentJobs(id), ...(options.direct ? [topics.agentOffers(id)] : [])])
    await conn.publishAsync(topics.presence(id), JSON.stringify(agent.presence()), { retain: true })
    if (options.clock) agent.timer = options.clock.setInterval(() => agent.beat(), options.heartbeatMs ?? 1000)
    return agent
  }

  /** Its presence, signed, with the next seq of its epoch. */
  presence(): PresenceOnline {
    const o = this.options
    return signOnline({
      status: 'online', id: this.id, name: o.name ?? 'scripted', publicKey: this.publicKey, version: '0.1.0',
      capacity: { cores: 4, memoryMiB: 4096, arch: o.arch ?? process.arch, platform: process.platform, slots: o.slots ?? 1 },
      labels: o.labels ?? {}, price: { perJob: o.price ?? 1 },
      limits: { fuel: 1e12, memoryMiB: 256, timeoutMs: 60_000, outputBytes: 1 << 20, inputBytes: 1 << 20, ...o.limits },
      defaults: { fuel: 1e10, memoryMiB: 64, timeoutMs: 10_000, outputBytes: 1 << 20 },
      load: { running: 0, queued: 0 }, heartbeatMs: o.heartbeatMs ?? 1000, since: 0,
      epoch: this.epoch, seq: this.presenceSeq++, boxKey: this.identity.box.publicKeyHex,
      ...(o.direct ? { directOffers: true } : {}),
    }, this.signer)
  }

  /** A later epoch, as after a reconnect (its presence seq starts again). */
  newEpoch(): void {
    this.epoch++
    this.presenceSeq = 0
  }

  /** Its signed offline statement for the current epoch. */
  offline(reason: 'lost' | 'stopped'): string {
    return JSON.stringify(signOffline({ status: 'offline', id: this.id, name: this.options.name ?? 'scripted', reason, epoch: this.epoch, publicKey: this.publicKey }, this.signer))
  }

  /** A heartbeat now. */
  beat(): void {
    this.conn.publish(topics.heartbeat(this.id), JSON.stringify(signHeartbeat({ id: this.id, epoch: this.epoch, seq: this.seq++, load: { running: 0, queued: 0 } }, this.signer)))
  }

  /** The honest answer: a signed echo of the input. */
  honest(job: WireAssign, output: Buffer = Buffer.from(job.input ?? '', 'base64')): Result {
    const r = {
      type: 'result' as const, id: job.id, attempt: job.attempt, agent: this.id, module: job.module,
      inputSha256: sha256(Buffer.from(job.input ?? '', 'base64')), status: 'ok' as const,
      output: output.toString('base64'), outputSha256: sha256(output), fuel: 7, durationMs: 1,
    }
    return { ...r, signature: signResult(r, this.signer) }
  }

  /** A signed error result with `code`. */
  failing(job: WireAssign, code: string): Result {
    const r = {
      type: 'result' as const, id: job.id, attempt: job.attempt, agent: this.id, module: job.module,
      inputSha256: sha256(Buffer.from(job.input ?? '', 'base64')), status: 'error' as const,
      error: { code, message: `scripted ${code}` }, fuel: 0, durationMs: 1,
    }
    return { ...r, signature: signResult(r, this.signer) }
  }

  /** Leaves cleanly: a retained offline presence, then disconnect (no will). */
  async stop(): Promise<void> {
    this.timer?.cancel()
    await this.conn.publishAsync(topics.presence(this.id), this.offline('stopped'), { retain: true })
    await this.conn.close()
  }

  /** Stops beating (a paused process: its presence stays online). */
  pause(): void {
    this.timer?.cancel()
  }

  private onOffer(offer: Offer): void {
    this.offers.push(offer)
    if (this.options.bids && !this.options.bids(offer)) return
    const o = this.options
    const bid = signBid({ type: 'bid', offerId: offer.offerId, agent: this.id, price: o.bidPrice ?? o.price ?? 1, load: { running: 0, queued: 0 }, slots: o.slots ?? 1, leaseMs: o.leaseMs ?? 30_000 }, this.signer)
    const send = () => this.conn.publish(offer.replyTo, JSON.stringify(bid))
    if (o.bidAfterMs && o.clock) o.clock.setTimeout(send, o.bidAfterMs)
    else send()
  }

  private onAssign(job: WireAssign): void {
    this.assignments.push(job)
    const answer = this.options.answer ? this.options.answer(job, this) : this.honest(job)
    if (answer === undefined) return
    this.conn.publish(job.replyTo, typeof answer === 'string' ? answer : JSON.stringify(answer), { qos: 1 })
  }
}

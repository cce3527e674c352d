/**
 * A simulated agent for the scale bench: one real MQTT connection speaking the
 * real protocol with the real signing code of protocol/ — a signed presence
 * (saying `directOffers`, so it hears `fm/v1/agents/<id>/offers` as well as
 * the broadcast offers), a pre-signed last will, signed heartbeats, signed
 * bids, and signed results — but its jobs are cheap: the result is an echo of
 * the input computed in JavaScript after `jobMs` (a short job, so that agents
 * leave with jobs in flight during churn), no WASM, no executor process. It does not
 * check the assignment's signature (a real agent does): the bench measures the
 * market and the broker, not admission.
 */
import { createHash } from 'node:crypto'
import type { WireAssign } from '../../protocol/assignment.ts'
import { signBid } from '../../protocol/bid-signature.ts'
import { identityFromSeed, type KeyIdentity } from '../../protocol/identity.ts'
import type { Offer, PresenceOnline } from '../../protocol/messages.ts'
import { signHeartbeat, signOffline, signOnline } from '../../protocol/presence-signature.ts'
import { signResult } from '../../protocol/signature.ts'
import { topics } from '../../protocol/topics.ts'
import { connectorFor, type Connection } from '../../protocol/transport.ts'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

export interface SimAgentStats {
  offers: number
  bids: number
  jobs: number
}

export class SimAgent {
  readonly id: string
  readonly stats: SimAgentStats = { offers: 0, bids: 0, jobs: 0 }
  private conn: Connection | undefined
  private beatSeq = 0
  private readonly epoch = Date.now()
  /** What it asks per job (1–5, from its id: a spread of prices to rank). */
  private readonly price: number

  private constructor(private readonly identity: KeyIdentity, private readonly name: string, private readonly heartbeatMs: number, private readonly jobMs: number) {
    this.id = identity.id
    this.price = 1 + (parseInt(this.id.slice(2, 4), 16) % 5)
  }

  /** Connects, subscribes, and publishes its signed presence (resolves once the broker has it). */
  static async start(broker: string, seed: Buffer, name: string, heartbeatMs: number, jobMs: number): Promise<SimAgent> {
    const a = new SimAgent(identityFromSeed(seed), name, heartbeatMs, jobMs)
    await a.connect(broker)
    return a
  }

  private async connect(broker: string): Promise<void> {
    const { id, signer, publicKeyHex } = this.identity
    const lost = signOffline({ status: 'offline', id, name: this.name, reason: 'lost', epoch: this.epoch, publicKey: publicKeyHex }, signer)
    const conn = await connectorFor(broker).connect({
      clientId: `fm-agent-${id}`, keepaliveSeconds: 30, reconnect: false, connectTimeoutMs: 30_000,
      will: { topic: topics.presence(id), payload: JSON.stringify(lost), retain: true, qos: 1 },
    })
    this.conn = conn
    const onOffer = (_t: string, p: Buffer) => this.onOffer(p)
    conn.route(topics.offers, onOffer)
    conn.route(topics.agentOffers(id), onOffer)
    conn.route(topics.agentJobs(id), (_t, p) => this.onAssign(p))
    await conn.subscribe([topics.offers, topics.agentOffers(id), topics.agentJobs(id)], 1)
    await conn.publishAsync(topics.presence(id), JSON.stringify(this.presence()), { qos: 1, retain: true })
  }

  presence(): PresenceOnline {
    const { id, signer, publicKeyHex } = this.identity
    return signOnline({
      status: 'online', id, name: this.name, publicKey: publicKeyHex, version: '0.1.0',
      capacity: { cores: 4, memoryMiB: 4096, arch: 'arm64', platform: 'linux', slots: 4 },
      labels: { site: `site-${(parseInt(id.slice(0, 2), 16) % 4) + 1}` }, price: { perJob: this.price },
      limits: { fuel: 1e12, memoryMiB: 256, timeoutMs: 60_000, outputBytes: 1 << 20, inputBytes: 1 << 20 },
      defaults: { fuel: 1e10, memoryMiB: 64, timeoutMs: 10_000, outputBytes: 1 << 20 },
      load: { running: 0, queued: 0 }, heartbeatMs: this.heartbeatMs, since: this.epoch,
      epoch: this.epoch, seq: 0, directOffers: true,
    }, signer)
  }

  /** One signed heartbeat now. */
  beat(): void {
    const h = signHeartbeat({ id: this.id, epoch: this.epoch, seq: this.beatSeq++, load: { running: 0, queued: 0 } }, this.identity.signer)
    this.conn?.publish(topics.heartbeat(this.id), JSON.stringify(h), { qos: 0 })
  }

  private onOffer(payload: Buffer): void {
    const offer = JSON.parse(payload.toString()) as Offer
    this.stats.offers++
    this.stats.bids++
    const bid = signBid({ type: 'bid', offerId: offer.offerId, agent: this.id, price: this.price, load: { running: 0, queued: 0 }, slots: 4, leaseMs: 30_000 }, this.identity.signer)
    this.conn?.publish(offer.replyTo, JSON.stringify(bid), { qos: 0 })
  }

  private onAssign(payload: Buffer): void {
    const job = JSON.parse(payload.toString()) as WireAssign
    const input = Buffer.from(job.input ?? '', 'base64')
    const r = {
      type: 'result' as const, id: job.id, attempt: job.attempt, agent: this.id, module: job.module,
      inputSha256: sha256(input), status: 'ok' as const, output: input.toString('base64'), outputSha256: sha256(input), fuel: 1, durationMs: 0,
    }
    const answer = JSON.stringify({ ...r, signature: signResult(r, this.identity.signer) })
    // an agent that left meanwhile answers nothing (its job is the requester's to retry elsewhere)
    setTimeout(() => {
      if (!this.conn) return
      this.stats.jobs++
      this.conn.publish(job.replyTo, answer, { qos: 1 })
    }, this.jobMs)
  }

  /** Leaves without a goodbye (the link dropped): the broker publishes its signed will. */
  async drop(): Promise<void> {
    await this.conn?.close(true).catch(() => {})
    this.conn = undefined
  }

  /** Leaves cleanly: a signed offline presence (retained), then disconnect. */
  async stop(): Promise<void> {
    const { id, signer, publicKeyHex } = this.identity
    const off = signOffline({ status: 'offline', id, name: this.name, reason: 'stopped', epoch: this.epoch, publicKey: publicKeyHex }, signer)
    await this.conn?.publishAsync(topics.presence(id), JSON.stringify(off), { qos: 1, retain: true }).catch(() => {})
    await this.conn?.close().catch(() => {})
    this.conn = undefined
  }
}

/**
 * A rogue agent: a real MQTT peer with its own ed25519 key and a valid signed
 * presence (it is a real agent as far as keys go: anyone can make one), that
 * bids on every offer — price 0 and thousands of slots by default — and then
 * answers assignments the way the test asks: tampered output, a signature by
 * another key, garbage, a wrong input it signs itself, made-up outputs signed
 * honestly and at once (`fake-fast`), or nothing at all. The requester must
 * refuse, ignore or contain every one of them.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { WireAssign } from '../../protocol/assignment.ts'
import { signBid } from '../../protocol/bid-signature.ts'
import { identityFromSeed, type KeyIdentity } from '../../protocol/identity.ts'
import type { PaymentTerms } from '../../protocol/messages.ts'
import { signHeartbeat, signOffline, signOnline } from '../../protocol/presence-signature.ts'
import { createSigner, signResult } from '../../protocol/signature.ts'
import { topics } from '../../protocol/topics.ts'
import { connect, type Connection } from '../../protocol/transport.ts'

export type RogueBehaviour = 'tamper-output' | 'wrong-key' | 'garbage' | 'silent' | 'wrong-input' | 'fake-fast'

export interface RogueOptions {
  price?: number
  slots?: number
  /** Payment terms to advertise (e.g. an honest agent's, with the rogue's own payee). */
  payment?: PaymentTerms
  name?: string
}

export class RogueAgent {
  readonly id: string
  readonly publicKey: string
  assigned = 0
  bids = 0
  private readonly beats: NodeJS.Timeout
  private constructor(private readonly conn: Connection, private readonly identity: KeyIdentity, private readonly behaviour: RogueBehaviour, beat: () => void) {
    this.id = identity.id
    this.publicKey = identity.publicKeyHex
    this.beats = setInterval(beat, 500)
    this.beats.unref()
  }

  static async start(broker: string, behaviour: RogueBehaviour, options: RogueOptions | number = {}): Promise<RogueAgent> {
    const o: RogueOptions = typeof options === 'number' ? { price: options } : options
    const price = o.price ?? 0
    const slots = o.slots ?? 4096
    const identity = identityFromSeed(randomBytes(32))
    const { id, signer, publicKeyHex: publicKey } = identity
    const epoch = Date.now()
    const will = signOffline({ status: 'offline', id, name: o.name ?? `rogue-${behaviour}`, reason: 'lost', epoch, publicKey }, signer)
    const conn = await connect(broker, { will: { topic: topics.presence(id), payload: JSON.stringify(will), retain: true, qos: 1 } })
    let seq = 0
    const beat = () => conn.publish(topics.heartbeat(id), JSON.stringify(signHeartbeat({ id, epoch, seq: seq++, load: { running: 0, queued: 0 } }, signer)))
    const rogue = new RogueAgent(conn, identity, behaviour, beat)
    conn.route(topics.offers, (_t, p) => {
      const offer = JSON.parse(p.toString()) as { offerId: string; replyTo: string }
      rogue.bids++
      // the cheapest bid in the room: it will be picked first
      conn.publish(offer.replyTo, JSON.stringify(signBid({ type: 'bid', offerId: offer.offerId, agent: id, price, load: { running: 0, queued: 0 }, slots, leaseMs: 60_000 }, signer)))
    })
    conn.route(topics.agentJobs(id), (_t, p) => rogue.onAssign(JSON.parse(p.toString()) as WireAssign))
    await conn.subscribe([topics.offers, topics.agentJobs(id)])
    const presence = signOnline({
      status: 'online', id, name: o.name ?? `rogue-${behaviour}`, publicKey, version: '0.1.0',
      capacity: { cores: 64, memoryMiB: 65536, arch: process.arch, platform: process.platform, slots },
      labels: {}, price: { perJob: price }, limits: { fuel: 1e12, memoryMiB: 256, timeoutMs: 60_000, outputBytes: 1 << 20, inputBytes: 1 << 20 },
      defaults: { fuel: 1e10, memoryMiB: 64, timeoutMs: 10_000, outputBytes: 1 << 20 },
      load: { running: 0, queued: 0 }, heartbeatMs: 1000, since: Date.now(), epoch, seq: 0, boxKey: identity.box.publicKeyHex,
      ...(o.payment ? { payment: o.payment } : {}),
    }, signer)
    await conn.publishAsync(topics.presence(id), JSON.stringify(presence), { retain: true })
    beat()
    return rogue
  }

  private onAssign(a: WireAssign): void {
    this.assigned++
    if (this.behaviour === 'silent') return
    if (this.behaviour === 'garbage') {
      this.conn.publish(a.replyTo, JSON.stringify({ type: 'result', id: a.id, attempt: a.attempt, agent: this.id, status: 'ok', output: 42 }))
      return
    }
    const input = Buffer.from(a.input ?? '', 'base64')
    const output = Buffer.from(this.behaviour === 'fake-fast' ? `made up ${randomBytes(4).toString('hex')}` : 'forged output')
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
    const r = {
      type: 'result' as const, id: a.id, attempt: a.attempt, agent: this.id, module: a.module,
      inputSha256: this.behaviour === 'wrong-input' ? sha(Buffer.from('other')) : sha(input),
      status: 'ok' as const, output: output.toString('base64'), outputSha256: sha(output), fuel: 0, durationMs: 1,
    }
    const signer = this.behaviour === 'wrong-key' ? createSigner(randomBytes(32)) : this.identity.signer
    const signed = { ...r, signature: signResult(r, signer) }
    if (this.behaviour === 'tamper-output') {
      // signed honestly, then the output is swapped for another (with a matching hash)
      const other = Buffer.from('tampered!')
      signed.output = other.toString('base64')
      signed.outputSha256 = sha(other)
    }
    this.conn.publish(a.replyTo, JSON.stringify(signed), { qos: 1 })
  }

  async close(): Promise<void> {
    clearInterval(this.beats)
    await this.conn.close(true)
  }
}

/**
 * A rogue agent: a real MQTT peer with its own ed25519 key and a valid
 * presence, that bids on every offer and then answers assignments the way
 * the test asks — tampered output, a signature by another key, garbage, or
 * nothing at all. The requester must refuse every one of them.
 */
import { createHash, randomBytes } from 'node:crypto'
import { agentIdFromPublicKey } from '../../protocol/agent-id.ts'
import { createSigner, signResult } from '../../protocol/signature.ts'
import { topics } from '../../protocol/topics.ts'
import { connect, type Connection } from '../../protocol/transport.ts'

export type RogueBehaviour = 'tamper-output' | 'wrong-key' | 'garbage' | 'silent' | 'wrong-input'

export class RogueAgent {
  readonly id: string
  assigned = 0
  private constructor(private readonly conn: Connection, readonly publicKey: string, private readonly behaviour: RogueBehaviour, private readonly seed: Buffer) {
    this.id = agentIdFromPublicKey(publicKey)
  }

  static async start(broker: string, behaviour: RogueBehaviour, price = 0): Promise<RogueAgent> {
    const seed = randomBytes(32)
    const signer = createSigner(seed)
    const publicKey = Buffer.from(signer.publicKey).toString('hex')
    const id = agentIdFromPublicKey(publicKey)
    const conn = await connect(broker, { will: { topic: topics.presence(id), payload: JSON.stringify({ status: 'offline', id, reason: 'lost' }), retain: true, qos: 1 } })
    const rogue = new RogueAgent(conn, publicKey, behaviour, seed)
    conn.route(topics.offers, (_t, p) => {
      const offer = JSON.parse(p.toString()) as { offerId: string; replyTo: string }
      // the cheapest bid in the room: it will be picked first
      conn.publish(offer.replyTo, JSON.stringify({ type: 'bid', offerId: offer.offerId, agent: id, price, load: { running: 0, queued: 0 }, slots: 64, leaseMs: 60_000 }))
    })
    conn.route(topics.agentJobs(id), (_t, p) => rogue.onAssign(JSON.parse(p.toString())))
    await conn.subscribe([topics.offers, topics.agentJobs(id)])
    const presence = {
      status: 'online', id, name: `rogue-${behaviour}`, publicKey, version: '0.1.0',
      capacity: { cores: 64, memoryMiB: 65536, arch: process.arch, platform: process.platform, slots: 64 },
      labels: {}, price: { perJob: price }, limits: { fuel: 1e12, memoryMiB: 256, timeoutMs: 60_000, outputBytes: 1 << 20, inputBytes: 1 << 20 },
      defaults: { fuel: 1e10, memoryMiB: 64, timeoutMs: 10_000, outputBytes: 1 << 20 },
      load: { running: 0, queued: 0 }, heartbeatMs: 1000, since: Date.now(),
    }
    await conn.publishAsync(topics.presence(id), JSON.stringify(presence), { retain: true })
    setInterval(() => conn.publish(topics.heartbeat(id), JSON.stringify({ id, seq: 0, load: { running: 0, queued: 0 } })), 500).unref()
    return rogue
  }

  private onAssign(a: { id: string; attempt: number; module: string; input: string; replyTo: string }): void {
    this.assigned++
    if (this.behaviour === 'silent') return
    if (this.behaviour === 'garbage') {
      this.conn.publish(a.replyTo, JSON.stringify({ type: 'result', id: a.id, attempt: a.attempt, agent: this.id, status: 'ok', output: 42 }))
      return
    }
    const input = Buffer.from(a.input, 'base64')
    const output = Buffer.from('forged output')
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
    const r = {
      type: 'result' as const, id: a.id, attempt: a.attempt, agent: this.id, module: a.module,
      inputSha256: this.behaviour === 'wrong-input' ? sha(Buffer.from('other')) : sha(input),
      status: 'ok' as const, output: output.toString('base64'), outputSha256: sha(output), fuel: 0, durationMs: 1,
    }
    const signer = createSigner(this.behaviour === 'wrong-key' ? randomBytes(32) : this.seed)
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
    await this.conn.close(true)
  }
}

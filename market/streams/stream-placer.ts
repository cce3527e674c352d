/**
 * The placer of stream jobs (it runs in the gateway): takes `fm/v1/streams/submit`
 * (and `/<name>`), places each stream on an eligible agent — the job's
 * constraints (a `site` label: at the source's site), then the placer's own
 * site, then the least loaded, then the cheapest — with a standby on another
 * agent of the primary's site, and moves it when an agent goes away: the
 * standby is promoted (it resumes after the last window in the retained
 * state, from readings it buffered), a new standby is picked; with no standby
 * another eligible agent cold-starts from the state. Window receipts are
 * checked (signed by an agent of the stream, the window's job id) and paid
 * once per window at the agent's price, through the requester's payer.
 */
import { EventEmitter } from 'node:events'
import type { Clock } from '../../protocol/clock.ts'
import { ineligibility } from '../../protocol/eligibility.ts'
import { ErrorCode } from '../../protocol/errors.ts'
import type { KeyIdentity } from '../../protocol/identity.ts'
import { RecentSet } from '../../protocol/recent-set.ts'
import { signStreamControl, type StreamOrder } from '../../protocol/stream-control.ts'
import { verifyResult } from '../../protocol/signature.ts'
import {
  streamCancelSchema,
  streamKey,
  streamSubmitSchema,
  windowJobId,
  windowResultSchema,
  type StreamSpec,
  type StreamSubmit,
} from '../../protocol/streams.ts'
import { topics } from '../../protocol/topics.ts'
import type { Connection } from '../../protocol/transport.ts'
import { decodeJson } from '../../protocol/validate.ts'
import type { AgentDirectory, AgentRecord } from '../directory.ts'
import type { Payer } from '../payer.ts'
import { streamReplyRefusal } from '../submit-scope.ts'

export interface StreamPlacerOptions {
  conn: Connection
  directory: AgentDirectory
  /** The requester id the placer pays as (receipts come to its `streams` inbox). */
  requesterId: string
  /** Signs the starts and stops it sends agents (protocol/stream-control.ts): the requester's identity. */
  identity: KeyIdentity
  /** How long a start or stop may wait before an agent acts on it (default 60 s). */
  controlTtlMs?: number
  payer?: Payer | undefined
  /** Whether the requester gives work to this agent at all (its `admit` list, its penalty box): the same rule as for jobs. Default: any. */
  takes?: (agent: string) => boolean
  clock: Clock
  /** Streams placed at once; more are answered `overloaded`. */
  maxStreams: number
  /** Window receipts remembered for paying each window once. */
  paidWindow: number
  site?: string | undefined
}

export interface Placement {
  key: string
  /** The submitting client's name (`fm/v1/streams/submit/<name>`), '' for the open topic. */
  owner: string
  submit: StreamSubmit
  spec: StreamSpec
  primary: string | undefined
  standby: string | undefined
  /** Every agent this stream was placed on (receipts from them are accepted). */
  agents: Set<string>
  windows: number
}

export interface StreamPlacerStats {
  streams: number
  unplaced: number
  submitted: number
  invalid: number
  cancelled: number
  takeovers: number
  receipts: number
  paid: number
  refusedReceipts: number
}

export interface StreamPlacerEvents {
  placed: [{ stream: string; id: string; primary: string; standby: string | undefined }]
  takeover: [{ stream: string; from: string; to: string; warm: boolean }]
  unplaced: [{ stream: string; reason: string }]
  cancelled: [{ stream: string }]
  receipt: [{ stream: string; seq: number; agent: string; paid: boolean }]
  invalid: [{ topic: string; code: string; message: string }]
}

export class StreamPlacer extends EventEmitter<StreamPlacerEvents> {
  private readonly placements = new Map<string, Placement>()
  private readonly paid: RecentSet
  private readonly stats_: StreamPlacerStats = { streams: 0, unplaced: 0, submitted: 0, invalid: 0, cancelled: 0, takeovers: 0, receipts: 0, paid: 0, refusedReceipts: 0 }
  private readonly inbox: string
  private sending: Promise<void> = Promise.resolve()
  private readonly onGone = (a: AgentRecord) => this.agentGone(a.presence.id)
  private readonly onOnline = () => this.placeWaiting()

  constructor(private readonly o: StreamPlacerOptions) {
    super()
    this.paid = new RecentSet(o.paidWindow)
    this.inbox = topics.streamReceipts(o.requesterId)
  }

  async start(): Promise<void> {
    const { conn, directory } = this.o
    conn.route(topics.streamSubmit, (t, p) => this.onSubmit(t, p, ''))
    conn.route(topics.streamSubmitNamed, (t, p) => this.onSubmit(t, p, t.slice(topics.streamSubmit.length + 1)))
    conn.route(this.inbox, (t, p) => this.onReceipt(t, p))
    directory.on('gone', this.onGone)
    directory.on('online', this.onOnline)
    await conn.subscribe([topics.streamSubmit, topics.streamSubmitNamed, this.inbox], 1)
  }

  get(key: string): Placement | undefined {
    return this.placements.get(key)
  }

  list(): Placement[] {
    return [...this.placements.values()]
  }

  stats(): StreamPlacerStats {
    let unplaced = 0
    for (const p of this.placements.values()) if (!p.primary) unplaced++
    return { ...this.stats_, streams: this.placements.size, unplaced }
  }

  async close(): Promise<void> {
    this.o.directory.off('gone', this.onGone)
    this.o.directory.off('online', this.onOnline)
    await this.o.conn.unsubscribe([topics.streamSubmit, topics.streamSubmitNamed, this.inbox]).catch(() => {})
  }

  // ---- submissions ----------------------------------------------------------

  private onSubmit(topic: string, payload: Buffer, owner: string): void {
    const raw = safeJson(payload)
    if (raw && typeof raw === 'object' && (raw as { cancel?: unknown }).cancel !== undefined) return this.onCancel(topic, payload, owner)
    const d = decodeJson(payload, streamSubmitSchema, 64 * 1024)
    if (!d.ok) {
      this.stats_.invalid++
      const replyTo = (raw as { replyTo?: unknown } | undefined)?.replyTo
      const id = (raw as { id?: unknown } | undefined)?.id
      if (typeof replyTo === 'string' && /^(?!\$)[^#+\u0000]{1,512}$/.test(replyTo)) {
        this.answer(replyTo, typeof id === 'string' ? id : null, d.error.code, d.error.shortMessage)
      }
      return void this.emit('invalid', { topic, code: d.error.code, message: d.error.shortMessage })
    }
    const s = d.value
    const refusal = streamReplyRefusal(owner, s.replyTo) // its agent answers there: never a mesh topic, never someone else's replies
    if (refusal) {
      this.stats_.invalid++
      if (owner !== '') this.answer(topics.replies(owner), s.id, ErrorCode.invalidField, `replyTo: expected ${refusal}`)
      return void this.emit('invalid', { topic, code: ErrorCode.invalidField, message: `replyTo: expected ${refusal}` })
    }
    const key = streamKey(`${owner}/${s.id}`, s.replyTo)
    if (this.placements.has(key)) return // the same stream again (QoS 1 redelivery): placed once
    this.stats_.submitted++
    if (this.placements.size >= this.o.maxStreams) return this.answer(s.replyTo, s.id, ErrorCode.overloaded, `the placer runs at most ${this.o.maxStreams} streams`)
    const spec: StreamSpec = {
      stream: key, id: s.id, module: s.module, source: s.source, window: s.window, replyTo: s.replyTo,
      ...(s.limits ? { limits: s.limits } : {}), epoch: Math.floor(this.o.clock.now()),
    }
    const p: Placement = { key, owner, submit: s, spec, primary: undefined, standby: undefined, agents: new Set(), windows: 0 }
    this.placements.set(key, p)
    this.place(p)
  }

  private onCancel(topic: string, payload: Buffer, owner: string): void {
    const d = decodeJson(payload, streamCancelSchema, 4096)
    if (!d.ok || !d.value.cancel) {
      this.stats_.invalid++
      return void this.emit('invalid', { topic, code: d.ok ? ErrorCode.invalidField : d.error.code, message: d.ok ? 'cancel: expected true' : d.error.shortMessage })
    }
    const { id, replyTo } = d.value
    for (const p of [...this.placements.values()]) {
      if (p.owner !== owner || p.submit.id !== id || (replyTo !== undefined && p.submit.replyTo !== replyTo)) continue
      this.placements.delete(p.key)
      for (const a of [p.primary, p.standby]) if (a) this.control(a, { type: 'stop', stream: p.key })
      this.o.conn.publish(topics.streamState(p.key), '', { qos: 1, retain: true }) // clears the retained state
      this.stats_.cancelled++
      this.emit('cancelled', { stream: p.key })
    }
  }

  // ---- placement ------------------------------------------------------------

  /** Eligible online agents, best first: the job's constraints, the placer's site, load, price. */
  private candidates(p: Placement, exclude: ReadonlySet<string>): AgentRecord[] {
    const site = p.submit.constraints?.labels?.site ?? this.o.site
    const job = { constraints: p.submit.constraints, limits: p.submit.limits, maxPrice: p.submit.maxPrice }
    return this.o.directory
      .list('online')
      .filter((a) => !exclude.has(a.presence.id) && (this.o.takes?.(a.presence.id) ?? true) && ineligibility(a.presence, job) === undefined)
      .sort((a, b) => {
        const s = Number(b.presence.labels.site === site) - Number(a.presence.labels.site === site)
        if (s !== 0) return s
        const l = a.load.running + a.load.queued - (b.load.running + b.load.queued)
        if (l !== 0) return l
        const c = a.presence.price.perJob - b.presence.price.perJob
        return c !== 0 ? c : a.presence.id < b.presence.id ? -1 : 1
      })
  }

  private place(p: Placement): void {
    const [primary] = this.candidates(p, new Set())
    if (!primary) {
      this.emit('unplaced', { stream: p.key, reason: 'no eligible agent online' })
      return this.answer(p.submit.replyTo, p.submit.id, ErrorCode.noAgents, 'no eligible agent online; the stream starts when one comes')
    }
    p.primary = primary.presence.id
    p.agents.add(p.primary)
    this.control(p.primary, this.startMessage(p, 'primary'))
    this.pickStandby(p)
    this.emit('placed', { stream: p.key, id: p.submit.id, primary: p.primary, standby: p.standby })
  }

  /** A standby of the primary's site (any eligible agent when the primary has no site label). */
  private pickStandby(p: Placement): void {
    const site = p.primary ? this.o.directory.get(p.primary)?.presence.labels.site : undefined
    const standby = this.candidates(p, new Set([p.primary ?? ''])).find((a) => site === undefined || a.presence.labels.site === site)
    p.standby = standby?.presence.id
    if (!p.standby) return
    p.agents.add(p.standby)
    this.control(p.standby, this.startMessage(p, 'standby'))
  }

  private agentGone(agent: string): void {
    for (const p of this.placements.values()) {
      if (p.standby === agent) {
        p.standby = undefined
        this.pickStandby(p)
      }
      if (p.primary !== agent) continue
      this.stats_.takeovers++
      if (p.standby) {
        const to = p.standby
        p.primary = to
        p.standby = undefined
        this.control(to, this.startMessage(p, 'primary')) // a promotion: it resumes from the state, with what it buffered
        this.pickStandby(p)
        this.emit('takeover', { stream: p.key, from: agent, to, warm: true })
        continue
      }
      p.primary = undefined
      const [next] = this.candidates(p, new Set([agent]))
      if (!next) {
        this.emit('unplaced', { stream: p.key, reason: `agent ${agent} went away and no other is eligible` })
        continue
      }
      p.primary = next.presence.id
      p.agents.add(p.primary)
      this.control(p.primary, this.startMessage(p, 'primary'))
      this.pickStandby(p)
      this.emit('takeover', { stream: p.key, from: agent, to: p.primary, warm: false })
    }
  }

  private placeWaiting(): void {
    for (const p of this.placements.values()) {
      if (!p.primary) this.place(p)
      else if (!p.standby) this.pickStandby(p)
    }
  }

  private startMessage(p: Placement, role: 'primary' | 'standby'): StreamOrder {
    return { type: 'start', role, spec: p.spec, requester: this.o.requesterId, inbox: this.inbox }
  }

  /** Signed (protocol/stream-control.ts) and sent in order; a paying placer proves its channel to an agent that takes payment. */
  private control(agent: string, order: StreamOrder): void {
    this.sending = this.sending.then(async () => {
      const { payer } = this.o
      const terms = this.o.directory.get(agent)?.presence.payment
      // a channel that cannot be funded: sent without it (an agent that needs it refuses it, and says so)
      const proof = payer && payer.accepts(terms) ? await payer.channelFor(agent, terms).catch(() => undefined) : undefined
      const m = signStreamControl(order, agent, this.o.identity, this.o.clock.now() + (this.o.controlTtlMs ?? 60_000), proof)
      this.o.conn.publish(topics.agentStreams(agent), JSON.stringify(m), { qos: 1 })
    })
  }

  private answer(replyTo: string, id: string | null, code: string, message: string): void {
    this.o.conn.publish(replyTo, JSON.stringify({ type: 'window', id, status: 'error', error: { code, message }, fuel: 0, agent: null, signature: null }), { qos: 1 })
  }

  // ---- receipts and payment -------------------------------------------------

  private onReceipt(topic: string, payload: Buffer): void {
    this.stats_.receipts++
    const d = decodeJson(payload, windowResultSchema, 8 * 1024 * 1024)
    const refuse = (why: string) => {
      this.stats_.refusedReceipts++
      this.emit('invalid', { topic, code: ErrorCode.rejected, message: `window receipt: ${why}` })
    }
    if (!d.ok) return refuse(d.error.shortMessage)
    const r = d.value
    const p = this.placements.get(r.stream)
    if (!p) return // cancelled meanwhile
    if (!p.agents.has(r.agent)) return refuse(`agent ${r.agent} does not run stream ${r.stream}`)
    if (r.jobId !== windowJobId(r.stream, r.seq)) return refuse(`job id ${r.jobId} is not window ${r.seq}`)
    const agent = this.o.directory.get(r.agent)
    if (!agent) return refuse(`agent ${r.agent} is unknown`)
    if (!verifyResult({ ...r, id: r.jobId }, agent.presence.publicKey)) return refuse('bad signature')
    p.windows++
    const first = this.paid.add(r.jobId)
    if (first && this.o.payer) {
      const terms = agent.presence.payment
      if (this.o.payer.accepts(terms)) {
        this.o.payer.pay(r.agent, terms, { id: r.jobId, outputSha256: r.outputSha256, fuel: r.fuel }, BigInt(Math.round(agent.presence.price.perJob)))
        this.stats_.paid++
      }
    }
    this.emit('receipt', { stream: r.stream, seq: r.seq, agent: r.agent, paid: first })
  }
}

function safeJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'))
  } catch {
    return undefined
  }
}

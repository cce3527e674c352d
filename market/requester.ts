/**
 * The requester: offers a job, collects bids, assigns, awaits the signed
 * result with a deadline, verifies it, and retries on another agent when the
 * assigned one goes away (its last will), times out, or answers garbage.
 * No central scheduler: any process can be a requester.
 */
import { createHash, randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { systemClock, type Clock, type Timer } from '../protocol/clock.ts'
import { ErrorCode, FogmeshError, isRetryableCode, toFogmeshError } from '../protocol/errors.ts'
import { inboxSchema, type Result } from '../protocol/messages.ts'
import { mergeOptions, type Merged, type Ranges } from '../protocol/options.ts'
import { RecentMap } from '../protocol/recent-set.ts'
import { topics } from '../protocol/topics.ts'
import { connectorFor, type BrokerAddress, type ClientCredentials, type Connection } from '../protocol/transport.ts'
import { decodeJson } from '../protocol/validate.ts'
import { Auctioneer, type AuctionReport } from './auction.ts'
import { AgentDirectory } from './directory.ts'
import type { JobAnswer, JobRequest } from './job.ts'
import { LeaseBook, type Lease } from './leases.ts'
import { Payer, type PayerOptions } from './payer.ts'
import { verifyAgainst } from './verify-result.ts'
import { Verifier, type CopySlot, type VerificationOptions } from './verification.ts'

export interface RequesterOptions {
  /** The broker: a URL, or a connector (e.g. an in-memory `MemoryBus`). Unused when `connection` is given. */
  broker: BrokerAddress
  /** Inbox id; default random. */
  id?: string
  /** Longest an auction waits for bids once the offer is out. Default 100 ms. */
  auctionWindowMs?: number
  /** Agents tried per job before it fails with `agent_failed`. Default 3. */
  maxAttempts?: number
  /** Allowance on top of the job's timeout for transport and module fetch. Default 3000 ms. */
  attemptSlackMs?: number
  /** Timeout for jobs that set none (the agents' default is 10 s). Default 10,000 ms. */
  defaultTimeoutMs?: number
  /** Answers kept by job id for duplicate submissions (they hold outputs: bounded memory). Default 10,000. */
  answersKept?: number
  /** The requester's site label: agents with the same `site` label are preferred. */
  site?: string
  /** Reuse an existing connection (e.g. the gateway's). */
  connection?: Connection
  /** Pay agents through payment channels: a voucher with every accepted result. */
  payment?: PayerOptions
  /** Time for auctions, leases, attempt timeouts and the agent directory (default: the system clock). */
  clock?: Clock
  /** Redundancy, spot checks, evidence, stake and reputation (market/verification.ts). */
  verification?: VerificationOptions
  /** Who this requester is to a broker with authentication; its user name is also its id (its inbox is `fm/v1/requesters/<name>/inbox`). */
  credentials?: ClientCredentials
}

const DEFAULTS = { auctionWindowMs: 100, maxAttempts: 3, attemptSlackMs: 3000, defaultTimeoutMs: 10_000, answersKept: 10_000 }

const RANGES: Ranges<RequesterOptions> = {
  auctionWindowMs: { min: 1, max: 60_000, integer: true },
  // an assignment's attempt number travels in 1..100
  maxAttempts: { min: 1, max: 100, integer: true },
  attemptSlackMs: { min: 0, max: 600_000, integer: true },
  defaultTimeoutMs: { min: 1, max: 3_600_000, integer: true },
  answersKept: { min: 1, max: 10_000_000, integer: true },
}

export interface RequesterEvents {
  attemptFailed: [{ id: string; agent: string; attempt: number; reason: string }]
  auction: [AuctionReport]
  rejected: [{ topic: string; code: string; message: string }]
  /** A job was answered (ok or error), as `submit` resolves it. */
  result: [JobAnswer]
}

type AttemptOutcome =
  | { kind: 'result'; result: Result; output: Buffer | undefined }
  | { kind: 'failed'; reason: string }

interface Pending {
  key: string
  lease: Lease
  module: string
  inputSha256: string
  accept: CopySlot['accept']
  timer: Timer
  resolve: (o: AttemptOutcome) => void
}

export class Requester extends EventEmitter<RequesterEvents> {
  readonly id: string
  readonly directory: AgentDirectory
  private readonly opts: Merged<RequesterOptions, typeof DEFAULTS>
  private readonly clock: Clock
  private readonly inboxTopic: string
  private readonly auctioneer: Auctioneer
  private readonly pending = new Map<string, Pending>()
  private readonly inflight = new Map<string, number>()
  /** Answers by job id, for duplicate submissions: in flight, or among the last `answersKept` answered. */
  private readonly jobs: RecentMap<Promise<JobAnswer>>
  private closed = false
  /** Present when this requester pays agents through channels. */
  readonly payer: Payer | undefined
  private readonly leases: LeaseBook
  /** Runs jobs with redundancy or spot checks; the plain path for the rest. */
  readonly verifier: Verifier

  private constructor(private readonly conn: Connection, private readonly ownsConnection: boolean, opts: Requester['opts']) {
    super()
    this.opts = opts
    this.clock = opts.clock ?? systemClock
    this.id = opts.id ?? opts.credentials?.username ?? `r${randomBytes(8).toString('hex')}`
    this.inboxTopic = topics.inbox(this.id)
    this.jobs = new RecentMap(opts.answersKept)
    this.leases = new LeaseBook(opts.site)
    this.directory = new AgentDirectory(conn, { clock: this.clock })
    this.auctioneer = new Auctioneer({
      conn, requesterId: this.id, replyTo: this.inboxTopic, directory: this.directory, leases: this.leases, clock: this.clock,
      windowMs: opts.auctionWindowMs, onAuction: (r) => this.emit('auction', r),
    })
    this.payer = opts.payment ? new Payer(conn, this.id, this.inboxTopic, opts.payment) : undefined
    this.verifier = new Verifier(this, this.directory, opts.verification)
  }

  static async start(options: RequesterOptions): Promise<Requester> {
    const opts = mergeOptions(options, DEFAULTS, RANGES, 'requester')
    const conn = opts.connection ?? (await connectorFor(opts.broker).connect(opts.credentials ? { credentials: opts.credentials } : {}))
    const r = new Requester(conn, !opts.connection, opts)
    await r.init()
    return r
  }

  private async init(): Promise<void> {
    this.conn.route(this.inboxTopic, (t, p) => this.onInbox(t, p))
    // a handler bug on any route of this connection (the gateway's too) is a counted rejection, never a crash
    this.conn.on('handlerError', (e) => this.emit('rejected', { topic: e.topic, code: ErrorCode.internal, message: toFogmeshError(e.error).shortMessage }))
    await this.conn.subscribe(this.inboxTopic, 1)
    this.directory.on('gone', (a) => this.onAgentGone(a.presence.id, `agent ${a.presence.id} went offline (${a.reason})`))
    this.directory.on('online', () => this.leases.refreshAll())
    this.directory.on('rejected', (e) => this.emit('rejected', e))
    await this.directory.start()
    await this.verifier.start()
  }

  /** The broker connection this requester uses (telemetry rides along on it). */
  get connection(): Connection {
    return this.conn
  }

  /** Publishes a module (retained) and returns its sha256. */
  async publishModule(bytes: Uint8Array): Promise<string> {
    const sha = createHash('sha256').update(bytes).digest('hex')
    await this.conn.publishAsync(topics.module(sha), Buffer.from(bytes), { qos: 1, retain: true })
    return sha
  }

  /** Runs a job on the mesh. Resolves with an ok or error result; never rejects for job faults. */
  submit(job: JobRequest): Promise<JobAnswer> {
    const id = job.id ?? randomBytes(8).toString('hex')
    const existing = this.jobs.get(id)
    if (existing) return existing
    const p = this.verifier.submit({ ...job, id })
    this.jobs.set(id, p)
    p.then((r) => this.emit('result', r), () => {})
    return p
  }

  /** Forgets the answer kept for `id`, so that `submit` runs it again (the gateway's hold for unplaced journaled jobs). */
  forget(id: string): void {
    this.jobs.delete(id)
  }

  /** Attempts one copy of a job may take (the verifier numbers copies' attempts apart by this). */
  get attemptsPerCopy(): number {
    return this.opts.maxAttempts
  }

  /** One copy of a job on one agent outside `slot.exclude` (the verifier runs several of a job). */
  runCopy(job: JobRequest & { id: string }, slot?: CopySlot): Promise<JobAnswer> {
    return this.run(job, slot)
  }

  private async run(job: JobRequest & { id: string }, slot?: CopySlot): Promise<JobAnswer> {
    const started = performance.now()
    const inputSha256 = createHash('sha256').update(job.input).digest('hex')
    const base = { id: job.id, module: job.module, inputSha256 }
    const fail = (code: ErrorCode, message: string, attempts: number): JobAnswer => ({
      ...base, status: 'error', error: { code, message }, agent: null, signature: null, fuel: 0, durationMs: 0, attempts, latencyMs: performance.now() - started,
    })
    if (this.closed) return fail(ErrorCode.closed, 'requester is closed', 0)
    const exclude = slot?.exclude ?? new Set<string>()
    const policy = { ...(await this.verifier.pickPolicy(job, slot)), claim: (a: string) => exclude.add(a) }
    let lastReason = ''
    for (let attempt = 1; attempt <= this.opts.maxAttempts; attempt++) {
      if (this.closed) return fail(ErrorCode.closed, 'requester closed', attempt - 1)
      const lease = await this.auctioneer.pick(job, exclude, (a) => this.inflight.get(a) ?? 0, policy)
      if (!lease) {
        if (attempt === 1) return fail(ErrorCode.noAgents, 'no eligible agent bid for the job', 0)
        return fail(ErrorCode.agentFailed, `no agent left to retry on after: ${lastReason}`, attempt - 1)
      }
      const o = await this.attempt(job, lease, (slot?.attemptBase ?? 0) + (job.firstAttempt ?? 1) - 1 + attempt, inputSha256, slot)
      if (o.kind === 'result' && !(o.result.status === 'error' && isRetryableCode(o.result.error?.code ?? ''))) {
        const r = o.result
        this.payFor(lease, r)
        return {
          ...base, status: r.status, agent: r.agent, signature: r.signature, fuel: r.fuel, durationMs: r.durationMs, attempts: attempt,
          latencyMs: performance.now() - started, result: r,
          ...(r.status === 'ok' ? { output: o.output, outputSha256: r.outputSha256 } : { error: r.error }),
        }
      }
      lastReason = o.kind === 'failed' ? o.reason : `${o.result.error?.code}: ${o.result.error?.message}`
      this.emit('attemptFailed', { id: job.id, agent: lease.agent, attempt: (slot?.attemptBase ?? 0) + (job.firstAttempt ?? 1) - 1 + attempt, reason: lastReason })
    }
    return fail(ErrorCode.agentFailed, `failed on ${this.opts.maxAttempts} agents; last: ${lastReason}`, this.opts.maxAttempts)
  }

  /** Work the agent really did (an ok result, or a job fault it computed and signed) is paid at its bid. */
  private payFor(lease: Lease, r: Result): void {
    if (!this.payer) return
    const terms = this.directory.get(lease.agent)?.presence.payment
    if (!this.payer.accepts(terms)) return
    this.payer.pay(lease.agent, terms, { id: r.id, outputSha256: r.outputSha256, fuel: r.fuel }, BigInt(Math.round(lease.price)))
  }

  private attempt(job: JobRequest & { id: string }, lease: Lease, attempt: number, inputSha256: string, slot: CopySlot | undefined): Promise<AttemptOutcome> {
    const key = `${job.id}\u0000${attempt}`
    const timeoutMs = (job.limits?.timeoutMs ?? this.opts.defaultTimeoutMs) + this.opts.attemptSlackMs
    this.inflight.set(lease.agent, (this.inflight.get(lease.agent) ?? 0) + 1)
    return new Promise<AttemptOutcome>((resolve) => {
      const timer = this.clock.setTimeout(() => this.settle(key, { kind: 'failed', reason: `no result from ${lease.agent} within ${timeoutMs} ms` }), timeoutMs)
      this.pending.set(key, { key, lease, module: job.module, inputSha256, accept: slot?.accept, timer, resolve })
      const assign = {
        id: job.id, attempt, requester: this.id, replyTo: this.inboxTopic, module: job.module,
        input: Buffer.from(job.input.buffer, job.input.byteOffset, job.input.byteLength).toString('base64'),
        ...(job.limits ? { limits: job.limits } : {}),
        ...(slot?.attest ? { attest: slot.attest } : {}),
      }
      this.conn.publish(topics.agentJobs(lease.agent), JSON.stringify(assign), { qos: 1 })
    })
  }

  private settle(key: string, outcome: AttemptOutcome): void {
    const p = this.pending.get(key)
    if (!p) return
    this.pending.delete(key)
    p.timer.cancel()
    const n = (this.inflight.get(p.lease.agent) ?? 1) - 1
    if (n <= 0) this.inflight.delete(p.lease.agent)
    else this.inflight.set(p.lease.agent, n)
    if (outcome.kind === 'failed') this.leases.drop(p.lease.agent)
    p.resolve(outcome)
  }

  private onAgentGone(agent: string, reason: string): void {
    this.leases.drop(agent)
    for (const p of [...this.pending.values()]) if (p.lease.agent === agent) this.settle(p.key, { kind: 'failed', reason })
  }

  // ---- the inbox: bids and results -----------------------------------------

  private onInbox(topic: string, payload: Buffer): void {
    const d = decodeJson(payload, inboxSchema)
    if (!d.ok) return this.onGarbage(topic, payload, d.error)
    const m = d.value
    if (m.type === 'voucherAck') {
      this.payer?.onAck(m)
      return
    }
    if (m.type === 'bid') return this.auctioneer.onBid(m)
    const p = this.pending.get(`${m.id}\u0000${m.attempt}`)
    if (!p) return // late or duplicate: already answered
    const v = verifyAgainst(m, { agent: p.lease.agent, publicKey: p.lease.publicKey, module: p.module, inputSha256: p.inputSha256 })
    const refused = v.ok ? p.accept?.(m) : v.reason
    this.settle(p.key, v.ok && refused === undefined ? { kind: 'result', result: m, output: v.output } : { kind: 'failed', reason: `refused result: ${refused}` })
  }

  /** An invalid inbox message: if it names a pending attempt, that attempt failed (garbage from its agent). */
  private onGarbage(topic: string, payload: Buffer, error: FogmeshError): void {
    this.emit('rejected', { topic, code: error.code, message: error.shortMessage })
    const o = garbageKey(payload)
    if (!o) return
    const p = this.pending.get(`${o.id}\u0000${o.attempt}`)
    if (p && o.agent === p.lease.agent) this.settle(p.key, { kind: 'failed', reason: `garbage result: ${error.shortMessage}` })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.directory.stop()
    await this.verifier.close()
    for (const p of [...this.pending.values()]) this.settle(p.key, { kind: 'failed', reason: 'requester closed' })
    if (this.ownsConnection) await this.conn.close().catch(() => {})
  }
}

/**
 * The (id, attempt, agent) a garbage inbox message names, when it names them
 * as plain strings and numbers; undefined for anything else (`null`, arrays,
 * `{"id":{"toString":1}}`): total over any JSON.
 */
function garbageKey(payload: Buffer): { id: string; attempt: string; agent: string } | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(payload.toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  const { id, attempt, agent } = raw as Record<string, unknown>
  if (typeof id !== 'string' || typeof agent !== 'string' || (typeof attempt !== 'number' && typeof attempt !== 'string')) return undefined
  return { id, attempt: String(attempt), agent }
}

export const startRequester = (options: RequesterOptions) => Requester.start(options)

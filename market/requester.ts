/**
 * The requester: offers a job, collects bids, assigns, awaits the signed
 * result with a deadline, verifies it, and retries on another agent when the
 * assigned one goes away (its last will), times out, or answers with a
 * wrong result it signed. No central scheduler: any process can be a requester.
 *
 * The control plane is signed: the requester has an ed25519 identity
 * (`keyId` is what agents list in `--accept-from`), signs every assignment
 * with a nonce and an expiry (protocol/assignment.ts), counts only bids
 * signed by the agent they name, and ignores results anyone could have
 * forged (market/verify-result.ts) — the real one still wins. An agent that
 * takes a job and fails it goes into the penalty box (market/penalty-box.ts);
 * a newcomer's share is capped until it has a record (market/track-record.ts);
 * `admit` restricts the requester to known agents. Sealed jobs travel
 * encrypted to and from the agent (protocol/seal.ts).
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { systemClock, type Clock, type Timer } from '../protocol/clock.ts'
import { ErrorCode, FogmeshError, isRetryableCode, toFogmeshError } from '../protocol/errors.ts'
import { inboxSchema, type Bid, type Result } from '../protocol/messages.ts'
import { bidSignedBy } from '../protocol/bid-signature.ts'
import { ephemeralIdentity, type KeyIdentity } from '../protocol/identity.ts'
import { Sealer } from '../protocol/seal.ts'
import { assignmentFor } from './assignment-builder.ts'
import { signAssignment, signAssignmentBatched } from '../protocol/assignment.ts'
import { BatchSigner, type BatchSignerOptions } from '../protocol/batch-signer.ts'
import { mergeOptions, type Merged, type Ranges } from '../protocol/options.ts'
import { RecentMap } from '../protocol/recent-set.ts'
import { topics } from '../protocol/topics.ts'
import { connectorFor, type BrokerAddress, type ClientCredentials, type Connection } from '../protocol/transport.ts'
import { decodeJson } from '../protocol/validate.ts'
import { Auctioneer, type AuctionReport } from './auction.ts'
import { AgentDirectory } from './directory.ts'
import { fetchManifest } from '../protocol/blobs/resolve-blob.ts'
import { MqttBlobSource } from '../protocol/blobs/mqtt-blob-source.ts'
import { publishBlob } from '../protocol/blobs/publish-blob.ts'
import { DEFAULT_CHUNK_BYTES } from '../protocol/blobs/chunk-blob.ts'
import { randomHex } from './random-hex.ts'
import { inputSha256Of, type JobAnswer, type JobRequest } from './job.ts'
import { LeaseBook, type Lease } from './leases.ts'
import { Payer, type PayerOptions } from './payer.ts'
import { PenaltyBox } from './penalty-box.ts'
import { Preselector, type PreselectOptions } from './preselect.ts'
import { TrackRecord } from './track-record.ts'
import { verifyAgainst, type Expected } from './verify-result.ts'
import { Verifier, type CopySlot, type VerificationOptions } from './verification.ts'

export interface RequesterOptions {
  /** The broker: a URL, or a connector (e.g. an in-memory `MemoryBus`). Unused when `connection` is given. */
  broker: BrokerAddress
  /** An input larger than this travels as a content-addressed blob (protocol/blobs/), not in the assignment. Default 1 MiB. */
  blobThresholdBytes?: number
  /** Chunk size of the blobs it publishes. Default 512 KiB. */
  blobChunkBytes?: number
  /** Wait for a named input's manifest (a job with `inputBlob` and no `contentSha256`). Default 10 s. */
  blobFetchTimeoutMs?: number
  /** Largest blob input it names in a job. Default 1 GiB. */
  maxBlobBytes?: number
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
  /** The ed25519 identity that signs assignments (default: a fresh one for this process). */
  identity?: KeyIdentity
  /** Only these agents get (and are paid for) work; bids of others are refused (`refusedBid`). Default: any agent. */
  admit?: readonly string[]
  /** Time out of the first strike in the penalty box; doubled for each further one up to `penaltyMaxMs`. Default 5 s, 10 min. */
  penaltyBaseMs?: number
  penaltyMaxMs?: number
  /**
   * An agent is a newcomer until it has `newcomerJobs` (20) verified results and was known for
   * `newcomerMs` (10 min); newcomers together get at most `newcomerShare` (0.1) of the last
   * `newcomerWindow` (100) assignments and `newcomerInFlight` (1) jobs each at once, while agents
   * of record can take the work.
   */
  newcomerJobs?: number
  newcomerMs?: number
  newcomerShare?: number
  newcomerWindow?: number
  newcomerInFlight?: number
  /** Least time between two re-auctions of every lease group for agents that joined. Default 1000 ms. */
  refreshMinMs?: number
  /** Agents whose strikes and record are kept. Default 10,000. */
  maxTrackedAgents?: number
  /** Redundancy, spot checks, evidence, stake and reputation (market/verification.ts). */
  verification?: VerificationOptions
  /**
   * Offers go to the `k` best candidates (by price, load, site, track record) plus random ones
   * among them (`explore`), on their own offer topics, widening to all when none bids in the
   * window (market/preselect.ts). `{ k: 0 }`: every offer to every agent. Default k 8, explore 2.
   */
  preselect?: PreselectOptions
  /** Who this requester is to a broker with authentication; its user name is also its id (its inbox is `fm/v1/requesters/<name>/inbox`). */
  credentials?: ClientCredentials
  /**
   * Assignments of one event-loop turn to agents that verify batches (`batchAssign` in their
   * presence) share one signature over their Merkle root (protocol/batch-signer.ts); false: each
   * signed alone. Default 32 per batch, signed at the end of the turn.
   */
  assignBatches?: BatchSignerOptions | false
  /**
   * Ask agents for batch-signed results (`batchResults`; every result still carries its own proof).
   * Default true. The gateway asks for single-signed ones: it forwards the agent's signature to
   * sensors, which check it by the single-form rule (docs/contract.md, "Checking an answer").
   */
  batchResults?: boolean
}

const DEFAULTS = {
  auctionWindowMs: 100, maxAttempts: 3, attemptSlackMs: 3000, defaultTimeoutMs: 10_000, answersKept: 10_000,
  penaltyBaseMs: 5000, penaltyMaxMs: 600_000, newcomerJobs: 20, newcomerMs: 600_000, newcomerShare: 0.1, newcomerWindow: 100, newcomerInFlight: 1,
  refreshMinMs: 1000, maxTrackedAgents: 10_000,
  blobThresholdBytes: 1024 * 1024, blobChunkBytes: DEFAULT_CHUNK_BYTES, blobFetchTimeoutMs: 10_000, maxBlobBytes: 1024 * 1024 * 1024,
}

const RANGES: Ranges<RequesterOptions> = {
  auctionWindowMs: { min: 1, max: 60_000, integer: true },
  // an assignment's attempt number travels in 1..100
  maxAttempts: { min: 1, max: 100, integer: true },
  attemptSlackMs: { min: 0, max: 600_000, integer: true },
  defaultTimeoutMs: { min: 1, max: 3_600_000, integer: true },
  answersKept: { min: 1, max: 10_000_000, integer: true },
  penaltyBaseMs: { min: 0, max: 86_400_000, integer: true },
  penaltyMaxMs: { min: 0, max: 86_400_000, integer: true },
  newcomerJobs: { min: 0, max: 1_000_000, integer: true },
  newcomerMs: { min: 0, max: 365 * 86_400_000, integer: true },
  newcomerShare: { min: 0, max: 1 },
  newcomerWindow: { min: 1, max: 1_000_000, integer: true },
  newcomerInFlight: { min: 1, max: 4096, integer: true },
  refreshMinMs: { min: 0, max: 3_600_000, integer: true },
  maxTrackedAgents: { min: 1, max: 10_000_000, integer: true },
  blobThresholdBytes: { min: 0, max: 1024 * 1024 * 1024, integer: true },
  blobChunkBytes: { min: 1024, max: 256 * 1024 * 1024, integer: true },
  blobFetchTimeoutMs: { min: 1, max: 600_000, integer: true },
  maxBlobBytes: { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
}

export interface RequesterEvents {
  /** A large input went out as a content-addressed blob before its job (protocol/blobs/publish-blob.ts). */
  blobPublished: [{ id: string; sha256: string; contentSha256: string; size: number; chunks: number }]
  attemptFailed: [{ id: string; agent: string; attempt: number; reason: string }]
  auction: [AuctionReport]
  rejected: [{ topic: string; code: string; message: string }]
  /** A result the assigned agent signed and that is wrong (it failed the attempt). */
  refused: [{ id: string; agent: string; reason: string }]
  /** A result for a pending attempt that anyone could have made (bad signature, unhashed output): ignored, the attempt goes on. */
  forged: [{ id: string; agent: string; reason: string }]
  /** A bid that does not count: not signed by the agent it names, or from an agent not admitted. */
  refusedBid: [{ agent: string; reason: string }]
  /** An agent went into the penalty box. */
  boxed: [{ agent: string; strikes: number; forMs: number; reason: string }]
  /** A job was answered (ok or error), as `submit` resolves it. */
  result: [JobAnswer]
}

type AttemptOutcome =
  | { kind: 'result'; result: Result; output: Buffer | undefined; salt?: Buffer | undefined }
  | { kind: 'failed'; reason: string }

interface Pending {
  key: string
  lease: Lease
  expected: Expected
  /** Verification's own check of the result (a copy of a redundant job, a spot check). */
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
  private readonly identity: KeyIdentity
  private readonly sealer: Sealer
  readonly penalties: PenaltyBox
  readonly record: TrackRecord
  private readonly admitted: ReadonlySet<string> | undefined
  private lastRefresh = -Infinity
  private refreshTimer: Timer | undefined
  /** Runs jobs with redundancy or spot checks; the plain path for the rest. */
  readonly verifier: Verifier
  /** Signs a turn's assignments together (agents that say `batchAssign`). */
  readonly assignBatches: BatchSigner | undefined

  private constructor(private readonly conn: Connection, private readonly ownsConnection: boolean, opts: Requester['opts']) {
    super()
    this.opts = opts
    this.clock = opts.clock ?? systemClock
    this.identity = opts.identity ?? ephemeralIdentity()
    this.sealer = new Sealer(this.identity.box)
    this.assignBatches = opts.assignBatches === false ? undefined : new BatchSigner('assign', this.identity.signer, opts.assignBatches)
    // on a broker with authentication the inbox is the user's (its access rules name it)
    this.id = opts.id ?? opts.credentials?.username ?? this.identity.id
    this.inboxTopic = topics.inbox(this.id)
    this.jobs = new RecentMap(opts.answersKept)
    this.leases = new LeaseBook(opts.site)
    this.admitted = opts.admit ? new Set(opts.admit) : undefined
    this.penalties = new PenaltyBox({ baseMs: opts.penaltyBaseMs, maxMs: opts.penaltyMaxMs, maxAgents: opts.maxTrackedAgents })
    this.penalties.on('boxed', (b) => this.emit('boxed', b))
    this.record = new TrackRecord(
      { jobs: opts.newcomerJobs, ms: opts.newcomerMs, share: opts.newcomerShare, window: opts.newcomerWindow, inFlight: opts.newcomerInFlight, maxAgents: opts.maxTrackedAgents },
      () => this.clock.now(),
    )
    this.directory = new AgentDirectory(conn, { clock: this.clock })
    this.payer = opts.payment ? new Payer(conn, this.id, this.inboxTopic, opts.payment, this.identity.publicKeyHex) : undefined
    this.auctioneer = new Auctioneer({
      conn, requesterId: this.id, replyTo: this.inboxTopic, directory: this.directory, leases: this.leases, clock: this.clock,
      windowMs: opts.auctionWindowMs, onAuction: (r) => this.emit('auction', r),
      requesterKey: this.identity.publicKeyHex,
      ...(this.payer ? { payer: this.payer.address } : {}),
      takes: (a) => this.takes(a),
      withinCap: (a) => this.record.withinCap(a, this.inflight.get(a) ?? 0),
      preselect: new Preselector(opts.preselect, opts.site, opts.maxTrackedAgents),
      verified: (a) => this.record.verifiedOf(a),
    })
    this.verifier = new Verifier(this, this.directory, opts.verification)
  }

  /** The requester id agents accept work from (`--accept-from`): sha256 of its key, first 20 hex. */
  get keyId(): string {
    return this.identity.id
  }

  get publicKey(): string {
    return this.identity.publicKeyHex
  }

  static async start(options: RequesterOptions): Promise<Requester> {
    const opts = mergeOptions(options, DEFAULTS, RANGES, 'requester')
    // many packets a turn (assignments, acknowledgements): one socket write per turn
    const conn = opts.connection ?? (await connectorFor(opts.broker).connect({ writesPerTurn: true, ...(opts.credentials ? { credentials: opts.credentials } : {}) }))
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
    // a new agent is heard in the next auction; a republished presence or a reconnect reopens nothing
    this.directory.on('joined', (a) => {
      this.record.seen(a.presence.id)
      this.refreshSoon()
    })
    this.directory.on('rejected', (e) => this.emit('rejected', e))
    await this.directory.start()
    await this.verifier.start()
  }

  /** Re-auctions every lease group at its next use, at most once per `refreshMinMs` (joins in between are coalesced, not lost). */
  private refreshSoon(): void {
    if (this.refreshTimer) return
    const wait = this.lastRefresh + this.opts.refreshMinMs - this.clock.now()
    const refresh = () => {
      this.refreshTimer = undefined
      this.lastRefresh = this.clock.now()
      this.leases.refreshAll()
    }
    if (wait <= 0) return refresh()
    this.refreshTimer = this.clock.setTimeout(refresh, wait, { unref: true })
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
    const id = job.id ?? randomHex(8)
    const existing = this.jobs.get(id)
    if (existing) return existing
    const withId = { ...job, id }
    // a job with no blob to publish or read goes on at once (no extra turn)
    const p = this.blobWork(withId) ? this.blobInput(withId).then((j) => ('error' in j ? j.error : this.verifier.submit(j))) : this.submitNow(withId)
    this.jobs.set(id, p)
    p.then((r) => this.emit('result', r), () => {})
    return p
  }

  private blobSource: MqttBlobSource | undefined

  /**
   * A job's input as it will travel: an `input` over `blobThresholdBytes` is published as a blob
   * first (its chunks, then its manifest: acknowledged by the broker before the job goes out); an
   * `inputBlob` named without its content hash has its manifest read for it. A blob that cannot be
   * read answers the job with its typed error (`blob_not_found`, `blob_invalid_manifest`, ...).
   */
  /** `verifier.submit`, a throw in it a rejection as when it ran after `blobInput`. */
  private submitNow(job: JobRequest & { id: string }): Promise<JobAnswer> {
    try {
      return this.verifier.submit(job)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** Whether `blobInput` has anything to do for `job`. */
  private blobWork(job: JobRequest): boolean {
    return job.inputBlob ? job.inputBlob.contentSha256 === undefined : !job.sealed && job.input.length > this.opts.blobThresholdBytes
  }

  private async blobInput(job: JobRequest & { id: string }): Promise<(JobRequest & { id: string }) | { error: JobAnswer }> {
    const failed = (err: unknown): { error: JobAnswer } => {
      const e = toFogmeshError(err)
      return {
        error: {
          id: job.id, module: job.module, inputSha256: job.inputBlob?.contentSha256 ?? '', status: 'error', error: e.toJSON(),
          agent: null, signature: null, fuel: 0, durationMs: 0, attempts: 0, latencyMs: 0,
        },
      }
    }
    try {
      if (job.inputBlob && job.inputBlob.contentSha256 === undefined) {
        this.blobSource ??= new MqttBlobSource(this.conn, { timeoutMs: this.opts.blobFetchTimeoutMs, clock: this.clock })
        const m = await fetchManifest(this.blobSource, job.inputBlob.sha256, { maxBytes: this.opts.maxBlobBytes })
        return { ...job, inputBlob: { sha256: job.inputBlob.sha256, contentSha256: m.sha256, size: m.size } }
      }
      if (!job.inputBlob && !job.sealed && job.input.length > this.opts.blobThresholdBytes) {
        const ref = await publishBlob(this.conn, job.input, { chunkBytes: this.opts.blobChunkBytes })
        this.emit('blobPublished', { id: job.id, ...ref })
        return { ...job, inputBlob: ref }
      }
    } catch (err) {
      return failed(err)
    }
    return job
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
    const inputSha256 = inputSha256Of(job)
    const base = { id: job.id, module: job.module, inputSha256 }
    const fail = (code: ErrorCode, message: string, attempts: number): JobAnswer => ({
      ...base, status: 'error', error: { code, message }, agent: null, signature: null, fuel: 0, durationMs: 0, attempts, latencyMs: performance.now() - started,
    })
    if (this.closed) return fail(ErrorCode.closed, 'requester is closed', 0)
    const exclude = slot?.exclude ?? new Set<string>()
    // at hand without a stake filter, and a lease at hand on the leased path: no extra turn for either
    const policyNow = this.verifier.pickPolicy(job, slot)
    const policy = {
      ...(policyNow instanceof Promise ? await policyNow : policyNow),
      // counted when picked: jobs waiting on the same auction see each other's picks (a newcomer's cap holds)
      claim: (a: string) => {
        exclude.add(a)
        this.record.recordAssigned(a)
        this.addInflight(a, 1)
      },
    }
    let lastReason = ''
    for (let attempt = 1; attempt <= this.opts.maxAttempts; attempt++) {
      if (this.closed) return fail(ErrorCode.closed, 'requester closed', attempt - 1)
      const picked = this.auctioneer.pick(job, exclude, this.inflightOf, policy)
      const lease = picked instanceof Promise ? await picked : picked
      if (!lease) {
        if (attempt === 1) return fail(ErrorCode.noAgents, 'no eligible agent bid for the job', 0)
        return fail(ErrorCode.agentFailed, `no agent left to retry on after: ${lastReason}`, attempt - 1)
      }
      const o = await this.attempt(job, lease, (slot?.attemptBase ?? 0) + (job.firstAttempt ?? 1) - 1 + attempt, inputSha256, slot)
      if (o.kind === 'result') {
        this.record.recordVerified(lease.agent)
        this.penalties.clear(lease.agent)
      }
      if (o.kind === 'result' && !(o.result.status === 'error' && isRetryableCode(o.result.error?.code ?? ''))) {
        const r = o.result
        this.payFor(lease, r)
        return {
          ...base, status: r.status, agent: r.agent, signature: r.signature, fuel: r.fuel, durationMs: r.durationMs, attempts: attempt,
          latencyMs: performance.now() - started, result: r,
          ...(r.status === 'ok' ? { output: o.output, outputSha256: r.outputSha256 } : { error: r.error }),
          ...(o.salt ? { sealed: true, salt: o.salt, inputSha256: r.inputSha256 } : {}),
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

  private async attempt(job: JobRequest & { id: string }, lease: Lease, attempt: number, inputSha256: string, slot: CopySlot | undefined): Promise<AttemptOutcome> {
    const key = `${job.id}\u0000${attempt}`
    const timeoutMs = (job.limits?.timeoutMs ?? this.opts.defaultTimeoutMs) + this.opts.attemptSlackMs
    const presence = this.directory.get(lease.agent)?.presence
    let payer: Awaited<ReturnType<Payer['channelFor']>>
    try {
      payer = this.payer && this.payer.accepts(presence?.payment) ? await this.payer.channelFor(lease.agent, presence!.payment!) : undefined
    } catch (err) {
      this.addInflight(lease.agent, -1)
      throw err
    }
    const built = assignmentFor(
      { id: job.id, attempt, module: job.module, input: Buffer.from(job.input.buffer, job.input.byteOffset, job.input.byteLength), inputSha256, inputBlob: job.inputBlob?.sha256, limits: job.limits, sealed: job.sealed },
      { identity: this.identity, sealer: this.sealer, requester: this.id, replyTo: this.inboxTopic, agent: { id: lease.agent, publicKey: lease.publicKey, presence }, expiresAt: this.clock.now() + timeoutMs, payer, attest: slot?.attest, batchResults: this.opts.batchResults !== false },
    )
    if ('refused' in built) {
      this.addInflight(lease.agent, -1)
      return { kind: 'failed', reason: built.refused }
    }
    const { fields, expected } = built
    // an agent that verifies batches gets its assignment signed with the others of this turn
    // (nothing else in flight: signed at once, not at the end of the turn)
    const assign = presence?.batchAssign === true && this.assignBatches ? await signAssignmentBatched(fields, this.assignBatches, this.pending.size === 0) : signAssignment(fields, this.identity.signer)
    return new Promise<AttemptOutcome>((resolve) => {
      const timer = this.clock.setTimeout(() => this.settle(key, { kind: 'failed', reason: `no result from ${lease.agent} within ${timeoutMs} ms` }, true), timeoutMs)
      this.pending.set(key, { key, lease, expected, accept: slot?.accept, timer, resolve })
      this.conn.publish(topics.agentJobs(lease.agent), JSON.stringify(assign), { qos: 1 })
    })
  }

  /** Whether this requester gives work to `agent` now: admitted (`admit`), not in the penalty box. */
  takes(agent: string): boolean {
    return (this.admitted === undefined || this.admitted.has(agent)) && !this.penalties.isBoxed(agent, this.clock.now())
  }

  private readonly inflightOf = (agent: string): number => this.inflight.get(agent) ?? 0

  /** Jobs picked for `agent` and not settled yet (picked: counted before the assignment is built). */
  private addInflight(agent: string, d: 1 | -1): void {
    const n = (this.inflight.get(agent) ?? 0) + d
    if (n <= 0) this.inflight.delete(agent)
    else this.inflight.set(agent, n)
  }

  /** Ends an attempt; `strike`: the agent failed a job it took (timeout, a wrong result it signed) and goes into the penalty box. */
  private settle(key: string, outcome: AttemptOutcome, strike = false): void {
    const p = this.pending.get(key)
    if (!p) return
    this.pending.delete(key)
    p.timer.cancel()
    this.addInflight(p.lease.agent, -1)
    if (outcome.kind === 'failed') this.leases.drop(p.lease.agent)
    if (strike && outcome.kind === 'failed') this.penalties.strike(p.lease.agent, this.clock.now(), outcome.reason)
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
    if (m.type === 'bid') return this.onBid(topic, m, d.raw as Record<string, unknown>)
    const p = this.pending.get(`${m.id}\u0000${m.attempt}`)
    if (!p) return // late or duplicate: already answered
    const v = verifyAgainst(m, p.expected)
    if (!v.ok && !v.attributable) return void this.emit('forged', { id: m.id, agent: m.agent, reason: v.reason })
    if (!v.ok) {
      this.emit('refused', { id: m.id, agent: m.agent, reason: v.reason })
      return this.settle(p.key, { kind: 'failed', reason: `refused result: ${v.reason}` }, true)
    }
    // verification's own check (a redundant copy, a spot check) decides on its side; a signed, matching result here
    const refused = p.accept?.(m)
    if (refused !== undefined) return this.settle(p.key, { kind: 'failed', reason: `refused result: ${refused}` })
    this.settle(p.key, { kind: 'result', result: m, output: v.output, salt: p.expected.sealed?.salt })
  }

  /** A bid counts when the agent it names signed it (with the key of its signed presence) and may take work here. */
  private onBid(topic: string, bid: Bid, raw: Record<string, unknown>): void {
    const a = this.directory.get(bid.agent)
    if (!a) return // unknown agent (or not yet known): the auction does not wait for it
    // a late bid (its auction closed) or one from an agent not asked is dropped before its signature is checked:
    // at 1,000 agents checking every broadcast bid outlasted the bid wait
    if (!this.auctioneer.awaits(bid)) return
    if (!bidSignedBy(raw, a.presence.publicKey)) {
      this.emit('refusedBid', { agent: bid.agent, reason: 'bid not signed by the agent it names' })
      this.emit('rejected', { topic, code: ErrorCode.badSignature, message: `bid in the name of ${bid.agent}: signature does not verify` })
      return
    }
    if (this.admitted && !this.admitted.has(bid.agent)) return void this.emit('refusedBid', { agent: bid.agent, reason: 'not admitted' })
    this.auctioneer.onBid(bid)
  }

  /** An invalid inbox message: counted; never pinned on the agent it names (anyone can publish in its name). */
  private onGarbage(topic: string, _payload: Buffer, error: FogmeshError): void {
    this.emit('rejected', { topic, code: error.code, message: error.shortMessage })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.refreshTimer?.cancel()
    this.directory.stop()
    await this.verifier.close()
    for (const p of [...this.pending.values()]) this.settle(p.key, { kind: 'failed', reason: 'requester closed' })
    if (this.ownsConnection) await this.conn.close().catch(() => {})
  }
}

export const startRequester = (options: RequesterOptions) => Requester.start(options)

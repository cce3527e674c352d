/**
 * An agent: joins the mesh, bids on offers it is eligible for, runs the jobs
 * assigned to it on its executor, and returns signed results.
 *
 * Each message kind has one handler (`onOffer`, `onAssign`, `onVoucher`);
 * the work behind them lives in its own file (assignment-runner.ts,
 * payment-intake.ts); options are merged with defaults once
 * (agent-options.ts); the agent emits events and never logs.
 */
import { EventEmitter } from 'node:events'
import { arch, availableParallelism, platform, totalmem } from 'node:os'
import { join } from 'node:path'
import { Outbox } from './outbox.ts'
import { EarlyInbox } from './early-inbox.ts'
import { systemClock, type Clock, type Timer } from '../protocol/clock.ts'
import { ineligibility } from '../protocol/eligibility.ts'
import { ErrorCode, FogmeshError, toFogmeshError } from '../protocol/errors.ts'
import { assignSchema, offerSchema, wireVoucherSchema, type Load, type PresenceOnline, type VoucherAck } from '../protocol/messages.ts'
import { requesterIdOf } from '../protocol/assignment.ts'
import { signBid } from '../protocol/bid-signature.ts'
import { Sealer } from '../protocol/seal.ts'
import { topics } from '../protocol/topics.ts'
import { createAgentToken } from '../protocol/agent-token.ts'
import { connectorFor, type Connection } from '../protocol/transport.ts'
import { decodeJson } from '../protocol/validate.ts'
import { VERSION } from '../protocol/version.ts'
import { resolveAgentOptions, type AgentOptions, type ResolvedAgentOptions } from './agent-options.ts'
import { AssignmentRunner, type JobTerms } from './assignment-runner.ts'
import { createProcessExecutor } from './engine/executor/process-executor.ts'
import type { Executor } from './engine/executor.ts'
import { loadOrCreateIdentity, type Identity } from './identity.ts'
import { attestorLoader } from './attestor-loader.ts'
import type { ResultAttestor } from './result-attestation.ts'
import { BlobFetcher } from './blob-fetcher.ts'
import { BlobHolder, type BlobHolderEvents } from './blob-holder.ts'
import { BlobStore, type BlobStoreEvents } from './blob-store.ts'
import { ModuleStore } from './module-store.ts'
// payment (ethers, the chain client) and the engine load only when used: a device's RSS and start time
import type { PaymentIntake, SettlementStats } from './payment-intake.ts'
import { Admission, type Admitted } from './admission.ts'
import { LeaveSteps, type StalledStep } from './leave-steps.ts'
import type { ChannelAcceptance } from './channel-acceptance.ts'
import { EPOCH_FILE, EpochCounter } from './epoch.ts'
import { Advertiser, PresenceStatements, type PresenceBody } from './presence.ts'
import { RequesterQuota } from './requester-quota.ts'
import { StreamHost } from './streams/stream-host.ts'
import type { SettlementReport } from './settlement/settler.ts'
import { runSelfTest, type SelfTestResult } from './update/self-test.ts'
import { Updater } from './update/updater.ts'

export type { AgentOptions } from './agent-options.ts'
export type { SettlementStats } from './payment-intake.ts'

export interface AgentStats {
  settlement?: SettlementStats
  jobsOk: number
  jobsFailed: number
  bids: number
  rejectedMessages: number
  running: number
  queued: number
}

export interface AgentEvents {
  job: [{ id: string; module: string; status: 'ok' | 'error'; code?: string | undefined; durationMs: number; fuel: number }]
  settled: [SettlementReport]
  /** A settlement attempt failed; what it would have paid stays owed in the journal. */
  settleFailed: [{ error: Error }]
  /** A message from the network that failed validation (it was dropped, nothing broke). */
  rejected: [{ topic: string; code: string; message: string }]
  connection: [{ connected: boolean }]
  /** A stream window was run and its result published. */
  window: [{ stream: string; seq: number; status: 'ok' | 'error'; count: number }]
  /** The blob cache's budget bit (agent/blob-store.ts). */
  blobEvicted: [BlobStoreEvents['evicted'][0]]
  /** A blob or module piece re-published for another's want (agent/blob-holder.ts). */
  blobServed: [BlobHolderEvents['served'][0]]
  /** A step of leaving (close) did not end in its bound: left behind, the agent leaves anyway. */
  leaveStalled: [StalledStep]
}

/** Bound of one step of leaving (unsubscribe, streams, advertiser; twice it for the broker and the executor). */
export const LEAVE_STEP_MS = 5_000
/** Bound of the last settlement on the way out (a chain round trip or two). */
export const LEAVE_SETTLE_MS = 30_000

export class Agent extends EventEmitter<AgentEvents> {
  readonly id: string
  readonly publicKey: string
  readonly name: string
  private readonly since: number
  private readonly stats_ = { jobsOk: 0, jobsFailed: 0, bids: 0, rejectedMessages: 0 }
  private readonly runner: AssignmentRunner
  private readonly admission: Admission
  private readonly signer: Identity['signer']
  private readonly boxKey: string
  private readonly modules: ModuleStore
  /** Content-addressed pieces: the cache, its fetcher, and the answers to others' wants. */
  readonly blobs: BlobFetcher
  private readonly blobHolder: BlobHolder
  private readonly quota: RequesterQuota
  private readonly clock: Clock
  private advertiser: Advertiser | undefined
  private closing = false
  private readonly leaving = new LeaveSteps(systemClock, (s) => this.emit('leaveStalled', s))
  /** The OTA side (agent/update/updater.ts), when the agent follows a release channel. */
  updater: Updater | undefined
  /** Stream jobs placed here (agent/streams/). */
  readonly streams: StreamHost

  private constructor(
    identity: Identity,
    private readonly conn: Connection,
    private readonly executor: Executor,
    private readonly opts: ResolvedAgentOptions,
    private readonly payments: PaymentIntake | undefined,
    private readonly statements: PresenceStatements,
    channels: ChannelAcceptance | undefined,
    /** The co-signer for the VerificationCourt, loaded at start only when staked (its address goes in the presence). */
    readonly attestor: ResultAttestor | undefined,
    loadAttestor: () => Promise<ResultAttestor>,
  ) {
    super()
    this.id = identity.id
    this.signer = identity.signer
    this.boxKey = identity.box.publicKeyHex
    this.publicKey = identity.publicKeyHex
    this.name = opts.name
    this.clock = opts.clock ?? systemClock
    this.since = this.clock.now()
    this.modules = new ModuleStore(conn, executor, {
      dir: join(opts.dataDir, 'modules'),
      fetchTimeoutMs: opts.moduleFetchTimeoutMs,
      maxBytes: opts.maxModuleBytes,
      clock: this.clock,
    })
    const blobStore = new BlobStore({ dir: join(opts.dataDir, 'blobs'), maxBytes: opts.blobCacheBytes })
    blobStore.on('evicted', (e) => this.emit('blobEvicted', e))
    this.blobs = new BlobFetcher(conn, blobStore, {
      timeoutMs: opts.blobFetchTimeoutMs, wantAfterMs: Math.min(500, Math.ceil(opts.blobFetchTimeoutMs / 3)), clock: this.clock,
      limits: { maxBytes: opts.maxBlobBytes, maxChunks: opts.maxBlobChunks },
    })
    this.blobHolder = new BlobHolder(conn, blobStore, (sha) => this.modules.cached(sha), { serveBytesPerSec: opts.blobServeBytesPerSec, clock: this.clock })
    this.blobHolder.on('served', (e) => this.emit('blobServed', e))
    const sealer = new Sealer(identity.box)
    this.runner = new AssignmentRunner({ agentId: this.id, signer: identity.signer, executor, modules: this.modules, blobs: this.blobs, terms: this.jobTerms(), sealer, attestor: loadAttestor })
    this.admission = new Admission({
      agentId: this.id, acceptFrom: opts.acceptFrom, clock: this.clock, nonceWindow: opts.dedupeWindow, nonceFile: join(opts.dataDir, 'nonces.journal'), maxSkewMs: opts.maxClockSkewMs,
      maxTtlMs: opts.maxAssignTtlMs, sealer,
      ...(channels ? { channels } : {}),
    })
    this.quota = new RequesterQuota(opts.maxJobsPerRequester)
    this.streams = new StreamHost({
      conn, agentId: this.id, clock: this.clock, signer: identity.signer, run: (job) => this.runner.run({ job, requesterId: job.requester }),
      prefetch: (m) => this.modules.prefetch(m), maxStreams: opts.maxStreams, admit: (raw, m) => this.admission.admitStreamControl(raw, m),
      limits: {
        maxPendingWindows: opts.streamMaxPendingWindows, maxBufferedReadings: opts.streamMaxBufferedReadings,
        maxReadingBytes: opts.streamMaxReadingBytes, graceMs: opts.streamGraceMs, stateWaitMs: opts.streamStateWaitMs,
      },
    })
    this.streams.on('window', ({ result, ...w }) => {
      if (w.count > 0) this.payments?.remember(result) // paid per window like a job
      this.emit('window', w)
    })
    this.streams.on('rejected', (e) => this.reject(e.topic, new FogmeshError(e.code as ErrorCode, e.message)))
    payments?.on('settled', (r) => this.emit('settled', r))
    payments?.on('settleFailed', (e) => this.emit('settleFailed', e))
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const opts = resolveAgentOptions(options)
    const identity = loadOrCreateIdentity(opts.dataDir)
    const loadAttestor = attestorLoader(opts.dataDir)
    const attestor = opts.staking ? await loadAttestor() : undefined
    const warm = Math.min(opts.slots, opts.warmWorkers ?? opts.slots)
    const executor =
      opts.executor ??
      (opts.isolation === 'thread'
        ? (await import('./engine/model/with-models.ts')).withModels(
            (await import('./engine/worker/pool.ts')).createWorkerPool({ size: opts.slots, queueLimit: opts.queueLimit, warm }),
            { queueLimit: opts.queueLimit },
          )
        : createProcessExecutor({ size: opts.slots, queueLimit: opts.queueLimit, warm, ...(opts.executorUser ? { user: opts.executorUser } : {}) }))
    let conn: Connection | undefined
    let payments: PaymentIntake | undefined
    // advertise only once jobs can run (the first job must not pay for worker start-up); the broker
    // connection comes up meanwhile, so start-to-online is the slower of the two, not their sum
    // a new epoch per connection: the will is signed for the epoch of the connection it belongs to
    const statements = new PresenceStatements(identity, opts.name, new EpochCounter(join(opts.dataDir, EPOCH_FILE), opts.clock ?? systemClock))
    // what the persistent session's queue sends right after CONNACK, before the agent is up: held, then run (agent/early-inbox.ts)
    const early = new EarlyInbox()
    const earlyTopics = [topics.agentJobs(identity.id), topics.agentStreams(identity.id), ...(opts.payment ? [topics.agentVouchers(identity.id)] : [])]
    const connecting = connectorFor(opts.broker).connect({
      clientId: `fm-agent-${identity.id}`,
      routes: early.routes(earlyTopics, [topics.agentOffers(identity.id), topics.offers]),
      will: () => statements.will(),
      keepaliveSeconds: 5,
      // a persistent session and an on-disk outbox: assignments wait at the broker while the link is down,
      // results finished meanwhile wait on disk (through a restart too) and go out when it returns
      clean: false,
      outbox: new Outbox(join(opts.dataDir, 'outbox.journal')),
      // its id proven by its key: a fresh signed token for every (re)connect (protocol/agent-token.ts)
      credentials: {
        username: identity.id,
        password: opts.credentials?.password ?? (() => createAgentToken(identity.signer).password),
        ...(opts.credentials?.ca !== undefined ? { ca: opts.credentials.ca } : {}),
      },
    })
    connecting.catch(() => {}) // a refusal is handled below, once the executor is ready
    try {
      if ('ready' in executor && typeof executor.ready === 'function') await (executor.ready as () => Promise<void>)()
      conn = await connecting
      payments = opts.payment ? await (await import('./payment-intake.ts')).PaymentIntake.open(opts.dataDir, opts.payment) : undefined
      // requesters with a funded channel are accepted (ethers verifies their payer proof): only for an agent that takes payment
      const channels = opts.payment && payments ? new (await import('./channel-acceptance.ts')).ChannelAcceptance(opts.payment.client, payments.terms.payee, opts.clock ?? systemClock) : undefined
      const agent = new Agent(identity, conn, executor, opts, payments, statements, channels, attestor, loadAttestor)
      await agent.join(early)
      return agent
    } catch (err) {
      await payments?.close().catch(() => {})
      connecting.then((c) => c.close()).catch(() => {}) // also when it connects only after the failure
      await executor.close()
      throw err
    }
  }

  private async join(early: EarlyInbox): Promise<void> {
    const failed = (topic: string, error: unknown) => this.reject(topic, toFogmeshError(error))
    this.conn.on('handlerError', (e) => failed(e.topic, e.error))
    // each topic's real route, then (same turn: no live message overtakes them) what the early route held for it
    const route = (topic: string, handler: (t: string, p: Buffer) => void) => {
      this.conn.route(topic, handler)
      early.release(topic, handler, failed)
    }
    route(topics.offers, (t, p) => this.onOffer(t, p))
    route(topics.agentOffers(this.id), (t, p) => this.onOffer(t, p))
    route(topics.agentJobs(this.id), (t, p) => this.onAssign(t, p))
    if (this.payments) {
      route(topics.agentVouchers(this.id), (t, p) => this.onVoucher(t, p))
      await this.conn.subscribe(topics.agentVouchers(this.id), 1)
    }
    this.conn.on('connect', () => this.emit('connection', { connected: true }))
    this.conn.on('offline', () => this.emit('connection', { connected: false }))
    await this.conn.subscribe([topics.offers, topics.agentOffers(this.id), topics.agentJobs(this.id)], 1)
    await this.streams.start(early)
    early.clear()
    for (const o of early.overflowed()) this.reject(o.topic, new FogmeshError(ErrorCode.overloaded, `${o.count} messages came before the agent was up, past its early bound (agent/early-inbox.ts): not run`))
    // a broker whose rules predate blobs refuses the wants: the agent then serves none, and runs on
    await this.blobHolder.start().catch((err: unknown) => this.reject(topics.blobWantWildcard, toFogmeshError(err)))
    // the updater first: the first presence already carries the last update's outcome
    if (this.opts.updates) {
      this.updater = new Updater(this.conn, { id: this.id, labels: this.opts.labels }, this.opts.updates)
      this.updater.on('status', () => this.advertiser?.publishPresence())
    }
    this.advertiser = new Advertiser(this.conn, this.statements, () => this.presenceBody(), () => this.load(), this.clock, this.opts.presenceHealMs)
    await this.advertiser.start()
    await this.updater?.start()
  }

  /** Whose work this agent takes, in words. */
  get accepts(): string {
    return this.admission.describe()
  }

  /** Publishes the (signed) presence again and resolves once the broker acknowledged it (online, as watchers see it). */
  async announce(): Promise<void> {
    await this.advertiser?.announce()
  }

  /** Runs the built-in self-test job on this agent's executor (agent/update/self-test.ts). */
  selfTest(timeoutMs?: number): Promise<SelfTestResult> {
    return runSelfTest(this.executor, timeoutMs)
  }

  /** What does not change while the agent runs: built once (os.totalmem() reads /proc on every call). */
  private readonly capacity = {
    cores: availableParallelism(),
    memoryMiB: Math.round(totalmem() / 1048576),
    arch: arch(),
    platform: platform(),
  }

  /** The presence as last signed and published (epoch, seq and signature included). */
  presence(): PresenceOnline {
    return this.statements.online(this.presenceBody())
  }

  private presenceBody(): PresenceBody {
    const { limits, defaults } = this.jobTerms()
    return {
      status: 'online',
      id: this.id,
      name: this.name,
      publicKey: this.publicKey,
      version: this.opts.version ?? VERSION,
      capacity: { ...this.capacity, slots: this.opts.slots },
      labels: this.opts.labels,
      price: { perJob: this.opts.pricePerJob },
      limits,
      defaults,
      load: this.load(),
      heartbeatMs: this.opts.heartbeatMs,
      since: this.since,
      ...(this.payments ? { payment: this.payments.terms } : {}),
      boxKey: this.boxKey,
      directOffers: true,
      batchAssign: true,
      ...(this.opts.staking && this.attestor ? { stake: { ...this.opts.staking, attester: this.attestor.address } } : {}),
      ...(this.updater?.status() ? { update: this.updater.status() } : {}),
    }
  }

  private jobTerms(): JobTerms {
    const o = this.opts
    return {
      limits: { fuel: o.maxFuel, memoryMiB: o.maxMemoryMiB, timeoutMs: o.maxTimeoutMs, outputBytes: o.maxOutputBytes, inputBytes: o.maxInputBytes },
      defaults: { fuel: o.defaultFuel, memoryMiB: o.defaultMemoryMiB, timeoutMs: o.defaultTimeoutMs, outputBytes: o.maxOutputBytes },
    }
  }

  load(): Load {
    const s = this.executor.stats()
    return { running: s.running, queued: s.queued + this.runner.pendingModules }
  }

  stats(): AgentStats {
    return { ...this.stats_, ...this.load(), ...(this.payments ? { settlement: this.payments.stats() } : {}) }
  }

  /** The broker connection (telemetry rides along on it). */
  get connection(): Connection {
    return this.conn
  }

  /** The executor's and the module cache's counters, for metrics. */
  engineStats(): { executor: ReturnType<Executor['stats']>; modules: ReturnType<ModuleStore['stats']> } {
    return { executor: this.executor.stats(), modules: this.modules.stats() }
  }

  /** The channels this agent is paid through (empty when it takes no payment). */
  channels(): Array<{ channelId: string; cumulative: bigint; paid: bigint; jobCount: number }> {
    return this.payments?.channels() ?? []
  }

  /** Settles everything owed now (e.g. before shutting down). */
  async settleNow(): Promise<SettlementReport | undefined> {
    return this.payments?.settleNow()
  }

  private reject(topic: string, err: FogmeshError): void {
    this.stats_.rejectedMessages++
    this.emit('rejected', { topic, code: err.code, message: err.shortMessage })
  }

  // ---- handlers -----------------------------------------------------------

  /** An offer: a bid when this agent may take the job and its queue has room; silence otherwise. */
  private onOffer(topic: string, payload: Buffer): void {
    const d = decodeJson(payload, offerSchema)
    if (!d.ok) return this.reject(topic, d.error)
    const offer = d.value
    const terms = { id: this.id, labels: this.opts.labels, price: { perJob: this.opts.pricePerJob }, limits: this.jobTerms().limits, capacity: this.capacity }
    if (this.closing || ineligibility(terms, offer) !== undefined || !this.admission.wouldBid(offer)) return
    const load = this.load()
    // the quota is per requester identity (its key), as admission knows it; an offer without a key earns no bid anyway
    if (load.queued >= this.opts.queueLimit || this.quota.full(offer.requesterKey ? requesterIdOf(offer.requesterKey) : offer.requester)) return
    this.modules.prefetch(offer.module)
    this.stats_.bids++
    const bid = signBid({ type: 'bid', offerId: offer.offerId, agent: this.id, price: this.opts.pricePerJob, load, slots: this.opts.slots, leaseMs: this.opts.leaseMs }, this.signer)
    this.conn.publish(offer.replyTo, JSON.stringify(bid), { qos: 0 })
  }

  private onAssign(topic: string, payload: Buffer): void {
    const d = decodeJson(payload, assignSchema, this.opts.maxInputBytes * 2 + 65_536)
    if (!d.ok) return this.reject(topic, d.error)
    // signed, for this agent, from a requester it accepts, unexpired, its nonce once (QoS 1 redeliveries and replays run nothing)
    void this.admission.admit(d.raw as Record<string, unknown>, d.value).then((v) => {
      if (!v.ok) return this.reject(topic, new FogmeshError(v.code, v.reason))
      this.runAdmitted(topic, v.admitted)
    })
  }

  private runAdmitted(topic: string, admitted: Admitted): void {
    const job = admitted.job
    // its nonce on disk before it runs (a restart must still refuse its replay); a burst's nonces go in one write
    try {
      this.admission.commitNonces()
    } catch (err) {
      return this.reject(topic, toFogmeshError(err))
    }
    // one requester identity holds at most its quota of this agent's jobs while others have some
    const release = this.quota.enter(admitted.requesterId)
    if (!release) {
      this.stats_.jobsFailed++
      const refused = this.runner.refuse(admitted, ErrorCode.overloaded, `requester ${admitted.requesterId} holds ${this.quota.maxPerRequester} jobs on this agent (its quota)`)
      return this.conn.publish(job.replyTo, JSON.stringify(refused), { qos: 1 })
    }
    this.runner
      .run(admitted)
      .finally(release)
      .then((signed) => {
        if (signed.status === 'ok') this.stats_.jobsOk++
        else this.stats_.jobsFailed++
        this.payments?.remember(signed)
        this.conn.publish(job.replyTo, JSON.stringify(signed), { qos: 1 })
        this.emit('job', { id: job.id, module: job.module, status: signed.status, code: signed.error?.code, durationMs: signed.durationMs, fuel: signed.fuel })
      })
      .catch((err: unknown) => this.reject(topic, toFogmeshError(err)))
  }

  /** A voucher: checked, journaled (on disk), then acknowledged — one at a time, in order. */
  private onVoucher(topic: string, payload: Buffer): void {
    const d = decodeJson(payload, wireVoucherSchema, 4 * 1024 * 1024)
    if (!d.ok) return this.reject(topic, d.error)
    const m = d.value
    void this.payments?.receive(m).then((res) => {
      const ack: VoucherAck = { type: 'voucherAck', agent: this.id, channelId: m.channelId, cumulativeAmount: m.cumulativeAmount, ok: res.ok ? 1 : 0, ...(res.ok ? {} : { reason: res.reason }) }
      this.conn.publish(m.replyTo, JSON.stringify(ack), { qos: 1 })
    })
  }

  /**
   * Leaves the mesh: stops taking jobs, lets running ones finish (up to
   * `graceMs`), marks itself offline (retained), disconnects.
   */
  async close({ graceMs = 5000 }: { graceMs?: number } = {}): Promise<void> {
    if (this.closing) return
    this.closing = true
    this.runner.stopTaking()
    this.updater?.stop()
    this.blobHolder.stop()
    const steps = this.leaving
    await steps.run('unsubscribe', LEAVE_STEP_MS, () => this.conn.unsubscribe([topics.offers, topics.agentOffers(this.id)]))
    await steps.run('streams', LEAVE_STEP_MS, () => this.streams.close())
    // running jobs get the grace (not a stall when they overrun it: that is what the grace is for)
    let grace: Timer | undefined
    await Promise.race([this.runner.idle(), new Promise<void>((resolve) => (grace = this.clock.setTimeout(resolve, graceMs)))])
    grace?.cancel()
    await steps.run('advertiser', LEAVE_STEP_MS, () => this.advertiser?.stop())
    await steps.run('payments', LEAVE_SETTLE_MS, () => this.payments?.close())
    await steps.run('broker', LEAVE_STEP_MS * 2, () => this.conn.close())
    await steps.run('executor', LEAVE_STEP_MS * 2, () => this.executor.close())
    this.admission.close()
  }

  /** The step of `close()` running now ('' when none): what a stuck exit was waiting for. */
  get leavingStep(): string {
    return this.leaving.current
  }
}

export const startAgent = (options: AgentOptions) => Agent.start(options)

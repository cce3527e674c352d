/**
 * An agent: joins the mesh, bids on offers it is eligible for, runs the jobs
 * assigned to it on its executor, and returns signed results.
 *
 * Each message kind has one handler (`onOffer`, `onAssign`); options are
 * merged with defaults once; the agent emits events and never logs.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { arch, availableParallelism, platform, totalmem } from 'node:os'
import { join } from 'node:path'
import { ErrorCode, FogmeshError, toFogmeshError } from '../protocol/errors.ts'
import { ineligibility, limitsAbove } from '../protocol/eligibility.ts'
import { ZeroHash, type Wallet } from 'ethers'
import type { ChannelsClient } from '../contracts/channels/channels-client.ts'
import { ResultsTree, resultLeaf } from '../protocol/results-tree.ts'
import { assignSchema, MAX_MODULE_BYTES, offerSchema, voucherMessageSchema, type PaymentTerms, type VoucherMessage, type Assign, type Load, type Offer, type PresenceOnline, type Result } from '../protocol/messages.ts'
import { signResult } from '../protocol/signature.ts'
import { createAgentToken } from '../protocol/agent-token.ts'
import { topics } from '../protocol/topics.ts'
import { connect, type Connection } from '../protocol/transport.ts'
import { decodeJson } from '../protocol/validate.ts'
import { VERSION } from '../protocol/version.ts'
import { createProcessExecutor } from './engine/executor/process-executor.ts'
import { createWorkerPool } from './engine/worker/pool.ts'
import type { Executor, RunOutcome } from './engine/executor.ts'
import { loadOrCreateIdentity, type Identity } from './identity.ts'
import { ModuleStore } from './module-store.ts'
import { channelKey, VoucherJournal } from './settlement/journal.ts'
import { Settler, type SettlementPolicy, type SettlementReport } from './settlement/settler.ts'
import { Advertiser, offlinePresence } from './presence.ts'
import { RecentMap, RecentSet } from '../protocol/recent-set.ts'

export interface AgentOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  broker: string
  /** Where the identity and the module cache live. */
  dataDir: string
  name?: string
  labels?: Record<string, string>
  /** Price per job, in the mesh token's smallest unit. */
  pricePerJob?: number
  /** Jobs run at once; default: the device's cores. */
  slots?: number
  /** Jobs waiting beyond the running ones before new ones are refused as `overloaded`. */
  queueLimit?: number
  heartbeatMs?: number
  /** How long a bid holds (the lease the requester may use without a new auction). */
  leaseMs?: number
  /** Largest limits this agent accepts, and the defaults for jobs that set none. */
  maxTimeoutMs?: number
  defaultTimeoutMs?: number
  maxFuel?: number
  defaultFuel?: number
  maxMemoryMiB?: number
  defaultMemoryMiB?: number
  maxOutputBytes?: number
  maxInputBytes?: number
  maxModuleBytes?: number
  moduleFetchTimeoutMs?: number
  /**
   * Where job code runs: `process` (default) — a separate executor process with
   * no keys, no data dir, no environment, unprivileged when the agent is root;
   * `thread` — worker threads inside the agent (no process boundary; for
   * measurements and tiny devices that cannot spare a process).
   */
  isolation?: 'process' | 'thread'
  /** An executor to use instead of the default (it is closed with the agent). */
  executor?: Executor
  /** Take payment through channels: vouchers are journaled in the data dir and settled by `policy`. */
  payment?: { client: ChannelsClient; wallet: Wallet; policy?: Partial<SettlementPolicy> }
  /**
   * The agent always authenticates as its id with a fresh token signed by its key
   * (protocol/agent-token.ts). `password` replaces the token for brokers that cannot
   * check keys (a Mosquitto with `fogmesh auth export`'s files); `ca` trusts a broker's TLS certificate.
   */
  credentials?: { password?: string; ca?: string | Buffer }
}

const DEFAULTS = {
  name: 'agent',
  labels: {} as Record<string, string>,
  pricePerJob: 1,
  heartbeatMs: 1000,
  leaseMs: 30_000,
  maxTimeoutMs: 60_000,
  defaultTimeoutMs: 10_000,
  // ~1e9 fuel is about a second of straight-line work on a Pi-class core
  maxFuel: 1e12,
  defaultFuel: 1e10,
  maxMemoryMiB: 256,
  defaultMemoryMiB: 64,
  maxOutputBytes: 1024 * 1024,
  maxInputBytes: 1024 * 1024,
  maxModuleBytes: MAX_MODULE_BYTES,
  moduleFetchTimeoutMs: 1500,
}

export interface SettlementStats {
  /** Paid out to this agent on chain so far (token base units). */
  paid: bigint
  settlements: number
  jobsSettled: bigint
  gasUsed: bigint
  vouchersAccepted: number
  vouchersRefused: number
}

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
  job: [{ id: string; module: string; status: 'ok' | 'error'; code?: string; durationMs: number }]
  settled: [SettlementReport]
  /** A message from the network that failed validation (it was dropped, nothing broke). */
  rejected: [{ topic: string; code: string; message: string }]
  connection: [{ connected: boolean }]
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly id: string
  readonly publicKey: string
  readonly name: string
  private readonly opts: typeof DEFAULTS & AgentOptions & { slots: number; queueLimit: number }
  private readonly since = Date.now()
  private readonly seen = new RecentSet(50_000)
  private readonly stats_ = { jobsOk: 0, jobsFailed: 0, bids: 0, rejectedMessages: 0 }
  private pendingModules = 0
  private closing = false

  private constructor(
    private readonly identity: Identity,
    private readonly conn: Connection,
    private readonly executor: Executor,
    private readonly modules: ModuleStore,
    opts: Agent['opts'],
  ) {
    super()
    this.id = identity.id
    this.publicKey = identity.publicKeyHex
    this.name = opts.name
    this.opts = opts
  }

  static async start(options: AgentOptions): Promise<Agent> {
    const merged = { ...DEFAULTS, ...stripUndefined(options), broker: options.broker, dataDir: options.dataDir }
    const slots = merged.slots ?? merged.executor?.slots ?? Math.max(1, availableParallelism())
    const opts = { ...merged, slots, queueLimit: merged.queueLimit ?? slots * 64 }
    const identity = loadOrCreateIdentity(opts.dataDir)
    const executor =
      opts.executor ??
      (opts.isolation === 'thread'
        ? createWorkerPool({ size: slots, queueLimit: opts.queueLimit })
        : createProcessExecutor({ size: slots, queueLimit: opts.queueLimit }))
    // advertise only once jobs can run: the first job must not pay for worker start-up
    if ('ready' in executor && typeof executor.ready === 'function') await (executor.ready as () => Promise<void>)()
    let conn: Connection
    try {
      conn = await connect(opts.broker, {
        clientId: `fm-agent-${identity.id}`,
        will: { topic: topics.presence(identity.id), payload: offlinePresence(identity.id, opts.name, 'lost'), retain: true, qos: 1 },
        keepaliveSeconds: 5,
        credentials: {
          username: identity.id,
          password: opts.credentials?.password ?? (() => createAgentToken(identity.signer).password),
          ...(opts.credentials?.ca !== undefined ? { ca: opts.credentials.ca } : {}),
        },
      })
    } catch (err) {
      await executor.close()
      throw err
    }
    const modules = new ModuleStore(conn, executor, {
      dir: join(opts.dataDir, 'modules'),
      fetchTimeoutMs: opts.moduleFetchTimeoutMs,
      maxBytes: opts.maxModuleBytes,
    })
    const agent = new Agent(identity, conn, executor, modules, opts)
    if (opts.payment) {
      const { client, wallet, policy } = opts.payment
      const journal = new VoucherJournal(join(opts.dataDir, 'settlement.db'))
      const settler = new Settler(client, wallet, journal, policy)
      await settler.reconcile() // after a crash: what was sent, what the chain paid
      settler.start()
      agent.attachSettler(settler, journal, {
        chainId: Number(client.hasher.domain.chainId),
        channels: client.address,
        payee: wallet.address,
      })
    }
    await agent.join()
    return agent
  }

  private advertiser: Advertiser | undefined
  private settler: Settler | undefined
  private journal: VoucherJournal | undefined
  private paymentTerms: PaymentTerms | undefined
  private intakeChain: Promise<void> = Promise.resolve()
  /** Leaves of the results this agent returned recently, by job id: vouchers may only pay for these. */
  private readonly leaves = new RecentMap<string>(200_000)
  /** Per channel: the results tree the vouchers so far committed to, rebuilt from the journal on start. */
  private readonly trees = new Map<string, ResultsTree>()
  private readonly settlement: SettlementStats = { paid: 0n, settlements: 0, jobsSettled: 0n, gasUsed: 0n, vouchersAccepted: 0, vouchersRefused: 0 }

  private attachSettler(settler: Settler, journal: VoucherJournal, terms: PaymentTerms): void {
    this.settler = settler
    this.journal = journal
    this.paymentTerms = terms
    settler.on('settled', (r) => {
      this.settlement.paid += r.total
      this.settlement.settlements++
      this.settlement.jobsSettled += r.jobs
      this.settlement.gasUsed += r.gasUsed
      this.emit('settled', r)
    })
    settler.on('settleFailed', () => {}) // owed stays in the journal; the next settlement retries
  }

  private async join(): Promise<void> {
    this.conn.route(topics.offers, (t, p) => this.onOffer(t, p))
    this.conn.route(topics.agentJobs(this.id), (t, p) => this.onAssign(t, p))
    if (this.settler) {
      this.conn.route(topics.agentVouchers(this.id), (t, p) => this.onVoucher(t, p))
      await this.conn.subscribe(topics.agentVouchers(this.id), 1)
    }
    this.conn.client.on('connect', () => this.emit('connection', { connected: true }))
    this.conn.client.on('offline', () => this.emit('connection', { connected: false }))
    await this.conn.subscribe([topics.offers, topics.agentJobs(this.id)], 1)
    this.advertiser = new Advertiser(this.conn, () => this.presence(), () => this.load())
    this.advertiser.start()
  }

  /** What does not change while the agent runs: built once (os.totalmem() reads /proc on every call). */
  private readonly terms = {
    status: 'online' as const,
    capacity: {
      cores: availableParallelism(),
      memoryMiB: Math.round(totalmem() / 1048576),
      arch: arch(),
      platform: platform(),
    },
  }

  presence(): PresenceOnline {
    return {
      status: this.terms.status,
      id: this.id,
      name: this.name,
      publicKey: this.publicKey,
      version: VERSION,
      capacity: { ...this.terms.capacity, slots: this.opts.slots },
      labels: this.opts.labels,
      price: { perJob: this.opts.pricePerJob },
      limits: this.maxLimits(),
      defaults: {
        fuel: this.opts.defaultFuel,
        memoryMiB: this.opts.defaultMemoryMiB,
        timeoutMs: this.opts.defaultTimeoutMs,
        outputBytes: this.opts.maxOutputBytes,
      },
      load: this.load(),
      heartbeatMs: this.opts.heartbeatMs,
      since: this.since,
      ...(this.paymentTerms ? { payment: this.paymentTerms } : {}),
    }
  }

  /** The eligibility terms without the live load: for the per-job checks. */
  private eligibilityTerms() {
    return {
      id: this.id,
      labels: this.opts.labels,
      price: { perJob: this.opts.pricePerJob },
      limits: this.maxLimits(),
      capacity: this.terms.capacity,
    }
  }

  private maxLimits() {
    const o = this.opts
    return { fuel: o.maxFuel, memoryMiB: o.maxMemoryMiB, timeoutMs: o.maxTimeoutMs, outputBytes: o.maxOutputBytes, inputBytes: o.maxInputBytes }
  }

  load(): Load {
    const s = this.executor.stats()
    return { running: s.running, queued: s.queued + this.pendingModules }
  }

  stats(): AgentStats {
    return { ...this.stats_, ...this.load(), ...(this.settler ? { settlement: { ...this.settlement } } : {}) }
  }

  /** Settles everything owed now (e.g. before shutting down). */
  async settleNow(): Promise<SettlementReport | undefined> {
    return this.settler?.settle()
  }

  private reject(topic: string, err: FogmeshError): void {
    this.stats_.rejectedMessages++
    this.emit('rejected', { topic, code: err.code, message: err.shortMessage })
  }

  // ---- handlers -----------------------------------------------------------

  private onOffer(topic: string, payload: Buffer): void {
    const d = decodeJson(payload, offerSchema)
    if (!d.ok) return this.reject(topic, d.error)
    const offer: Offer = d.value
    if (this.closing || ineligibility(this.eligibilityTerms(), offer) !== undefined) return
    const l = this.load()
    if (l.queued >= this.opts.queueLimit) return
    this.modules.prefetch(offer.module)
    this.stats_.bids++
    this.conn.publish(
      offer.replyTo,
      JSON.stringify({
        type: 'bid',
        offerId: offer.offerId,
        agent: this.id,
        price: this.opts.pricePerJob,
        load: l,
        slots: this.opts.slots,
        leaseMs: this.opts.leaseMs,
      }),
      { qos: 0 },
    )
  }

  private treeOf(channelHex: string): ResultsTree {
    let t = this.trees.get(channelHex)
    if (!t) {
      t = ResultsTree.from(this.journal!.leaves(channelHex).map((l) => l.leaf))
      this.trees.set(channelHex, t)
    }
    return t
  }

  /**
   * The agent builds the batch's results tree itself: every leaf a voucher adds
   * must be a result this agent returned, and the voucher's root must be the
   * root of the tree with them appended. Returns why not, or undefined.
   */
  private checkLeaves(m: VoucherMessage): string | undefined {
    for (const l of m.leaves) {
      const mine = this.leaves.get(l.jobId)
      if (mine === undefined) return 'UnknownResult'
      if (mine !== l.leaf) return 'WrongResultLeaf'
    }
    // appended now, O(log n) per leaf; a refused voucher makes onVoucher rebuild the tree from the journal
    const tree = this.treeOf(channelKey(m.channelId))
    for (const l of m.leaves) tree.append(l.leaf)
    if (BigInt(m.jobCount) !== BigInt(tree.size)) return 'WrongJobCount'
    if (tree.root !== m.resultsRoot) return 'WrongResultsRoot'
    return undefined
  }

  /** A voucher: checked, journaled (on disk), then acknowledged — one at a time, in order. */
  private onVoucher(topic: string, payload: Buffer): void {
    const d = decodeJson(payload, voucherMessageSchema, 4 * 1024 * 1024)
    if (!d.ok) return this.reject(topic, d.error)
    const m = d.value
    this.intakeChain = this.intakeChain.then(async () => {
      let res: Awaited<ReturnType<Settler['intake']>>
      const check = this.checkLeaves(m)
      if (check) res = { ok: false, reason: check, message: check }
      else try {
        res = await this.settler!.intake({
          channelId: BigInt(m.channelId),
          cumulativeAmount: BigInt(m.cumulativeAmount),
          resultsRoot: m.resultsRoot,
          jobCount: BigInt(m.jobCount),
          signature: m.signature,
          leaves: m.leaves,
        })
      } catch (err) {
        res = { ok: false, reason: 'Unavailable', message: toFogmeshError(err).shortMessage }
      }
      if (res.ok) this.settlement.vouchersAccepted++
      else {
        this.settlement.vouchersRefused++
        // the tree took the leaves on trust in checkLeaves: rebuild it from the journal (what was accepted)
        this.trees.delete(channelKey(m.channelId))
      }
      const ack = { type: 'voucherAck', agent: this.id, channelId: m.channelId, cumulativeAmount: m.cumulativeAmount, ok: res.ok ? 1 : 0, ...(res.ok ? {} : { reason: res.reason }) }
      this.conn.publish(m.replyTo, JSON.stringify(ack), { qos: 1 })
    })
  }

  private onAssign(topic: string, payload: Buffer): void {
    const d = decodeJson(payload, assignSchema, this.opts.maxInputBytes * 2 + 65_536)
    if (!d.ok) return this.reject(topic, d.error)
    const job = d.value
    // QoS 1 may deliver twice: one run per (requester, job, attempt)
    if (!this.seen.add(`${job.requester}\u0000${job.id}\u0000${job.attempt}`)) return
    this.runJob(job).catch((err: unknown) => this.reject(topic, toFogmeshError(err)))
  }

  private async runJob(job: Assign): Promise<void> {
    const inputSha256 = sha256(job.input)
    const outcome = await this.execute(job)
    const base = { type: 'result' as const, id: job.id, attempt: job.attempt, agent: this.id, module: job.module, inputSha256 }
    let result: Omit<Result, 'signature'>
    if (outcome.status === 'ok') {
      const output = Buffer.from(outcome.output.buffer, outcome.output.byteOffset, outcome.output.byteLength)
      result = { ...base, status: 'ok', output: output.toString('base64'), outputSha256: sha256(output), fuel: outcome.fuel, durationMs: round(outcome.durationMs) }
      this.stats_.jobsOk++
    } else {
      const message = outcome.stderr ? `${outcome.message}: ${outcome.stderr.slice(0, 1024)}` : outcome.message
      result = { ...base, status: 'error', error: { code: outcome.code, message }, fuel: outcome.fuel, durationMs: round(outcome.durationMs) }
      this.stats_.jobsFailed++
    }
    const signed: Result = { ...result, signature: signResult(result, this.identity.signer) }
    // what a voucher paying for this result must commit to
    if (this.settler) this.leaves.set(job.id, resultLeaf({ jobId: job.id, outputSha256: signed.outputSha256 ?? ZeroHash, fuel: signed.fuel }))
    this.conn.publish(job.replyTo, JSON.stringify(signed), { qos: 1 })
    this.emit('job', { id: job.id, module: job.module, status: signed.status, code: signed.error?.code, durationMs: signed.durationMs })
  }

  private async execute(job: Assign): Promise<RunOutcome> {
    const started = performance.now()
    const fail = (err: unknown): RunOutcome => {
      const e = toFogmeshError(err)
      return { status: 'error', code: e.code, message: e.shortMessage, stderr: '', fuel: 0, durationMs: performance.now() - started }
    }
    if (this.closing) return fail(new FogmeshError(ErrorCode.closed, 'agent is shutting down'))
    if (job.input.length > this.opts.maxInputBytes) {
      return fail(new FogmeshError(ErrorCode.tooLarge, `input is ${job.input.length} bytes; this agent takes at most ${this.opts.maxInputBytes}`))
    }
    const why = limitsAbove(this.maxLimits(), job.limits)
    if (why) return fail(new FogmeshError(ErrorCode.limitExceeded, why))
    this.pendingModules++
    try {
      await this.modules.get(job.module)
    } catch (err) {
      return fail(err)
    } finally {
      this.pendingModules--
    }
    // run() rejects only when it does not take the job (overloaded, closed): that, too, gets a signed answer
    return this.executor
      .run({
        jobId: job.id,
        module: job.module,
        input: job.input,
        limits: {
          timeoutMs: job.limits?.timeoutMs ?? this.opts.defaultTimeoutMs,
          outputBytes: job.limits?.outputBytes ?? this.opts.maxOutputBytes,
          stderrBytes: 4096,
          fuel: job.limits?.fuel ?? this.opts.defaultFuel,
          memoryMiB: job.limits?.memoryMiB ?? this.opts.defaultMemoryMiB,
          // clock and random derived from the job id: anyone re-running it gets the same bytes
          deterministic: true,
        },
      })
      .catch(fail)
  }

  /**
   * Leaves the mesh: stops taking jobs, lets running ones finish (up to
   * `graceMs`), marks itself offline (retained), disconnects.
   */
  async close({ graceMs = 5000 }: { graceMs?: number } = {}): Promise<void> {
    if (this.closing) return
    this.closing = true
    await this.conn.unsubscribe([topics.offers]).catch(() => {})
    const deadline = Date.now() + graceMs
    while (Date.now() < deadline) {
      const l = this.load()
      if (l.running + l.queued === 0) break
      await new Promise((r) => setTimeout(r, 20))
    }
    await this.advertiser?.stop().catch(() => {})
    if (this.settler) {
      await this.intakeChain
      this.settler.stop()
      await this.settler.settle().catch(() => {}) // what fails stays journaled for the next start
      this.journal?.close()
    }
    await this.conn.close().catch(() => {})
    await this.executor.close()
  }
}

export const startAgent = (options: AgentOptions) => Agent.start(options)

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const round = (ms: number) => Math.round(ms * 1000) / 1000

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

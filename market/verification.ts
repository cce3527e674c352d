/**
 * Verification in the market: how a requester turns one job into copies on several agents and
 * decides what stands (market/quorum.ts), re-runs a sample of single-agent results (spot
 * checks, market/spot-check.ts), turns contradictions into evidence on chain (evidence.ts),
 * keeps only staked agents in the market (stake-filter.ts) and keeps score (reputation.ts).
 *
 *   redundancy k > 1   k copies on distinct agents (distinct owners and sites preferred), each
 *                      with its own attempts; referees until the quorum rule stands or
 *                      `maxReferees` are spent (then `no_quorum`); the answer carries a quorum
 *                      certificate (protocol/quorum-certificate.ts).
 *   spot checks        with rate p, an accepted single-agent result is re-run on another agent
 *                      after the answer went out; a mismatch brings referees.
 *   with a court       every copy is co-signed (`attest`) and the co-signature checked on
 *                      arrival; verified jobs run under explicit limits, so every copy and every
 *                      re-run is the same deterministic job; only staked agents are assigned.
 * A job that needs none of this takes the requester's plain path, unchanged.
 */
import { EventEmitter } from 'node:events'
import type { CourtClient } from '../contracts/verification/court-client.ts'
import { ErrorCode } from '../protocol/errors.ts'
import { MAX_REDUNDANCY, type AttestRequest, type Result } from '../protocol/messages.ts'
import { mergeOptions, type Ranges } from '../protocol/options.ts'
import { isDeterministicOutcome, outcomeOf, type StatementHasher } from '../protocol/statement.ts'
import { buildCertificate } from './certificate.ts'
import type { AgentDirectory } from './directory.ts'
import { EvidenceDesk, type EvidenceOptions, type Witnessed } from './evidence.ts'
import { inputSha256Of, type JobAnswer, type JobRequest } from './job.ts'
import type { Lease, PickAdjust } from './leases.ts'
import { decide, type Decision, type QuorumRule } from './quorum.ts'
import { ReputationBook, type ReputationOptions } from './reputation.ts'
import { SpotCheckPolicy } from './spot-check.ts'
import { StakeFilter, type StakeFilterOptions } from './stake-filter.ts'
import { attestationProblem, digestOf, statementFor, withExplicitLimits, type Job } from './verified-job.ts'

export interface VerificationOptions {
  /** Fraction (0..1) of accepted single-agent results re-run on another agent. Default: the court's governed rate, else 0. */
  spotCheck?: number
  /** Referees one job may bring in (default 4). */
  maxReferees?: number
  /** Agreeing results a contested job needs (default 3; with a court, at least its quorumMinAgents). */
  contestedQuorum?: number
  /** Spot checks in flight at once; more are skipped and counted (default 64). */
  maxSpotChecks?: number
  /** Limits filled into verified jobs that set none (the agents' usual defaults). */
  defaultLimits?: { fuel: number; memoryMiB: number; outputBytes: number }
  /** The chain: only staked agents are assigned, results are co-signed, evidence goes to this court. */
  court?: CourtClient
  stake?: StakeFilterOptions
  /** Evidence options, or false to keep contradictions off chain. */
  evidence?: EvidenceOptions | false
  /** A reputation book, or options for one (a file to persist it in). */
  reputation?: ReputationBook | ReputationOptions
  /** Discounts advertised slots (Proof of Capacity, capacity.ts). */
  capacity?: { effectiveSlots(agent: string, advertised: number): number }
  /** Randomness for spot checks (default Math.random). */
  random?: () => number
}

const DEFAULTS = {
  maxReferees: 4,
  contestedQuorum: 3,
  maxSpotChecks: 64,
  defaultLimits: { fuel: 1e10, memoryMiB: 64, outputBytes: 1024 * 1024 },
}
const RANGES: Ranges<VerificationOptions> = {
  spotCheck: { min: 0, max: 1 },
  maxReferees: { min: 0, max: 16, integer: true },
  contestedQuorum: { min: 2, max: 16, integer: true },
  maxSpotChecks: { min: 0, max: 100_000, integer: true },
}

/** One copy of a job: the agents it must avoid (shared by the copies of a job), its attempt numbers, co-signing. */
export interface CopySlot {
  exclude: Set<string>
  /** Wire attempt numbers of this copy start after this. */
  attemptBase: number
  attest?: AttestRequest
  /** An extra check of an arrived result (its co-signature); a reason refuses it. */
  accept?: (r: Result) => string | undefined
}

/** The pick rule hooks of one job (the requester's lease pick, market/leases.ts). */
export interface PickPolicy extends PickAdjust {
  admit: ((agent: string) => boolean) | undefined
}

/** What the verifier needs of the requester. */
export interface CopyRunner {
  runCopy(job: JobRequest & { id: string }, slot?: CopySlot): Promise<JobAnswer>
  readonly attemptsPerCopy: number
  on(event: 'attemptFailed', listener: (f: { id: string; agent: string; attempt: number; reason: string }) => void): unknown
}

export interface VerifierEvents {
  /** Agents of a job disagreed; `outvoted` lost to the result that stood. */
  dissent: [{ id: string; outvoted: string[]; agreeing: string[]; referees: number }]
  noQuorum: [{ id: string; heard: number }]
  spotCheck: [{ id: string; agent: string; outcome: 'match' | 'caught' | 'cleared' | 'inconclusive'; checkers: string[] }]
  /** A sampled spot check not run: `maxSpotChecks` were in flight. */
  spotCheckSkipped: [{ id: string; inFlight: number }]
}

const resultOf = (a: JobAnswer) => a.result!
const deterministic = (r: Result) => isDeterministicOutcome(outcomeOf(r.status, r.error?.code))

export class Verifier extends EventEmitter<VerifierEvents> {
  readonly reputation: ReputationBook
  readonly stake: StakeFilter | undefined
  readonly evidence: EvidenceDesk | undefined
  spot: SpotCheckPolicy
  private readonly opts: typeof DEFAULTS & VerificationOptions
  private readonly attest: AttestRequest | undefined
  private readonly hasher: StatementHasher | undefined
  private readonly random: () => number

  constructor(private readonly runner: CopyRunner, private readonly directory: AgentDirectory, options: VerificationOptions = {}) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, RANGES, 'verification')
    this.random = options.random ?? Math.random
    this.reputation = options.reputation instanceof ReputationBook ? options.reputation : new ReputationBook(options.reputation ?? {})
    const court = options.court
    if (court) {
      this.stake = new StakeFilter(court, directory, options.stake)
      this.evidence = options.evidence === false ? undefined : new EvidenceDesk(court, options.evidence)
      this.attest = { chainId: Number(court.chainId), court: court.address }
      this.hasher = court.hasher
    }
    this.spot = new SpotCheckPolicy(options.spotCheck ?? 0, this.random, this.opts.maxSpotChecks)
    runner.on('attemptFailed', (f) => {
      if (/ within \d+ ms$/.test(f.reason)) this.reputation.record(f.agent, 'timedOut')
      else if (/^(refused|garbage) result/.test(f.reason)) this.reputation.record(f.agent, 'refused')
    })
  }

  async start(): Promise<void> {
    if (!this.stake) return
    await this.stake.start()
    this.evidence?.start()
    // the governed default spot-check rate, unless the requester set its own
    if (this.opts.spotCheck === undefined && this.stake.params) {
      this.spot = new SpotCheckPolicy(this.stake.params.spotCheckBps / 10_000, this.random, this.opts.maxSpotChecks)
    }
  }

  async close(): Promise<void> {
    this.stake?.stop()
    this.evidence?.stop()
    this.reputation.close()
  }

  /** Agreeing results a contested job needs here. */
  get contestedQuorum(): number {
    return Math.max(this.opts.contestedQuorum, this.stake?.params?.quorumMinAgents ?? 0)
  }

  /**
   * The requester's pick rule hooks for one job: stake, reputation, distinct owners and sites, capacity.
   * Without a stake filter it is at hand at once (no promise), and for a plain job (no slot, no stake
   * wanted) one shared object: the leased path allocates nothing for it (issue 15).
   */
  pickPolicy(job: Pick<JobRequest, 'constraints'>, slot: CopySlot | undefined): PickPolicy | Promise<PickPolicy> {
    const stake = this.stake
    if (stake) return stake.ready().then(() => this.policyFor(job, slot))
    if (slot === undefined && job.constraints?.minStake === undefined) return (this.plainPolicy ??= this.policyFor(job, undefined))
    return this.policyFor(job, slot)
  }

  private plainPolicy: PickPolicy | undefined

  private policyFor(job: Pick<JobRequest, 'constraints'>, slot: CopySlot | undefined): PickPolicy {
    const stake = this.stake
    const wantsStake = job.constraints?.minStake !== undefined
    return {
      admit: stake ? (a: string) => stake.admits(a, job) : wantsStake ? () => false : undefined,
      // the copies' shared `exclude` grows as they claim agents: read at each pick
      weight: (l: Lease) => this.reputation.factor(l.agent) * (slot && slot.exclude.size > 0 ? this.sameness(l.agent, slot.exclude) : 1),
      slots: this.opts.capacity ? (l: Lease) => this.opts.capacity!.effectiveSlots(l.agent, l.slots) : undefined,
    }
  }

  submit(job: Job): Promise<JobAnswer> {
    const k = job.redundancy ?? 1
    if (!Number.isInteger(k) || k < 1 || k > MAX_REDUNDANCY) {
      return Promise.resolve(errorAnswer(job, ErrorCode.invalidField, `redundancy: expected a whole number from 1 to ${MAX_REDUNDANCY} (got ${k})`, 0))
    }
    if (k === 1 && !this.attest && this.spot.rate === 0) return this.single(job, false)
    const verified = withExplicitLimits(job, this.opts.defaultLimits)
    return k === 1 ? this.single(verified, true) : this.quorum(verified, k, job.quorum ?? 'majority')
  }

  // ---- one agent, perhaps spot-checked --------------------------------------

  private async single(job: Job, checked: boolean): Promise<JobAnswer> {
    const a = await this.runner.runCopy(job, checked ? this.slot(job, 0, new Set()) : undefined)
    if (a.result && a.agent) this.reputation.record(a.agent, 'accepted', a.latencyMs)
    if (checked && a.result) {
      const skipped = this.spot.skipped
      if (this.spot.take()) void this.spotCheck(job, a).finally(() => this.spot.done())
      else if (this.spot.skipped > skipped) this.emit('spotCheckSkipped', { id: job.id, inFlight: this.spot.inFlight })
    }
    return a
  }

  private async spotCheck(job: Job, original: JobAnswer): Promise<void> {
    const exclude = new Set([original.agent!])
    let next = 1
    const run = () => this.runner.runCopy(job, this.slot(job, next++, exclude))
    const checker = await run()
    const report = (outcome: VerifierEvents['spotCheck'][0]['outcome'], checkers: JobAnswer[]) =>
      this.emit('spotCheck', { id: job.id, agent: original.agent!, outcome, checkers: checkers.map((c) => c.agent!) })
    if (!checker.result) return void report('inconclusive', [])
    const heard = [original, checker]
    const q: QuorumRule = { redundancy: 1, rule: 'majority', contestedQuorum: this.contestedQuorum }
    let d = decide(heard, resultOf, q)
    if (d.kind === 'stands' && !d.contested) return void report('match', [checker])
    d = await this.referees(heard, d, q, run, () => next)
    if (d.kind !== 'stands') return void report('inconclusive', heard.slice(1))
    this.score(d)
    const caught = d.losers.includes(original)
    report(caught ? 'caught' : 'cleared', heard.slice(1))
    void this.reportEvidence(job, d)
  }

  // ---- k agents ---------------------------------------------------------------

  private async quorum(job: Job, k: number, rule: 'all' | 'majority'): Promise<JobAnswer> {
    const started = performance.now()
    const exclude = new Set<string>()
    let next = 0
    const run = () => this.runner.runCopy(job, this.slot(job, next++, exclude))
    const first = await Promise.all(Array.from({ length: k }, run))
    const heard = first.filter((a) => a.result)
    const q: QuorumRule = { redundancy: k, rule, contestedQuorum: this.contestedQuorum }
    const d = await this.referees(heard, decide(heard, resultOf, q), q, run, () => next)
    const attempts = first.reduce((n, a) => n + a.attempts, 0) + heard.slice(first.length).reduce((n, a) => n + a.attempts, 0)
    if (d.kind !== 'stands') {
      this.emit('noQuorum', { id: job.id, heard: heard.length })
      if (heard.length === 0) return first[0]!
      const classes = new Set(heard.map((a) => `${a.status}:${a.outputSha256 ?? a.error?.code}:${a.fuel}`)).size
      return errorAnswer(job, ErrorCode.noQuorum, `no result stands: ${heard.length} results in ${classes} classes, ${q.rule} of ${k} with referees`, attempts, performance.now() - started)
    }
    this.score(d)
    if (d.contested) {
      this.emit('dissent', { id: job.id, outvoted: d.losers.map((a) => a.agent!), agreeing: d.winner.members.map((a) => a.agent!), referees: heard.length - first.length + first.filter((a) => !a.result).length })
      void this.reportEvidence(job, d)
    }
    const lead = d.winner.members[0]!
    const quorum = buildCertificate({
      job, redundancy: k, rule, agreeing: d.winner.members.map(resultOf), dissenting: d.losers.length,
      presenceOf: (a) => this.directory.get(a)?.presence, court: this.attest ? { chainId: this.attest.chainId, address: this.attest.court } : undefined,
    })
    return { ...lead, attempts, latencyMs: performance.now() - started, quorum }
  }

  /** Brings in referees while the rule asks for more and the budget allows. */
  private async referees(heard: JobAnswer[], d: Decision<JobAnswer>, q: QuorumRule, run: () => Promise<JobAnswer>, copies: () => number): Promise<Decision<JobAnswer>> {
    const maxCopies = Math.floor(100 / this.runner.attemptsPerCopy)
    let spent = 0
    while (d.kind === 'more' && spent < this.opts.maxReferees && copies() < maxCopies) {
      const n = Math.min(d.missing, this.opts.maxReferees - spent, maxCopies - copies())
      spent += n
      const got = (await Promise.all(Array.from({ length: n }, run))).filter((a) => a.result)
      if (got.length === 0) break // nobody left to ask
      heard.push(...got)
      d = decide(heard, resultOf, q)
    }
    return d
  }

  private score(d: Extract<Decision<JobAnswer>, { kind: 'stands' }>): void {
    for (const a of d.winner.members) this.reputation.record(a.agent!, 'accepted', a.latencyMs)
    // a deadline or internal failure that lost the vote is a failure to answer, not a wrong answer
    for (const a of d.losers) this.reputation.record(a.agent!, deterministic(resultOf(a)) ? 'mismatched' : 'timedOut')
  }

  // ---- copies, limits, co-signatures ---------------------------------------------

  private slot(job: Job, copy: number, exclude: Set<string>): CopySlot {
    const slot: CopySlot = { exclude, attemptBase: copy * this.runner.attemptsPerCopy }
    if (this.attest) {
      slot.attest = this.attest
      slot.accept = (r) => attestationProblem(job, r, this.directory.get(r.agent)?.presence.stake?.attester, this.hasher!)
    }
    return slot
  }

  /** 1 for an agent unlike those already running the job; more for one of the same owner (x16) or site (x4). */
  private sameness(agent: string, others: Set<string>): number {
    const p = this.directory.get(agent)?.presence
    if (!p) return 1
    const owner = p.stake?.account.toLowerCase() ?? agent
    let w = 1
    for (const o of others) {
      const q = this.directory.get(o)?.presence
      if (!q || o === agent) continue
      if ((q.stake?.account.toLowerCase() ?? o) === owner) w = Math.max(w, 16)
      else if (p.labels.site !== undefined && q.labels.site === p.labels.site) w = Math.max(w, 4)
    }
    return w
  }

  private async reportEvidence(job: Job, d: Extract<Decision<JobAnswer>, { kind: 'stands' }>): Promise<void> {
    if (!this.evidence || !this.stake) return
    const witnessed = (a: JobAnswer): Witnessed | undefined => {
      const r = resultOf(a)
      const stake = this.stake!.stakeOf(r.agent)
      if (!r.attestation || !stake?.verified) return undefined
      return { agent: r.agent, account: stake.account, statement: statementFor(job, r), signature: r.attestation }
    }
    const winners = d.winner.members.map(witnessed).filter((w) => w !== undefined)
    const losers = d.losers.map(witnessed).filter((w) => w !== undefined)
    await this.evidence.report(digestOf(job, resultOf(d.winner.members[0]!).inputSha256), winners, losers)
  }
}

function errorAnswer(job: Job, code: ErrorCode, message: string, attempts: number, latencyMs = 0): JobAnswer {
  const inputSha256 = inputSha256Of(job)
  return { id: job.id, module: job.module, inputSha256, status: 'error', error: { code, message }, agent: null, signature: null, fuel: 0, durationMs: 0, attempts, latencyMs }
}

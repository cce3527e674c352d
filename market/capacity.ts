/**
 * Proof of Capacity: a requester checks that an agent has the slots it advertises.
 *
 * A challenge first runs one benchmark job alone on the agent, three times (the fastest is
 * `singleMs`; it includes the round trip), then one per advertised slot at once, each with its own random seed
 * (market/capacity-challenge.ts: a SHA-256 chain the challenger checks natively). It passes when
 * every answer is right and the batch finished within `factor` × singleMs + `slackMs`: an agent
 * with the slots it claims runs them side by side; one that advertises 8 and runs 1 takes about
 * 8 × singleMs. A failed challenge discounts the agent's slots in this requester's pick rule to
 * what was measured (slots × singleMs / batch time). Tallies per agent are committed on chain once
 * per epoch (VerificationCourt.commitCapacity: one transaction for every agent challenged).
 *
 * What this proves is capacity, not correctness, and timing is the challenger's word: an agent
 * that slows down even single jobs to hide laziness passes, but is then slow for everything
 * (its latency counts in its reputation). Slashing for capacity therefore needs a quorum of
 * staked challengers (see src/court/CapacityEpochs.sol).
 */
import { EventEmitter } from 'node:events'
import type { CourtClient, Sent } from '../contracts/verification/court-client.ts'
import { packReport } from '../contracts/verification/court-client.ts'
import { mergeOptions, type Ranges } from '../protocol/options.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { auditAnswer, challengeInput, newSeed } from './capacity-challenge.ts'
import type { AgentDirectory } from './directory.ts'
import type { JobAnswer, JobRequest } from './job.ts'

export interface CapacityOptions {
  /** SHA-256 chain length per challenge job (default 200,000: ~1.75e9 fuel, about a second on a Pi-class core). */
  iterations?: number
  /** Checkpoints per chain (default 200; must divide `iterations`). */
  segments?: number
  /** Segments of each answer the challenger recomputes (default 2: 1% of the work at 200 segments). */
  audits?: number
  /** The batch may take this many times a single job (default 3). */
  factor?: number
  /** And this much more, ms (default 250). */
  slackMs?: number
  /** Slots challenged at most (default 32). */
  maxSlots?: number
  /** Agents whose tallies and discounts are kept (default 10,000). */
  maxAgents?: number
}

/** Limit of every challenge job: generous, the challenge's own deadline is checked by the challenger. */
const JOB_TIMEOUT_MS = 60_000

const DEFAULTS = { iterations: 200_000, segments: 200, audits: 2, factor: 3, slackMs: 250, maxSlots: 32, maxAgents: 10_000 }
const RANGES: Ranges<CapacityOptions> = {
  iterations: { min: 1, max: 100_000_000, integer: true },
  segments: { min: 1, max: 10_000, integer: true },
  audits: { min: 1, max: 10_000, integer: true },
  factor: { min: 1, max: 100 },
  slackMs: { min: 0, max: 600_000 },
  maxSlots: { min: 1, max: 4096, integer: true },
  maxAgents: { min: 1, max: 10_000_000, integer: true },
}

export interface ChallengeReport {
  agent: string
  slots: number
  passed: boolean
  /** Jobs answered right, of `slots`. */
  correct: number
  singleMs: number
  batchMs: number
  /** The slots counted for this agent from now on. */
  effectiveSlots: number
  /** Fuel of one challenge job (the same on every agent). */
  fuelPerJob: number
  reason?: string
}

interface Runner {
  runCopy(job: JobRequest & { id: string }): Promise<JobAnswer>
  publishModule(bytes: Uint8Array): Promise<string>
}

export class CapacityProber extends EventEmitter<{ challenge: [ChallengeReport]; evicted: [{ agent: string }] }> {
  private readonly opts: typeof DEFAULTS
  private module: string | undefined
  private readonly effective = new Map<string, number>()
  private readonly tallies = new Map<string, { passed: number; failed: number }>()

  constructor(private readonly runner: Runner, private readonly directory: AgentDirectory, options: CapacityOptions = {}) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, RANGES, 'capacity')
  }

  /** Publishes the benchmark module (once). */
  async prepare(): Promise<string> {
    this.module ??= await this.runner.publishModule(await loadModule('capacity'))
    return this.module
  }

  /** For the requester's pick rule (VerificationOptions.capacity). */
  effectiveSlots(agent: string, advertised: number): number {
    return Math.min(advertised, this.effective.get(agent) ?? advertised)
  }

  /** This epoch's tallies so far, by agent id. */
  tally(): Map<string, { passed: number; failed: number }> {
    return new Map(this.tallies)
  }

  async challenge(agent: string): Promise<ChallengeReport> {
    const module = await this.prepare()
    const advertised = this.directory.get(agent)?.presence.capacity.slots ?? 1
    const slots = Math.min(advertised, this.opts.maxSlots)
    const { iterations, segments, audits, factor, slackMs } = this.opts
    // one lease key for every job of the challenge (the same limits): no auction inside a timing;
    // answers are audited after the timing, so the check never delays the clock
    const one = async (n = iterations, s = segments) => {
      const seed = newSeed()
      const started = performance.now()
      const a = await this.runner.runCopy({
        id: `cap-${seed.toString('hex').slice(0, 24)}`, module, input: challengeInput(seed, n, s),
        constraints: { agents: [agent] }, limits: { timeoutMs: JOB_TIMEOUT_MS },
      })
      return { a, ms: performance.now() - started, check: () => a.status === 'ok' && auditAnswer(a.output?.toString() ?? '', seed, n, s, audits) }
    }
    await one(1, 1) // warm-up: the lease (an auction), the module on the agent
    // the fastest of three single runs: noise only ever adds time
    const singles = [await one(), await one(), await one()]
    const single = singles.reduce((a, b) => (b.ms < a.ms ? b : a))
    const singleRight = singles.every((x) => x.check())
    let report: ChallengeReport
    if (!singleRight) {
      report = { agent, slots, passed: false, correct: 0, singleMs: single.ms, batchMs: 0, effectiveSlots: 1, fuelPerJob: single.a.fuel, reason: single.a.error?.code ?? 'wrong answer' }
    } else {
      const deadline = factor * single.ms + slackMs
      const started = performance.now()
      const batch = await Promise.all(Array.from({ length: slots }, () => one()))
      const batchMs = performance.now() - started
      const correct = batch.filter((b) => b.check()).length
      const passed = correct === slots && batchMs <= deadline
      const measured = Math.max(1, Math.min(slots, Math.round((slots * single.ms) / batchMs)))
      report = {
        agent, slots, passed, correct, singleMs: single.ms, batchMs, effectiveSlots: passed ? advertised : measured, fuelPerJob: single.a.fuel,
        ...(passed ? {} : { reason: correct < slots ? `${slots - correct} wrong answers` : `the batch took ${Math.round(batchMs)} ms, allowed ${Math.round(deadline)}` }),
      }
    }
    this.remember(agent, report)
    this.emit('challenge', report)
    return report
  }

  /** The epoch's tallies of staked agents as the court packs them (agent id → its claimed account). */
  reports(): bigint[] {
    const out: bigint[] = []
    for (const [agent, t] of this.tallies) {
      const account = this.directory.get(agent)?.presence.stake?.account
      if (account) out.push(packReport(account, t.passed, t.failed))
    }
    return out
  }

  /** Commits this epoch's tallies in one transaction and starts a new tally; undefined when there is nothing to commit. */
  async commit(court: CourtClient, epoch?: bigint): Promise<{ sent: Sent; reports: bigint[]; epoch: bigint } | undefined> {
    const reports = this.reports()
    if (reports.length === 0) return undefined
    const e = epoch ?? (await court.currentEpoch())
    const sent = await court.commitCapacity(e, reports)
    this.tallies.clear()
    return { sent, reports, epoch: e }
  }

  private remember(agent: string, r: ChallengeReport): void {
    this.effective.delete(agent)
    this.effective.set(agent, r.effectiveSlots)
    const t = this.tallies.get(agent) ?? { passed: 0, failed: 0 }
    if (r.passed) t.passed++
    else t.failed++
    this.tallies.set(agent, t)
    while (this.effective.size > this.opts.maxAgents) {
      const oldest = this.effective.keys().next().value!
      this.effective.delete(oldest)
      this.tallies.delete(oldest)
      this.emit('evicted', { agent: oldest })
    }
  }
}

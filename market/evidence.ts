/**
 * Evidence on chain: a requester that saw staked agents contradict a quorum of staked agents for
 * the same deterministic job opens a case in the VerificationCourt with their co-signed statements
 * (`accuse`), and, once the challenge window has passed on the chain's clock, resolves it naming
 * the losers (`resolve`), which convicts and slashes them; the requester, as reporter, is paid
 * its share. Nothing here is trusted by the court: it checks every signature itself.
 *
 * Cases wait in a bounded book (`maxCases`, a `dropped` event when it is full) and are resolved
 * by `resolveDue`, which runs every `pollMs` (and can be called directly).
 */
import { EventEmitter } from 'node:events'
import { CourtClient, type Vote } from '../contracts/verification/court-client.ts'
import { mergeOptions, type Ranges } from '../protocol/options.ts'
import { isDeterministicOutcome, type CompactSignature, type Statement } from '../protocol/statement.ts'

export interface EvidenceOptions {
  /** Open cases waiting for their window (default 10,000). */
  maxCases?: number
  /** How often due cases are resolved, ms (default 10,000). */
  pollMs?: number
}

const DEFAULTS = { maxCases: 10_000, pollMs: 10_000 }
const RANGES: Ranges<EvidenceOptions> = { maxCases: { min: 1, max: 1_000_000, integer: true }, pollMs: { min: 10, max: 3_600_000, integer: true } }

/** One co-signed statement and whose it is. */
export interface Witnessed {
  agent: string
  account: string
  statement: Statement
  signature: CompactSignature
}

export interface EvidenceEvents {
  accused: [{ job: string; accused: string[]; witnesses: number; txHash: string; gasUsed: bigint; closesAt: bigint }]
  convicted: [{ job: string; accounts: string[]; txHash: string; gasUsed: bigint }]
  dismissed: [{ job: string }]
  failed: [{ job: string; step: 'accuse' | 'resolve'; message: string }]
  dropped: [{ job: string }]
}

interface OpenCase {
  job: string
  losers: string[]
  closesAt: bigint
}

export class EvidenceDesk extends EventEmitter<EvidenceEvents> {
  private readonly opts: typeof DEFAULTS
  private readonly cases = new Map<string, OpenCase>()
  private timer: NodeJS.Timeout | undefined
  private chain: Promise<unknown> = Promise.resolve()

  constructor(readonly court: CourtClient, options: EvidenceOptions = {}) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, RANGES, 'evidence')
  }

  start(): void {
    this.timer = setInterval(() => void this.resolveDue().catch(() => {}), this.opts.pollMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** Cases opened and not resolved yet. */
  get open(): number {
    return this.cases.size
  }

  /**
   * Opens a case for `job`: the winners' statements and the losers'. Only deterministic outcomes
   * are evidence; returns false (and sends nothing) when there is nothing the court would take.
   */
  report(job: string, winners: Witnessed[], losers: Witnessed[]): Promise<boolean> {
    const det = (w: Witnessed) => isDeterministicOutcome(w.statement.outcome)
    const win = winners.filter(det)
    const lose = losers.filter(det)
    if (win.length === 0 || lose.length === 0) return Promise.resolve(false)
    if (this.cases.has(job)) return Promise.resolve(false)
    if (this.cases.size >= this.opts.maxCases) {
      this.emit('dropped', { job })
      return Promise.resolve(false)
    }
    const votes: Vote[] = [...lose, ...win].map((w) => CourtClient.vote(w.statement, w.signature))
    // one transaction at a time from this account (nonces)
    const p = this.chain.then(async () => {
      try {
        const sent = await this.court.accuse(job, votes)
        const c = await this.court.caseOf(job)
        const accused = [...new Set(lose.map((w) => w.account))]
        this.cases.set(job, { job, losers: accused, closesAt: c.closesAt })
        this.emit('accused', { job, accused, witnesses: win.length, txHash: sent.txHash, gasUsed: sent.gasUsed, closesAt: c.closesAt })
        return true
      } catch (err) {
        this.emit('failed', { job, step: 'accuse', message: shortError(err) })
        return false
      }
    })
    this.chain = p
    return p
  }

  /** Resolves every case whose window has passed on the chain's clock. */
  async resolveDue(): Promise<number> {
    const block = await this.court.provider.getBlock('latest')
    const now = BigInt(block?.timestamp ?? 0)
    let resolved = 0
    for (const c of [...this.cases.values()]) {
      if (c.closesAt > now) continue
      const p = this.chain.then(async () => {
        try {
          const sent = await this.court.resolve(c.job, c.losers)
          this.cases.delete(c.job)
          const after = await this.court.caseOf(c.job)
          if (after.winner === `0x${'00'.repeat(32)}`) this.emit('dismissed', { job: c.job })
          else this.emit('convicted', { job: c.job, accounts: c.losers, txHash: sent.txHash, gasUsed: sent.gasUsed })
          resolved++
        } catch (err) {
          this.emit('failed', { job: c.job, step: 'resolve', message: shortError(err) })
          if (/CaseResolvedAlready|NoSuchCase/.test(shortError(err))) this.cases.delete(c.job)
        }
      })
      this.chain = p
      await p
    }
    return resolved
  }
}

function shortError(err: unknown): string {
  const e = err as { shortMessage?: string; message?: string; revert?: { name?: string } }
  return e.revert?.name ?? e.shortMessage ?? (e.message ?? String(err)).split('\n')[0] ?? 'error'
}

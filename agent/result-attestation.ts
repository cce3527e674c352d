/**
 * Co-signing a result for the VerificationCourt a requester names (`attest` in the assignment):
 * the statement of what the job ended with, under the job digest of what decided the run — the
 * job id, module, input and the limits this agent applied (its defaults where the job set none).
 */
import type { Assign, Attestation, Result } from '../protocol/messages.ts'
import { Attester, StatementHasher, jobDigest, statementOf } from '../protocol/statement.ts'
import type { JobTerms } from './assignment-runner.ts'

/** Hashers by court (a domain separator each); requesters name few courts, but the map is bounded. */
const MAX_COURTS = 64

export class ResultAttestor {
  private readonly hashers = new Map<string, StatementHasher>()

  constructor(private readonly attester: Attester) {}

  get address(): string {
    return this.attester.address
  }

  /** The attestation for `result` when `job` asks for one; undefined otherwise. */
  attest(job: Pick<Assign, 'id' | 'module' | 'limits' | 'attest'>, result: Omit<Result, 'signature'>, defaults: JobTerms['defaults']): Attestation | undefined {
    if (!job.attest) return undefined
    const job32 = jobDigest({
      id: job.id,
      module: job.module,
      inputSha256: result.inputSha256,
      fuel: job.limits?.fuel ?? defaults.fuel,
      memoryMiB: job.limits?.memoryMiB ?? defaults.memoryMiB,
      outputBytes: job.limits?.outputBytes ?? defaults.outputBytes,
    })
    const s = statementOf(job32, result.status, result.outputSha256, result.fuel, result.error?.code)
    return this.attester.sign(this.hasher(job.attest.chainId, job.attest.court), s)
  }

  private hasher(chainId: number, court: string): StatementHasher {
    const key = `${chainId}:${court.toLowerCase()}`
    let h = this.hashers.get(key)
    if (!h) {
      if (this.hashers.size >= MAX_COURTS) this.hashers.delete(this.hashers.keys().next().value!)
      h = StatementHasher.for(chainId, court)
      this.hashers.set(key, h)
    }
    return h
  }
}

/**
 * A verified job: one that runs under explicit limits (the agents' usual defaults filled in), so
 * that every copy and every re-run of it is the same deterministic job, with one digest
 * (protocol/statement.ts `jobDigest`) that every agent's co-signed statement names.
 */
import type { Result } from '../protocol/messages.ts'
import { jobDigest, statementOf, statementSigner, type Statement, type StatementHasher } from '../protocol/statement.ts'
import type { JobRequest } from './job.ts'

export interface ExplicitLimits {
  fuel: number
  memoryMiB: number
  outputBytes: number
}

export type Job = JobRequest & { id: string }

/** The job with fuel, memory and output limits set (its own where it gave them). */
export function withExplicitLimits(job: Job, defaults: ExplicitLimits): Job {
  const l = job.limits ?? {}
  return { ...job, limits: { ...l, fuel: l.fuel ?? defaults.fuel, memoryMiB: l.memoryMiB ?? defaults.memoryMiB, outputBytes: l.outputBytes ?? defaults.outputBytes } }
}

/** The limits of a job `withExplicitLimits` made. */
export function limitsOf(job: Job): ExplicitLimits {
  const l = job.limits!
  return { fuel: l.fuel!, memoryMiB: l.memoryMiB!, outputBytes: l.outputBytes! }
}

export function digestOf(job: Job, inputSha256: string): string {
  return jobDigest({ id: job.id, module: job.module, inputSha256, ...limitsOf(job) })
}

/** The statement an agent co-signed for this result. */
export function statementFor(job: Job, r: Result): Statement {
  return statementOf(digestOf(job, r.inputSha256), r.status, r.outputSha256, r.fuel, r.error?.code)
}

/** Why a result's co-signature does not hold (undefined when it does). */
export function attestationProblem(job: Job, r: Result, attester: string | undefined, hasher: StatementHasher): string | undefined {
  if (!r.attestation) return 'no co-signature (attestation) for the court'
  if (!attester) return 'the agent advertises no attester'
  const signer = statementSigner(hasher, statementFor(job, r), r.attestation)
  return signer && signer.toLowerCase() === attester.toLowerCase() ? undefined : 'the co-signature is not by the advertised attester'
}
